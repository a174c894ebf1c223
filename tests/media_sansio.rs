//! Issue 12, step 1: the sans-IO media worker serves several peers on ONE UDP port.
//!
//! Three webrtc-rs client peers connect to one `sansio::Worker` on loopback, each
//! offering an Opus and a VP8 track; the worker answers (ICE-lite, DTLS server), then
//! offers each of them the others' tracks. Everything each one publishes must reach
//! the other two, and the worker must hold a single UDP socket.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use circlekeeper::media::sansio::{Census, Worker};
use circlekeeper::media::testing::PayloadTypes;
use circlekeeper::media::{IceCandidateInit, MediaEvent, MediaKind, PeerKey, stream_id_for};
use testpeer::{OnPacket, Receiver, client_peer_connection, packet, publishing_tracks};
use tokio::sync::mpsc;
use webrtc::media_stream::Track;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::peer_connection::{PeerConnection, RTCSessionDescription};

const WAIT: Duration = Duration::from_secs(20);
/// Server offers a client could not apply, in this process.
static RENEGOTIATION_FAILURES: AtomicU64 = AtomicU64::new(0);
const KINDS: [MediaKind; 2] = [MediaKind::Audio, MediaKind::Video];

type Counts = Arc<Mutex<HashMap<(String, MediaKind), u64>>>;
/// Payload types seen on arrival, per kind.
type Seen = Arc<Mutex<HashSet<(MediaKind, u8)>>>;
/// Sequence numbers seen per (stream, kind), and how many arrived twice.
type Sequence = Arc<Mutex<(HashSet<(String, MediaKind, u16)>, u64)>>;

struct Client {
    key: PeerKey,
    pc: Arc<dyn PeerConnection>,
    counts: Counts,
    seen: Seen,
    sequence: Sequence,
    pts: PayloadTypes,
    /// The server's answer to the client's offer.
    answer: String,
    /// Events the pump did not consume (Connected, TrackPublished, ...).
    events: mpsc::UnboundedReceiver<MediaEvent>,
    /// The server's latest offer to this client.
    last_offer: Arc<Mutex<String>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Client {
    /// Adds `key` to the worker, connects a publishing client numbering its codecs
    /// as `pts` says, and starts the signalling pump and the media.
    async fn connect(worker: &Arc<Worker>, key: PeerKey, pts: PayloadTypes) -> Client {
        let (ev_tx, mut ev_rx) = mpsc::channel(256);
        worker.add_peer(key, ev_tx).await.expect("add_peer");
        let (cand_tx, mut cand_rx) = mpsc::unbounded_channel();
        let counts: Counts = Arc::default();
        let seen: Seen = Arc::default();
        let sequence: Sequence = Arc::default();
        let on_packet: OnPacket = {
            let (counts, seen) = (Arc::clone(&counts), Arc::clone(&seen));
            let sequence = Arc::clone(&sequence);
            Arc::new(move |stream, kind, pkt| {
                seen.lock().unwrap().insert((kind, pkt.header.payload_type));
                let mut sequence = sequence.lock().unwrap();
                let first = (stream.to_owned(), kind, pkt.header.sequence_number);
                if !sequence.0.insert(first) {
                    sequence.1 += 1;
                }
                *counts
                    .lock()
                    .unwrap()
                    .entry((stream.to_owned(), kind))
                    .or_default() += 1;
            })
        };
        let pc = client_peer_connection(
            Receiver {
                candidates: cand_tx,
                on_packet,
                on_track: None,
            },
            pts,
        )
        .await
        .expect("client pc");
        let tracks = publishing_tracks(&pc).await.expect("tracks");
        let offer = pc.create_offer(None).await.expect("offer");
        pc.set_local_description(offer.clone()).await.expect("sld");
        let answer = worker.offer(key, offer.sdp).await.expect("worker answer");
        pc.set_remote_description(RTCSessionDescription::answer(answer.clone()).expect("sdp"))
            .await
            .expect("srd");

        // What a session task would do between the client and the worker.
        let (out_tx, events) = mpsc::unbounded_channel();
        let last_offer: Arc<Mutex<String>> = Arc::default();
        let pump = {
            let (worker, pc) = (Arc::clone(worker), Arc::clone(&pc));
            let last_offer = Arc::clone(&last_offer);
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        Some(c) = cand_rx.recv() => {
                            let c = IceCandidateInit::from(c);
                            let _ = worker.candidate(key, c).await;
                        }
                        ev = ev_rx.recv() => match ev {
                            Some(MediaEvent::LocalCandidate(c)) => {
                                let _ = pc.add_ice_candidate(c.into()).await;
                            }
                            Some(MediaEvent::Offer(sdp)) => {
                                last_offer.lock().unwrap().clone_from(&sdp);
                                if let Err(e) = answer_offer(&worker, key, &pc, sdp).await {
                                    eprintln!("peer {key}: renegotiation failed: {e}");
                                    RENEGOTIATION_FAILURES.fetch_add(1, Ordering::SeqCst);
                                }
                            }
                            Some(other) => { let _ = out_tx.send(other); }
                            None => break,
                        },
                    }
                }
            })
        };
        let sender = tokio::spawn(send_media(tracks, pts));
        Client {
            key,
            pc,
            counts,
            seen,
            sequence,
            pts,
            answer,
            events,
            last_offer,
            tasks: vec![pump, sender],
        }
    }

    fn got(&self, from: PeerKey, kind: MediaKind) -> u64 {
        let key = (stream_id_for(from), kind);
        *self.counts.lock().unwrap().get(&key).unwrap_or(&0)
    }

    async fn wait_connected(&mut self) {
        let key = self.key;
        let r = tokio::time::timeout(WAIT, async {
            while let Some(ev) = self.events.recv().await {
                if ev == MediaEvent::Connected {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(r, Ok(true), "peer {key} never connected");
    }

    /// Waits until `at_least` packets of each kind from each of `from` arrived.
    async fn wait_media(&self, from: &[PeerKey], at_least: u64) {
        let deadline = Instant::now() + WAIT;
        loop {
            let missing: Vec<(PeerKey, MediaKind, u64)> = from
                .iter()
                .flat_map(|f| KINDS.map(|k| (*f, k, self.got(*f, k))))
                .filter(|(_, _, n)| *n < at_least)
                .collect();
            if missing.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "peer {}: too few packets (from, kind, got): {missing:?}",
                self.key
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until `more` further packets of `from`'s `kind` arrived.
    async fn wait_more(&self, from: PeerKey, kind: MediaKind, more: u64) {
        let target = self.got(from, kind) + more;
        let deadline = Instant::now() + WAIT;
        while self.got(from, kind) < target {
            assert!(
                Instant::now() < deadline,
                "peer {}: {} of {target} {kind:?} packets from {from} (received: {:?})",
                self.key,
                self.got(from, kind),
                self.counts.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn close(self) {
        for task in self.tasks {
            task.abort();
            let _ = task.await;
        }
        let _ = self.pc.close().await;
    }
}

async fn answer_offer(
    worker: &Worker,
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
    worker
        .answer(key, answer.sdp)
        .await
        .map_err(|e| e.to_string())
}

/// Opus-like audio every 20 ms and a one-packet VP8-like frame every 30 ms, under
/// the client's own payload-type numbers.
async fn send_media(tracks: Vec<Arc<TrackLocalStaticRTP>>, pts: PayloadTypes) {
    let (audio, video) = (Arc::clone(&tracks[0]), Arc::clone(&tracks[1]));
    let (a_ssrc, v_ssrc) = (audio.ssrcs().await[0], video.ssrcs().await[0]);
    // Drain RTCP coming back on the video track so nothing backs up.
    let rtcp = {
        let video = Arc::clone(&video);
        tokio::spawn(async move { while video.poll().await.is_some() {} })
    };
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let (mut seq_a, mut seq_v, mut n) = (0u16, 0u16, 0u64);
    while !rtcp.is_finished() {
        tick.tick().await;
        n += 1;
        if n % 2 == 0 {
            let pkt = packet(pts.opus, a_ssrc, seq_a, (n * 480) as u32, vec![0xfc; 60]);
            seq_a = seq_a.wrapping_add(1);
            let _ = audio.write_rtp(pkt).await;
        }
        if n % 3 == 0 {
            let mut payload = vec![0x10, 0x9d, 0x01, 0x2a];
            payload.resize(600, 0x55);
            let mut pkt = packet(pts.vp8, v_ssrc, seq_v, (n * 900) as u32, payload);
            pkt.header.marker = true;
            seq_v = seq_v.wrapping_add(1);
            let _ = video.write_rtp(pkt).await;
        }
    }
}

/// Inodes of the UDP sockets this process holds open (a dup'd descriptor is the
/// same socket, so it counts once).
fn udp_socket_inodes() -> HashSet<u64> {
    let udp: HashSet<u64> = ["/proc/self/net/udp", "/proc/self/net/udp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|t| {
            t.lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().nth(9)?.parse().ok())
                .collect::<Vec<u64>>()
        })
        .collect();
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            l.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .filter(|inode| udp.contains(inode))
        .collect()
}

/// CPU time (user + system) of this process's thread called `name`.
fn thread_cpu(name: &str) -> Duration {
    let ticks: u64 = std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|e| {
            let dir = e.ok()?.path();
            let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
            if comm.trim() != name {
                return None;
            }
            let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
            let after = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = after.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .sum();
    Duration::from_millis(ticks * 10)
}

/// UDP sockets (of any process) bound to `port`.
fn sockets_bound_to(port: u16) -> usize {
    let hex = format!(":{port:04X}");
    ["/proc/self/net/udp", "/proc/self/net/udp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|t| {
            t.lines()
                .skip(1)
                .filter(|l| {
                    l.split_whitespace()
                        .nth(1)
                        .is_some_and(|a| a.ends_with(&hex))
                })
                .count()
        })
        .sum()
}

/// Three peers, one numbering its codecs as `numbering[i]` says, all on one port.
/// The socket count is per process: the tests of this file take turns.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn three_peers(numbering: [PayloadTypes; 3]) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let started = Instant::now();
    let before = udp_socket_inodes();
    let worker = Arc::new(Worker::start("127.0.0.1:0".parse().unwrap(), None).expect("worker"));
    let worker_sockets: Vec<u64> = udp_socket_inodes().difference(&before).copied().collect();
    assert_eq!(worker_sockets.len(), 1, "the worker opens one UDP socket");
    let port = worker.local_addr().port();

    let keys = [PeerKey(1), PeerKey(2), PeerKey(3)];
    open_all(&worker, &keys);
    let mut clients = Vec::new();
    for (key, pts) in keys.into_iter().zip(numbering) {
        let client = Client::connect(&worker, key, pts).await;
        // The answer names the worker's socket and nothing else (rtc lists it for
        // the RTP and the RTCP component alike).
        let candidates: Vec<&str> = client
            .answer
            .lines()
            .filter(|l| l.starts_with("a=candidate"))
            .collect();
        let worker_host = format!(" 127.0.0.1 {port} typ host");
        assert!(
            !candidates.is_empty() && candidates.iter().all(|c| c.ends_with(&worker_host)),
            "{candidates:?}"
        );
        assert!(client.answer.contains("a=ice-lite"), "ICE-lite answer");
        clients.push(client);
    }
    for client in &mut clients {
        client.wait_connected().await;
    }
    for client in &clients {
        let others: Vec<PeerKey> = keys.iter().copied().filter(|k| *k != client.key).collect();
        client.wait_media(&others, 20).await;
    }

    let (cpu0, wall0) = (thread_cpu(&format!("media-{port}")), Instant::now());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cpu = thread_cpu(&format!("media-{port}")) - cpu0;
    eprintln!(
        "worker thread CPU: {cpu:.3?} in {:.3?} of forwarding",
        wall0.elapsed()
    );

    // Each track reaches each other peer through one subscription: 3 × 2 × 2.
    let census = worker.census().await.expect("census");
    assert_eq!((census.peers, census.subscriptions), (3, 12), "{census:?}");

    // Each client got its own numbers for the codecs, whoever sent them.
    for client in &clients {
        let expected = HashSet::from([
            (MediaKind::Audio, client.pts.opus),
            (MediaKind::Video, client.pts.vp8),
        ]);
        assert_eq!(
            *client.seen.lock().unwrap(),
            expected,
            "peer {}",
            client.key
        );
        // Each packet once: a track subscribed to twice would arrive twice.
        let duplicates = client.sequence.lock().unwrap().1;
        assert_eq!(duplicates, 0, "duplicates at peer {}", client.key);
    }
    assert_eq!(RENEGOTIATION_FAILURES.load(Ordering::SeqCst), 0);
    // Still one socket on the port, and it is the worker's.
    assert_eq!(sockets_bound_to(port), 1);
    assert!(udp_socket_inodes().contains(&worker_sockets[0]));
    let stats = worker.stats();
    eprintln!(
        "forwarded audio {} video {}, {:.2?} in all",
        stats.forwarded_audio.load(Ordering::Relaxed),
        stats.forwarded_video.load(Ordering::Relaxed),
        started.elapsed()
    );
    for client in clients {
        let key = client.key;
        client.close().await;
        worker.remove_peer(key).await;
    }
    assert_eq!(worker.census().await.expect("census"), Census::default());
    drop(worker);
    assert!(
        !udp_socket_inodes().contains(&worker_sockets[0]),
        "dropping the worker closes its socket"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_peers_share_one_udp_port() {
    three_peers([PayloadTypes::SERVER; 3]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_numbering_codecs_as_firefox_still_receives() {
    three_peers([
        PayloadTypes::SERVER,
        PayloadTypes::FIREFOX,
        PayloadTypes::SERVER,
    ])
    .await;
}

/// A closed gate stops exactly its own flow, and it resumes when reopened; a peer
/// that leaves is withdrawn from the others (the server renegotiates), who keep
/// receiving each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gates_and_a_peer_leaving() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let worker = Arc::new(Worker::start("127.0.0.1:0".parse().unwrap(), None).expect("worker"));
    let keys = [PeerKey(1), PeerKey(2), PeerKey(3)];
    open_all(&worker, &keys);
    let mut clients = Vec::new();
    for key in keys {
        clients.push(Client::connect(&worker, key, PayloadTypes::SERVER).await);
    }
    for client in &mut clients {
        client.wait_connected().await;
    }
    for client in &clients {
        let others: Vec<PeerKey> = keys.iter().copied().filter(|k| *k != client.key).collect();
        client.wait_media(&others, 10).await;
    }

    let (one, two) = (PeerKey(1), PeerKey(2));
    worker.set_gate(one, two, MediaKind::Video, false);
    // Packets already through the worker may still land.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopped = clients[1].got(one, MediaKind::Video);
    let dropped = worker.stats().dropped_gate_closed.load(Ordering::Relaxed);
    clients[1].wait_more(one, MediaKind::Audio, 15).await;
    clients[2].wait_more(one, MediaKind::Video, 10).await;
    assert_eq!(
        clients[1].got(one, MediaKind::Video),
        stopped,
        "gate closed"
    );
    assert!(worker.stats().dropped_gate_closed.load(Ordering::Relaxed) > dropped);
    worker.set_gate(one, two, MediaKind::Video, true);
    clients[1].wait_more(one, MediaKind::Video, 10).await;

    let three = clients.pop().expect("three clients");
    three.close().await;
    worker.remove_peer(PeerKey(3)).await;
    let census = worker.census().await.expect("census");
    assert_eq!((census.peers, census.subscriptions), (2, 4), "{census:?}");
    for (to, from) in [(0, two), (1, one)] {
        for kind in KINDS {
            clients[to].wait_more(from, kind, 10).await;
        }
    }
    assert_eq!(RENEGOTIATION_FAILURES.load(Ordering::SeqCst), 0);
    for client in clients {
        let key = client.key;
        client.close().await;
        worker.remove_peer(key).await;
    }
    assert_eq!(worker.census().await.expect("census"), Census::default());
}

/// A worker bound to every interface announces each of the machine's addresses
/// (never the unspecified one; loopback among them, so there are always two or
/// more), and a check sent to any of them is answered from that address: the ICE
/// agent only accepts checks on the candidate they were sent to, so the worker
/// passes each datagram's destination along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_on_every_interface_answers_on_each_address() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let worker = Arc::new(Worker::start("0.0.0.0:0".parse().unwrap(), None).expect("worker"));
    let port = worker.local_addr().port();
    let keys = [PeerKey(1), PeerKey(2)];
    open_all(&worker, &keys);
    let mut clients = Vec::new();
    for key in keys {
        let client = Client::connect(&worker, key, PayloadTypes::SERVER).await;
        let addresses: HashSet<String> = client
            .answer
            .lines()
            .filter(|l| l.starts_with("a=candidate"))
            .map(|l| {
                let fields: Vec<&str> = l.split(' ').collect();
                assert_eq!(
                    fields.get(5..8),
                    Some(&[port.to_string().as_str(), "typ", "host"][..]),
                    "{l}"
                );
                fields[4].to_owned()
            })
            .collect();
        assert!(addresses.len() >= 2, "{}", client.answer);
        for address in &addresses {
            let ip: std::net::IpAddr = address.parse().expect("an IP address");
            assert!(!ip.is_unspecified(), "{address}");
            // An address of this machine: one can bind to it.
            std::net::UdpSocket::bind((ip, 0)).expect("a local address");
        }
        clients.push(client);
    }
    for client in &mut clients {
        client.wait_connected().await;
    }
    clients[0].wait_media(&[keys[1]], 10).await;
    clients[1].wait_media(&[keys[0]], 10).await;
    for client in clients {
        let key = client.key;
        client.close().await;
        worker.remove_peer(key).await;
    }
    assert_eq!(worker.census().await.expect("census"), Census::default());
}

/// Issue 12: people who come and go do not wear a connection out. Two visitors
/// take turns joining and leaving while one peer stays: each visit reaches the
/// one who stays (and the stayer reaches each visitor) on the m-lines the last
/// visitor left, under the stayer's own payload-type numbering, and the
/// stayer's description ends as small as one visitor needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visits_recycle_m_lines_so_the_description_stays_bounded() {
    const VISITS: usize = 100;
    let _turn = ONE_AT_A_TIME.lock().await;
    let worker = Arc::new(Worker::start("127.0.0.1:0".parse().unwrap(), None).expect("worker"));
    let (stayer, visitors) = (PeerKey(1), [PeerKey(2), PeerKey(3)]);
    open_all(&worker, &[stayer, visitors[0], visitors[1]]);
    let mut a = Client::connect(&worker, stayer, PayloadTypes::FIREFOX).await;
    a.wait_connected().await;
    for visit in 0..VISITS {
        let key = visitors[visit % 2];
        // The room layer opens a newcomer's gates; the worker forgot the last visit's.
        open_all(&worker, &[stayer, key]);
        let mut visitor = Client::connect(&worker, key, PayloadTypes::SERVER).await;
        visitor.wait_connected().await;
        for kind in KINDS {
            a.wait_more(key, kind, 5).await;
        }
        visitor.wait_media(&[stayer], 5).await;
        visitor.close().await;
        worker.remove_peer(key).await;
    }
    // The visitor's copies went inactive in the stayer's description, and came
    // back for the next visitor; wait for the last offer (the last visitor gone).
    let census = worker.census().await.expect("census");
    assert_eq!((census.peers, census.subscriptions), (1, 0), "{census:?}");
    let deadline = Instant::now() + WAIT;
    let m_lines = |sdp: &str| sdp.lines().filter(|l| l.starts_with("m=")).count();
    loop {
        let offer = a.last_offer.lock().unwrap().clone();
        let sending = offer
            .lines()
            .filter(|l| *l == "a=sendonly" || *l == "a=sendrecv")
            .count();
        if sending == 0 && !offer.is_empty() {
            // Its own two m-lines and one visitor's two, however many came.
            assert_eq!(m_lines(&offer), 4, "{offer}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no offer without the last visitor: {offer}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let expected = HashSet::from([
        (MediaKind::Audio, PayloadTypes::FIREFOX.opus),
        (MediaKind::Video, PayloadTypes::FIREFOX.vp8),
    ]);
    assert_eq!(
        *a.seen.lock().unwrap(),
        expected,
        "the stayer's own numbers"
    );
    assert_eq!(RENEGOTIATION_FAILURES.load(Ordering::SeqCst), 0);
    a.close().await;
    worker.remove_peer(stayer).await;
    assert_eq!(worker.census().await.expect("census"), Census::default());
}

/// Opens every gate between these peers, both kinds, both ways.
fn open_all(worker: &Worker, keys: &[PeerKey]) {
    for from in keys {
        for to in keys.iter().filter(|k| *k != from) {
            for kind in KINDS {
                worker.set_gate(*from, *to, kind, true);
            }
        }
    }
}
