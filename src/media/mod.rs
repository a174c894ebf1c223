//! The media layer: a selective forwarding unit (SFU) on webrtc-rs's sans-IO core.
//!
//! It knows nothing about circles. It obeys one kind of order — "forward media
//! kind K from peer P to peer Q: yes/no" ([`Sfu::set_gate`]) — and reports what it
//! sees as [`MediaEvent`]s. Gates are closed by default.
//!
//! Media worker threads ([`sansio`]) each own one UDP socket and the connections of
//! the rooms placed on them; forwarding is a function call on that thread, with no
//! task, channel or lock per packet. [`Sfu`] is one room's handle on its worker.
//!
//! Negotiation: the client makes the first offer, publishing or not ([`Sfu::offer`]);
//! the server makes an offer ([`MediaEvent::Offer`]) whenever it has new tracks for a
//! subscriber (or removed some), and the client answers ([`Sfu::answer`]). A session
//! task should send the answer returned by [`Sfu::offer`] to the client before it
//! forwards the next event, so a follow-up server offer never overtakes that answer.
//!
//! Each forwarded track reaches the subscriber in a stream whose id is
//! [`stream_id_for`]`(publisher)`, so the signalling layer can tell who is who.

mod audio_level;
mod codecs;
mod forward;
mod gates;
mod own;
mod rtcp;
/// The media workers: `rtc` driven from threads that own one UDP socket each.
#[doc(hidden)]
pub mod sansio;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

pub use gates::MediaStats;
pub use own::OwnAddresses;

/// The codec table the server uses and the interceptor that surfaces keyframe
/// requests, for test clients that should speak the same dialect. Not part of the seam.
#[doc(hidden)]
pub mod testing {
    pub use super::codecs::{PayloadTypes, media_engine, media_engine_numbered};
    pub use super::rtcp::KeyframeRequests;
}

/// An opaque peer identifier chosen by the caller; unique within one [`Sfu`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct PeerKey(pub u64);

impl fmt::Display for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The media stream id under which `publisher`'s tracks reach subscribers.
pub fn stream_id_for(publisher: PeerKey) -> String {
    format!("peer-{}", publisher.0)
}

/// Audio or video: the unit a gate opens or closes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Audio,
    Video,
}

impl MediaKind {
    /// Stable label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        }
    }
}

/// A STUN/TURN server that clients are told about. The server itself needs none: it
/// is reachable on its own (public) address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// A trickle-ICE candidate in the browser's JSON shape (`RTCIceCandidateInit`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidateInit {
    pub candidate: String,
    #[serde(default)]
    pub sdp_mid: Option<String>,
    #[serde(default, rename = "sdpMLineIndex")]
    pub sdp_mline_index: Option<u16>,
    #[serde(default)]
    pub username_fragment: Option<String>,
}

/// A candidate from a WebRTC stack, as the signalling carries it.
impl From<rtc::peer_connection::transport::RTCIceCandidateInit> for IceCandidateInit {
    fn from(c: rtc::peer_connection::transport::RTCIceCandidateInit) -> Self {
        IceCandidateInit {
            candidate: c.candidate,
            sdp_mid: c.sdp_mid,
            sdp_mline_index: c.sdp_mline_index,
            username_fragment: c.username_fragment,
        }
    }
}

/// A client's candidate as the WebRTC core takes it.
impl From<IceCandidateInit> for rtc::peer_connection::transport::RTCIceCandidateInit {
    fn from(c: IceCandidateInit) -> Self {
        Self {
            candidate: c.candidate,
            sdp_mid: c.sdp_mid,
            sdp_mline_index: c.sdp_mline_index,
            username_fragment: c.username_fragment,
            url: None,
        }
    }
}

/// Configuration of the media layer.
#[derive(Clone, Debug)]
pub struct MediaConfig {
    /// Address the workers bind; `0.0.0.0` binds every interface (each datagram's
    /// destination is read, so replies leave from the address it reached).
    pub bind_ip: IpAddr,
    /// Public address for 1:1 NAT: advertised in host candidates instead of the bound one.
    pub public_ip: Option<IpAddr>,
    /// Handed to clients (see [`Sfu::ice_servers_for`]); none by default.
    pub ice_servers: Vec<IceServer>,
    /// Mints each session's TURN credentials, when a TURN server is configured.
    pub turn: Option<Arc<crate::turn::TurnRest>>,
    /// Media worker threads (at least one).
    pub workers: usize,
    /// UDP port of worker 0; worker k binds `udp_port + k`. 0: any free port.
    pub udp_port: u16,
    /// The worker threads, started by the first [`Sfu`] made from this configuration
    /// (or a clone of it) and shared by all of them: a room's connections live on one.
    pub pool: sansio::PoolSlot,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            bind_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            public_ip: None,
            ice_servers: Vec::new(),
            turn: None,
            workers: 1,
            udp_port: 50_000,
            pool: sansio::PoolSlot::default(),
        }
    }
}

/// What the media layer tells its owner about one peer.
#[derive(Clone, Debug, PartialEq)]
pub enum MediaEvent {
    /// A local ICE candidate to trickle to the client.
    LocalCandidate(IceCandidateInit),
    /// The server needs (re)negotiation: send this SDP offer to the client, and pass its
    /// answer to [`Sfu::answer`].
    Offer(String),
    /// The peer started publishing a track of this kind.
    TrackPublished { kind: MediaKind },
    /// Audio level of the peer's published audio, rate-limited. `level_dbov` is 0 (loudest)
    /// to 127 (silence), as carried by RFC 6464; `voice` is the sender's voice-activity flag.
    AudioLevel { level_dbov: u8, voice: bool },
    /// The peer's connection is up.
    Connected,
    /// The peer's connection failed; the owner should remove the peer.
    Failed,
}

/// Errors of the media layer. Details are safe to log: they hold no personal data.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("invalid media configuration: {0}")]
    Config(String),
    #[error("unknown peer")]
    UnknownPeer,
    #[error("peer already exists")]
    DuplicatePeer,
    /// The client sent something the negotiation cannot use (bad SDP, wrong state).
    #[error("negotiation failed: {0}")]
    Negotiation(String),
    /// A media worker failed (its socket, or the WebRTC core).
    #[error("media worker: {0}")]
    Worker(String),
    /// The media layer is shutting down or the peer is being removed.
    #[error("media layer closed")]
    Closed,
}

/// The SFU handle. Cheap to clone; all clones drive the same SFU.
#[derive(Clone)]
pub struct Sfu {
    /// This SFU's room on a media worker.
    room: Arc<sansio::RoomLink>,
    /// Gate and publish-refusal flags, read per packet by the forwarding path.
    gates: Arc<gates::Gates>,
    /// Handed to clients.
    ice_servers: Arc<Vec<IceServer>>,
    turn: Option<Arc<crate::turn::TurnRest>>,
}

impl From<sansio::WorkerError> for MediaError {
    fn from(e: sansio::WorkerError) -> MediaError {
        match e {
            sansio::WorkerError::UnknownPeer => MediaError::UnknownPeer,
            sansio::WorkerError::DuplicatePeer => MediaError::DuplicatePeer,
            sansio::WorkerError::Negotiation(m) => MediaError::Negotiation(m),
            sansio::WorkerError::Closed => MediaError::Closed,
            e @ (sansio::WorkerError::Io(_) | sansio::WorkerError::Rtc(_)) => {
                MediaError::Worker(e.to_string())
            }
        }
    }
}

impl Sfu {
    /// Starts the SFU of one room: its place on a media worker, starting the workers
    /// with the first room. Must be called inside a tokio runtime.
    pub async fn new(config: MediaConfig) -> Result<Sfu, MediaError> {
        let pool = config.pool.get_or_start(|| {
            sansio::Pool::start(
                config.workers,
                config.bind_ip,
                config.udp_port,
                config.public_ip,
            )
        })?;
        Ok(Sfu {
            room: Arc::new(pool.place()),
            gates: Arc::new(gates::Gates::default()),
            ice_servers: Arc::new(config.ice_servers.clone()),
            turn: config.turn.clone(),
        })
    }

    /// The ICE servers a client's session `session` should use now: the
    /// configured ones, and a TURN credential minted for it at `now_unix`.
    pub fn ice_servers_for(&self, session: &str, now_unix: u64) -> Vec<IceServer> {
        let mut servers = self.ice_servers.to_vec();
        servers.extend(self.turn.as_ref().map(|t| t.credential(now_unix, session)));
        servers
    }

    /// How often a session's TURN credential is renewed; `None` without TURN.
    pub fn turn_renewal(&self) -> Option<std::time::Duration> {
        self.turn.as_ref().map(|t| t.renew_every())
    }

    /// A client's session ended: its TURN credentials die now where the relay can
    /// be told (the embedded one), else at their expiry.
    pub async fn revoke_turn(&self, session: &str) {
        if let Some(turn) = &self.turn {
            turn.revoke(session).await;
        }
    }

    /// Whether clients get TURN credentials (a relay-only room needs them).
    pub fn has_turn(&self) -> bool {
        self.turn.is_some()
    }

    /// Creates the peer's connection. `events` should be drained promptly: if it is full,
    /// audio levels are dropped and other events are delivered late.
    pub async fn add_peer(
        &self,
        peer: PeerKey,
        events: mpsc::Sender<MediaEvent>,
    ) -> Result<(), MediaError> {
        let worker = self.room.worker();
        let gates = Arc::clone(&self.gates);
        Ok(worker.add(self.room.key(peer), events, gates).await?)
    }

    /// Closes the peer's connection and frees its state and tracks, here and in
    /// every subscriber. Returns once the connection is closed. Its gates are forgotten.
    pub async fn remove_peer(&self, peer: PeerKey) {
        self.room.worker().remove(self.room.key(peer)).await;
        self.gates.forget_peer(peer);
    }

    /// Applies a client's offer and returns the server's answer.
    pub async fn offer(&self, peer: PeerKey, sdp: String) -> Result<String, MediaError> {
        Ok(self
            .room
            .worker()
            .offer_in(self.room.key(peer), sdp)
            .await?)
    }

    /// Applies a client's answer to the last [`MediaEvent::Offer`].
    pub async fn answer(&self, peer: PeerKey, sdp: String) -> Result<(), MediaError> {
        Ok(self
            .room
            .worker()
            .answer_in(self.room.key(peer), sdp)
            .await?)
    }

    /// Whether `sdp`, from a [`MediaEvent::Offer`], still awaits the client's answer. An
    /// offer the server rolled back on glare (or that was answered) may still sit in the
    /// event queue behind the answer to the client's offer; sent late, the client would
    /// take it for a new one. Call this just before sending an offer to the client.
    pub async fn offer_is_current(&self, peer: PeerKey, sdp: &str) -> bool {
        let key = self.room.key(peer);
        self.room
            .worker()
            .offer_is_current_in(key, sdp.to_owned())
            .await
    }

    /// Adds a remote (client) ICE candidate.
    pub async fn candidate(
        &self,
        peer: PeerKey,
        candidate: IceCandidateInit,
    ) -> Result<(), MediaError> {
        Ok(self
            .room
            .worker()
            .candidate_in(self.room.key(peer), candidate)
            .await?)
    }

    /// Opens or closes the forwarding of `kind` from `from` to `to`. Takes effect on the
    /// next packet. Closed unless opened.
    pub fn set_gate(&self, from: PeerKey, to: PeerKey, kind: MediaKind, open: bool) {
        self.gates.set(from, to, kind, open);
    }

    /// When refused, everything `peer` publishes is dropped as it arrives (observers),
    /// and tracks it publishes while refused are offered to nobody. Call it before the
    /// peer can publish: tracks already offered stay offered (and dropped).
    pub fn refuse_publish(&self, peer: PeerKey, refused: bool) {
        self.gates.refuse(peer, refused);
    }

    /// Packet counters since start (also exported through the `metrics` crate).
    pub fn stats(&self) -> &MediaStats {
        &self.gates.stats
    }

    /// Number of gate and refusal entries held; back to zero once every peer is removed.
    pub fn gate_entries(&self) -> usize {
        self.gates.len()
    }

    /// Server-side peer connections not yet freed, in this process. Each one's event
    /// handler is owned by its connection, so this drops only when the connection's
    /// internals are really freed. Used to prove that removal frees them.
    pub fn live_peer_connections() -> usize {
        sansio::live_connections()
    }
}
