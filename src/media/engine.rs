//! Building peer connections: codecs, header extensions, interceptors, ports.
//!
//! Everything about *how* a `webrtc` PeerConnection is configured lives here, so the
//! rest of the module only deals with connected peers.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rtc::interceptor::{NackGeneratorBuilder, NackResponderBuilder, Registry, Slot};
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_rtcp_reports, configure_simulcast_extension_headers, configure_twcc_receiver_only,
};
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_OPUS, MIME_TYPE_VP8, MediaEngine,
};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::transport::RTCIceCandidateType;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use tokio::sync::mpsc;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState,
};
use webrtc::runtime::{Runtime, default_runtime};

use super::{MediaConfig, MediaError, MediaKind};

/// RFC 6464 client-to-mixer audio level.
pub(crate) const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";

/// Payload-type numbers for the two codecs. Numbers are each side's own choice
/// (RFC 3264): the server offers Opus as 111 and VP8 as 96, as Chromium does, and
/// forwards to each client under the numbers that client negotiated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadTypes {
    pub opus: u8,
    pub vp8: u8,
}

impl PayloadTypes {
    /// The server's own numbering (and Chromium's).
    pub const SERVER: PayloadTypes = PayloadTypes { opus: 111, vp8: 96 };
    /// Firefox's numbering, for test clients that must differ from the server.
    pub const FIREFOX: PayloadTypes = PayloadTypes {
        opus: 109,
        vp8: 120,
    };
}

/// Builds the codec table every peer connection uses. Public within the crate so the
/// tests' client peers speak exactly the same dialect.
pub fn media_engine() -> Result<MediaEngine, webrtc::error::Error> {
    media_engine_numbered(PayloadTypes::SERVER)
}

/// The same codec table under other payload-type numbers (test clients).
pub fn media_engine_numbered(pts: PayloadTypes) -> Result<MediaEngine, webrtc::error::Error> {
    let mut engine = MediaEngine::default();
    for (kind, payload_type, rtp_kind) in [
        (MediaKind::Audio, pts.opus, RtpCodecKind::Audio),
        (MediaKind::Video, pts.vp8, RtpCodecKind::Video),
    ] {
        engine.register_codec(
            RTCRtpCodecParameters {
                rtp_codec: codec(kind),
                payload_type,
            },
            rtp_kind,
        )?;
    }
    // Not registered by default; without it browsers do not send levels.
    engine.register_header_extension(
        RTCRtpHeaderExtensionCapability {
            uri: AUDIO_LEVEL_URI.to_owned(),
        },
        RtpCodecKind::Audio,
        None,
    )?;
    Ok(engine)
}

/// The one codec of each kind the server negotiates (Opus, VP8).
pub(crate) fn codec(kind: MediaKind) -> RTCRtpCodec {
    let feedback = |typ: &str, parameter: &str| RTCPFeedback {
        typ: typ.to_owned(),
        parameter: parameter.to_owned(),
    };
    match kind {
        MediaKind::Audio => RTCRtpCodec {
            mime_type: MIME_TYPE_OPUS.to_owned(),
            clock_rate: 48_000,
            channels: 2,
            sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
            rtcp_feedback: vec![],
        },
        MediaKind::Video => RTCRtpCodec {
            mime_type: MIME_TYPE_VP8.to_owned(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: String::new(),
            rtcp_feedback: vec![
                feedback("nack", ""),
                feedback("nack", "pli"),
                feedback("ccm", "fir"),
            ],
        },
    }
}

/// Packets kept per sent video stream to answer NACKs. webrtc-rs keeps 1024, in a
/// table it fills in advance (about 100 bytes a slot, before any payload it holds
/// on to), and an SFU sends one stream per subscriber per publisher: at 30 people
/// that was ~100 MiB. 256 packets are still 2–4 s of 300–600 kbit/s video, far
/// longer than a retransmission is useful.
pub const NACK_HISTORY: u16 = 256;

/// The default interceptors of webrtc-rs (`register_default_interceptors`: NACK,
/// simulcast header extensions, TWCC receiver, RTCP reports) with a shorter NACK
/// history, plus [`super::rtcp::KeyframeRequests`] placed after them.
pub fn interceptors(engine: &mut MediaEngine) -> Result<Registry, webrtc::error::Error> {
    for parameter in ["", "pli"] {
        engine.register_feedback(
            RTCPFeedback {
                typ: "nack".to_owned(),
                parameter: parameter.to_owned(),
            },
            RtpCodecKind::Video,
        );
    }
    let registry = Registry::new()
        .with(
            Slot::NackResponder,
            NackResponderBuilder::new().with_size(NACK_HISTORY).build(),
        )
        .with(Slot::NackGenerator, NackGeneratorBuilder::new().build());
    configure_simulcast_extension_headers(engine)?;
    let registry = configure_twcc_receiver_only(registry, engine)?;
    let registry = configure_rtcp_reports(registry);
    Ok(registry.with(Slot::from(14_000), super::rtcp::KeyframeRequests::default()))
}

/// What the connection's callbacks report. They run on the connection's driver task,
/// so they only push into an unbounded channel: never block the driver.
pub(crate) enum PcEvent {
    Candidate(RTCPeerConnectionIceEvent),
    State(RTCPeerConnectionState),
    Track(Arc<dyn TrackRemote>),
}

static LIVE: AtomicUsize = AtomicUsize::new(0);

pub(crate) fn live_connections() -> usize {
    LIVE.load(Ordering::SeqCst)
}

/// Counts live connections: the handler is owned by the connection, so it is dropped
/// exactly when the connection's internals are freed (webrtc#906 was a cycle that
/// kept them alive).
struct LiveToken;

impl LiveToken {
    fn new() -> Self {
        LIVE.fetch_add(1, Ordering::SeqCst);
        LiveToken
    }
}

impl Drop for LiveToken {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Handler {
    events: mpsc::UnboundedSender<PcEvent>,
    _live: LiveToken,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        let _ = self.events.send(PcEvent::Candidate(event));
    }
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.events.send(PcEvent::State(state));
    }
    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.events.send(PcEvent::Track(track));
    }
}

/// Ports in use, from the configured range.
struct PortPool {
    min: u16,
    max: u16,
    used: Mutex<BTreeSet<u16>>,
    /// Where the next search starts, so a just-freed port is not reused at once.
    next: AtomicUsize,
}

/// A port taken from the pool; returned when dropped.
pub(crate) struct PortLease {
    pool: Arc<PortPool>,
    port: u16,
}

impl Drop for PortLease {
    fn drop(&mut self) {
        if self.port != 0 {
            let mut used = self.pool.used.lock().unwrap_or_else(|e| e.into_inner());
            used.remove(&self.port);
        }
    }
}

impl PortPool {
    fn take(self: &Arc<Self>) -> Option<PortLease> {
        if self.min == 0 {
            return Some(PortLease {
                pool: Arc::clone(self),
                port: 0,
            });
        }
        let span = usize::from(self.max - self.min) + 1;
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..span {
            let port = self.min + ((start + i) % span) as u16;
            if used.insert(port) {
                self.next.store(start + i + 1, Ordering::Relaxed);
                return Some(PortLease {
                    pool: Arc::clone(self),
                    port,
                });
            }
        }
        None
    }
}

/// Builds server-side peer connections.
pub(crate) struct Factory {
    config: MediaConfig,
    ports: Arc<PortPool>,
    runtime: Arc<dyn Runtime>,
}

pub(crate) type Pc = Arc<dyn PeerConnection>;

impl Factory {
    pub(crate) fn new(config: &MediaConfig) -> Result<Self, MediaError> {
        let (min, max) = (config.udp_port_min, config.udp_port_max);
        if (min == 0) != (max == 0) || min > max {
            return Err(MediaError::Config(format!(
                "bad UDP port range {min}-{max}"
            )));
        }
        let runtime = default_runtime()
            .ok_or_else(|| MediaError::Config("no async runtime compiled in".into()))?;
        Ok(Factory {
            config: config.clone(),
            ports: Arc::new(PortPool {
                min,
                max,
                used: Mutex::new(BTreeSet::new()),
                next: AtomicUsize::new(0),
            }),
            runtime,
        })
    }

    pub(crate) fn subscriber_queue(&self) -> usize {
        self.config.subscriber_queue.max(1)
    }

    /// A new connection bound to a free port of the range, and its event stream.
    /// A port that another process holds is skipped (bind fails, next one is tried).
    pub(crate) async fn build(
        &self,
    ) -> Result<(Pc, PortLease, mpsc::UnboundedReceiver<PcEvent>), MediaError> {
        const ATTEMPTS: usize = 16;
        let mut last_err = MediaError::NoPort;
        for _ in 0..ATTEMPTS {
            let lease = self.ports.take().ok_or(MediaError::NoPort)?;
            match self.build_on(lease.port).await {
                Ok((pc, rx)) => return Ok((pc, lease, rx)),
                Err(e) => last_err = e,
            }
            if self.ports.min == 0 {
                break;
            }
        }
        Err(last_err)
    }

    async fn build_on(
        &self,
        port: u16,
    ) -> Result<(Pc, mpsc::UnboundedReceiver<PcEvent>), MediaError> {
        let mut engine = media_engine()?;
        let registry = interceptors(&mut engine)?;
        let mut settings = SettingEngineBuilder::new()
            // A server answers from its own address; mDNS would cost a socket per peer.
            .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
            // Always the DTLS server when answering: whoever offered first, the
            // roles stay the same across renegotiations in both directions
            // (browsers refuse an answer that flips them).
            .with_answering_dtls_role(rtc::peer_connection::transport::RTCDtlsRole::Server);
        if let Some(ip) = self.config.public_ip {
            settings = settings.with_nat_1to1_ips(vec![ip.to_string()], RTCIceCandidateType::Host);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let handler = Arc::new(Handler {
            events: tx,
            _live: LiveToken::new(),
        });
        let pc = PeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_media_engine(engine)
            .with_setting_engine(settings.build())
            .with_interceptor_registry(registry)
            .with_handler(handler)
            .with_runtime(Arc::clone(&self.runtime))
            .with_udp_addrs(vec![SocketAddr::new(self.config.bind_ip, port)])
            .build()
            .await?;
        Ok((Arc::new(pc), rx))
    }
}
