//! A webrtc-rs client peer for media tests, and a signalling pump that plays the part
//! of a session task between it and the SFU. Everything runs over loopback.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use circlekeeper::media::{IceCandidateInit, MediaConfig, MediaEvent, MediaKind, PeerKey, Sfu};
use rtc::media_stream::MediaStreamTrack;
use rtc::rtp;
use rtc::rtp::extension::HeaderExtension;
use rtc::rtp::extension::audio_level_extension::AudioLevelExtension;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::Track;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceCandidateInit, RTCPeerConnectionIceEvent, RTCSessionDescription,
};

pub const WAIT: Duration = Duration::from_secs(20);

pub fn loopback_config() -> MediaConfig {
    MediaConfig {
        udp_port_min: 0,
        udp_port_max: 0,
        bind_ip: "127.0.0.1".parse().expect("ip"),
        ..MediaConfig::default()
    }
}

/// Packets received, per (stream id, kind), with a watch to wait on.
#[derive(Default)]
pub struct Counts {
    map: Mutex<HashMap<(String, MediaKind), u64>>,
    pli: AtomicU64,
}

impl Counts {
    pub fn get(&self, from: PeerKey, kind: MediaKind) -> u64 {
        let key = (circlekeeper::media::stream_id_for(from), kind);
        *self.map.lock().unwrap().get(&key).unwrap_or(&0)
    }
    pub fn plis(&self) -> u64 {
        self.pli.load(Ordering::SeqCst)
    }
}

struct Handler {
    candidates: mpsc::UnboundedSender<RTCIceCandidateInit>,
    counts: Arc<Counts>,
    changed: watch::Sender<u64>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(c) = event.candidate.to_json() {
            let _ = self.candidates.send(c);
        }
    }
    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let counts = Arc::clone(&self.counts);
        let changed = self.changed.clone();
        tokio::spawn(async move {
            let stream = track.stream_id().await;
            let kind = match track.kind().await {
                RtpCodecKind::Audio => MediaKind::Audio,
                _ => MediaKind::Video,
            };
            while let Some(ev) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(_) = ev {
                    *counts
                        .map
                        .lock()
                        .unwrap()
                        .entry((stream.clone(), kind))
                        .or_default() += 1;
                    changed.send_modify(|n| *n += 1);
                }
            }
        });
    }
}

pub struct Client {
    pub key: PeerKey,
    pub pc: Arc<dyn PeerConnection>,
    pub counts: Arc<Counts>,
    changed: watch::Receiver<u64>,
    /// Events from the SFU that the pump did not consume (Connected, AudioLevel, ...).
    pub events: mpsc::UnboundedReceiver<MediaEvent>,
    pump: tokio::task::JoinHandle<()>,
    sender: Option<tokio::task::JoinHandle<()>>,
}

pub fn local_track(kind: RtpCodecKind, codec: RTCRtpCodec, ssrc: u32) -> Arc<TrackLocalStaticRTP> {
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

pub fn codec(mime: &str, rate: u32, channels: u16) -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: mime.into(),
        clock_rate: rate,
        channels,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![],
    }
}

impl Client {
    /// Adds `key` to the SFU and connects a client. A publisher sends synthetic Opus-like
    /// audio (50 packets/s, with an audio level) and VP8-like video (30 packets/s).
    pub async fn connect(sfu: &Sfu, key: PeerKey, publish: bool) -> Client {
        let (ev_tx, mut ev_rx) = mpsc::channel(256);
        sfu.add_peer(key, ev_tx).await.expect("add_peer");

        let mut engine = circlekeeper::media::testing::media_engine().expect("engine");
        let registry = circlekeeper::media::testing::interceptors(&mut engine).expect("registry");
        let (cand_tx, mut cand_rx) = mpsc::unbounded_channel();
        let counts = Arc::new(Counts::default());
        let (changed_tx, changed) = watch::channel(0);
        let pc: Arc<dyn PeerConnection> = Arc::new(
            PeerConnectionBuilder::new()
                .with_configuration(RTCConfigurationBuilder::new().build())
                .with_media_engine(engine)
                .with_interceptor_registry(registry)
                .with_handler(Arc::new(Handler {
                    candidates: cand_tx,
                    counts: Arc::clone(&counts),
                    changed: changed_tx,
                }))
                .with_udp_addrs(vec!["127.0.0.1:0".to_string()])
                .build()
                .await
                .expect("client pc"),
        );

        let mut tracks = Vec::new();
        if publish {
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
                    .expect("add track");
                tracks.push(t);
            }
            let offer = pc.create_offer(None).await.expect("offer");
            pc.set_local_description(offer.clone()).await.expect("sld");
            let answer = sfu.offer(key, offer.sdp).await.expect("sfu answer");
            pc.set_remote_description(RTCSessionDescription::answer(answer).expect("sdp"))
                .await
                .expect("srd");
        }

        // The signalling pump: what a session task would do.
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let pump = {
            let (sfu, pc) = (sfu.clone(), Arc::clone(&pc));
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        Some(c) = cand_rx.recv() => {
                            let c = IceCandidateInit {
                                candidate: c.candidate,
                                sdp_mid: c.sdp_mid,
                                sdp_mline_index: c.sdp_mline_index,
                                username_fragment: c.username_fragment,
                            };
                            let _ = sfu.candidate(key, c).await;
                        }
                        ev = ev_rx.recv() => match ev {
                            Some(MediaEvent::LocalCandidate(c)) => {
                                let _ = pc.add_ice_candidate(RTCIceCandidateInit {
                                    candidate: c.candidate,
                                    sdp_mid: c.sdp_mid,
                                    sdp_mline_index: c.sdp_mline_index,
                                    username_fragment: c.username_fragment,
                                    url: None,
                                }).await;
                            }
                            Some(MediaEvent::Offer(sdp)) => {
                                // Failing is normal while a peer is being removed; a real
                                // failure shows up as media that never arrives.
                                if let Err(e) = answer_offer(&sfu, key, &pc, sdp).await
                                    && !e.contains("unknown peer")
                                {
                                    eprintln!("peer {key}: renegotiation failed: {e}");
                                }
                            }
                            Some(other) => { let _ = out_tx.send(other); }
                            None => break,
                        },
                    }
                }
            })
        };

        let sender =
            (!tracks.is_empty()).then(|| tokio::spawn(send_media(tracks, Arc::clone(&counts))));
        Client {
            key,
            pc,
            counts,
            changed,
            events: out_rx,
            pump,
            sender,
        }
    }

    /// Waits until `cond` holds on the received counts, or panics after `WAIT`.
    pub async fn wait_for(&mut self, what: &str, mut cond: impl FnMut(&Counts) -> bool) {
        let counts = Arc::clone(&self.counts);
        let r = tokio::time::timeout(WAIT, async {
            while !cond(&counts) {
                if self.changed.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        assert!(r.is_ok(), "timed out waiting for {what} at {:?}", self.key);
    }

    pub async fn wait_event(
        &mut self,
        what: &str,
        mut pred: impl FnMut(&MediaEvent) -> bool,
    ) -> MediaEvent {
        let r = tokio::time::timeout(WAIT, async {
            while let Some(ev) = self.events.recv().await {
                if pred(&ev) {
                    return Some(ev);
                }
            }
            None
        })
        .await;
        match r {
            Ok(Some(ev)) => ev,
            _ => panic!("timed out waiting for {what} at {:?}", self.key),
        }
    }

    pub async fn close(self) {
        if let Some(s) = self.sender {
            s.abort();
            let _ = s.await;
        }
        self.pump.abort();
        let _ = self.pump.await;
        let _ = self.pc.close().await;
    }
}

async fn answer_offer(
    sfu: &Sfu,
    key: PeerKey,
    pc: &Arc<dyn PeerConnection>,
    sdp: String,
) -> Result<(), String> {
    let offer = RTCSessionDescription::offer(sdp).map_err(|e| e.to_string())?;
    pc.set_remote_description(offer)
        .await
        .map_err(|e| e.to_string())?;
    let answer = pc.create_answer(None).await.map_err(|e| e.to_string())?;
    pc.set_local_description(answer.clone())
        .await
        .map_err(|e| e.to_string())?;
    sfu.answer(key, answer.sdp).await.map_err(|e| e.to_string())
}

/// Paced synthetic media. Also counts keyframe requests (PLI/FIR) arriving for the video.
async fn send_media(tracks: Vec<Arc<TrackLocalStaticRTP>>, counts: Arc<Counts>) {
    let (audio, video) = (Arc::clone(&tracks[0]), Arc::clone(&tracks[1]));
    let pli_video = Arc::clone(&video);
    let pli_counts = Arc::clone(&counts);
    let pli = tokio::spawn(async move {
        while let Some(ev) = pli_video.poll().await {
            if let TrackLocalEvent::OnRtcpPacket(_) = ev {
                pli_counts.pli.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    let (a_ssrc, v_ssrc) = (audio.ssrcs().await[0], video.ssrcs().await[0]);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
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
            let _ = audio.write_rtp_with_extensions(pkt, &[level]).await;
        }
        if n % 3 == 0 {
            // VP8 payload descriptor (S bit) + a fake keyframe header and some bytes.
            let mut payload = vec![0x10, 0x9d, 0x01, 0x2a];
            payload.resize(600, 0x55);
            let mut pkt = packet(96, v_ssrc, seq_v, (n * 900) as u32, payload);
            pkt.header.marker = true;
            seq_v = seq_v.wrapping_add(1);
            let _ = video.write_rtp(pkt).await;
        }
        if pli.is_finished() {
            break;
        }
    }
}

pub fn packet(pt: u8, ssrc: u32, seq: u16, ts: u32, payload: Vec<u8>) -> rtp::Packet {
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

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Resident set size of this process, in bytes.
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}
