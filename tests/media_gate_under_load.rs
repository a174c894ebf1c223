//! A gate holds when the machine is saturated (SPEC §6.5, issue 12): with busy
//! threads on every core beside the server, closing a gate stops the stream at
//! the next packet — packets the server already had in hand included — and
//! reopening it brings the stream back.

mod media_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use circlekeeper::media::{MediaKind, PeerKey, Sfu};
use media_common::{Client, loopback_config};

const A: PeerKey = PeerKey(1);
const B: PeerKey = PeerKey(2);
/// Packets that may still arrive after the close: already on the wire, or
/// written into B's connection in the same batch as the close.
const IN_FLIGHT: u64 = 3;

/// Threads that keep every core busy until dropped.
struct Busy {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<u64>>,
}

impl Busy {
    fn start() -> Busy {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..2 * cores)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        n = std::hint::black_box(n.wrapping_mul(31).wrapping_add(7));
                    }
                    n
                })
            })
            .collect();
        Busy { stop, threads }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_gate_holds_while_every_core_is_busy() {
    let sfu = Sfu::new(loopback_config()).await.expect("sfu");
    let mut b = Client::connect(&sfu, B, false).await;
    sfu.set_gate(A, B, MediaKind::Audio, true);
    let a = Client::connect(&sfu, A, true).await;
    b.wait_for("A's audio", |n| n.get(A, MediaKind::Audio) >= 20)
        .await;

    let busy = Busy::start();
    // Still flowing under load: the test measures the gate, not a stalled stream.
    let flowing = b.counts.get(A, MediaKind::Audio);
    b.wait_for("A's audio under load", |n| {
        n.get(A, MediaKind::Audio) >= flowing + 20
    })
    .await;

    let stats = sfu.stats();
    let dropped = stats.dropped_gate_closed.load(Ordering::Relaxed);
    sfu.set_gate(A, B, MediaKind::Audio, false);
    let at_close = b.counts.get(A, MediaKind::Audio);
    // One second of A's audio reaches the server and stops at the gate.
    let deadline = tokio::time::Instant::now() + media_common::WAIT;
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(10));
    while stats.dropped_gate_closed.load(Ordering::Relaxed) < dropped + 50 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "A's audio stopped reaching the server"
        );
        tick.tick().await;
    }
    let after = b.counts.get(A, MediaKind::Audio);
    eprintln!("under load: {at_close} packets at the close, {after} after 50 dropped");
    assert!(
        after <= at_close + IN_FLIGHT,
        "B kept hearing A through a closed gate: {at_close} -> {after}"
    );

    sfu.set_gate(A, B, MediaKind::Audio, true);
    b.wait_for("A's audio again, under load", |n| {
        n.get(A, MediaKind::Audio) >= after + 20
    })
    .await;
    drop(busy);

    a.close().await;
    b.close().await;
    sfu.remove_peer(A).await;
    sfu.remove_peer(B).await;
}
