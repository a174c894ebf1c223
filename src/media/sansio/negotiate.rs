//! Publications, subscriptions and the offer/answer exchanges of a worker's
//! connections, as docs/protocol.md describes them: the client offers what it
//! publishes; the server offers whenever it has tracks to add or remove; if both
//! offer at once the server gives way (rolls back, answers, offers again later).

use std::time::Instant;

use rtc::media_stream::{MediaStreamTrack, MediaStreamTrackId};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::rtp_transceiver::RTCRtpReceiverId;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use std::sync::atomic::Ordering;

use super::conn::{self, Published, Sub};
use super::recycle::{self, TsRewriter};
use super::state::State;
use super::{ConnKey, WorkerError};
use crate::media::codecs::AUDIO_LEVEL_URI;
use crate::media::forward::SeqRewriter;
use crate::media::{MediaEvent, MediaKind, stream_id_for};

fn neg(e: impl std::fmt::Display) -> WorkerError {
    WorkerError::Negotiation(e.to_string())
}

impl State {
    /// A publisher's track delivered its first packet: every peer of its room
    /// subscribes to it, unless the room refuses the publisher (an observer).
    pub(super) fn track_opened(
        &mut self,
        from: ConnKey,
        track_id: MediaStreamTrackId,
        receiver: RTCRtpReceiverId,
        ssrc: u32,
        now: Instant,
    ) {
        let Some(conn) = self.conns.get_mut(&from) else {
            return;
        };
        // rtc fires OnOpen again for the first packet after each renegotiation
        // (it resets the receiver's codec for the SSRC, handler/interceptor.rs): a
        // track is published, and subscribed to, once.
        if conn.published.iter().any(|p| p.track_id == track_id) {
            return;
        }
        let Some(mut rx) = conn.pc.rtp_receiver(receiver) else {
            return;
        };
        let Some(kind) = conn::media_kind(rx.track().kind()) else {
            return;
        };
        let audio_level_id = rx
            .get_parameters()
            .rtp_parameters
            .header_extensions
            .iter()
            .find(|e| e.uri == AUDIO_LEVEL_URI)
            .and_then(|e| u8::try_from(e.id).ok());
        // A client that replaced its camera or microphone: the old track's copies go.
        let replaced: Vec<MediaStreamTrackId> = conn
            .published
            .iter()
            .filter(|p| p.kind == kind)
            .map(|p| p.track_id.clone())
            .collect();
        conn.published.retain(|p| p.kind != kind);
        conn.published.push(Published {
            track_id: track_id.clone(),
            kind,
            receiver,
            ssrc,
            audio_level_id,
            last_pli: None,
            history: (kind == MediaKind::Video).then(Box::default),
        });
        conn.emit(MediaEvent::TrackPublished { kind });
        let refused = conn.refused.load(Ordering::Acquire);
        for old in replaced {
            let subs = self
                .subs
                .get_mut(&from)
                .and_then(|t| t.remove(&old))
                .unwrap_or_default();
            for sub in subs {
                self.unsubscribe(sub);
            }
        }
        if refused {
            return; // offered to nobody: no one's description announces it
        }
        // The others not negotiated yet get it with everything else after their offer.
        let others: Vec<ConnKey> = self
            .conns
            .iter()
            .filter(|(k, c)| k.room == from.room && **k != from && c.negotiated)
            .map(|(k, _)| *k)
            .collect();
        for to in others {
            self.subscribe(from, &track_id, kind, to, now);
        }
    }

    /// A newly negotiated peer receives every track already published in its room.
    pub(super) fn subscribe_to_existing(&mut self, to: ConnKey, now: Instant) {
        let existing: Vec<(ConnKey, MediaStreamTrackId, MediaKind)> = self
            .conns
            .iter()
            .filter(|(k, c)| k.room == to.room && **k != to && !c.refused.load(Ordering::Acquire))
            .flat_map(|(k, c)| c.published.iter().map(|p| (*k, p.track_id.clone(), p.kind)))
            .collect();
        for (from, track_id, kind) in existing {
            self.subscribe(from, &track_id, kind, to, now);
        }
    }

    /// Gives `to` a copy of `from`'s track on an idle send-only transceiver of
    /// its kind (recycle.rs) or a new one, and asks for an offer. A failure
    /// leaves `to` without that track (logged: it is rare and not caused by one
    /// packet).
    fn subscribe(
        &mut self,
        from: ConnKey,
        track_id: &MediaStreamTrackId,
        kind: MediaKind,
        to: ConnKey,
        _now: Instant,
    ) {
        let Some(conn) = self.conns.get_mut(&to) else {
            return;
        };
        let stream = stream_id_for(from.peer);
        let rtp_kind = match kind {
            MediaKind::Audio => RtpCodecKind::Audio,
            MediaKind::Video => RtpCodecKind::Video,
        };
        let track = |ssrc: u32| {
            MediaStreamTrack::new(
                stream.clone(),
                format!("{stream}-{track_id}"),
                format!("{stream}-{}", kind.as_str()),
                rtp_kind,
                recycle::encodings(ssrc, kind),
            )
        };
        let (sender, ssrc, seq, ts) = match conn.reuse(kind, track) {
            Some(idle) => (idle.sender, idle.ssrc, idle.seq, idle.ts),
            None => {
                let ssrc: u32 = rand::random();
                // A transceiver of its own, never `add_track`: that would reuse a
                // transceiver the client publishes on (MEDIA-NOTES).
                let init = RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Sendonly,
                    streams: vec![stream.clone()],
                    send_encodings: vec![],
                };
                let sender = match conn.pc.add_transceiver_from_track(track(ssrc), Some(init)) {
                    Ok(id) => conn.pc.rtp_transceiver(id).and_then(|t| t.sender()),
                    Err(e) => {
                        tracing::warn!("media worker: cannot subscribe peer {to} to {from}: {e}");
                        None
                    }
                };
                let Some(sender) = sender else {
                    return;
                };
                (sender, ssrc, SeqRewriter::default(), TsRewriter::default())
            }
        };
        conn.needs_offer = true;
        conn.mark(to, &mut self.busy);
        let gate = conn.gates.gate(from.peer, to.peer, kind);
        let room = std::sync::Arc::clone(&conn.gates);
        self.feedback.insert((to, ssrc), (from, track_id.clone()));
        self.subs
            .entry(from)
            .or_default()
            .entry(track_id.clone())
            .or_default()
            .push(Sub {
                to,
                sender,
                ssrc,
                kind,
                payload_type: None,
                offered: false,
                negotiated: false,
                gate,
                room,
                was_open: false,
                seen: 0,
                seq,
                ts,
            });
    }

    /// Offers what the client has not seen, once no exchange is in progress.
    pub(super) fn negotiate(&mut self, key: ConnKey, now: Instant) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        if !conn.needs_offer
            || !conn.negotiated
            || conn.outstanding_offer.is_some()
            || conn.pc.pending_local_description().is_some()
        {
            return;
        }
        let offer = match conn.pc.create_offer(None) {
            Ok(offer) => offer,
            Err(e) => {
                tracing::warn!("media worker: offer for peer {key} failed: {e}");
                conn.needs_offer = false;
                return;
            }
        };
        if let Err(e) = conn.pc.set_local_description(now, offer.clone()) {
            tracing::warn!("media worker: offer for peer {key} failed: {e}");
            conn.needs_offer = false;
            return;
        }
        conn.needs_offer = false;
        conn.outstanding_offer = Some(offer.sdp.clone());
        conn.emit_offer(offer.sdp);
        for sub in self.subs_to(key) {
            sub.offered = !sub.negotiated;
        }
    }

    pub(super) fn apply_offer(
        &mut self,
        key: ConnKey,
        sdp: String,
        now: Instant,
    ) -> Result<String, WorkerError> {
        let conn = self.conns.get_mut(&key).ok_or(WorkerError::UnknownPeer)?;
        let offer = RTCSessionDescription::offer(sdp).map_err(neg)?;
        // Glare: the server is the polite side. Drop our offer, answer theirs, offer
        // again afterwards (what ours carried is still to be seen by the client).
        if conn.outstanding_offer.take().is_some() {
            let rollback = RTCSessionDescription::rollback(None).map_err(neg)?;
            conn.pc.set_local_description(now, rollback).map_err(neg)?;
            conn.needs_offer = true;
            for sub in self.subs_to(key) {
                sub.offered = false;
            }
        }
        let conn = self.conns.get_mut(&key).ok_or(WorkerError::UnknownPeer)?;
        conn.pc.set_remote_description(now, offer).map_err(neg)?;
        let answer = conn.pc.create_answer(None)?;
        conn.pc.set_local_description(now, answer.clone())?;
        if !conn.negotiated {
            conn.negotiated = true;
            self.subscribe_to_existing(key, now);
        }
        self.refresh_payload_types(key);
        Ok(answer.sdp)
    }

    pub(super) fn apply_answer(
        &mut self,
        key: ConnKey,
        sdp: String,
        now: Instant,
    ) -> Result<(), WorkerError> {
        let conn = self.conns.get_mut(&key).ok_or(WorkerError::UnknownPeer)?;
        if conn.outstanding_offer.is_none() {
            return Err(WorkerError::Negotiation("no offer outstanding".into()));
        }
        let answer = RTCSessionDescription::answer(sdp).map_err(neg)?;
        conn.pc.set_remote_description(now, answer).map_err(neg)?;
        conn.outstanding_offer = None;
        for sub in self.subs_to(key) {
            sub.negotiated |= std::mem::take(&mut sub.offered);
        }
        self.refresh_payload_types(key);
        Ok(())
    }

    /// The copies `key` receives.
    fn subs_to(&mut self, key: ConnKey) -> impl Iterator<Item = &mut Sub> {
        self.subs
            .values_mut()
            .flat_map(|t| t.values_mut())
            .flatten()
            .filter(move |s| s.to == key)
    }

    /// After every completed exchange: the number `key` gave each forwarded
    /// codec, for the copies it receives (none until an answer covered them).
    fn refresh_payload_types(&mut self, key: ConnKey) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        let subs = self
            .subs
            .values_mut()
            .flat_map(|t| t.values_mut())
            .flatten()
            .filter(|s| s.to == key);
        for sub in subs {
            if !sub.negotiated {
                sub.payload_type = None;
                continue;
            }
            let mime = conn::mime_type(sub.kind);
            sub.payload_type = conn.pc.rtp_sender(sub.sender).and_then(|mut sender| {
                sender
                    .get_parameters()
                    .rtp_parameters
                    .codecs
                    .iter()
                    .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))
                    .map(|c| c.payload_type)
            });
        }
    }
}
