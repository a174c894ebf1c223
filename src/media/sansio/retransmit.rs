//! NACKs (RFC 4585) both ways. Subscribers' NACKs are answered from one history
//! per published video track, shared by every copy of it: a subscriber that lost
//! a packet on its own leg gets it again without waiting for a keyframe, and the
//! server keeps one ring of recent packets per publisher instead of one per
//! subscriber copy. A gap in what a publisher sends is NACKed to it at once
//! ([`Gaps`]): the packet it sends again is forwarded like any other, so one
//! request repairs the loss for every subscriber.
//!
//! A retransmission obeys the gate as a first transmission does: it goes only
//! while the gate is open, and only for numbers sent to this subscriber since its
//! stream last resumed (`SeqRewriter::original`), so a NACK can never fetch a
//! packet that a closed gate kept from it.

use std::time::Instant;

use rtc::rtcp::transport_feedbacks::transport_layer_nack::{
    TransportLayerNack, nack_pairs_from_sequence_numbers,
};
use rtc::rtp;

use super::ConnKey;
use super::state::State;
use crate::media::MediaKind;

/// Packets kept per published video track: at 300–600 kbit/s about 1–2 s of
/// video, longer than a retransmission can still be played in time.
pub(crate) const HISTORY: usize = 512;

/// A jump in a publisher's numbering longer than this is a restart, not a loss.
const MAX_GAP: u16 = 16;

/// Notices packets missing from a publisher's stream as the next one arrives.
#[derive(Default)]
pub(crate) struct Gaps {
    highest: Option<u16>,
}

impl Gaps {
    /// The first missing number and how many are missing right before `seq`,
    /// when `seq` jumps ahead by at most [`MAX_GAP`] lost packets. Late and
    /// repeated packets change nothing.
    pub(crate) fn observe(&mut self, seq: u16) -> Option<(u16, u16)> {
        let Some(high) = self.highest else {
            self.highest = Some(seq);
            return None;
        };
        let ahead = seq.wrapping_sub(high);
        if ahead == 0 || ahead >= 0x8000 {
            return None;
        }
        self.highest = Some(seq);
        let missing = ahead - 1;
        (1..=MAX_GAP)
            .contains(&missing)
            .then(|| (high.wrapping_add(1), missing))
    }
}

/// The last [`HISTORY`] packets of one published track, by sequence number.
pub(crate) struct History {
    slots: Box<[Option<rtp::Packet>]>,
}

impl Default for History {
    fn default() -> History {
        History {
            slots: (0..HISTORY).map(|_| None).collect(),
        }
    }
}

impl History {
    fn slot(seq: u16) -> usize {
        usize::from(seq) % HISTORY
    }

    /// Keeps `packet` (extensions already stripped): a clone shares its payload.
    pub(crate) fn keep(&mut self, packet: &rtp::Packet) {
        self.slots[Self::slot(packet.header.sequence_number)] = Some(packet.clone());
    }

    /// The packet numbered `seq`, if it is still held.
    pub(crate) fn get(&self, seq: u16) -> Option<&rtp::Packet> {
        self.slots[Self::slot(seq)]
            .as_ref()
            .filter(|p| p.header.sequence_number == seq)
    }
}

impl State {
    /// Asks the publisher of `conn.published[index]` for `missing` packets from
    /// `first` (one RTCP message; a loss, not a per-packet cost).
    pub(super) fn nack_publisher(
        &mut self,
        from: ConnKey,
        index: usize,
        first: u16,
        missing: u16,
        now: Instant,
    ) {
        let Some(conn) = self.conns.get_mut(&from) else {
            return;
        };
        let Some(published) = conn.published.get(index) else {
            return;
        };
        let seqs: Vec<u16> = (0..missing).map(|k| first.wrapping_add(k)).collect();
        let nack = TransportLayerNack {
            sender_ssrc: 0,
            media_ssrc: published.ssrc,
            nacks: nack_pairs_from_sequence_numbers(&seqs),
        };
        if let Some(mut rx) = conn.pc.rtp_receiver(published.receiver)
            && rx.write_rtcp(now, vec![Box::new(nack)]).is_ok()
        {
            let asked = u64::from(missing);
            conn.gates
                .stats
                .nacks_sent
                .fetch_add(asked, std::sync::atomic::Ordering::Relaxed);
            self.meters.nacks_sent.increment(asked);
            conn.mark_flush(from, &mut self.flush);
        }
    }

    /// `to` reports lost packets of the copy it receives as `nack.media_ssrc`.
    pub(super) fn nacked(&mut self, to: ConnKey, nack: &TransportLayerNack, now: Instant) {
        let Some((from, track_id)) = self.feedback.get(&(to, nack.media_ssrc)).cloned() else {
            return; // about a track this peer publishes, or a copy already gone
        };
        let mut resend = std::mem::take(&mut self.resend);
        resend.clear();
        let mut refused = 0u64;
        if let (Some(sub), Some(history)) = (
            self.subs
                .get(&from)
                .and_then(|t| t.get(&track_id))
                .and_then(|subs| subs.iter().find(|s| s.to == to)),
            self.conns.get(&from).and_then(|c| {
                c.published
                    .iter()
                    .find(|p| p.track_id == track_id)
                    .and_then(|p| p.history.as_deref().map(|(kept, _)| kept))
            }),
        ) {
            // Only what this subscriber may receive now, under its own numbering.
            let allowed = sub.gate.is_open() && sub.was_open && sub.kind == MediaKind::Video;
            for pair in &nack.nacks {
                for out in *pair {
                    let packet = allowed
                        .then(|| sub.seq.original(out))
                        .flatten()
                        .and_then(|seq| history.get(seq));
                    let (Some(packet), Some(payload_type)) = (packet, sub.payload_type) else {
                        refused += 1;
                        continue;
                    };
                    let mut copy = packet.clone();
                    copy.header.ssrc = sub.ssrc;
                    copy.header.payload_type = payload_type;
                    copy.header.sequence_number = out;
                    copy.header.timestamp = sub.ts.apply(packet.header.timestamp);
                    resend.push((sub.sender, copy));
                }
            }
        } else {
            refused = nack
                .nacks
                .iter()
                .map(|p| p.into_iter().count() as u64)
                .sum();
        }
        self.meters.nacks_unanswered.increment(refused);
        if let Some(conn) = self.conns.get_mut(&to) {
            let stats = &conn.gates.stats;
            stats
                .nacks_unanswered
                .fetch_add(refused, std::sync::atomic::Ordering::Relaxed);
            let mut sent = 0;
            for (sender, packet) in resend.drain(..) {
                if let Some(mut sender) = conn.pc.rtp_sender(sender)
                    && sender.write_rtp(now, packet).is_ok()
                {
                    sent += 1;
                }
            }
            stats
                .retransmitted
                .fetch_add(sent, std::sync::atomic::Ordering::Relaxed);
            self.meters.retransmitted.increment(sent);
            if sent > 0 {
                conn.mark_flush(to, &mut self.flush);
            }
        }
        self.resend = resend;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(seq: u16) -> rtp::Packet {
        let mut p = rtp::Packet::default();
        p.header.sequence_number = seq;
        p
    }

    #[test]
    fn a_gap_is_noticed_once_and_late_packets_change_nothing() {
        let mut g = Gaps::default();
        assert_eq!(g.observe(65_534), None, "the first packet");
        assert_eq!(g.observe(65_535), None);
        assert_eq!(g.observe(2), Some((0, 2)), "0 and 1 lost, across the wrap");
        assert_eq!(g.observe(0), None, "a late packet");
        assert_eq!(g.observe(2), None, "a repeat");
        assert_eq!(g.observe(3), None);
        assert_eq!(g.observe(20), Some((4, 16)));
        assert_eq!(g.observe(38), None, "17 missing: a restart, not a loss");
        assert_eq!(g.observe(39), None);
    }

    #[test]
    fn the_history_holds_the_last_packets_and_no_other() {
        let mut h = History::default();
        for seq in 65_000..=65_535 {
            h.keep(&packet(seq));
        }
        for seq in 0..600 {
            h.keep(&packet(seq));
        }
        assert!(h.get(599).is_some());
        assert!(h.get(600 - HISTORY as u16).is_some());
        assert!(h.get(599 - HISTORY as u16).is_none(), "overwritten");
        assert!(
            h.get(65_535).is_none(),
            "overwritten, though its slot is full"
        );
        assert!(h.get(600).is_none(), "not yet sent");
    }
}
