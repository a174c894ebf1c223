//! A participant of the documented signalling protocol (docs/protocol.md), used by
//! the media tests and by the load tool; not part of the server. It goes through a
//! room exactly as a browser does: a signalling socket on `/ws` plus a webrtc-rs peer
//! connection, negotiated only with the documented `media_*` messages.
//!
//! A task owns the socket and the peer connection ("the pump", [`pump`]): on
//! `media_ready` it builds a peer connection; a publishing peer adds an Opus and a VP8
//! track sending synthetic RTP ([`synthetic`]) and offers. It applies `media_answer`,
//! answers the server's `media_offer`s (ignoring one that crosses its own: the server
//! is the polite side and offers again) and trickles candidates both ways. It counts
//! received packets per remote stream (`peer-N` is person N) and kind ([`Counters`]).
//! Every payload carries its send time, so a receiver can measure latency through the
//! server while [`RECORDING`] is set.
//!
//! Every message also reaches the caller through [`Peer`]. The pump never closes the
//! peer connection by itself when the server says `media_closed` or `ended`: a client
//! that keeps sending is exactly what the server must cope with. [`Peer::close`]
//! stops everything. The socket itself is the caller's ([`Socket`]): the tests and the
//! load tool each have their own client for the handshake before media.

mod counters;
mod peer;
mod pump;
mod receiver;
pub mod scrape;
mod synthetic;

use serde_json::Value;

pub use counters::{Counters, RECORDING, Tally, epoch};
pub use peer::{Peer, Setup, Timed, admit};
pub use receiver::{
    OnPacket, OnTrack, Receiver, client_peer_connection, client_peer_connection_with,
};
pub use synthetic::{codec, local_track, packet, publishing_tracks, receive_only};

/// The signalling socket a [`Peer`] takes over after the handshake.
#[async_trait::async_trait]
pub trait Socket: Send + Sized + 'static {
    /// The next text message; `None` once the socket closed.
    async fn next_message(&mut self) -> Option<Value>;
    /// Sends a message; false if the socket is gone.
    async fn try_send(&mut self, value: Value) -> bool;
    async fn close(self);
    /// Who this socket is (`welcome.you`), the latest view, and every message read
    /// so far (taken: the [`Peer`] keeps them from now on).
    fn arrival(&mut self) -> (u64, Value, Vec<Value>);
}

/// Why a [`Peer`] call did not get what it waited for.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}: no message in time")]
    Silent(String),
    #[error("{0}: socket closed")]
    Closed(String),
    #[error("{name}: {what} refused: {code}")]
    Refused {
        name: String,
        what: String,
        code: String,
    },
    #[error("{name}: {person} is not in the view")]
    Unknown { name: String, person: String },
    /// Too few packets arrived in time; says what did arrive.
    #[error("{0}")]
    Starved(String),
}

impl Error {
    /// The error code of a refused command.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}
