//! Real webrtc-rs peers over loopback: packets flow through the SFU only where gates
//! are open, a gate change acts on the next packets, refused publishers are never
//! forwarded, and video gates that open ask the publisher for a keyframe.

mod media_common;

use std::sync::atomic::Ordering;

use circlekeeper::media::{MediaEvent, MediaKind, PeerKey, Sfu};
use media_common::{Client, loopback_config};

const A: PeerKey = PeerKey(1);
const B: PeerKey = PeerKey(2);
const C: PeerKey = PeerKey(3);
const D: PeerKey = PeerKey(4);

fn open_all(sfu: &Sfu, from: PeerKey, to: PeerKey) {
    sfu.set_gate(from, to, MediaKind::Audio, true);
    sfu.set_gate(from, to, MediaKind::Video, true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gates_switch_audio_per_subscriber_while_video_continues() {
    let sfu = Sfu::new(loopback_config()).await.expect("sfu");
    let mut b = Client::connect(&sfu, B, false).await;
    let mut c = Client::connect(&sfu, C, false).await;
    open_all(&sfu, A, B);
    open_all(&sfu, A, C);
    let mut a = Client::connect(&sfu, A, true).await;

    a.wait_event("Connected", |e| *e == MediaEvent::Connected)
        .await;
    for rx in [&mut b, &mut c] {
        rx.wait_for("A's audio and video", |n| {
            n.get(A, MediaKind::Audio) >= 20 && n.get(A, MediaKind::Video) >= 20
        })
        .await;
    }

    // Close A's audio to B only.
    sfu.set_gate(A, B, MediaKind::Audio, false);
    let b_audio = b.counts.get(A, MediaKind::Audio);
    let b_video = b.counts.get(A, MediaKind::Video);
    let c_audio = c.counts.get(A, MediaKind::Audio);
    // About one second of media: B's video and C's audio keep flowing...
    b.wait_for("B's video to continue", |n| {
        n.get(A, MediaKind::Video) >= b_video + 30
    })
    .await;
    c.wait_for("C's audio to continue", |n| {
        n.get(A, MediaKind::Audio) >= c_audio + 50
    })
    .await;
    // ...while B's audio stops, up to the packets already in flight at the switch.
    let after = b.counts.get(A, MediaKind::Audio);
    eprintln!("B audio: {b_audio} at close, {after} one second later");
    assert!(
        after - b_audio <= 3,
        "B kept receiving A's audio: {b_audio} -> {after}"
    );
    assert!(sfu.stats().dropped_gate_closed.load(Ordering::Relaxed) >= 40);

    // Reopen: audio restarts.
    sfu.set_gate(A, B, MediaKind::Audio, true);
    b.wait_for("B's audio to restart", |n| {
        n.get(A, MediaKind::Audio) >= after + 20
    })
    .await;

    let s = sfu.stats();
    eprintln!(
        "forwarded audio {} video {}, dropped gate {} queue {} write {}, PLIs {}",
        s.forwarded(MediaKind::Audio),
        s.forwarded(MediaKind::Video),
        s.dropped_gate_closed.load(Ordering::Relaxed),
        s.dropped_queue_full.load(Ordering::Relaxed),
        s.dropped_write_failed.load(Ordering::Relaxed),
        s.keyframe_requests.load(Ordering::Relaxed),
    );
    for client in [a, b, c] {
        client.close().await;
    }
    for peer in [A, B, C] {
        sfu.remove_peer(peer).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_publisher_is_never_forwarded() {
    let sfu = Sfu::new(loopback_config()).await.expect("sfu");
    let mut b = Client::connect(&sfu, B, false).await;
    sfu.refuse_publish(D, true);
    open_all(&sfu, D, B);
    open_all(&sfu, A, B);
    let mut d = Client::connect(&sfu, D, true).await;
    let a = Client::connect(&sfu, A, true).await;

    d.wait_event("D published", |e| {
        matches!(e, MediaEvent::TrackPublished { .. })
    })
    .await;
    // A's media arriving at B proves B is connected and forwarding works meanwhile.
    b.wait_for("A's media at B", |n| {
        n.get(A, MediaKind::Audio) >= 50 && n.get(A, MediaKind::Video) >= 30
    })
    .await;
    let refused = sfu.stats().dropped_publish_refused.load(Ordering::Relaxed);
    assert!(refused >= 50, "D's packets reached the SFU: {refused}");
    assert_eq!(b.counts.get(D, MediaKind::Audio), 0);
    assert_eq!(b.counts.get(D, MediaKind::Video), 0);

    for client in [a, b, d] {
        client.close().await;
    }
    for peer in [A, B, D] {
        sfu.remove_peer(peer).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_video_gate_asks_the_publisher_for_a_keyframe() {
    let sfu = Sfu::new(loopback_config()).await.expect("sfu");
    let mut b = Client::connect(&sfu, B, false).await;
    sfu.set_gate(A, B, MediaKind::Audio, true);
    let a = Client::connect(&sfu, A, true).await;
    // Audio flowing means B is connected and subscribed; video is still gated.
    b.wait_for("A's audio", |n| n.get(A, MediaKind::Audio) >= 20)
        .await;
    assert_eq!(b.counts.get(A, MediaKind::Video), 0);
    let before = a.counts.plis();

    sfu.set_gate(A, B, MediaKind::Video, true);
    b.wait_for("A's video", |n| n.get(A, MediaKind::Video) >= 5)
        .await;
    let deadline = tokio::time::Instant::now() + media_common::WAIT;
    // The PLI travels SFU -> A's connection -> A's track; wait for the counter.
    let mut ticks = tokio::time::interval(std::time::Duration::from_millis(10));
    while a.counts.plis() <= before {
        assert!(tokio::time::Instant::now() < deadline, "no PLI reached A");
        ticks.tick().await;
    }
    assert!(sfu.stats().keyframe_requests.load(Ordering::Relaxed) >= 1);

    a.close().await;
    b.close().await;
    sfu.remove_peer(A).await;
    sfu.remove_peer(B).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_levels_are_reported_at_a_bounded_rate() {
    let sfu = Sfu::new(loopback_config()).await.expect("sfu");
    let mut b = Client::connect(&sfu, B, false).await;
    sfu.set_gate(A, B, MediaKind::Audio, true);
    let mut a = Client::connect(&sfu, A, true).await;
    let first = a
        .wait_event("AudioLevel", |e| matches!(e, MediaEvent::AudioLevel { .. }))
        .await;
    assert_eq!(
        first,
        MediaEvent::AudioLevel {
            level_dbov: 30,
            voice: true
        }
    );

    // Two seconds of audio (100 packets) at B, then count A's level events.
    let opened = std::time::Instant::now();
    let start = b.counts.get(A, MediaKind::Audio);
    b.wait_for("2 s of audio", |n| {
        n.get(A, MediaKind::Audio) >= start + 100
    })
    .await;
    let mut levels = 0;
    while let Ok(ev) = a.events.try_recv() {
        levels += usize::from(matches!(ev, MediaEvent::AudioLevel { .. }));
    }
    let window = opened.elapsed();
    eprintln!("{levels} audio-level events during 100 audio packets ({window:.2?})");
    media_common::assert_level_rate(levels, window, 5);

    a.close().await;
    b.close().await;
    sfu.remove_peer(A).await;
    sfu.remove_peer(B).await;
}

/// A subscriber that reports packets lost (NACK) gets them again from the
/// publisher's history. A NACK is no way around a gate: while the gate is closed
/// it fetches nothing, and after it reopens nothing sent before the closure.
///
/// The client's SRTP replay window (webrtc-rs, as every browser) discards a
/// second copy of a packet it already has, so what is sent again is read from
/// the server's counters; what is refused is also checked at the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacks_are_answered_only_inside_an_open_gate() {
    use MediaKind::Video;
    let sfu = Sfu::new(loopback_config()).await.expect("sfu");
    let mut b = Client::connect(&sfu, B, false).await;
    open_all(&sfu, A, B);
    let a = Client::connect(&sfu, A, true).await;
    b.wait_for("A's video", |n| n.get(A, Video) >= 20).await;
    let stats = sfu.stats();
    let resent = || stats.retransmitted.load(Ordering::Relaxed);
    let unanswered = || stats.nacks_unanswered.load(Ordering::Relaxed);

    // Open: three packets it received go out again (a NACK pair and its bitmask).
    let open = b.counts.of(A, Video);
    let seqs = [2, 1, 0].map(|back| open.last_seq.wrapping_sub(back));
    b.nack(A, Video, &seqs).await;
    until("three packets sent again", || resent() >= 3).await;
    assert_eq!(unanswered(), 0);

    // Closed: the server refuses the NACK, and nothing arrives again.
    sfu.set_gate(A, B, Video, false);
    let dropped = stats.dropped_gate_closed.load(Ordering::Relaxed);
    until("video dropped at the closed gate", || {
        stats.dropped_gate_closed.load(Ordering::Relaxed) >= dropped + 5
    })
    .await;
    let closed = b.counts.of(A, Video);
    let (r0, u0) = (resent(), unanswered());
    b.nack(A, Video, &[closed.last_seq]).await;
    until("the NACK refused", || unanswered() > u0).await;
    assert_eq!(resent(), r0, "sent again through a closed gate");
    assert_eq!(b.counts.of(A, Video).repeats, closed.repeats);

    // Reopened: what was sent before the closure is no longer B's to fetch
    // (under the new numbering it would name packets the gate kept from B)...
    sfu.set_gate(A, B, Video, true);
    b.wait_for("video again", |n| n.get(A, Video) >= closed.packets + 10)
        .await;
    let (r0, u0) = (resent(), unanswered());
    b.nack(A, Video, &[closed.last_seq]).await;
    until("the old NACK refused", || unanswered() > u0).await;
    assert_eq!(resent(), r0, "sent again from before the closure");
    // ...and what was sent since is.
    let reopened = b.counts.of(A, Video);
    let (r0, u0) = (resent(), unanswered());
    b.nack(A, Video, &[reopened.last_seq]).await;
    until("a packet sent again after the reopening", || resent() > r0).await;
    assert_eq!(unanswered(), u0);

    a.close().await;
    b.close().await;
    sfu.remove_peer(A).await;
    sfu.remove_peer(B).await;
}

/// Polls a server-side condition every few milliseconds, failing after `WAIT`.
async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + media_common::WAIT;
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(5));
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tick.tick().await;
    }
}
