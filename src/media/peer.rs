//! One task per peer: owns its `PeerConnection`, negotiates, and turns the connection's
//! callbacks into [`MediaEvent`]s and publications.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use rtc::media_stream::MediaStreamTrack;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use tokio::sync::{mpsc, oneshot};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{RTCIceCandidateInit, RTCPeerConnectionState, RTCSessionDescription};
use webrtc::rtp_transceiver::RtpSender;

use super::engine::{AUDIO_LEVEL_URI, Pc, PcEvent, PortLease};
use super::forward::{self, DownTrack, NOT_NEGOTIATED, PubCtrl, Publication, Subscriber};
use super::gates::{Gate, Gates};
use super::{IceCandidateInit, MediaError, MediaEvent, MediaKind, PeerKey, sfu, stream_id_for};

type Reply<T> = oneshot::Sender<Result<T, MediaError>>;

pub(crate) enum Command {
    Offer {
        sdp: String,
        reply: Reply<String>,
    },
    Answer {
        sdp: String,
        reply: Reply<()>,
    },
    Candidate {
        candidate: IceCandidateInit,
        reply: Reply<()>,
    },
    /// Is this the offer still waiting for the client's answer?
    IsCurrentOffer {
        sdp: String,
        reply: Reply<bool>,
    },
    /// Forward `from`'s track of `kind` to this peer.
    Subscribe(Subscription),
    /// `from` left: drop its tracks here.
    Unsubscribe {
        from: PeerKey,
    },
    Close {
        reply: oneshot::Sender<()>,
    },
}

pub(crate) struct Subscription {
    pub(crate) from: PeerKey,
    pub(crate) kind: MediaKind,
    pub(crate) codec: RTCRtpCodec,
    pub(crate) publisher: mpsc::UnboundedSender<PubCtrl>,
    pub(crate) gate: Arc<Gate>,
}

/// A forwarded track here: its sender, its publisher's task, and the payload type
/// this client gave its codec.
struct Forwarding {
    sender: Arc<dyn RtpSender>,
    publisher: mpsc::UnboundedSender<PubCtrl>,
    /// The publisher's codec, to find it among the negotiated ones.
    mime_type: String,
    /// Shared with the track's writer task, which stamps it on every packet.
    payload_type: Arc<AtomicU16>,
    /// Part of an offer the client answered, or of an answer to the client's offer:
    /// only then do the sender's parameters hold the client's numbering.
    negotiated: bool,
    /// Part of the server's offer now awaiting the client's answer.
    offered: bool,
}

pub(crate) struct PeerTask {
    key: PeerKey,
    pc: Pc,
    /// Returned to the pool when this task ends.
    _port: PortLease,
    events: mpsc::Sender<MediaEvent>,
    sfu: mpsc::UnboundedSender<sfu::Command>,
    gates: Arc<Gates>,
    queue_len: usize,
    /// Senders of forwarded tracks, to remove them when their publisher leaves.
    down: HashMap<(PeerKey, MediaKind), Forwarding>,
    /// The server has changes the client has not been offered yet.
    needs_offer: bool,
    /// The SDP of our offer awaiting an answer; none once answered or rolled back.
    outstanding_offer: Option<String>,
    /// Remote candidates that arrived before the remote description.
    early_candidates: Vec<RTCIceCandidateInit>,
}

fn neg(e: impl std::fmt::Display) -> MediaError {
    MediaError::Negotiation(e.to_string())
}

fn kind_of(kind: RtpCodecKind) -> Option<MediaKind> {
    match kind {
        RtpCodecKind::Audio => Some(MediaKind::Audio),
        RtpCodecKind::Video => Some(MediaKind::Video),
        _ => None,
    }
}

impl PeerTask {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        key: PeerKey,
        pc: Pc,
        port: PortLease,
        events: mpsc::Sender<MediaEvent>,
        sfu: mpsc::UnboundedSender<sfu::Command>,
        gates: Arc<Gates>,
        queue_len: usize,
    ) -> Self {
        PeerTask {
            key,
            pc,
            _port: port,
            events,
            sfu,
            gates,
            queue_len,
            down: HashMap::new(),
            needs_offer: false,
            outstanding_offer: None,
            early_candidates: Vec::new(),
        }
    }

    pub(crate) async fn run(
        mut self,
        mut cmds: mpsc::UnboundedReceiver<Command>,
        mut pc_events: mpsc::UnboundedReceiver<PcEvent>,
    ) {
        loop {
            tokio::select! {
                cmd = cmds.recv() => match cmd {
                    Some(Command::Close { reply }) => {
                        self.close().await;
                        let _ = reply.send(());
                        return;
                    }
                    Some(cmd) => self.command(cmd).await,
                    None => break,
                },
                Some(ev) = pc_events.recv() => self.pc_event(ev).await,
            }
        }
        self.close().await;
    }

    async fn close(&mut self) {
        if let Err(e) = self.pc.close().await {
            tracing::debug!(error = %e, "closing peer connection");
        }
        self.down.clear();
    }

    /// Events that must arrive (offers, state) are never dropped, but the task never
    /// waits on a full channel either: it could deadlock with a caller awaiting us.
    fn emit(&self, event: MediaEvent) {
        if let Err(mpsc::error::TrySendError::Full(event)) = self.events.try_send(event) {
            let events = self.events.clone();
            tokio::spawn(async move {
                let _ = events.send(event).await;
            });
        }
    }

    async fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Offer { sdp, reply } => {
                let r = self.on_offer(sdp).await;
                if r.is_ok() {
                    self.refresh_payload_types().await;
                }
                let _ = reply.send(r);
                self.maybe_offer().await;
            }
            Command::Answer { sdp, reply } => {
                let r = self.on_answer(sdp).await;
                if r.is_ok() {
                    for down in self.down.values_mut() {
                        down.negotiated |= std::mem::take(&mut down.offered);
                    }
                    self.refresh_payload_types().await;
                }
                let _ = reply.send(r);
                self.maybe_offer().await;
            }
            Command::Candidate { candidate, reply } => {
                let _ = reply.send(self.on_candidate(candidate).await);
            }
            Command::IsCurrentOffer { sdp, reply } => {
                let _ = reply.send(Ok(self.outstanding_offer.as_deref() == Some(sdp.as_str())));
            }
            Command::Subscribe(s) => {
                if let Err(e) = self.subscribe(s).await {
                    tracing::warn!(error = %e, "could not add forwarded track");
                }
                self.maybe_offer().await;
            }
            Command::Unsubscribe { from } => {
                self.unsubscribe(from).await;
                self.maybe_offer().await;
            }
            Command::Close { .. } => unreachable!("handled in run"),
        }
    }

    async fn on_offer(&mut self, sdp: String) -> Result<String, MediaError> {
        let offer = RTCSessionDescription::offer(sdp).map_err(neg)?;
        // Glare: we are the polite side. Drop our offer, answer theirs, offer again later.
        if self.pc.pending_local_description().await.is_some() {
            let rollback = RTCSessionDescription::rollback(None).map_err(neg)?;
            self.pc.set_local_description(rollback).await.map_err(neg)?;
            self.outstanding_offer = None;
            self.needs_offer = true;
            for down in self.down.values_mut() {
                down.offered = false;
            }
        }
        self.pc.set_remote_description(offer).await.map_err(neg)?;
        self.add_early_candidates().await;
        let answer = self.pc.create_answer(None).await.map_err(neg)?;
        self.pc.set_local_description(answer.clone()).await?;
        Ok(answer.sdp)
    }

    async fn on_answer(&mut self, sdp: String) -> Result<(), MediaError> {
        if self.pc.pending_local_description().await.is_none() {
            return Err(MediaError::Negotiation("no offer outstanding".into()));
        }
        let answer = RTCSessionDescription::answer(sdp).map_err(neg)?;
        self.pc.set_remote_description(answer).await.map_err(neg)?;
        self.outstanding_offer = None;
        self.add_early_candidates().await;
        Ok(())
    }

    async fn on_candidate(&mut self, c: IceCandidateInit) -> Result<(), MediaError> {
        if c.candidate.is_empty() {
            return Ok(()); // end of candidates
        }
        let init = RTCIceCandidateInit::from(c);
        if self.pc.remote_description().await.is_none() {
            const MAX_EARLY: usize = 64;
            if self.early_candidates.len() < MAX_EARLY {
                self.early_candidates.push(init);
            }
            return Ok(());
        }
        self.pc.add_ice_candidate(init).await.map_err(neg)
    }

    async fn add_early_candidates(&mut self) {
        for c in std::mem::take(&mut self.early_candidates) {
            if let Err(e) = self.pc.add_ice_candidate(c).await {
                tracing::debug!(error = %e, "early candidate rejected");
            }
        }
    }

    /// Offers when there is something new and no exchange is in progress.
    async fn maybe_offer(&mut self) {
        if !self.needs_offer
            || self.pc.pending_local_description().await.is_some()
            || self.pc.pending_remote_description().await.is_some()
        {
            return;
        }
        let offer = match self.pc.create_offer(None).await {
            Ok(o) => o,
            Err(e) => return tracing::warn!(error = %e, "create_offer"),
        };
        if let Err(e) = self.pc.set_local_description(offer.clone()).await {
            return tracing::warn!(error = %e, "set_local_description(offer)");
        }
        self.needs_offer = false;
        for down in self.down.values_mut() {
            down.offered = !down.negotiated;
        }
        self.outstanding_offer = Some(offer.sdp.clone());
        self.emit(MediaEvent::Offer(offer.sdp));
    }

    async fn subscribe(&mut self, s: Subscription) -> Result<(), MediaError> {
        // A publisher that replaced its track: the old copy goes first.
        if let Some(old) = self.down.remove(&(s.from, s.kind)) {
            let _ = self.pc.remove_track(&old.sender).await;
        }
        let ssrc = rand::random::<u32>();
        let kind = match s.kind {
            MediaKind::Audio => RtpCodecKind::Audio,
            MediaKind::Video => RtpCodecKind::Video,
        };
        let track_id = format!("{}-{}", s.kind.as_str(), s.from.0);
        let track = Arc::new(
            webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP::new(
                MediaStreamTrack::new(
                    stream_id_for(s.from),
                    track_id.clone(),
                    track_id,
                    kind,
                    vec![RTCRtpEncodingParameters {
                        rtp_coding_parameters: RTCRtpCodingParameters {
                            ssrc: Some(ssrc),
                            ..Default::default()
                        },
                        codec: s.codec.clone(),
                        ..Default::default()
                    }],
                ),
            ),
        );
        let init = RTCRtpTransceiverInit {
            direction: RTCRtpTransceiverDirection::Sendonly,
            streams: vec![],
            send_encodings: vec![],
        };
        let transceiver = self
            .pc
            .add_transceiver_from_track(track.clone(), Some(init))
            .await?;
        let sender = transceiver
            .sender()
            .await?
            .ok_or_else(|| MediaError::Negotiation("transceiver without sender".into()))?;
        let (tx, rx) = mpsc::channel(self.queue_len);
        let payload_type = Arc::new(AtomicU16::new(NOT_NEGOTIATED));
        let down = DownTrack {
            kind: s.kind,
            track,
            ssrc,
            payload_type: Arc::clone(&payload_type),
            publisher: s.publisher.clone(),
            stats: Arc::clone(&self.gates),
            gate: Arc::clone(&s.gate),
        };
        tokio::spawn(forward::writer_loop(down, rx));
        let _ = s.publisher.send(PubCtrl::Subscribe(Subscriber {
            to: self.key,
            // A change made before this subscription is not a switch it sees.
            seen: s.gate.stamp(),
            gate: s.gate,
            queue: tx,
            was_open: false,
        }));
        let forwarding = Forwarding {
            sender,
            publisher: s.publisher,
            mime_type: s.codec.mime_type,
            payload_type,
            negotiated: false,
            offered: false,
        };
        self.down.insert((s.from, s.kind), forwarding);
        self.needs_offer = true;
        Ok(())
    }

    /// Reads, for every negotiated forwarded track, the payload type the client gave
    /// its codec, and hands it to the track's writer. After every completed exchange:
    /// a renegotiation may change it, and none is known before the first.
    async fn refresh_payload_types(&mut self) {
        for (key, down) in self.down.iter().filter(|(_, d)| d.negotiated) {
            let pt = match down.sender.get_parameters().await {
                Ok(params) => params
                    .rtp_parameters
                    .codecs
                    .iter()
                    .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(&down.mime_type))
                    .map_or(NOT_NEGOTIATED, |c| u16::from(c.payload_type)),
                Err(e) => {
                    tracing::debug!(error = %e, "sender parameters");
                    NOT_NEGOTIATED
                }
            };
            tracing::debug!(peer = %self.key, from = %key.0, kind = key.1.as_str(), pt, "payload type");
            down.payload_type.store(pt, Ordering::Release);
        }
    }

    async fn unsubscribe(&mut self, from: PeerKey) {
        for kind in [MediaKind::Audio, MediaKind::Video] {
            if let Some(down) = self.down.remove(&(from, kind)) {
                let _ = down.publisher.send(PubCtrl::Unsubscribe(self.key));
                if let Err(e) = self.pc.remove_track(&down.sender).await {
                    tracing::debug!(error = %e, "remove_track");
                }
                self.needs_offer = true;
            }
        }
    }

    async fn pc_event(&mut self, ev: PcEvent) {
        match ev {
            PcEvent::Candidate(ev) => match ev.candidate.to_json() {
                Ok(c) => {
                    // webrtc-rs leaves the mid empty, which names no m-line: JSEP has a
                    // browser refuse such a candidate. With BUNDLE one transport serves
                    // every m-line: name the first.
                    let (sdp_mid, sdp_mline_index) = match c.sdp_mid.filter(|m| !m.is_empty()) {
                        Some(mid) => (Some(mid), c.sdp_mline_index),
                        None => (self.first_mid().await, Some(0)),
                    };
                    self.emit(MediaEvent::LocalCandidate(IceCandidateInit {
                        candidate: c.candidate,
                        sdp_mid,
                        sdp_mline_index,
                        username_fragment: c.username_fragment,
                    }))
                }
                Err(e) => tracing::debug!(error = %e, "local candidate"),
            },
            PcEvent::State(RTCPeerConnectionState::Connected) => self.emit(MediaEvent::Connected),
            PcEvent::State(RTCPeerConnectionState::Failed) => self.emit(MediaEvent::Failed),
            PcEvent::State(_) => {}
            PcEvent::Track(track) => self.publish(track).await,
        }
    }

    /// The mid of the first m-line of our current description (candidates are gathered
    /// only once there is one).
    async fn first_mid(&self) -> Option<String> {
        let local = self.pc.local_description().await?;
        local
            .sdp
            .lines()
            .find_map(|line| line.strip_prefix("a=mid:"))
            .map(|mid| mid.trim().to_owned())
    }

    /// The client started sending a track: start its publisher task and tell the SFU.
    async fn publish(&mut self, track: Arc<dyn TrackRemote>) {
        let Some(kind) = kind_of(track.kind().await) else {
            return;
        };
        let Some(media_ssrc) = track.ssrcs().await.first().copied() else {
            tracing::warn!(peer = %self.key, kind = kind.as_str(), "a published track without an SSRC");
            return;
        };
        // webrtc 0.21 may call on_track before the track's coding has its codec
        // (seen in about one run in ten under load): a track dropped here was never
        // forwarded to anyone. The server negotiates exactly one codec per kind.
        let codec = track
            .codec(media_ssrc)
            .await
            .unwrap_or_else(|| super::engine::codec(kind));
        let audio_level_id = match kind {
            MediaKind::Audio => self.audio_level_id(&track).await,
            MediaKind::Video => None,
        };
        let (ctrl_tx, ctrl_rx) = mpsc::unbounded_channel();
        let publication = Publication {
            kind,
            track,
            media_ssrc,
            refused: self.gates.refused_flag(self.key),
            stats: Arc::clone(&self.gates),
            events: self.events.clone(),
            audio_level_id,
        };
        tracing::debug!(peer = %self.key, kind = kind.as_str(), media_ssrc, "publishes");
        tokio::spawn(forward::publisher_loop(publication, ctrl_rx));
        let _ = self.sfu.send(sfu::Command::Published {
            from: self.key,
            kind,
            codec,
            ctrl: ctrl_tx,
        });
        self.emit(MediaEvent::TrackPublished { kind });
    }

    /// The id the client negotiated for the audio-level extension on this track.
    async fn audio_level_id(&self, track: &Arc<dyn TrackRemote>) -> Option<u8> {
        let this = Arc::as_ptr(track) as *const () as usize;
        for receiver in self.pc.get_receivers().await {
            if Arc::as_ptr(receiver.track()) as *const () as usize != this {
                continue;
            }
            let params = receiver.get_parameters().await.ok()?;
            return params
                .rtp_parameters
                .header_extensions
                .iter()
                .find(|e| e.uri == AUDIO_LEVEL_URI)
                .and_then(|e| u8::try_from(e.id).ok());
        }
        None
    }
}
