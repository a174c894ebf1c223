//! Answering subscribers' NACKs (RFC 4585) from one history per published video
//! track, shared by every copy of it: a subscriber that lost a packet on its own
//! leg gets it again without waiting for a keyframe, and the server keeps one
//! ring of recent packets per publisher instead of one per subscriber copy.
//!
//! A retransmission obeys the gate as a first transmission does: it goes only
//! while the gate is open, and only for numbers sent to this subscriber since its
//! stream last resumed (`SeqRewriter::original`), so a NACK can never fetch a
//! packet that a closed gate kept from it.

use std::time::Instant;

use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtc::rtp;

use super::ConnKey;
use super::state::State;
use crate::media::MediaKind;

/// Packets kept per published video track: at 300–600 kbit/s about 1–2 s of
/// video, longer than a retransmission can still be played in time.
pub(crate) const HISTORY: usize = 512;

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
                    .and_then(|p| p.history.as_ref())
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
