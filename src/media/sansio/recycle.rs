//! Send-only transceivers are recycled, so a connection's description never
//! grows with the people who came and went (issue 12: "negotiation that cannot
//! wear out"). When a copy ends, its transceiver goes inactive and waits in
//! its subscriber's pool; the next copy of the same kind for that subscriber
//! takes it: the publisher's track and stream replace the old ones on the same
//! m-line, SSRC and payload type, and the next offer makes it send-only again.
//! The client sees the m-line go inactive and come back with another `msid`.

use std::time::Instant;

use rtc::media_stream::MediaStreamTrack;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodingParameters, RTCRtpEncodingParameters};
use rtc::rtp_transceiver::{RTCRtpSenderId, RTCRtpTransceiverDirection, RTCRtpTransceiverId};

use super::conn::{Conn, Sub};
use super::state::State;
use crate::media::MediaKind;
use crate::media::forward::SeqRewriter;

/// An inactive send-only transceiver waiting for its next copy.
pub(crate) struct Idle {
    pub(crate) sender: RTCRtpSenderId,
    pub(crate) kind: MediaKind,
    pub(crate) ssrc: u32,
    /// The copy's numbering goes on, so the subscriber's jitter buffer and
    /// decoder see one stream with a pause, not a stream that jumped back.
    pub(crate) seq: SeqRewriter,
    pub(crate) ts: TsRewriter,
}

/// Keeps one SSRC's RTP timestamps on one clock when its source changes: the
/// new publisher's timestamps continue from the last one sent, plus the time
/// that passed in between.
#[derive(Default)]
pub(crate) struct TsRewriter {
    offset: u32,
    /// The last timestamp sent and when.
    last: Option<(u32, Instant)>,
    /// The next packet comes from another source: move the offset then.
    rebase: bool,
}

impl TsRewriter {
    pub(crate) fn rewrite(&mut self, ts: u32, clock_hz: u32, now: Instant) -> u32 {
        if std::mem::take(&mut self.rebase)
            && let Some((last, at)) = self.last
        {
            let micros = now.saturating_duration_since(at).as_micros();
            // At least one tick: a timestamp equal to the last would merge two frames.
            let ticks = (micros * u128::from(clock_hz) / 1_000_000).max(1) as u32;
            self.offset = last.wrapping_add(ticks).wrapping_sub(ts);
        }
        let out = ts.wrapping_add(self.offset);
        self.last = Some((out, now));
        out
    }

    /// `ts` under the current offset, changing nothing (a retransmission).
    pub(crate) fn apply(&self, ts: u32) -> u32 {
        ts.wrapping_add(self.offset)
    }
}

/// The RTP clock of the one codec of each kind.
pub(crate) fn clock_hz(kind: MediaKind) -> u32 {
    match kind {
        MediaKind::Audio => 48_000,
        MediaKind::Video => 90_000,
    }
}

impl State {
    /// A copy ends: its transceiver goes inactive in its subscriber's pool (the
    /// next offer says so). Nothing is removed from the description.
    pub(super) fn unsubscribe(&mut self, sub: Sub) {
        let Some(conn) = self.conns.get_mut(&sub.to) else {
            return;
        };
        let id = RTCRtpTransceiverId::from(sub.sender);
        let Some(mut transceiver) = conn.pc.rtp_transceiver(id) else {
            return;
        };
        transceiver.set_direction(RTCRtpTransceiverDirection::Inactive);
        conn.needs_offer = true;
        conn.mark(sub.to, &mut self.busy);
        self.feedback.remove(&(sub.to, sub.ssrc));
        conn.idle.push(Idle {
            sender: sub.sender,
            kind: sub.kind,
            ssrc: sub.ssrc,
            seq: sub.seq,
            ts: sub.ts,
        });
    }
}

impl Conn {
    /// Puts a new copy of `kind` on an idle transceiver of that kind, if there
    /// is one, and makes it send-only again. `track` builds the copy's track
    /// for the transceiver's SSRC, which `write_rtp` keeps accepting; its
    /// stream becomes the m-line's `msid` (`replace_track` sets both).
    pub(crate) fn reuse(
        &mut self,
        kind: MediaKind,
        track: impl FnOnce(u32) -> MediaStreamTrack,
    ) -> Option<Idle> {
        let at = self.idle.iter().position(|i| i.kind == kind)?;
        let mut idle = self.idle.swap_remove(at);
        let id = RTCRtpTransceiverId::from(idle.sender);
        // rtc hands out the sender of a sending transceiver only: direction first.
        self.pc
            .rtp_transceiver(id)?
            .set_direction(RTCRtpTransceiverDirection::Sendonly);
        let mut sender = self.pc.rtp_sender(idle.sender)?;
        if sender.replace_track(track(idle.ssrc)).is_err() {
            // Not reusable after all (never expected): leave it inactive for good.
            self.pc
                .rtp_transceiver(id)?
                .set_direction(RTCRtpTransceiverDirection::Inactive);
            return None;
        }
        idle.ts.rebase = true;
        Some(idle)
    }
}

/// The encodings of a copy's track: its one SSRC.
pub(crate) fn encodings(ssrc: u32, kind: MediaKind) -> Vec<RTCRtpEncodingParameters> {
    vec![RTCRtpEncodingParameters {
        rtp_coding_parameters: RTCRtpCodingParameters {
            ssrc: Some(ssrc),
            ..Default::default()
        },
        codec: crate::media::codecs::codec(kind),
        ..Default::default()
    }]
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_new_source_continues_the_clock_of_the_old_one() {
        let start = Instant::now();
        let mut ts = TsRewriter::default();
        assert_eq!(
            ts.rewrite(1_000, 48_000, start),
            1_000,
            "unchanged at first"
        );
        let t1 = start + Duration::from_millis(20);
        assert_eq!(ts.rewrite(1_960, 48_000, t1), 1_960);
        // Another publisher, 500 ms later, with its own random clock.
        ts.rebase = true;
        let t2 = t1 + Duration::from_millis(500);
        assert_eq!(ts.rewrite(4_000_000_000, 48_000, t2), 1_960 + 24_000);
        // And its next packet moves with its own clock from there.
        assert_eq!(
            ts.rewrite(4_000_000_960, 48_000, t2 + Duration::from_millis(20)),
            1_960 + 24_000 + 960
        );
    }

    #[test]
    fn a_rebase_in_the_same_instant_still_moves_on() {
        let now = Instant::now();
        let mut ts = TsRewriter::default();
        ts.rewrite(u32::MAX, 90_000, now);
        ts.rebase = true;
        assert_eq!(ts.rewrite(77, 90_000, now), 0, "one tick later, wrapping");
    }
}
