//! Forwarding gates and publish refusals: the only state the room layer writes and
//! the forwarding tasks read per packet.
//!
//! Each gate is an `Arc<Gate>` shared with the publisher and the one writer that
//! need it, so the per-packet check is an atomic load and no lock. The maps below
//! are touched only on control paths (a gate change, a new subscription).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use super::{MediaKind, PeerKey};

type GateKey = (PeerKey, PeerKey, MediaKind);

/// One forwarding gate: open or closed, and when it last changed, so the
/// forwarding path can measure how long a change takes to reach the packets
/// (`circlekeeper_gate_switch_seconds`, SPEC §9).
#[derive(Default, Debug)]
pub(crate) struct Gate {
    open: AtomicBool,
    /// Nanoseconds since [`epoch`] at the last change, plus one; 0: never changed.
    changed: AtomicU64,
}

/// The reference instant for gate change stamps.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Gate {
    /// Acquire pairs with the Release store in [`Gate::set`]: a packet read after the
    /// change sees it.
    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// The stamp of the last change (0: never). Read after [`Gate::is_open`].
    pub(crate) fn stamp(&self) -> u64 {
        self.changed.load(Ordering::Relaxed)
    }

    /// Time since the change of stamp `stamp` (not 0).
    pub(crate) fn since(stamp: u64) -> Duration {
        let now = u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(now.saturating_sub(stamp.saturating_sub(1)))
    }

    /// Only the room's task writes a gate: no change, no new stamp (re-applying
    /// the open gates of a new peer changes nothing).
    fn set(&self, open: bool) {
        if self.open.load(Ordering::Relaxed) == open {
            return;
        }
        let now = u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
        self.changed.store(now + 1, Ordering::Relaxed);
        self.open.store(open, Ordering::Release);
    }
}

#[derive(Default)]
pub(crate) struct Gates {
    /// (from, to, kind) → open. Created closed on first use by either side.
    gates: Mutex<HashMap<GateKey, Arc<Gate>>>,
    /// publisher → refused.
    refused: Mutex<HashMap<PeerKey, Arc<AtomicBool>>>,
    /// Counters, shared with every forwarding task.
    pub(crate) stats: MediaStats,
}

/// A poisoned lock only means another thread panicked mid-insert; the map is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Gates {
    pub(crate) fn gate(&self, from: PeerKey, to: PeerKey, kind: MediaKind) -> Arc<Gate> {
        Arc::clone(lock(&self.gates).entry((from, to, kind)).or_default())
    }

    pub(crate) fn set(&self, from: PeerKey, to: PeerKey, kind: MediaKind, open: bool) {
        self.gate(from, to, kind).set(open);
    }

    pub(crate) fn refused_flag(&self, peer: PeerKey) -> Arc<AtomicBool> {
        Arc::clone(lock(&self.refused).entry(peer).or_default())
    }

    pub(crate) fn refuse(&self, peer: PeerKey, refused: bool) {
        self.refused_flag(peer).store(refused, Ordering::Release);
    }

    /// Drops every flag that mentions `peer`, so a removed peer leaves nothing behind.
    pub(crate) fn forget_peer(&self, peer: PeerKey) {
        lock(&self.gates).retain(|(from, to, _), _| *from != peer && *to != peer);
        lock(&self.refused).remove(&peer);
    }

    /// Number of gate entries held (for leak tests).
    pub(crate) fn len(&self) -> usize {
        lock(&self.gates).len() + lock(&self.refused).len()
    }
}

/// Packet counters. The same numbers go to the `metrics` crate as
/// `circlekeeper_media_packets_forwarded_total{kind}` and
/// `circlekeeper_media_packets_dropped_total{reason}`; these are for tests and the load tool.
#[derive(Default, Debug)]
pub struct MediaStats {
    pub forwarded_audio: AtomicU64,
    pub forwarded_video: AtomicU64,
    /// A subscriber's gate was closed.
    pub dropped_gate_closed: AtomicU64,
    /// The publisher is refused (observer); counted once per packet, at ingress.
    pub dropped_publish_refused: AtomicU64,
    /// A subscriber's queue was full (slow subscriber).
    pub dropped_queue_full: AtomicU64,
    /// The subscriber's connection refused the packet (closing).
    pub dropped_write_failed: AtomicU64,
    /// The subscriber has not negotiated the stream yet (or refused its codec), so no
    /// payload type of theirs can be put on the packet.
    pub dropped_not_negotiated: AtomicU64,
    /// Keyframe requests (PLI) sent to publishers.
    pub keyframe_requests: AtomicU64,
    /// Packets sent again to a subscriber that reported them lost (NACK).
    pub retransmitted: AtomicU64,
    /// Packets a subscriber reported lost that were not sent again: no longer
    /// held, or not its to have (a closed gate, an earlier stretch of the stream).
    pub nacks_unanswered: AtomicU64,
}

impl MediaStats {
    pub fn forwarded(&self, kind: MediaKind) -> u64 {
        match kind {
            MediaKind::Audio => self.forwarded_audio.load(Ordering::Relaxed),
            MediaKind::Video => self.forwarded_video.load(Ordering::Relaxed),
        }
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gates_are_closed_by_default_and_shared() {
        let g = Gates::default();
        let (a, b) = (PeerKey(1), PeerKey(2));
        let flag = g.gate(a, b, MediaKind::Audio);
        assert!(!flag.is_open());
        g.set(a, b, MediaKind::Audio, true);
        assert!(flag.is_open(), "the holder sees the change");
        assert!(!g.gate(a, b, MediaKind::Video).is_open());
        assert!(!g.gate(b, a, MediaKind::Audio).is_open());
    }

    #[test]
    fn a_change_is_stamped_and_a_non_change_is_not() {
        let g = Gates::default();
        let (a, b) = (PeerKey(1), PeerKey(2));
        let flag = g.gate(a, b, MediaKind::Audio);
        assert_eq!(flag.stamp(), 0, "never changed");
        g.set(a, b, MediaKind::Audio, false);
        assert_eq!(flag.stamp(), 0, "closed → closed is no change");
        g.set(a, b, MediaKind::Audio, true);
        let opened = flag.stamp();
        assert_ne!(opened, 0);
        assert!(Gate::since(opened) < Duration::from_secs(5));
        g.set(a, b, MediaKind::Audio, true);
        assert_eq!(flag.stamp(), opened, "open → open keeps the stamp");
        std::thread::sleep(Duration::from_millis(2));
        g.set(a, b, MediaKind::Audio, false);
        assert!(flag.stamp() > opened);
    }

    #[test]
    fn forget_peer_removes_both_directions() {
        let g = Gates::default();
        let (a, b, c) = (PeerKey(1), PeerKey(2), PeerKey(3));
        g.set(a, b, MediaKind::Audio, true);
        g.set(b, a, MediaKind::Video, true);
        g.set(b, c, MediaKind::Video, true);
        g.refuse(a, true);
        g.forget_peer(a);
        assert_eq!(g.len(), 1);
    }
}
