//! The packet path of a worker: RTP read from a publisher is written into each open
//! subscriber's connection in the same call (no task, channel or lock per packet),
//! subscribers' keyframe requests go up to the publisher, and audio levels become
//! `AudioLevel` events.

use std::sync::atomic::Ordering;
use std::time::Instant;

use rtc::media_stream::MediaStreamTrackId;
use rtc::peer_connection::message::RTCMessage;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtc::rtp;
use rtc::sansio::Protocol;

use super::ConnKey;
use super::recycle::clock_hz;
use super::state::State;
use crate::media::audio_level;
use crate::media::forward::PLI_MIN_INTERVAL;
use crate::media::gates::Gate;
use crate::media::rtcp::keyframe_request_ssrc;
use crate::media::{MediaEvent, MediaKind};

impl State {
    pub(super) fn reads(&mut self, key: ConnKey, now: Instant) {
        let mut reads = std::mem::take(&mut self.reads);
        if let Some(conn) = self.conns.get_mut(&key) {
            while let Some(msg) = conn.pc.poll_read() {
                reads.push(msg);
            }
        }
        for msg in reads.drain(..) {
            match msg.message {
                RTCMessage::RtpPacket(track_id, packet) => {
                    self.forward(key, &track_id, packet, now);
                }
                // Tagged with whichever track the compound packet's first SSRC names
                // (often an audio copy, from the receiver report): each request's own
                // media SSRC says which copy it is about.
                RTCMessage::RtcpPacket(_, packets) => {
                    for packet in &packets {
                        if let Some(ssrc) = keyframe_request_ssrc(packet.as_ref()) {
                            self.keyframe_asked(key, ssrc, now);
                        } else if let Some(nack) =
                            packet.as_any().downcast_ref::<TransportLayerNack>()
                        {
                            self.nacked(key, nack, now);
                        }
                    }
                }
                _ => {}
            }
        }
        self.reads = reads;
    }

    /// One packet from `from` into every open subscriber: a function call each.
    fn forward(
        &mut self,
        from: ConnKey,
        track_id: &MediaStreamTrackId,
        mut packet: rtp::Packet,
        now: Instant,
    ) {
        let Some(conn) = self.conns.get_mut(&from) else {
            return;
        };
        let stats = &conn.gates.stats;
        if conn.refused.load(Ordering::Acquire) {
            self.meters.refused.increment(1);
            stats
                .dropped_publish_refused
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        let Some(index) = conn.published.iter().position(|p| p.track_id == *track_id) else {
            return;
        };
        let published = &conn.published[index];
        let (kind, media_ssrc) = (published.kind, published.ssrc);
        if let Some(id) = published.audio_level_id
            && let Some(raw) = packet.header.get_extension(id)
            && let Some((level, voice)) = audio_level::parse(&raw)
            && let Some((level_dbov, voice)) = conn.levels.observe(now, level, voice)
        {
            conn.emit(MediaEvent::AudioLevel { level_dbov, voice });
        }
        // Extension ids are per connection; each subscriber's were negotiated apart.
        // Dropped once here, so the copies below clone no extension list.
        packet.header.extension = false;
        packet.header.extensions = Vec::new();
        packet.header.extensions_padding = 0;
        if let Some(history) = &mut conn.published[index].history {
            history.keep(&packet);
        }
        let Some(subs) = self.subs.get_mut(&from).and_then(|t| t.get_mut(track_id)) else {
            return;
        };
        let mut want_keyframe = false;
        for sub in subs.iter_mut() {
            let stats = &sub.room.stats;
            let open = sub.gate.is_open();
            let stamp = sub.gate.stamp();
            if stamp != sub.seen {
                sub.seen = stamp;
                let delay = Gate::since(stamp).as_secs_f64();
                let k = super::state::Meters::kind(kind);
                if open {
                    &self.meters.opened[k]
                } else {
                    &self.meters.closed[k]
                }
                .record(delay);
            }
            let opened = open && !sub.was_open;
            sub.was_open = open;
            if !open {
                self.meters.gate_closed.increment(1);
                stats.dropped_gate_closed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let Some(payload_type) = sub.payload_type else {
                self.meters.not_negotiated.increment(1);
                stats.dropped_not_negotiated.fetch_add(1, Ordering::Relaxed);
                // Its first packet once negotiated counts as an opening.
                sub.was_open = false;
                continue;
            };
            // A video subscriber joining mid-stream can decode nothing until a keyframe.
            want_keyframe |= opened && kind == MediaKind::Video;
            // Until its DTLS handshake is done a subscriber has no keys to protect
            // the packet with (and `rtc` would log each one).
            let Some(to) = self.conns.get_mut(&sub.to).filter(|c| c.secure) else {
                self.meters.not_negotiated.increment(1);
                stats.dropped_not_negotiated.fetch_add(1, Ordering::Relaxed);
                sub.was_open = false;
                continue;
            };
            let Some(mut sender) = to.pc.rtp_sender(sub.sender) else {
                continue;
            };
            let mut copy = packet.clone();
            copy.header.ssrc = sub.ssrc;
            copy.header.payload_type = payload_type;
            copy.header.sequence_number = sub.seq.rewrite(packet.header.sequence_number, opened);
            copy.header.timestamp = sub.ts.rewrite(packet.header.timestamp, clock_hz(kind), now);
            let written = sender.write_rtp(now, copy);
            to.mark_flush(sub.to, &mut self.flush);
            match written {
                Ok(()) => {
                    let (counter, meter) = match kind {
                        MediaKind::Audio => (&stats.forwarded_audio, &self.meters.forwarded_audio),
                        MediaKind::Video => (&stats.forwarded_video, &self.meters.forwarded_video),
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    meter.increment(1);
                }
                Err(_) => {
                    self.meters.write_failed.increment(1);
                    stats.dropped_write_failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if want_keyframe {
            self.request_keyframe(from, media_ssrc, track_id, now);
        }
    }

    /// A subscriber asked for a keyframe of the copy it receives as `ssrc`: ask
    /// that copy's publisher.
    fn keyframe_asked(&mut self, to: ConnKey, ssrc: u32, now: Instant) {
        let Some((from, track_id)) = self.feedback.get(&(to, ssrc)).cloned() else {
            return; // about a track this peer publishes, or a copy already gone
        };
        let Some(ssrc) = self.conns.get(&from).and_then(|c| {
            c.published
                .iter()
                .find(|p| p.track_id == track_id)
                .map(|p| p.ssrc)
        }) else {
            return;
        };
        self.request_keyframe(from, ssrc, &track_id, now);
    }

    /// Sends a PLI to the publisher, at most one per [`PLI_MIN_INTERVAL`] per track.
    fn request_keyframe(
        &mut self,
        from: ConnKey,
        media_ssrc: u32,
        track_id: &MediaStreamTrackId,
        now: Instant,
    ) {
        let Some(conn) = self.conns.get_mut(&from) else {
            return;
        };
        let Some(published) = conn.published.iter_mut().find(|p| p.track_id == *track_id) else {
            return;
        };
        if published
            .last_pli
            .is_some_and(|t| now.saturating_duration_since(t) < PLI_MIN_INTERVAL)
        {
            return;
        }
        published.last_pli = Some(now);
        let receiver = published.receiver;
        conn.gates
            .stats
            .keyframe_requests
            .fetch_add(1, Ordering::Relaxed);
        if let Some(mut rx) = conn.pc.rtp_receiver(receiver) {
            let pli = PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc,
            };
            let _ = rx.write_rtcp(now, vec![Box::new(pli)]);
        }
        conn.mark_flush(from, &mut self.flush);
    }
}
