//! A media peer that goes through the room exactly as a browser does: a signalling
//! [`Client`] on `/ws` plus a webrtc-rs peer connection, negotiated only with the
//! documented `media_*` messages (docs/protocol.md, "Media").
//!
//! A task owns the socket and the peer connection ("the pump"): on `media_ready` it
//! builds a peer connection, adds an Opus and a VP8 track publishing synthetic RTP
//! (50 audio packets/s with an RFC 6464 audio level, about 33 video packets/s) and
//! offers; it applies `media_answer`, answers the server's `media_offer`s (ignoring one
//! that crosses its own offer: the server is the polite side and offers again), and
//! trickles candidates both ways. It counts received packets per remote stream id
//! (`peer-N` is person N) and kind, with the arrival time of the first and last one.
//!
//! Every message also reaches the test through [`Peer`], which speaks commands like
//! `common::Client` does. The pump never closes the peer connection by itself when
//! the server says `media_closed` or `ended`: a client that keeps sending is exactly
//! what the server must cope with. [`Peer::close`] stops everything.
//!
//! Used as `#[path = "media_common/signalled.rs"] mod signalled;` next to `mod common;`
//! and `mod media_common;`, so the SFU-only tests need not compile the socket client.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use circlekeeper::circle::{Party, Role};
use circlekeeper::media::MediaKind;
use rtc::rtp::extension::HeaderExtension;
use rtc::rtp::extension::audio_level_extension::AudioLevelExtension;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
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

use crate::common::{Client, PATIENCE, TestServer};
use crate::media_common::{codec, local_track, packet};

/// Waiting longer than this for packets is a failure.
pub const MEDIA_PATIENCE: Duration = Duration::from_secs(20);
/// How often counters are checked while waiting for packets.
const POLL: Duration = Duration::from_millis(10);

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

/// One received stream: its tally and every packet's arrival time.
#[derive(Default)]
struct Stream {
    tally: Tally,
    arrivals: Vec<Instant>,
}

/// What one peer received and sent.
#[derive(Default)]
pub struct Counters {
    received: Mutex<HashMap<(String, MediaKind), Stream>>,
    pub sent_audio: AtomicU64,
    pub sent_video: AtomicU64,
    /// Server offers answered, and ignored because ours was outstanding (glare).
    pub offers_answered: AtomicU64,
    pub offers_ignored: AtomicU64,
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

    /// Stream ids seen, with their counts (for diagnostics).
    pub fn streams(&self) -> Vec<(String, MediaKind, u64)> {
        let mut v: Vec<_> = self
            .received
            .lock()
            .unwrap()
            .iter()
            .map(|((s, k), t)| (s.clone(), *k, t.tally.packets))
            .collect();
        v.sort_by(|a, b| (&a.0, a.1.as_str()).cmp(&(&b.0, b.1.as_str())));
        v
    }

    pub fn sent(&self, kind: MediaKind) -> u64 {
        match kind {
            MediaKind::Audio => self.sent_audio.load(Ordering::Relaxed),
            MediaKind::Video => self.sent_video.load(Ordering::Relaxed),
        }
    }
}

/// One person: the test side of the pump.
pub struct Peer {
    pub name: String,
    /// The person id (`welcome.you`); their tracks reach others as `peer-{you}`.
    pub you: u64,
    pub view: Value,
    /// Every message received, in order (including what the pump acted on).
    pub log: Vec<Value>,
    pub counters: Arc<Counters>,
    out: Option<mpsc::UnboundedSender<Value>>,
    inbox: mpsc::UnboundedReceiver<Value>,
    next_ref: u64,
    task: Option<JoinHandle<()>>,
}

impl Peer {
    /// Hands the client to a pump. Messages it already read stay in `log`; a
    /// `media_ready` among them (and the negotiation after it) is acted on first.
    pub fn start(mut client: Client, name: &str, publish: bool) -> Peer {
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
        let you = client.you;
        let view = client.view.clone();
        let pump = Pump {
            name: name.to_owned(),
            publish,
            counters: Arc::clone(&counters),
            inbox: Some(inbox_tx),
            media: None,
            generation: 0,
            steps: HashMap::new(),
            next_ref: 2_000_000_000,
        };
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

    pub fn send(&self, value: Value) {
        if let Some(out) = &self.out {
            let _ = out.send(value);
        }
    }

    /// The next message; `None` once the socket closed. Panics after `PATIENCE`.
    pub async fn recv(&mut self) -> Option<Value> {
        let msg = tokio::time::timeout(PATIENCE, self.inbox.recv())
            .await
            .unwrap_or_else(|_| panic!("{}: no message in time", self.name))?;
        if msg["type"] == "state" {
            self.view = msg["view"].clone();
        }
        self.log.push(msg.clone());
        Some(msg)
    }

    pub async fn until(&mut self, kind: &str) -> Value {
        loop {
            match self.recv().await {
                Some(msg) if msg["type"] == kind => return msg,
                Some(_) => {}
                None => panic!("{}: closed while waiting for {kind}", self.name),
            }
        }
    }

    /// Sends a command with a fresh `ref`: Ok after `ok`, Err(code) after `error`.
    pub async fn cmd(&mut self, command: Value) -> Result<(), String> {
        self.cmd_timed(command).await.result
    }

    /// Like `cmd`, also telling when the command was sent and its answer read.
    pub async fn cmd_timed(&mut self, mut command: Value) -> Timed {
        let reference = self.next_ref;
        self.next_ref += 1;
        command["ref"] = json!(reference);
        let sent = Instant::now();
        self.send(command);
        loop {
            let Some(msg) = self.recv().await else {
                return Timed {
                    result: Err("closed".to_owned()),
                    sent,
                    answered: Instant::now(),
                };
            };
            if msg["ref"] == json!(reference) {
                let answered = Instant::now();
                let result = match msg["type"].as_str() {
                    Some("ok") => Ok(()),
                    _ => Err(msg["code"].as_str().unwrap_or("?").to_owned()),
                };
                return Timed {
                    result,
                    sent,
                    answered,
                };
            }
        }
    }

    /// Reads everything the room sent so far (see `common::Client::sync`).
    pub async fn sync(&mut self) {
        let _ = self.cmd(json!({"type": "acknowledge", "hash": ""})).await;
    }

    pub async fn wait_view(&mut self, ready: impl Fn(&Value) -> bool) {
        while !ready(&self.view) {
            self.until("state").await;
        }
    }

    pub async fn wait_stage(&mut self, stage: &str) {
        self.wait_view(|v| v["stage"] == stage).await;
    }

    /// The id of the person called `name` in this peer's view.
    pub fn person(&self, name: &str) -> u64 {
        self.view["people"]
            .as_array()
            .and_then(|people| people.iter().find(|p| p["name"] == name))
            .and_then(|p| p["id"].as_u64())
            .unwrap_or_else(|| panic!("{name} not in {}'s view", self.name))
    }

    /// Messages of `kind` received so far.
    pub fn seen(&self, kind: &str) -> Vec<&Value> {
        self.log.iter().filter(|m| m["type"] == kind).collect()
    }

    /// Packets received from person `from`.
    pub fn got(&self, from: u64, kind: MediaKind) -> u64 {
        self.counters.tally(from, kind).packets
    }

    pub fn tally(&self, from: u64, kind: MediaKind) -> Tally {
        self.counters.tally(from, kind)
    }

    /// Waits until at least `at_least` packets of `from`'s `kind` arrived here.
    pub async fn wait_got(&self, from: u64, kind: MediaKind, at_least: u64) {
        let deadline = Instant::now() + MEDIA_PATIENCE;
        while self.got(from, kind) < at_least {
            assert!(
                Instant::now() < deadline,
                "{}: {} of {at_least} {} packets from peer-{from} (received: {:?}; server \
                 offers answered {}, ignored on glare {})",
                self.name,
                self.got(from, kind),
                kind.as_str(),
                self.counters.streams(),
                self.counters.offers_answered.load(Ordering::Relaxed),
                self.counters.offers_ignored.load(Ordering::Relaxed),
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Panics if the server refused a negotiation step of this peer.
    pub fn assert_negotiated_cleanly(&self) {
        let failed: Vec<_> = self
            .log
            .iter()
            .filter(|m| m["type"] == "error" && m["code"] == "media_failed")
            .collect();
        assert!(failed.is_empty(), "{}: {failed:?}", self.name);
    }

    /// Stops publishing, closes the peer connection and the socket.
    pub async fn close(mut self) {
        self.out.take();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(PATIENCE, task).await;
        }
    }
}

/// Waits until `cond` holds, checking every few milliseconds.
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + MEDIA_PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// A person arrives with a fresh invitation, consents and lands in the lobby
/// (keepers: in the circle); then a pump takes over their socket.
pub async fn arrive(
    server: &TestServer,
    room: &str,
    seat: u32,
    role: Role,
    name: &str,
    publish: bool,
) -> Peer {
    let party = (role == Role::Participant).then_some(Party::Community);
    let client = server.arrive(room, seat, role, party, name).await;
    Peer::start(client, name, publish)
}

/// A person arrives and the keeper admits them; returns once they got `media_ready`.
pub async fn admitted(
    server: &TestServer,
    keeper: &mut Peer,
    room: &str,
    seat: u32,
    role: Role,
    name: &str,
    publish: bool,
) -> Peer {
    let mut peer = arrive(server, room, seat, role, name, publish).await;
    admit(keeper, &mut peer).await;
    peer
}

/// The keeper admits a person waiting in the lobby.
pub async fn admit(keeper: &mut Peer, peer: &mut Peer) {
    let name = peer.name.clone();
    keeper
        .wait_view(|v| {
            v["people"].as_array().is_some_and(|people| {
                people
                    .iter()
                    .any(|p| p["name"] == name.as_str() && p["presence"] == "lobby")
            })
        })
        .await;
    let id = keeper.person(&name);
    keeper
        .cmd(json!({"type": "admit", "person": id}))
        .await
        .expect("admitted");
    peer.wait_stage("circle").await;
    if peer.seen("media_ready").is_empty() {
        peer.until("media_ready").await;
    }
}

/// The value of a Prometheus counter in `/metrics` text: the sum of its series
/// whose labels contain `label` (e.g. `reason="gate_closed"`), or of all.
pub fn counter(metrics: &str, name: &str, label: Option<&str>) -> u64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let rest = series.strip_prefix(name)?;
            let matches = match (rest.chars().next(), label) {
                (None, None) => true,
                (Some('{'), None) => true,
                (Some('{'), Some(label)) => rest.contains(label),
                _ => false,
            };
            matches.then(|| value.parse::<f64>().ok())?
        })
        .sum::<f64>() as u64
}

// ---------------------------------------------------------------------------------
// The pump

struct Pump {
    name: String,
    publish: bool,
    counters: Arc<Counters>,
    /// Taken (closing the test's inbox) once the socket closes.
    inbox: Option<mpsc::UnboundedSender<Value>>,
    media: Option<Media>,
    /// Which peer connection the queued local candidates belong to.
    generation: u64,
    /// The `ref` of each media message sent, to name a refused step.
    steps: HashMap<u64, String>,
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
                if let TrackRemoteEvent::OnRtpPacket(_) = ev {
                    let now = Instant::now();
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
                    Some(mut msg) => {
                        if let Some(step) = msg["ref"].as_u64().and_then(|r| self.steps.remove(&r)) {
                            // Name the step a `media_failed` answers.
                            msg["step"] = json!(step);
                        }
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
        // The socket is gone (or the test is done). The media keeps running, as a
        // client that does not stop would, until the test closes this peer.
        self.inbox.take();
        if !closing {
            while out.recv().await.is_some() {}
        }
        client.close().await;
        if let Some(media) = self.media.take() {
            media.close().await;
        }
    }

    /// Sends a media message with a `ref`, so that a refusal names its step.
    async fn signal(&mut self, client: &mut Client, mut msg: Value) {
        self.next_ref += 1;
        msg["ref"] = json!(self.next_ref);
        let step = match msg["type"].as_str() {
            Some("media_candidate") => format!("media_candidate {}", msg["candidate"]["candidate"]),
            Some(t) => t.to_owned(),
            None => String::new(),
        };
        self.steps.insert(self.next_ref, step);
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
        self.generation += 1;
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
        if self.publish {
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
            media.sender = Some(tokio::spawn(send_media(tracks, Arc::clone(&self.counters))));
        }
        // A receive-only peer waits for the server's offer.
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
            self.counters.offers_ignored.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        self.counters
            .offers_answered
            .fetch_add(1, Ordering::Relaxed);
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
/// -30 dBov, voice), VP8-like video every 30 ms.
async fn send_media(tracks: Vec<Arc<TrackLocalStaticRTP>>, counters: Arc<Counters>) {
    let (audio, video) = (Arc::clone(&tracks[0]), Arc::clone(&tracks[1]));
    let (a_ssrc, v_ssrc) = (audio.ssrcs().await[0], video.ssrcs().await[0]);
    // Keyframe requests come back on the video track; drain them so nothing backs up.
    let rtcp = tokio::spawn(async move { while video_rtcp(&video).await {} });
    let video = Arc::clone(&tracks[1]);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (mut seq_a, mut seq_v, mut n) = (0u16, 0u16, 0u64);
    loop {
        tick.tick().await;
        n += 1;
        if n % 2 == 0 {
            let pkt = packet(111, a_ssrc, seq_a, (n * 480) as u32, vec![0xfc; 60]);
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
            let mut payload = vec![0x10, 0x9d, 0x01, 0x2a];
            payload.resize(600, 0x55);
            let mut pkt = packet(96, v_ssrc, seq_v, (n * 900) as u32, payload);
            pkt.header.marker = true;
            seq_v = seq_v.wrapping_add(1);
            if video.write_rtp(pkt).await.is_ok() {
                counters.sent_video.fetch_add(1, Ordering::Relaxed);
            }
        }
        if rtcp.is_finished() {
            break;
        }
    }
}

async fn video_rtcp(video: &Arc<TrackLocalStaticRTP>) -> bool {
    video.poll().await.is_some()
}
