//! What every forwarded packet shares, whichever connection carries it: the metric
//! names, how often a publisher may be asked for a keyframe, and the sequence
//! rewriting that hides a closed gate from the subscriber's jitter buffer.

use std::time::Duration;

pub(crate) const DROPPED: &str = "circlekeeper_media_packets_dropped_total";
pub(crate) const FORWARDED: &str = "circlekeeper_media_packets_forwarded_total";
/// Packets a subscriber reported lost, by `outcome` (`resent`, `unanswered`).
pub(crate) const NACKED: &str = "circlekeeper_media_nacked_packets_total";
/// Gate change → the first packet of that stream forwarded or dropped under it.
pub(crate) const GATE_SWITCH: &str = "circlekeeper_gate_switch_seconds";
/// Keyframe requests to one publisher closer together than this are merged.
pub(crate) const PLI_MIN_INTERVAL: Duration = Duration::from_millis(200);

/// Makes a subscriber's sequence numbers contiguous across gate closures, so its jitter
/// buffer sees a pause rather than thousands of lost packets.
#[derive(Default)]
pub(crate) struct SeqRewriter {
    offset: u16,
    highest: Option<u16>,
    /// The first number sent under the current offset: everything from here to
    /// `highest` maps back to the source by the offset alone.
    floor: u16,
}

impl SeqRewriter {
    pub(crate) fn rewrite(&mut self, seq: u16, resync: bool) -> u16 {
        match (self.highest, resync) {
            (Some(high), true) => {
                self.offset = high.wrapping_add(1).wrapping_sub(seq);
                self.floor = high.wrapping_add(1);
            }
            (None, _) => self.floor = seq.wrapping_add(self.offset),
            (Some(_), false) => {}
        }
        let out = seq.wrapping_add(self.offset);
        // Keep the highest in RFC 3550 wrapping order, so a reordered packet cannot pull it back.
        self.highest = Some(match self.highest {
            Some(h) if (out.wrapping_sub(h) as i16) < 0 => h,
            _ => out,
        });
        out
    }

    /// The source's number of `out`, if `out` was sent under the current offset.
    /// Numbers from before the last resync (a closed gate, another source on a
    /// recycled copy) are refused: the offset then was another, and mapping them
    /// with this one would name a packet this subscriber never had the right to.
    pub(crate) fn original(&self, out: u16) -> Option<u16> {
        let high = self.highest?;
        (out.wrapping_sub(self.floor) <= high.wrapping_sub(self.floor))
            .then(|| out.wrapping_sub(self.offset))
    }
}

#[cfg(test)]
mod tests {
    use super::SeqRewriter;

    #[test]
    fn sequence_stays_contiguous_across_a_closed_gate() {
        let mut r = SeqRewriter::default();
        assert_eq!(r.rewrite(100, true), 100);
        assert_eq!(r.rewrite(101, false), 101);
        // Gate closed for 5000 packets, then reopened.
        assert_eq!(r.rewrite(5102, true), 102);
        assert_eq!(r.rewrite(5103, false), 103);
        // A late packet keeps its relative place and does not move the high mark.
        assert_eq!(r.rewrite(5101, false), 101);
        assert_eq!(r.rewrite(5104, false), 104);
    }

    #[test]
    fn only_numbers_sent_since_the_last_resync_map_back() {
        let mut r = SeqRewriter::default();
        assert_eq!(r.original(7), None, "nothing sent yet");
        for seq in 1000..1010 {
            r.rewrite(seq, seq == 1000);
        }
        assert_eq!(r.original(1000), Some(1000));
        assert_eq!(r.original(1009), Some(1009));
        assert_eq!(r.original(1010), None, "not sent yet");
        assert_eq!(r.original(999), None, "before the first");
        // The gate closed over 1010..5000; it reopens at 5000, sent as 1010.
        assert_eq!(r.rewrite(5000, true), 1010);
        assert_eq!(r.rewrite(5001, false), 1011);
        assert_eq!(r.original(1011), Some(5001));
        assert_eq!(r.original(1010), Some(5000));
        // 1009 was sent under the old offset: mapped with the new one it would
        // name 4999, which the closed gate kept from this subscriber.
        assert_eq!(r.original(1009), None);
    }

    #[test]
    fn the_window_wraps_with_the_numbers() {
        let mut r = SeqRewriter::default();
        r.rewrite(65_534, true);
        r.rewrite(65_535, false);
        r.rewrite(0, false);
        r.rewrite(1, false);
        assert_eq!(r.original(65_534), Some(65_534));
        assert_eq!(r.original(1), Some(1));
        assert_eq!(r.original(2), None);
        assert_eq!(r.original(65_533), None);
    }

    #[test]
    fn sequence_wraps() {
        let mut r = SeqRewriter::default();
        assert_eq!(r.rewrite(65_535, true), 65_535);
        assert_eq!(r.rewrite(0, false), 0);
        assert_eq!(r.rewrite(10, true), 1);
    }
}
