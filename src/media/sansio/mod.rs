//! The next media engine (issue 12): webrtc-rs's sans-IO core `rtc` driven from media
//! worker threads, each owning one UDP socket shared by all its connections.
//!
//! - [`demux`]: what a datagram is (RFC 7983) and the USERNAME of a Binding Request;
//! - [`router`]: which connection it is for (server ufrag, then learnt address);
//! - `conn`: how a server connection is built (ICE-lite, the server's ufrag);
//! - `socket`: the worker's UDP socket (batched reads, each datagram's destination);
//! - [`Worker`]: the handle to a thread that owns the socket and the connections;
//!   `state` (the thread's loop), `negotiate` (offers, answers, subscriptions) and
//!   `relay` (forwarding, keyframe requests, audio levels) and `retransmit`
//!   (NACKs answered from one history per published video track) are its parts;
//! - [`Pool`]: the workers of a server; each room's connections live on one of them.
//!
//! [`super::Sfu`] is one room's handle on a worker.

mod conn;
mod demux;
mod negotiate;
mod recycle;
mod relay;
mod retransmit;
mod router;
mod socket;
mod state;
mod worker;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub use worker::{Census, Worker};

use super::PeerKey;

/// Errors of a media worker. Details are safe to log: no personal data.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// Binding or configuring the socket, or starting the thread.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// The WebRTC core failed for a reason not caused by the client.
    #[error("webrtc: {0}")]
    Rtc(#[from] rtc::shared::error::Error),
    #[error("unknown peer")]
    UnknownPeer,
    #[error("peer already exists")]
    DuplicatePeer,
    /// The client sent something the negotiation cannot use (bad SDP, wrong state).
    #[error("negotiation failed: {0}")]
    Negotiation(String),
    /// The worker thread has stopped.
    #[error("media worker stopped")]
    Closed,
}

/// A connection's key on a worker: peer keys are unique within a room only.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) struct ConnKey {
    pub(crate) room: u32,
    pub(crate) peer: PeerKey,
}

impl fmt::Display for ConnKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.room, self.peer)
    }
}

/// Server connections alive in this process, on every worker (leak tests).
static LIVE: AtomicUsize = AtomicUsize::new(0);

pub(crate) fn live_connections() -> usize {
    LIVE.load(Ordering::SeqCst)
}

/// The worker threads of one server.
pub struct Pool {
    workers: Vec<Arc<Worker>>,
    /// Rooms placed on each worker now, to place the next on the least busy.
    rooms: Vec<AtomicUsize>,
    next_room: AtomicU32,
}

impl Pool {
    /// Starts `count` workers (at least one) on `bind_ip`, worker k on `udp_port + k`
    /// (0: any free port each).
    pub fn start(
        count: usize,
        bind_ip: IpAddr,
        udp_port: u16,
        public_ip: Option<IpAddr>,
    ) -> Result<Pool, WorkerError> {
        let count = count.max(1);
        let mut workers = Vec::with_capacity(count);
        for k in 0..count {
            let port = if udp_port == 0 {
                0
            } else {
                u16::try_from(usize::from(udp_port) + k).map_err(|_| {
                    WorkerError::Io(std::io::Error::other("udp_port + workers exceeds 65535"))
                })?
            };
            workers.push(Arc::new(Worker::start(
                SocketAddr::new(bind_ip, port),
                public_ip,
            )?));
        }
        Ok(Pool {
            rooms: (0..count).map(|_| AtomicUsize::new(0)).collect(),
            workers,
            next_room: AtomicU32::new(1),
        })
    }

    /// The addresses of the workers' sockets (the UDP ports an operator opens).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.workers.iter().map(|w| w.local_addr()).collect()
    }

    /// Places a room on the worker with the fewest rooms.
    pub(crate) fn place(self: &Arc<Self>) -> RoomLink {
        let index = (0..self.workers.len())
            .min_by_key(|&i| self.rooms[i].load(Ordering::Relaxed))
            .unwrap_or(0);
        self.rooms[index].fetch_add(1, Ordering::Relaxed);
        RoomLink {
            pool: Arc::clone(self),
            index,
            room: self.next_room.fetch_add(1, Ordering::Relaxed),
        }
    }
}

/// One room's place on a worker; the room count drops when it does.
pub(crate) struct RoomLink {
    pool: Arc<Pool>,
    index: usize,
    pub(crate) room: u32,
}

impl RoomLink {
    pub(crate) fn worker(&self) -> &Worker {
        &self.pool.workers[self.index]
    }

    pub(crate) fn key(&self, peer: PeerKey) -> ConnKey {
        ConnKey {
            room: self.room,
            peer,
        }
    }
}

impl Drop for RoomLink {
    fn drop(&mut self) {
        self.pool.rooms[self.index].fetch_sub(1, Ordering::Relaxed);
    }
}

/// Where the workers of a configuration live once started: shared by every clone
/// of the configuration, started by the first room that needs them.
#[derive(Clone, Default)]
pub struct PoolSlot(Arc<Mutex<Option<Arc<Pool>>>>);

impl PoolSlot {
    /// The pool, started now if it is not running yet.
    pub(crate) fn get_or_start(
        &self,
        start: impl FnOnce() -> Result<Pool, WorkerError>,
    ) -> Result<Arc<Pool>, WorkerError> {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pool) = slot.as_ref() {
            return Ok(Arc::clone(pool));
        }
        let pool = Arc::new(start()?);
        *slot = Some(Arc::clone(&pool));
        Ok(pool)
    }

    /// The running pool, if a room started it.
    pub fn running(&self) -> Option<Arc<Pool>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl fmt::Debug for PoolSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let running = self.running().map(|p| p.local_addrs());
        f.debug_tuple("PoolSlot").field(&running).finish()
    }
}
