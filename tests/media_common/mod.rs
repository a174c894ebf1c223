//! A webrtc-rs client peer for media tests, and a signalling pump that plays the part
//! of a session task between it and the SFU. Everything runs over loopback.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use circlekeeper::media::testing::PayloadTypes;
use circlekeeper::media::{IceCandidateInit, MediaConfig, MediaEvent, MediaKind, PeerKey, Sfu};
use rtc::rtcp::transport_feedbacks::transport_layer_nack::{
    TransportLayerNack, nack_pairs_from_sequence_numbers,
};
use rtc::rtp::extension::HeaderExtension;
use rtc::rtp::extension::audio_level_extension::AudioLevelExtension;
use testpeer::{
    OnPacket, Receiver, client_peer_connection, packet, publishing_tracks, receive_only,
};
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::Track;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{PeerConnection, RTCSessionDescription};

pub const WAIT: Duration = Duration::from_secs(20);

pub fn loopback_config() -> MediaConfig {
    MediaConfig {
        bind_ip: "127.0.0.1".parse().expect("ip"),
        udp_port: 0,
        ..MediaConfig::default()
    }
}

/// Packets received, per (stream id, kind), with a watch to wait on.
#[derive(Default)]
pub struct Counts {
    map: Mutex<HashMap<(String, MediaKind), Received>>,
    pli: AtomicU64,
}

/// What arrived of one remote stream.
#[derive(Default, Clone)]
pub struct Received {
    pub packets: u64,
    pub last_seq: u16,
    /// Sequence numbers that arrived more than once (retransmissions).
    pub repeats: u64,
    seen: HashSet<u16>,
}

impl Counts {
    pub fn get(&self, from: PeerKey, kind: MediaKind) -> u64 {
        self.of(from, kind).packets
    }
    pub fn of(&self, from: PeerKey, kind: MediaKind) -> Received {
        let key = (circlekeeper::media::stream_id_for(from), kind);
        self.map
            .lock()
            .unwrap()
            .get(&key)
            .cloned()
            .unwrap_or_default()
    }
    pub fn plis(&self) -> u64 {
        self.pli.load(Ordering::SeqCst)
    }
}

/// Counts every received packet and wakes whoever waits on the counts.
fn count_into(counts: Arc<Counts>, changed: watch::Sender<u64>) -> OnPacket {
    Arc::new(move |stream, kind, packet| {
        let seq = packet.header.sequence_number;
        let mut map = counts.map.lock().unwrap();
        let received = map.entry((stream.to_owned(), kind)).or_default();
        received.packets += 1;
        received.last_seq = seq;
        if !received.seen.insert(seq) {
            received.repeats += 1;
        }
        drop(map);
        changed.send_modify(|n| *n += 1);
    })
}

/// The tracks a client receives, by stream id and kind.
type Tracks = Arc<Mutex<HashMap<(String, MediaKind), Arc<dyn TrackRemote>>>>;

pub struct Client {
    pub key: PeerKey,
    pub pc: Arc<dyn PeerConnection>,
    pub counts: Arc<Counts>,
    changed: watch::Receiver<u64>,
    /// The tracks received, by stream id and kind, to send feedback about.
    tracks: Tracks,
    /// Events from the SFU that the pump did not consume (Connected, AudioLevel, ...).
    pub events: mpsc::UnboundedReceiver<MediaEvent>,
    pump: tokio::task::JoinHandle<()>,
    sender: Option<tokio::task::JoinHandle<()>>,
}

impl Client {
    /// Adds `key` to the SFU and connects a client. A publisher sends synthetic Opus-like
    /// audio (50 packets/s, with an audio level) and VP8-like video (30 packets/s).
    pub async fn connect(sfu: &Sfu, key: PeerKey, publish: bool) -> Client {
        let (ev_tx, mut ev_rx) = mpsc::channel(256);
        sfu.add_peer(key, ev_tx).await.expect("add_peer");

        let (cand_tx, mut cand_rx) = mpsc::unbounded_channel();
        let counts = Arc::new(Counts::default());
        let (changed_tx, changed) = watch::channel(0);
        let received: Tracks = Arc::default();
        let keep = Arc::clone(&received);
        let pc = client_peer_connection(
            Receiver {
                candidates: cand_tx,
                on_packet: count_into(Arc::clone(&counts), changed_tx),
                on_track: Some(Arc::new(move |stream, kind, track| {
                    keep.lock()
                        .unwrap()
                        .insert((stream.to_owned(), kind), track);
                })),
            },
            PayloadTypes::SERVER,
        )
        .await
        .expect("client pc");

        // The client always offers first (docs/protocol.md): its tracks, or two
        // receive-only m-lines when it publishes nothing.
        let mut tracks = Vec::new();
        if publish {
            tracks = publishing_tracks(&pc).await.expect("add tracks");
        } else {
            receive_only(&pc).await.expect("receive-only m-lines");
        }
        let offer = pc.create_offer(None).await.expect("offer");
        pc.set_local_description(offer.clone()).await.expect("sld");
        let answer = sfu.offer(key, offer.sdp).await.expect("sfu answer");
        pc.set_remote_description(RTCSessionDescription::answer(answer).expect("sdp"))
            .await
            .expect("srd");

        // The signalling pump: what a session task would do.
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let pump = {
            let (sfu, pc) = (sfu.clone(), Arc::clone(&pc));
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        Some(c) = cand_rx.recv() => {
                            let c = IceCandidateInit::from(c);
                            let _ = sfu.candidate(key, c).await;
                        }
                        ev = ev_rx.recv() => match ev {
                            Some(MediaEvent::LocalCandidate(c)) => {
                                let _ = pc.add_ice_candidate(c.into()).await;
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
            tracks: received,
            events: out_rx,
            pump,
            sender,
        }
    }

    /// Reports packets `seqs` of `from`'s `kind` lost (an RTCP NACK, RFC 4585).
    pub async fn nack(&self, from: PeerKey, kind: MediaKind, seqs: &[u16]) {
        let key = (circlekeeper::media::stream_id_for(from), kind);
        let track = self.tracks.lock().unwrap().get(&key).cloned();
        let track = track.expect("a track to report about");
        let media_ssrc = track.ssrcs().await[0];
        let nack = TransportLayerNack {
            sender_ssrc: 0,
            media_ssrc,
            nacks: nack_pairs_from_sequence_numbers(seqs),
        };
        track
            .write_rtcp(vec![Box::new(nack)])
            .await
            .expect("NACK sent");
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

/// Checks that `reports` level reports, received during `window` of continuous voice,
/// respect the server's limit of `per_sec` a second and kept coming.
///
/// The bound follows the window the test really observed, not the number of packets:
/// on a loaded machine 100 packets take longer than 2 s, and more reports are then
/// correct. Two reports of slack cover those already on the way when the window opened.
/// The exact rate is tested with simulated time next to the reporter.
pub fn assert_level_rate(reports: usize, window: Duration, per_sec: u32) {
    let allowed = (window.as_secs_f64() * f64::from(per_sec)).ceil() as usize + 2;
    assert!(
        (2..=allowed).contains(&reports),
        "{reports} level reports in {window:.2?}: expected 2..={allowed}"
    );
}
