//! What one peer received and sent, and the clock payload stamps count from.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use circlekeeper::media::MediaKind;

/// The instant all payload timestamps count from (one process: one clock).
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// While set, receivers record per-packet latency (the load tool's measurement window).
pub static RECORDING: AtomicBool = AtomicBool::new(false);

/// Packets received from one remote stream of one kind.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tally {
    pub packets: u64,
    pub first: Option<Instant>,
    pub last: Option<Instant>,
    /// The latest send stamp (µs since [`epoch`]) among the packets received: what
    /// proves a packet was sent after some moment, whatever it met on the way.
    pub latest_sent_us: Option<u64>,
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
    /// Send-to-receive latency of packets received while [`RECORDING`], in µs.
    pub latency_us: Mutex<Vec<u32>>,
    pub sent_audio: AtomicU64,
    pub sent_video: AtomicU64,
    /// Server offers answered, and ignored because ours was outstanding (glare).
    pub offers_answered: AtomicU64,
    pub offers_ignored: AtomicU64,
    /// The type (`host`, `srflx`, `relay`, …) of each local candidate trickled.
    pub candidate_types: Mutex<Vec<String>>,
}

impl Counters {
    /// Counts a packet of `stream` that arrived `now`, sent at `sent` (µs since [`epoch`]).
    pub(super) fn arrived(&self, stream: &str, kind: MediaKind, now: Instant, sent: Option<u64>) {
        if let Some(sent) = sent.filter(|_| RECORDING.load(Ordering::Relaxed)) {
            let now_us = now.duration_since(epoch()).as_micros() as u64;
            let latency = now_us.saturating_sub(sent).min(u64::from(u32::MAX));
            self.latency_us.lock().unwrap().push(latency as u32);
        }
        let mut map = self.received.lock().unwrap();
        let entry = map.entry((stream.to_owned(), kind)).or_default();
        entry.tally.packets += 1;
        entry.tally.first.get_or_insert(now);
        entry.tally.last = Some(now);
        if let Some(sent) = sent {
            entry.tally.latest_sent_us = entry.tally.latest_sent_us.max(Some(sent));
        }
        entry.arrivals.push(now);
    }

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

    /// Now, as a send stamp (µs since [`epoch`]).
    pub fn stamp_now() -> u64 {
        Instant::now().duration_since(epoch()).as_micros() as u64
    }

    pub fn sent(&self, kind: MediaKind) -> u64 {
        match kind {
            MediaKind::Audio => self.sent_audio.load(Ordering::Relaxed),
            MediaKind::Video => self.sent_video.load(Ordering::Relaxed),
        }
    }
}
