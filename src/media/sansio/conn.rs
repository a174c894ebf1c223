//! One server-side connection: how it is built (ICE-lite, the server's ufrag, the
//! worker's address as its only candidate, the server's codecs) and the per-peer
//! bookkeeping the worker needs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use rand::distr::{Alphanumeric, SampleString};
use rtc::interceptor::{Registry, Slot};
use rtc::media_stream::MediaStreamTrackId;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::transport::{
    CandidateConfig, CandidateHostConfig, RTCDtlsRole, RTCIceCandidate,
};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::rtp_transceiver::{RTCRtpReceiverId, RTCRtpSenderId};
use tokio::sync::mpsc;

use super::recycle::{Idle, TsRewriter};
use super::retransmit::History;
use super::{ConnKey, WorkerError};
use crate::media::audio_level::{self, LevelReporter};
use crate::media::codecs::media_engine;
use crate::media::forward::SeqRewriter;
use crate::media::gates::{Gate, Gates};
use crate::media::rtcp::KeyframeRequests;
use crate::media::{MediaEvent, MediaKind};

/// ICE ufrag length: 48 bits of entropy is plenty to keep them unique per worker
/// (RFC 8839 asks for at least 24).
const UFRAG_LEN: usize = 8;
/// ICE password length (RFC 8839: at least 128 bits; 24 alphanumerics ≈ 142).
const PWD_LEN: usize = 24;

pub(crate) fn random_ufrag() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), UFRAG_LEN)
}

/// Builds a connection that answers with ICE-lite under `ufrag`, as DTLS server,
/// with a host candidate for each of the worker socket's addresses.
pub(crate) fn build(
    ufrag: &str,
    candidates: &[SocketAddr],
    now: Instant,
) -> Result<RTCPeerConnection, WorkerError> {
    let engine = media_engine()?;
    let pwd = Alphanumeric.sample_string(&mut rand::rng(), PWD_LEN);
    let settings = SettingEngineBuilder::new()
        // A server on a public address needs no checks of its own; and only a
        // Binding Request from the client proves an address (the router's rule).
        .with_lite(true)
        .with_ice_credentials(ufrag.to_owned(), pwd)
        // Whoever offers, the roles stay the same across renegotiations (browsers
        // refuse an answer that flips them); as in the async engine.
        .with_answering_dtls_role(RTCDtlsRole::Server)
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .build();
    // One interceptor: the one that lets subscribers' keyframe requests and NACKs
    // through to the worker (inbound RTCP stops in the chain otherwise). The worker
    // answers NACKs itself, from one history per published track (`retransmit`),
    // instead of webrtc-rs's responder keeping one per subscriber copy.
    let mut pc = RTCPeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_media_engine(engine)
        .with_setting_engine(settings)
        .with_interceptor_registry(
            Registry::new().with(Slot::from(14_000), KeyframeRequests::with_nacks()),
        )
        .build(now)?;
    for address in candidates {
        let candidate = CandidateHostConfig {
            base_config: CandidateConfig {
                network: "udp".to_owned(),
                address: address.ip().to_string(),
                port: address.port(),
                component: 1,
                ..Default::default()
            },
            ..Default::default()
        }
        .new_candidate_host()?;
        pc.add_local_candidate(RTCIceCandidate::from(&candidate).to_json()?)?;
    }
    Ok(pc)
}

/// The one codec of each kind (per-packet use: no allocation).
pub(crate) fn mime_type(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Audio => MIME_TYPE_OPUS,
        MediaKind::Video => MIME_TYPE_VP8,
    }
}

pub(crate) fn media_kind(kind: RtpCodecKind) -> Option<MediaKind> {
    match kind {
        RtpCodecKind::Audio => Some(MediaKind::Audio),
        RtpCodecKind::Video => Some(MediaKind::Video),
        _ => None,
    }
}

/// A track a peer publishes, as the worker knows it.
pub(crate) struct Published {
    pub(crate) track_id: MediaStreamTrackId,
    pub(crate) kind: MediaKind,
    /// Where keyframe requests to the publisher go.
    pub(crate) receiver: RTCRtpReceiverId,
    pub(crate) ssrc: u32,
    /// The id this publisher negotiated for the audio-level extension.
    pub(crate) audio_level_id: Option<u8>,
    /// Keyframe requests closer together than `forward::PLI_MIN_INTERVAL` are merged.
    pub(crate) last_pli: Option<Instant>,
    /// Recent packets, for subscribers' NACKs (video only: Opus has no NACK).
    pub(crate) history: Option<Box<History>>,
}

/// A server connection and what the worker knows about it.
pub(crate) struct Conn {
    pub(crate) pc: RTCPeerConnection,
    /// Where the owner hears about this peer.
    pub(crate) events: mpsc::Sender<MediaEvent>,
    /// The room's gates and counters (a room is one namespace of keys).
    pub(crate) gates: Arc<Gates>,
    /// Tracks this peer publishes.
    pub(crate) published: Vec<Published>,
    /// The connection reached `connected`: its DTLS handshake is done, so the SRTP
    /// keys exist and packets can be written into it.
    pub(crate) secure: bool,
    /// The client's first offer is answered. Only then does the server add copies
    /// and offer them: the client always offers first (docs/protocol.md), so the
    /// server's offers never cross it, and its copies never take the client's m-lines.
    pub(crate) negotiated: bool,
    /// The server has subscriptions the client has not seen in an offer yet.
    pub(crate) needs_offer: bool,
    /// The SDP of the server's offer awaiting the client's answer.
    pub(crate) outstanding_offer: Option<String>,
    /// The room refuses this peer's media (observer): shared flag, read per packet.
    pub(crate) refused: Arc<AtomicBool>,
    /// Rate limit of this peer's `AudioLevel` events.
    pub(crate) levels: LevelReporter,
    /// Send-only transceivers whose copy ended, for the next copies (recycle.rs).
    pub(crate) idle: Vec<Idle>,
    /// Listed in the worker's `busy` (to service in full) or `flush` (to send what
    /// the packet path wrote into it): each flag keeps its entry single.
    pub(crate) busy: bool,
    pub(crate) flushing: bool,
    /// `poll_timeout` as read after the connection was last serviced.
    pub(crate) deadline: Option<Instant>,
}

impl Conn {
    pub(crate) fn new(
        pc: RTCPeerConnection,
        events: mpsc::Sender<MediaEvent>,
        gates: Arc<Gates>,
        refused: Arc<AtomicBool>,
    ) -> Conn {
        Conn {
            pc,
            events,
            gates,
            published: Vec::new(),
            secure: false,
            negotiated: false,
            needs_offer: false,
            outstanding_offer: None,
            refused,
            levels: LevelReporter::new(audio_level::MAX_EVENTS_PER_SEC),
            idle: Vec::new(),
            busy: false,
            flushing: false,
            deadline: None,
        }
    }

    /// Something happened to this connection: service it in full next.
    pub(crate) fn mark(&mut self, key: ConnKey, busy: &mut Vec<ConnKey>) {
        if !self.busy {
            self.busy = true;
            busy.push(key);
        }
    }

    /// Something was written into this connection: send it next.
    pub(crate) fn mark_flush(&mut self, key: ConnKey, flush: &mut Vec<ConnKey>) {
        if !self.flushing {
            self.flushing = true;
            flush.push(key);
        }
    }

    /// Offers must arrive: sent even when the queue is full (from a short-lived
    /// thread, never blocking the worker), as the async engine does.
    pub(crate) fn emit_offer(&self, sdp: String) {
        if let Err(mpsc::error::TrySendError::Full(event)) =
            self.events.try_send(MediaEvent::Offer(sdp))
        {
            let events = self.events.clone();
            std::thread::spawn(move || {
                let _ = events.blocking_send(event);
            });
        }
    }

    /// Events other than offers may be dropped if the owner does not keep up (audio
    /// levels are the frequent ones, and the next comes 200 ms later).
    pub(crate) fn emit(&self, event: MediaEvent) {
        if self.events.try_send(event).is_err() {
            tracing::debug!("media event dropped: owner gone or slow");
        }
    }
}

/// One forwarded copy: publisher's track → subscriber's send-only transceiver.
pub(crate) struct Sub {
    pub(crate) to: ConnKey,
    pub(crate) sender: RTCRtpSenderId,
    /// The SSRC the server chose for this copy; `write_rtp` accepts only it.
    pub(crate) ssrc: u32,
    pub(crate) kind: MediaKind,
    /// The subscriber's number for the codec, read after each completed exchange;
    /// none until it answered an offer carrying this copy.
    pub(crate) payload_type: Option<u8>,
    /// Part of the server's offer now awaiting the subscriber's answer.
    pub(crate) offered: bool,
    /// Part of an offer the subscriber answered: only then do the sender's
    /// parameters hold the subscriber's numbering.
    pub(crate) negotiated: bool,
    /// Shared with the room layer: one atomic load per packet.
    pub(crate) gate: Arc<Gate>,
    /// The room's gates and counters, held here so the packet path counts
    /// without cloning the publisher's handle per packet.
    pub(crate) room: Arc<Gates>,
    /// Gate state and change stamp at the previous packet, to notice a switch.
    pub(crate) was_open: bool,
    pub(crate) seen: u64,
    /// Contiguous sequence numbers across closed stretches of the gate.
    pub(crate) seq: SeqRewriter,
    /// One clock on the SSRC when the transceiver is recycled.
    pub(crate) ts: TsRewriter,
}
