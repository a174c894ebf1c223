//! The packet path: one task per published track fans its packets out to one writer
//! task per subscriber.
//!
//! The publisher task never waits on a subscriber: it `try_send`s into each writer's
//! bounded queue and counts a drop when the queue is full, because `write_rtp` waits
//! on the subscriber's connection driver and one slow subscriber must not stall the
//! others (MEDIA-NOTES).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::time::{Duration, Instant};

use metrics::{Counter, Histogram, counter, histogram};
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp;
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::audio_level::{self, LevelReporter};
use super::gates::{Gate, MediaStats};
use super::{MediaEvent, MediaKind, PeerKey};

pub(crate) const DROPPED: &str = "circlekeeper_media_packets_dropped_total";
pub(crate) const FORWARDED: &str = "circlekeeper_media_packets_forwarded_total";
/// Gate change → the first packet of that stream forwarded or dropped under it.
pub(crate) const GATE_SWITCH: &str = "circlekeeper_gate_switch_seconds";
/// Keyframe requests to one publisher closer together than this are merged.
pub(crate) const PLI_MIN_INTERVAL: Duration = Duration::from_millis(200);

/// Control messages to a publisher task.
pub(crate) enum PubCtrl {
    Subscribe(Subscriber),
    Unsubscribe(PeerKey),
    /// A subscriber asked for a keyframe (PLI/FIR).
    KeyframeRequest,
}

/// One subscriber as the publisher task sees it.
pub(crate) struct Subscriber {
    pub(crate) to: PeerKey,
    /// Read once per packet; written by [`super::Sfu::set_gate`].
    pub(crate) gate: Arc<Gate>,
    pub(crate) queue: mpsc::Sender<Forwarded>,
    /// Gate state at the previous packet, to notice an opening.
    pub(crate) was_open: bool,
    /// The gate's change stamp at the previous packet: a new one is a switch to time.
    pub(crate) seen: u64,
}

/// A packet on its way to one subscriber.
pub(crate) struct Forwarded {
    packet: rtp::Packet,
    /// First packet after the gate opened: the writer restarts sequence numbering.
    resync: bool,
}

/// What a publisher task needs.
pub(crate) struct Publication {
    pub(crate) kind: MediaKind,
    pub(crate) track: Arc<dyn TrackRemote>,
    pub(crate) media_ssrc: u32,
    pub(crate) refused: Arc<AtomicBool>,
    pub(crate) stats: Arc<super::gates::Gates>,
    pub(crate) events: mpsc::Sender<MediaEvent>,
    /// Negotiated id of the audio-level extension, if any.
    pub(crate) audio_level_id: Option<u8>,
}

struct Drops {
    gate_closed: Counter,
    refused: Counter,
    queue_full: Counter,
    /// Gate switch delays, by the state switched to.
    opened: Histogram,
    closed: Histogram,
}

pub(crate) async fn publisher_loop(p: Publication, mut ctrl: mpsc::UnboundedReceiver<PubCtrl>) {
    let drops = Drops {
        gate_closed: counter!(DROPPED, "reason" => "gate_closed"),
        refused: counter!(DROPPED, "reason" => "publish_refused"),
        queue_full: counter!(DROPPED, "reason" => "subscriber_queue_full"),
        opened: histogram!(GATE_SWITCH, "kind" => p.kind.as_str(), "to" => "open"),
        closed: histogram!(GATE_SWITCH, "kind" => p.kind.as_str(), "to" => "closed"),
    };
    let stats: &MediaStats = &p.stats.stats;
    let mut subs: Vec<Subscriber> = Vec::new();
    let mut levels = LevelReporter::new(audio_level::MAX_EVENTS_PER_SEC);
    let mut last_pli: Option<Instant> = None;

    // Ends when the publisher's connection closes (poll returns None).
    while let Some(event) = p.track.poll().await {
        // Control messages are rare; taking them between packets keeps the hot path a
        // single await.
        let mut want_keyframe = false;
        while let Ok(msg) = ctrl.try_recv() {
            match msg {
                PubCtrl::Subscribe(s) => {
                    subs.retain(|old| old.to != s.to);
                    subs.push(s);
                }
                PubCtrl::Unsubscribe(to) => subs.retain(|s| s.to != to),
                PubCtrl::KeyframeRequest => want_keyframe = true,
            }
        }
        let mut packet = match event {
            TrackRemoteEvent::OnRtpPacket(packet) => packet,
            TrackRemoteEvent::OnEnded => break,
            _ => continue,
        };
        if p.refused.load(Ordering::Acquire) {
            drops.refused.increment(1);
            stats
                .dropped_publish_refused
                .fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if let Some(id) = p.audio_level_id {
            report_level(&p, id, &packet, &mut levels);
        }
        // Extension ids are per connection; each subscriber's were negotiated apart.
        // Dropped here once, so the copies below do not each clone the list.
        strip_extensions(&mut packet);
        for s in subs.iter_mut() {
            let open = s.gate.is_open();
            let stamp = s.gate.stamp();
            if stamp != s.seen {
                s.seen = stamp;
                let delay = Gate::since(stamp).as_secs_f64();
                if open { &drops.opened } else { &drops.closed }.record(delay);
            }
            let opened = open && !s.was_open;
            s.was_open = open;
            if !open {
                drops.gate_closed.increment(1);
                stats.dropped_gate_closed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            // A video subscriber joining mid-stream can decode nothing until a keyframe.
            want_keyframe |= opened && p.kind == MediaKind::Video;
            let fwd = Forwarded {
                packet: packet.clone(),
                resync: opened,
            };
            if let Err(mpsc::error::TrySendError::Full(_)) = s.queue.try_send(fwd) {
                drops.queue_full.increment(1);
                stats.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
                // Its next packet restarts numbering: the gap is not recoverable anyway.
                s.was_open = false;
            }
        }
        // A writer that ended (its subscriber left) is dropped here.
        subs.retain(|s| !s.queue.is_closed());
        let due = last_pli.is_none_or(|t| t.elapsed() >= PLI_MIN_INTERVAL);
        if want_keyframe && p.kind == MediaKind::Video && due {
            last_pli = Some(Instant::now());
            stats.keyframe_requests.fetch_add(1, Ordering::Relaxed);
            let pli = PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc: p.media_ssrc,
            };
            if let Err(e) = p.track.write_rtcp(vec![Box::new(pli)]).await {
                tracing::debug!(error = %e, "could not send PLI to publisher");
            }
        }
    }
}

fn report_level(p: &Publication, id: u8, packet: &rtp::Packet, levels: &mut LevelReporter) {
    let Some(raw) = packet.header.get_extension(id) else {
        return;
    };
    let Some((level, voice)) = audio_level::parse(&raw) else {
        return;
    };
    if let Some((level_dbov, voice)) = levels.observe(Instant::now(), level, voice) {
        // Droppable by design: the next report is at most 200 ms away.
        let _ = p
            .events
            .try_send(MediaEvent::AudioLevel { level_dbov, voice });
    }
}

fn strip_extensions(packet: &mut rtp::Packet) {
    packet.header.extension = false;
    packet.header.extensions = Vec::new();
    packet.header.extensions_padding = 0;
}

/// Makes a subscriber's sequence numbers contiguous across gate closures, so its jitter
/// buffer sees a pause rather than thousands of lost packets.
#[derive(Default)]
pub(crate) struct SeqRewriter {
    offset: u16,
    highest: Option<u16>,
}

impl SeqRewriter {
    pub(crate) fn rewrite(&mut self, seq: u16, resync: bool) -> u16 {
        if let (Some(high), true) = (self.highest, resync) {
            self.offset = high.wrapping_add(1).wrapping_sub(seq);
        }
        let out = seq.wrapping_add(self.offset);
        // Keep the highest in RFC 3550 wrapping order, so a reordered packet cannot pull it back.
        self.highest = Some(match self.highest {
            Some(h) if (out.wrapping_sub(h) as i16) < 0 => h,
            _ => out,
        });
        out
    }
}

/// [`DownTrack::payload_type`] before the subscriber has negotiated the stream.
pub(crate) const NOT_NEGOTIATED: u16 = u16::MAX;

/// One subscriber's copy of one published track.
pub(crate) struct DownTrack {
    pub(crate) kind: MediaKind,
    pub(crate) track: Arc<TrackLocalStaticRTP>,
    pub(crate) ssrc: u32,
    /// The payload type this subscriber gave the publisher's codec, or [`NOT_NEGOTIATED`].
    /// Each client numbers codecs its own way (Firefox: Opus 109, VP8 120), so it is
    /// read from the negotiated parameters by the peer task after every negotiation,
    /// never guessed from the publisher's packets.
    pub(crate) payload_type: Arc<AtomicU16>,
    pub(crate) publisher: mpsc::UnboundedSender<PubCtrl>,
    pub(crate) stats: Arc<super::gates::Gates>,
    /// The same gate the publisher checks: checked again at write time, so
    /// packets still queued when it closes are not sent either.
    pub(crate) gate: Arc<Gate>,
}

pub(crate) async fn writer_loop(d: DownTrack, mut queue: mpsc::Receiver<Forwarded>) {
    let forwarded = counter!(FORWARDED, "kind" => d.kind.as_str());
    let failed = counter!(DROPPED, "reason" => "write_failed");
    let not_negotiated = counter!(DROPPED, "reason" => "not_negotiated");
    let gate_closed = counter!(DROPPED, "reason" => "gate_closed");
    let stats: &MediaStats = &d.stats.stats;
    let mut seq = SeqRewriter::default();
    let mut rtcp_open = true;
    loop {
        tokio::select! {
            fwd = queue.recv() => {
                // None: the publisher left or unsubscribed us.
                let Some(fwd) = fwd else { break };
                if !d.gate.is_open() {
                    gate_closed.increment(1);
                    stats.dropped_gate_closed.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                // The stack would refuse (and log) a packet with any other number, after
                // `write_rtp` had already returned: so it is checked here, before.
                let Ok(payload_type) = u8::try_from(d.payload_type.load(Ordering::Acquire)) else {
                    not_negotiated.increment(1);
                    stats.dropped_not_negotiated.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let mut packet = fwd.packet;
                packet.header.ssrc = d.ssrc;
                packet.header.payload_type = payload_type;
                packet.header.sequence_number = seq.rewrite(packet.header.sequence_number, fwd.resync);
                match d.track.write_rtp(packet).await {
                    Ok(()) => {
                        forwarded.increment(1);
                        match d.kind {
                            MediaKind::Audio => &stats.forwarded_audio,
                            MediaKind::Video => &stats.forwarded_video,
                        }
                        .fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        tracing::trace!(error = %e, "write_rtp failed");
                        failed.increment(1);
                        stats.dropped_write_failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            event = d.track.poll(), if rtcp_open => match event {
                Some(TrackLocalEvent::OnRtcpPacket(packets)) => {
                    if packets.iter().any(|p| super::rtcp::is_keyframe_request(p.as_ref())) {
                        let _ = d.publisher.send(PubCtrl::KeyframeRequest);
                    }
                }
                // Unbound (track removed) or the connection closed.
                None => rtcp_open = false,
                Some(_) => {}
            },
        }
        if !rtcp_open {
            break;
        }
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
    fn sequence_wraps() {
        let mut r = SeqRewriter::default();
        assert_eq!(r.rewrite(65_535, true), 65_535);
        assert_eq!(r.rewrite(0, false), 0);
        assert_eq!(r.rewrite(10, true), 1);
    }
}
