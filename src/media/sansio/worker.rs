//! The handle to a media worker: one OS thread, one UDP socket, every connection of
//! its rooms (the thread's side is `state`).
//!
//! Commands (add/remove a peer, negotiation) go to the thread on a std channel; the
//! handle wakes the thread by sending an empty datagram to the socket itself (from a
//! clone of the same socket, so the worker still holds one socket). Packets never go
//! through a channel.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use super::socket::{self, Socket};
use super::state::State;
use super::{ConnKey, WorkerError};
use crate::media::gates::Gates;
use crate::media::{IceCandidateInit, MediaEvent, MediaKind, MediaStats, PeerKey};

pub(super) type Reply<T> = oneshot::Sender<Result<T, WorkerError>>;

pub(super) enum Command {
    AddPeer {
        key: ConnKey,
        events: mpsc::Sender<MediaEvent>,
        gates: Arc<Gates>,
        reply: Reply<()>,
    },
    RemovePeer {
        key: ConnKey,
        reply: oneshot::Sender<()>,
    },
    Offer {
        key: ConnKey,
        sdp: String,
        reply: Reply<String>,
    },
    Answer {
        key: ConnKey,
        sdp: String,
        reply: Reply<()>,
    },
    Candidate {
        key: ConnKey,
        candidate: IceCandidateInit,
        reply: Reply<()>,
    },
    IsCurrentOffer {
        key: ConnKey,
        sdp: String,
        reply: oneshot::Sender<bool>,
    },
    Census {
        reply: oneshot::Sender<Census>,
    },
    Stop,
}

/// What a worker holds, for tests and leak checks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Census {
    pub peers: usize,
    /// Forwarded copies: (publisher track, subscriber) pairs.
    pub subscriptions: usize,
    /// Router entries: ufrags and learnt remote addresses.
    pub routes: usize,
}

/// The room of the standalone API below ([`Worker::add_peer`] and friends), which
/// tests use without a [`super::Pool`]; rooms placed by a pool count from 1.
const STANDALONE: u32 = 0;

/// The handle to one worker thread. Dropping it stops the thread and closes the socket.
pub struct Worker {
    /// Commands to the thread; rare (signalling), never packets.
    commands: std_mpsc::Sender<Command>,
    /// A clone of the worker's socket, used only to wake the thread.
    waker: UdpSocket,
    /// Where the wake-up datagram goes: the socket's own address, loopback if unspecified.
    wake_addr: SocketAddr,
    /// The address the socket is bound to.
    local_addr: SocketAddr,
    /// Gates of the standalone room.
    gates: Arc<Gates>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Binds `bind` (port 0: any free port) and starts the thread. `public_ip`, if
    /// set, is advertised in the host candidate instead of the bound address; bound
    /// to every interface without it, each interface's address is a candidate.
    pub fn start(bind: SocketAddr, public_ip: Option<IpAddr>) -> Result<Worker, WorkerError> {
        let socket = UdpSocket::bind(bind)?;
        let local_addr = socket.local_addr()?;
        let candidates = socket::candidate_addrs(local_addr, public_ip);
        // Behind a NAT the kernel's choice of source is the one the NAT maps.
        let pick_source = local_addr.ip().is_unspecified() && public_ip.is_none();
        let wake_ip = match local_addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let wake_addr = SocketAddr::new(wake_ip, local_addr.port());
        let waker = socket.try_clone()?;
        let socket = Socket::new(socket, pick_source)?;
        let (commands, rx) = std_mpsc::channel();
        let state = State::new(socket, local_addr, candidates, rx);
        let thread = std::thread::Builder::new()
            .name(format!("media-{}", local_addr.port()))
            .spawn(move || state.run())?;
        Ok(Worker {
            commands,
            waker,
            wake_addr,
            local_addr,
            gates: Arc::new(Gates::default()),
            thread: Some(thread),
        })
    }

    /// The worker's socket address (the one UDP port all its peers use).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    fn standalone(peer: PeerKey) -> ConnKey {
        ConnKey {
            room: STANDALONE,
            peer,
        }
    }

    pub async fn add_peer(
        &self,
        key: PeerKey,
        events: mpsc::Sender<MediaEvent>,
    ) -> Result<(), WorkerError> {
        self.add(Self::standalone(key), events, Arc::clone(&self.gates))
            .await
    }

    /// Closes the peer's connection and withdraws its tracks from the others.
    pub async fn remove_peer(&self, key: PeerKey) {
        self.remove(Self::standalone(key)).await;
        self.gates.forget_peer(key);
    }

    /// Applies a client's offer; returns the server's answer.
    pub async fn offer(&self, key: PeerKey, sdp: String) -> Result<String, WorkerError> {
        self.offer_in(Self::standalone(key), sdp).await
    }

    /// Applies the client's answer to the last [`MediaEvent::Offer`].
    pub async fn answer(&self, key: PeerKey, sdp: String) -> Result<(), WorkerError> {
        self.answer_in(Self::standalone(key), sdp).await
    }

    /// A client's trickled candidate. ICE-lite needs none (the client's checks
    /// reveal its addresses), but they are harmless and keep the seam unchanged.
    pub async fn candidate(
        &self,
        key: PeerKey,
        candidate: IceCandidateInit,
    ) -> Result<(), WorkerError> {
        self.candidate_in(Self::standalone(key), candidate).await
    }

    /// Whether `sdp` (from a [`MediaEvent::Offer`]) still awaits the client's answer.
    pub async fn offer_is_current(&self, key: PeerKey, sdp: String) -> bool {
        self.offer_is_current_in(Self::standalone(key), sdp).await
    }

    /// Counts what the worker holds.
    pub async fn census(&self) -> Result<Census, WorkerError> {
        self.call(|reply| Command::Census { reply }).await
    }

    /// Opens or closes forwarding of `kind` from `from` to `to` (closed by default).
    pub fn set_gate(&self, from: PeerKey, to: PeerKey, kind: MediaKind, open: bool) {
        self.gates.set(from, to, kind, open);
    }

    /// When refused, everything `peer` publishes is dropped on arrival.
    pub fn refuse_publish(&self, peer: PeerKey, refused: bool) {
        self.gates.refuse(peer, refused);
    }

    pub fn stats(&self) -> &MediaStats {
        &self.gates.stats
    }

    // The room-aware calls `Sfu` makes: its room's keys and gates.

    pub(crate) async fn add(
        &self,
        key: ConnKey,
        events: mpsc::Sender<MediaEvent>,
        gates: Arc<Gates>,
    ) -> Result<(), WorkerError> {
        self.call(|reply| Command::AddPeer {
            key,
            events,
            gates,
            reply,
        })
        .await?
    }

    pub(crate) async fn remove(&self, key: ConnKey) {
        let _ = self.call(|reply| Command::RemovePeer { key, reply }).await;
    }

    pub(crate) async fn offer_in(&self, key: ConnKey, sdp: String) -> Result<String, WorkerError> {
        self.call(|reply| Command::Offer { key, sdp, reply })
            .await?
    }

    pub(crate) async fn answer_in(&self, key: ConnKey, sdp: String) -> Result<(), WorkerError> {
        self.call(|reply| Command::Answer { key, sdp, reply })
            .await?
    }

    pub(crate) async fn candidate_in(
        &self,
        key: ConnKey,
        candidate: IceCandidateInit,
    ) -> Result<(), WorkerError> {
        self.call(|reply| Command::Candidate {
            key,
            candidate,
            reply,
        })
        .await?
    }

    pub(crate) async fn offer_is_current_in(&self, key: ConnKey, sdp: String) -> bool {
        self.call(|reply| Command::IsCurrentOffer { key, sdp, reply })
            .await
            .unwrap_or(false)
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, WorkerError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .map_err(|_| WorkerError::Closed)?;
        self.wake();
        rx.await.map_err(|_| WorkerError::Closed)
    }

    fn wake(&self) {
        // Lost only if the socket buffer is full, and then the thread is busy
        // reading anyway; it checks commands after every datagram.
        let _ = self.waker.send_to(&[], self.wake_addr);
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Stop);
        self.wake();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
