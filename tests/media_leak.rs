//! Removing peers frees everything (upstream webrtc#906 was a cycle that kept closed
//! connections alive): after many add / negotiate / connect / forward / remove cycles,
//! live connections, gate entries, file descriptors and RSS are back near baseline.
//!
//! Cycles: `MEDIA_LEAK_CYCLES` (default 100, up to 300 is reasonable).

mod media_common;

use std::time::Duration;

use circlekeeper::media::{MediaKind, PeerKey, Sfu};
use media_common::{Client, loopback_config, open_fds, rss_bytes};

/// One cycle: a publisher and a subscriber join, media flows between them, both leave.
async fn cycle(sfu: &Sfu, i: u64) {
    let (p, s) = (PeerKey(2 * i), PeerKey(2 * i + 1));
    let mut sub = Client::connect(sfu, s, false).await;
    sfu.set_gate(p, s, MediaKind::Audio, true);
    sfu.set_gate(p, s, MediaKind::Video, true);
    let publisher = Client::connect(sfu, p, true).await;
    sub.wait_for("media", |n| {
        n.get(p, MediaKind::Audio) >= 3 && n.get(p, MediaKind::Video) >= 3
    })
    .await;
    sfu.remove_peer(p).await;
    sfu.remove_peer(s).await;
    publisher.close().await;
    sub.close().await;
}

/// Waits until every server-side connection is freed (their drivers wind down
/// asynchronously after close).
async fn settle(sfu: &Sfu) {
    let r = tokio::time::timeout(Duration::from_secs(20), async {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        while Sfu::live_peer_connections() != 0 || sfu.gate_entries() != 0 {
            tick.tick().await;
        }
    })
    .await;
    assert!(
        r.is_ok(),
        "{} server connections and {} gate entries still alive",
        Sfu::live_peer_connections(),
        sfu.gate_entries()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_remove_cycles_return_fds_and_memory() {
    let cycles: u64 = std::env::var("MEDIA_LEAK_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let warmup = 10.min(cycles);
    let sfu = Sfu::new(loopback_config()).await.expect("sfu");

    for i in 0..warmup {
        cycle(&sfu, i).await;
    }
    settle(&sfu).await;
    let (fds0, rss0) = (open_fds(), rss_bytes());

    let started = std::time::Instant::now();
    for i in warmup..cycles {
        cycle(&sfu, i).await;
    }
    settle(&sfu).await;
    let (fds1, rss1) = (open_fds(), rss_bytes());
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    eprintln!(
        "{} cycles in {:.1?}: fds {fds0} -> {fds1}, RSS {:.1} MiB -> {:.1} MiB",
        cycles - warmup,
        started.elapsed(),
        mib(rss0),
        mib(rss1)
    );
    assert!(
        fds1 <= fds0 + 2,
        "file descriptors leaked: {fds0} -> {fds1}"
    );
    // Allocator caches and metric handles may grow a little; a leaked connection
    // (sockets, SRTP/DTLS state, interceptor buffers) would add far more per cycle.
    let bound = 8 * 1024 * 1024;
    assert!(
        rss1 <= rss0 + bound,
        "RSS grew by {:.1} MiB",
        mib(rss1.saturating_sub(rss0))
    );
}
