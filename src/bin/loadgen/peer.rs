//! One participant: a signalling [`Client`] on `/ws` plus a webrtc-rs peer
//! connection negotiated only with the documented `media_*` messages
//! (docs/protocol.md, "Media"). Adapted from tests/media_common/signalled.rs.
//!
//! A task owns the socket and the peer connection ("the pump"): on `media_ready` it
//! builds a peer connection, adds an Opus and a VP8 track publishing synthetic RTP
//! (50 audio packets/s with an RFC 6464 audio level; video frames every 30 ms at the
//! configured bitrate) and offers; it applies `media_answer`, answers the server's
//! `media_offer`s (ignoring one that crosses its own: the server offers again) and
//! trickles candidates both ways. Every payload carries its send time (µs since
//! [`epoch`]), so receivers record the latency through the server.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use circlekeeper::media::MediaKind;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtp;
use rtc::rtp::extension::HeaderExtension;
use rtc::rtp::extension::audio_level_extension::AudioLevelExtension;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use webrtc::media_stream::Track;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceCandidateInit, RTCPeerConnectionIceEvent, RTCSessionDescription,
};

use crate::ws::{Client, PATIENCE};

/// How often counters are checked while waiting for packets.
const POLL: Duration = Duration::from_millis(5);
/// Where the send time sits in every payload (after the VP8 descriptor and header).
const STAMP_AT: usize = 8;
/// Largest video payload per packet.
const MAX_VIDEO_PAYLOAD: usize = 1100;

/// The instant all payload timestamps count from (one process: one clock).
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// While set, receivers record per-packet latency (the measurement window).
pub static RECORDING: AtomicBool = AtomicBool::new(false);

/// Packets received from one remote stream of one kind.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tally {
    pub packets: u64,
    pub first: Option<Instant>,
    pub last: Option<Instant>,
}

/// A command's answer, with when it was sent and when its answer was read.
pub struct Timed {
    pub result: Result<(), String>,
    pub sent: Instant,
    pub answered: Instant,
}

#[derive(Default)]
struct Stream {
    tally: Tally,
    arrivals: Vec<Instant>,
}

/// What one peer received and sent.
#[derive(Default)]
pub struct Counters {
    received: Mutex<HashMap<(String, MediaKind), Stream>>,
    /// Send-to-receive latency of packets received while [`RECORDING`], in µs.
    pub latency_us: Mutex<Vec<u32>>,
    pub sent_audio: AtomicU64,
    pub sent_video: AtomicU64,
}

impl Counters {
    pub fn tally(&self, from: u64, kind: MediaKind) -> Tally {
        let key = (format!("peer-{from}"), kind);
        self.received
            .lock()
            .unwrap()
            .get(&key)
            .map(|s| s.tally)
            .unwrap_or_default()
    }

    /// When the first packet from `from` after `t` arrived.
    pub fn first_after(&self, from: u64, kind: MediaKind, t: Instant) -> Option<Instant> {
        let key = (format!("peer-{from}"), kind);
        let map = self.received.lock().unwrap();
        let arrivals = &map.get(&key)?.arrivals;
        let i = arrivals.partition_point(|a| *a <= t);
        arrivals.get(i).copied()
    }

    /// When the last packet from `from` up to `t` arrived.
    pub fn last_before(&self, from: u64, kind: MediaKind, t: Instant) -> Option<Instant> {
        let key = (format!("peer-{from}"), kind);
        let map = self.received.lock().unwrap();
        let arrivals = &map.get(&key)?.arrivals;
        let i = arrivals.partition_point(|a| *a <= t);
        i.checked_sub(1).map(|i| arrivals[i])
    }

    /// Every packet received, from anyone, of either kind.
    pub fn total(&self) -> u64 {
        self.received
            .lock()
            .unwrap()
            .values()
            .map(|s| s.tally.packets)
            .sum()
    }

    pub fn sent(&self, kind: MediaKind) -> u64 {
        match kind {
            MediaKind::Audio => self.sent_audio.load(Ordering::Relaxed),
            MediaKind::Video => self.sent_video.load(Ordering::Relaxed),
        }
    }
}

/// One person: the orchestrator's side of the pump.
pub struct Peer {
    pub name: String,
    /// The person id (`welcome.you`); their tracks reach others as `peer-{you}`.
    pub you: u64,
    pub view: Value,
    pub log: Vec<Value>,
    pub counters: Arc<Counters>,
    out: Option<mpsc::UnboundedSender<Value>>,
    inbox: mpsc::UnboundedReceiver<Value>,
    next_ref: u64,
    task: Option<JoinHandle<()>>,
}

impl Peer {
    /// Hands the client to a pump. A `media_ready` already read (and the
    /// negotiation after it) is acted on first.
    pub fn start(mut client: Client, name: &str, video_kbps: u32) -> Peer {
        let log = std::mem::take(&mut client.log);
        let pending = match log.iter().rposition(|m| m["type"] == "media_ready") {
            Some(i) => log[i..]
                .iter()
                .filter(|m| m["type"].as_str().is_some_and(|t| t.starts_with("media_")))
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let (inbox_tx, inbox) = mpsc::unbounded_channel();
        let counters = Arc::new(Counters::default());
        let pump = Pump {
            name: name.to_owned(),
            video_kbps,
            counters: Arc::clone(&counters),
            inbox: Some(inbox_tx),
            media: None,
            next_ref: 2_000_000_000,
        };
        let (you, view) = (client.you, client.view.clone());
        let task = tokio::spawn(pump.run(client, out_rx, pending));
        Peer {
            name: name.to_owned(),
            you,
            view,
            log,
            counters,
            out: Some(out_tx),
            inbox,
            next_ref: 1_000_000,
            task: Some(task),
        }
    }

    fn send(&self, value: Value) {
        if let Some(out) = &self.out {
            let _ = out.send(value);
        }
    }

    /// The next message; an error once the socket closed or after `PATIENCE`.
    pub async fn recv(&mut self) -> anyhow::Result<Value> {
        let msg = tokio::time::timeout(PATIENCE, self.inbox.recv())
            .await
            .map_err(|_| anyhow!("{}: no message in time", self.name))?
            .ok_or_else(|| anyhow!("{}: socket closed", self.name))?;
        if msg["type"] == "state" {
            self.view = msg["view"].clone();
        }
        self.log.push(msg.clone());
        Ok(msg)
    }

    /// A message already queued, without waiting.
    pub fn try_recv(&mut self) -> Option<Value> {
        let msg = self.inbox.try_recv().ok()?;
        if msg["type"] == "state" {
            self.view = msg["view"].clone();
        }
        self.log.push(msg.clone());
        Some(msg)
    }

    pub async fn until(&mut self, kind: &str) -> anyhow::Result<Value> {
        loop {
            let msg = self.recv().await?;
            if msg["type"] == kind {
                return Ok(msg);
            }
        }
    }

    /// Sends a command with a fresh `ref`; the answer, timed.
    pub async fn cmd_timed(&mut self, mut command: Value) -> anyhow::Result<Timed> {
        let reference = self.next_ref;
        self.next_ref += 1;
        command["ref"] = json!(reference);
        let sent = Instant::now();
        self.send(command);
        loop {
            let msg = self.recv().await?;
            if msg["ref"] == json!(reference) {
                let result = match msg["type"].as_str() {
                    Some("ok") => Ok(()),
                    _ => Err(msg["code"].as_str().unwrap_or("?").to_owned()),
                };
                return Ok(Timed {
                    result,
                    sent,
                    answered: Instant::now(),
                });
            }
        }
    }

    /// Sends a command; fails unless the server answers `ok`.
    pub async fn cmd(&mut self, command: Value) -> anyhow::Result<()> {
        let what = command["type"].clone();
        match self.cmd_timed(command).await?.result {
            Ok(()) => Ok(()),
            Err(code) => bail!("{}: {what} refused: {code}", self.name),
        }
    }

    pub async fn wait_view(&mut self, ready: impl Fn(&Value) -> bool) -> anyhow::Result<()> {
        while !ready(&self.view) {
            self.until("state").await?;
        }
        Ok(())
    }

    /// The id of the person called `name` in this peer's view.
    pub fn person(&self, name: &str) -> Option<u64> {
        self.view["people"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == name)?["id"]
            .as_u64()
    }

    /// Packets received from person `from`.
    pub fn got(&self, from: u64, kind: MediaKind) -> u64 {
        self.counters.tally(from, kind).packets
    }

    /// Waits until at least `at_least` packets of `from`'s `kind` arrived here.
    pub async fn wait_got(&self, from: u64, kind: MediaKind, at_least: u64) -> anyhow::Result<()> {
        let deadline = Instant::now() + PATIENCE;
        while self.got(from, kind) < at_least {
            if Instant::now() > deadline {
                bail!(
                    "{}: {} of {at_least} {} packets from peer-{from}",
                    self.name,
                    self.got(from, kind),
                    kind.as_str()
                );
            }
            tokio::time::sleep(POLL).await;
        }
        Ok(())
    }

    /// Stops publishing, closes the peer connection and the socket.
    pub async fn close(mut self) {
        self.out.take();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(PATIENCE, task).await;
        }
    }
}

/// The keeper admits a person waiting in the lobby; returns once they got `media_ready`.
pub async fn admit(keeper: &mut Peer, peer: &mut Peer) -> anyhow::Result<()> {
    let name = peer.name.clone();
    keeper
        .wait_view(|v| {
            v["people"].as_array().is_some_and(|people| {
                people
                    .iter()
                    .any(|p| p["name"] == name.as_str() && p["presence"] == "lobby")
            })
        })
        .await?;
    let id = keeper
        .person(&name)
        .ok_or_else(|| anyhow!("{name} not in the keeper's view"))?;
    keeper.cmd(json!({"type": "admit", "person": id})).await?;
    peer.wait_view(|v| v["stage"] == "circle").await?;
    if !peer.log.iter().any(|m| m["type"] == "media_ready") {
        peer.until("media_ready").await?;
    }
    Ok(())
}
// ---------------------------------------------------------------------------------
// The pump

struct Pump {
    name: String,
    video_kbps: u32,
    counters: Arc<Counters>,
    /// Taken (closing the orchestrator's inbox) once the socket closes.
    inbox: Option<mpsc::UnboundedSender<Value>>,
    media: Option<Media>,
    next_ref: u64,
}

struct Media {
    pc: Arc<dyn PeerConnection>,
    sender: Option<JoinHandle<()>>,
    /// Remote candidates that arrived before a remote description.
    early: Vec<RTCIceCandidateInit>,
    candidates: mpsc::UnboundedReceiver<RTCIceCandidateInit>,
}

impl Media {
    async fn close(mut self) {
        if let Some(sender) = self.sender.take() {
            sender.abort();
            let _ = sender.await;
        }
        let _ = self.pc.close().await;
    }
}

struct Handler {
    candidates: mpsc::UnboundedSender<RTCIceCandidateInit>,
    counters: Arc<Counters>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(c) = event.candidate.to_json() {
            let _ = self.candidates.send(c);
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let counters = Arc::clone(&self.counters);
        tokio::spawn(async move {
            let stream = track.stream_id().await;
            let kind = match track.kind().await {
                RtpCodecKind::Audio => MediaKind::Audio,
                _ => MediaKind::Video,
            };
            while let Some(ev) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(pkt) = ev {
                    let now = Instant::now();
                    if RECORDING.load(Ordering::Relaxed)
                        && let Some(stamp) = pkt.payload.get(STAMP_AT..STAMP_AT + 8)
                    {
                        let sent = u64::from_be_bytes(stamp.try_into().expect("8 bytes"));
                        let now_us = now.duration_since(epoch()).as_micros() as u64;
                        let latency = now_us.saturating_sub(sent).min(u64::from(u32::MAX));
                        counters.latency_us.lock().unwrap().push(latency as u32);
                    }
                    let mut map = counters.received.lock().unwrap();
                    let entry = map.entry((stream.clone(), kind)).or_default();
                    entry.tally.packets += 1;
                    entry.tally.first.get_or_insert(now);
                    entry.tally.last = Some(now);
                    entry.arrivals.push(now);
                }
            }
        });
    }
}

/// Next local candidate of the current peer connection, if there is one.
async fn next_candidate(media: &mut Option<Media>) -> Option<RTCIceCandidateInit> {
    match media {
        Some(m) => m.candidates.recv().await,
        None => std::future::pending().await,
    }
}

impl Pump {
    async fn run(
        mut self,
        mut client: Client,
        mut out: mpsc::UnboundedReceiver<Value>,
        pending: Vec<Value>,
    ) {
        for msg in pending {
            self.media_message(&mut client, &msg).await;
        }
        let mut closing = false;
        loop {
            tokio::select! {
                msg = client.next_message() => match msg {
                    Some(msg) => {
                        self.media_message(&mut client, &msg).await;
                        if let Some(inbox) = &self.inbox {
                            let _ = inbox.send(msg);
                        }
                    }
                    None => break,
                },
                value = out.recv() => match value {
                    Some(value) => {
                        let _ = client.try_send(value).await;
                    }
                    None => {
                        closing = true;
                        break;
                    }
                },
                Some(c) = next_candidate(&mut self.media) => {
                    let msg = json!({"type": "media_candidate", "candidate": {
                        "candidate": c.candidate,
                        "sdpMid": c.sdp_mid,
                        "sdpMLineIndex": c.sdp_mline_index,
                    }});
                    self.signal(&mut client, msg).await;
                }
            }
        }
        // The socket is gone (or the run is over). The media keeps running, as a
        // client that does not stop would, until the orchestrator closes this peer.
        self.inbox.take();
        if !closing {
            while out.recv().await.is_some() {}
        }
        client.close().await;
        if let Some(media) = self.media.take() {
            media.close().await;
        }
    }

    /// Sends a media message with a `ref` (a refusal comes back as `media_failed`).
    async fn signal(&mut self, client: &mut Client, mut msg: Value) {
        self.next_ref += 1;
        msg["ref"] = json!(self.next_ref);
        let _ = client.try_send(msg).await;
    }

    /// Acts on a media message from the server; everything else is only passed on.
    async fn media_message(&mut self, client: &mut Client, msg: &Value) {
        let result = match msg["type"].as_str() {
            Some("media_ready") => self.ready(client).await,
            Some("media_answer") => self.answer(msg["sdp"].as_str().unwrap_or("")).await,
            Some("media_offer") => self.offer(client, msg["sdp"].as_str().unwrap_or("")).await,
            Some("media_candidate") => self.candidate(&msg["candidate"]).await,
            _ => Ok(()),
        };
        if let Err(e) = result {
            eprintln!("{}: {} failed: {e}", self.name, msg["type"]);
        }
    }

    /// A fresh peer connection (the old one, if any, is gone at the server too).
    async fn ready(&mut self, client: &mut Client) -> Result<(), String> {
        if let Some(old) = self.media.take() {
            old.close().await;
        }
        let mut engine = circlekeeper::media::testing::media_engine().map_err(|e| e.to_string())?;
        let registry =
            circlekeeper::media::testing::interceptors(&mut engine).map_err(|e| e.to_string())?;
        let (cand_tx, candidates) = mpsc::unbounded_channel();
        let pc: Arc<dyn PeerConnection> = Arc::new(
            PeerConnectionBuilder::new()
                .with_configuration(RTCConfigurationBuilder::new().build())
                .with_media_engine(engine)
                .with_interceptor_registry(registry)
                .with_handler(Arc::new(Handler {
                    candidates: cand_tx,
                    counters: Arc::clone(&self.counters),
                }))
                .with_udp_addrs(vec!["127.0.0.1:0".to_string()])
                .build()
                .await
                .map_err(|e| e.to_string())?,
        );
        let mut media = Media {
            pc: Arc::clone(&pc),
            sender: None,
            early: Vec::new(),
            candidates,
        };
        {
            let mut tracks = Vec::new();
            for (kind, c) in [
                (RtpCodecKind::Audio, codec("audio/opus", 48_000, 2)),
                (RtpCodecKind::Video, codec("video/VP8", 90_000, 0)),
            ] {
                let t = local_track(kind, c, rand::random());
                let init = RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Sendonly,
                    streams: vec![],
                    send_encodings: vec![],
                };
                pc.add_transceiver_from_track(t.clone(), Some(init))
                    .await
                    .map_err(|e| e.to_string())?;
                tracks.push(t);
            }
            let offer = pc.create_offer(None).await.map_err(|e| e.to_string())?;
            pc.set_local_description(offer.clone())
                .await
                .map_err(|e| e.to_string())?;
            self.signal(client, json!({"type": "media_offer", "sdp": offer.sdp}))
                .await;
            media.sender = Some(tokio::spawn(send_media(
                tracks,
                Arc::clone(&self.counters),
                self.video_kbps,
            )));
        }
        self.media = Some(media);
        Ok(())
    }

    async fn answer(&mut self, sdp: &str) -> Result<(), String> {
        let media = self.media.as_mut().ok_or("answer without a peer")?;
        let answer = RTCSessionDescription::answer(sdp.to_owned()).map_err(|e| e.to_string())?;
        media
            .pc
            .set_remote_description(answer)
            .await
            .map_err(|e| e.to_string())?;
        add_early(media).await;
        Ok(())
    }

    async fn offer(&mut self, client: &mut Client, sdp: &str) -> Result<(), String> {
        let media = self.media.as_mut().ok_or("offer without a peer")?;
        // Glare: our offer is outstanding. The server gives way and offers again later.
        if media.pc.pending_local_description().await.is_some() {
            return Ok(());
        }
        let offer = RTCSessionDescription::offer(sdp.to_owned()).map_err(|e| e.to_string())?;
        media
            .pc
            .set_remote_description(offer)
            .await
            .map_err(|e| e.to_string())?;
        add_early(media).await;
        let answer = media
            .pc
            .create_answer(None)
            .await
            .map_err(|e| e.to_string())?;
        media
            .pc
            .set_local_description(answer.clone())
            .await
            .map_err(|e| e.to_string())?;
        self.signal(client, json!({"type": "media_answer", "sdp": answer.sdp}))
            .await;
        Ok(())
    }

    async fn candidate(&mut self, c: &Value) -> Result<(), String> {
        let media = self.media.as_mut().ok_or("candidate without a peer")?;
        let init = RTCIceCandidateInit {
            candidate: c["candidate"].as_str().unwrap_or("").to_owned(),
            sdp_mid: c["sdpMid"].as_str().map(str::to_owned),
            sdp_mline_index: c["sdpMLineIndex"].as_u64().map(|i| i as u16),
            username_fragment: c["usernameFragment"].as_str().map(str::to_owned),
            url: None,
        };
        if init.candidate.is_empty() {
            return Ok(());
        }
        if media.pc.remote_description().await.is_none() {
            media.early.push(init);
            return Ok(());
        }
        media
            .pc
            .add_ice_candidate(init)
            .await
            .map_err(|e| e.to_string())
    }
}

async fn add_early(media: &mut Media) {
    for c in std::mem::take(&mut media.early) {
        if let Err(e) = media.pc.add_ice_candidate(c).await {
            eprintln!("early candidate refused: {e}");
        }
    }
}

/// Paced synthetic media: Opus-like audio every 20 ms with an audio level (RFC 6464,
/// -30 dBov, voice), a VP8-like video frame every 30 ms of `video_kbps`, split into
/// packets of at most 1100 bytes. Every payload carries its send time at `STAMP_AT`.
async fn send_media(
    tracks: Vec<Arc<TrackLocalStaticRTP>>,
    counters: Arc<Counters>,
    video_kbps: u32,
) {
    let (audio, video) = (Arc::clone(&tracks[0]), Arc::clone(&tracks[1]));
    let (a_ssrc, v_ssrc) = (audio.ssrcs().await[0], video.ssrcs().await[0]);
    // Keyframe requests come back on the video track; drain them so nothing backs up.
    let rtcp = tokio::spawn(async move { while video.poll().await.is_some() {} });
    let video = Arc::clone(&tracks[1]);
    let frame_bytes = (video_kbps as usize * 1000 / 8 * 30 / 1000).max(STAMP_AT + 8);
    let per_frame = frame_bytes.div_ceil(MAX_VIDEO_PAYLOAD);
    let packet_bytes = (frame_bytes / per_frame).max(STAMP_AT + 8);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (mut seq_a, mut seq_v, mut n) = (0u16, 0u16, 0u64);
    loop {
        tick.tick().await;
        n += 1;
        if n % 2 == 0 {
            let mut payload = vec![0xfc; 60];
            stamp(&mut payload);
            let pkt = packet(111, a_ssrc, seq_a, (n * 480) as u32, payload);
            seq_a = seq_a.wrapping_add(1);
            let level = HeaderExtension::AudioLevel(AudioLevelExtension {
                level: 30,
                voice: true,
            });
            if audio.write_rtp_with_extensions(pkt, &[level]).await.is_ok() {
                counters.sent_audio.fetch_add(1, Ordering::Relaxed);
            }
        }
        if n % 3 == 0 {
            for i in 0..per_frame {
                // VP8 payload descriptor (S bit on the first packet of a frame) + a
                // keyframe-like header, then the send time and filler.
                let mut payload = vec![if i == 0 { 0x10 } else { 0x00 }, 0x9d, 0x01, 0x2a];
                payload.resize(packet_bytes, 0x55);
                stamp(&mut payload);
                let mut pkt = packet(96, v_ssrc, seq_v, (n * 900) as u32, payload);
                pkt.header.marker = i + 1 == per_frame;
                seq_v = seq_v.wrapping_add(1);
                if video.write_rtp(pkt).await.is_ok() {
                    counters.sent_video.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if rtcp.is_finished() {
            break;
        }
    }
}

/// Writes the current time (µs since [`epoch`]) into a payload.
fn stamp(payload: &mut [u8]) {
    let now = epoch().elapsed().as_micros() as u64;
    payload[STAMP_AT..STAMP_AT + 8].copy_from_slice(&now.to_be_bytes());
}

fn local_track(kind: RtpCodecKind, codec: RTCRtpCodec, ssrc: u32) -> Arc<TrackLocalStaticRTP> {
    let name = format!("{kind}");
    Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        "client".into(),
        name.clone(),
        name,
        kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec,
            ..Default::default()
        }],
    )))
}

fn codec(mime: &str, rate: u32, channels: u16) -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: mime.into(),
        clock_rate: rate,
        channels,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![],
    }
}

fn packet(pt: u8, ssrc: u32, seq: u16, ts: u32, payload: Vec<u8>) -> rtp::Packet {
    rtp::Packet {
        header: rtp::header::Header {
            version: 2,
            payload_type: pt,
            sequence_number: seq,
            timestamp: ts,
            ssrc,
            ..Default::default()
        },
        payload: payload.into(),
    }
}
