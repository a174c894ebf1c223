//! The worker thread: its socket, its connections, and the loop that drives them.
//!
//! The thread waits on the socket until the earliest connection deadline. After
//! each batch of datagrams, timeout or command it services the connections that
//! something happened to (`busy`): events, media (forwarded into the subscribers in
//! the same call, see `relay`), offers that became due (`negotiate`), then the
//! datagrams to send; a subscriber that was only written to (`flush`) just sends.
//! `rtc` changes state only when called, so a connection nobody touched has
//! nothing to say, and its deadline is the one read after it was last serviced.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use metrics::{Counter, Histogram, counter, histogram};
use rtc::media_stream::MediaStreamTrackId;
use rtc::peer_connection::event::{RTCPeerConnectionEvent, RTCTrackEvent};
use rtc::peer_connection::message::TaggedRTCMessage;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::rtp_transceiver::RTCRtpSenderId;
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use tokio::sync::mpsc;

use super::conn::{self, Conn, Sub};
use super::router::Router;
use super::socket::{Batch, Socket};
use super::worker::{Census, Command};
use super::{ConnKey, LIVE, WorkerError};
use crate::media::forward::{DROPPED, FORWARDED, GATE_SWITCH, NACKED};
use crate::media::gates::Gates;
use crate::media::{IceCandidateInit, MediaEvent, MediaKind};

/// Longest sleep without a deadline: bounds how late a lost wake-up is noticed.
const IDLE: Duration = Duration::from_millis(500);
/// A zero read timeout means "block forever" to std: never ask for less.
const MIN_WAIT: Duration = Duration::from_millis(1);

/// The `metrics` handles of the packet path, made once per worker (an increment is
/// an atomic add).
pub(super) struct Meters {
    pub(super) forwarded_audio: Counter,
    pub(super) forwarded_video: Counter,
    pub(super) gate_closed: Counter,
    pub(super) refused: Counter,
    pub(super) not_negotiated: Counter,
    pub(super) write_failed: Counter,
    pub(super) retransmitted: Counter,
    pub(super) nacks_unanswered: Counter,
    /// Gate switch → first packet under it, by kind (audio, video), as the task
    /// engine reports it (the load tool and the SPEC §9 figure read the audio one).
    pub(super) opened: [Histogram; 2],
    pub(super) closed: [Histogram; 2],
}

impl Meters {
    /// Index of `kind` in the per-kind meters.
    pub(super) fn kind(kind: MediaKind) -> usize {
        match kind {
            MediaKind::Audio => 0,
            MediaKind::Video => 1,
        }
    }
}

impl Meters {
    fn new() -> Meters {
        Meters {
            forwarded_audio: counter!(FORWARDED, "kind" => "audio"),
            forwarded_video: counter!(FORWARDED, "kind" => "video"),
            gate_closed: counter!(DROPPED, "reason" => "gate_closed"),
            refused: counter!(DROPPED, "reason" => "publish_refused"),
            not_negotiated: counter!(DROPPED, "reason" => "not_negotiated"),
            write_failed: counter!(DROPPED, "reason" => "write_failed"),
            retransmitted: counter!(NACKED, "outcome" => "resent"),
            nacks_unanswered: counter!(NACKED, "outcome" => "unanswered"),
            opened: [
                histogram!(GATE_SWITCH, "kind" => "audio", "to" => "open"),
                histogram!(GATE_SWITCH, "kind" => "video", "to" => "open"),
            ],
            closed: [
                histogram!(GATE_SWITCH, "kind" => "audio", "to" => "closed"),
                histogram!(GATE_SWITCH, "kind" => "video", "to" => "closed"),
            ],
        }
    }
}

/// Everything the worker thread owns.
pub(super) struct State {
    pub(super) socket: Socket,
    pub(super) local_addr: SocketAddr,
    /// The addresses of the host candidates (socket::candidate_addrs).
    candidates: Vec<SocketAddr>,
    commands: std_mpsc::Receiver<Command>,
    pub(super) conns: HashMap<ConnKey, Conn>,
    pub(super) router: Router<ConnKey>,
    /// Publisher → its receiving track → the copies to write. Nested so the
    /// per-packet lookup borrows the track id instead of building a key.
    pub(super) subs: HashMap<ConnKey, HashMap<MediaStreamTrackId, Vec<Sub>>>,
    /// (subscriber, the SSRC of a copy it receives) → (publisher, its track id):
    /// where a subscriber's keyframe request goes.
    pub(super) feedback: HashMap<(ConnKey, u32), (ConnKey, MediaStreamTrackId)>,
    pub(super) meters: Meters,
    /// Connections to service in full next, and connections that only have
    /// datagrams to send (written to by the packet path); see `Conn::busy`.
    pub(super) busy: Vec<ConnKey>,
    pub(super) flush: Vec<ConnKey>,
    /// Service every connection next (after a command).
    all: bool,
    /// Reused buffers: the connection keys, and one connection's pending reads.
    keys: Vec<ConnKey>,
    pub(super) reads: Vec<TaggedRTCMessage>,
    /// Reused: the packets one NACK asks for, before they are written.
    pub(super) resend: Vec<(RTCRtpSenderId, rtc::rtp::Packet)>,
}

impl State {
    pub(super) fn new(
        socket: Socket,
        local_addr: SocketAddr,
        candidates: Vec<SocketAddr>,
        commands: std_mpsc::Receiver<Command>,
    ) -> State {
        State {
            socket,
            local_addr,
            candidates,
            commands,
            conns: HashMap::new(),
            router: Router::default(),
            subs: HashMap::new(),
            feedback: HashMap::new(),
            meters: Meters::new(),
            busy: Vec::new(),
            flush: Vec::new(),
            all: false,
            keys: Vec::new(),
            reads: Vec::new(),
            resend: Vec::new(),
        }
    }

    pub(super) fn run(mut self) {
        let mut batch = Batch::new();
        loop {
            loop {
                match self.commands.try_recv() {
                    Ok(Command::Stop) | Err(std_mpsc::TryRecvError::Disconnected) => {
                        self.close_all();
                        return;
                    }
                    Ok(cmd) => {
                        self.all = true;
                        self.command(cmd, Instant::now());
                    }
                    Err(std_mpsc::TryRecvError::Empty) => break,
                }
            }
            self.service(Instant::now());

            let now = Instant::now();
            let deadline = self.conns.values().filter_map(|c| c.deadline).min();
            if let Some(deadline) = deadline
                && deadline <= now
            {
                self.timeouts(now);
                continue;
            }
            // A whole batch goes in before the connections are serviced once.
            match self.socket.recv(&mut batch) {
                Ok(()) => {
                    let now = Instant::now();
                    for (data, from, to) in batch.datagrams() {
                        self.datagram(data, from, to, now);
                    }
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                // An ICMP error from an earlier send (ECONNREFUSED) surfaces here on
                // Linux; it concerns one destination, not the socket.
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::Interrupted | std::io::ErrorKind::ConnectionRefused
                    ) =>
                {
                    continue;
                }
                Err(e) => {
                    tracing::error!("media worker: socket failed: {e}");
                    return;
                }
            }
            let wait = deadline.map_or(IDLE, |d| (d - now).min(IDLE)).max(MIN_WAIT);
            if let Err(e) = self.socket.wait(wait) {
                tracing::error!("media worker: cannot wait on the socket: {e}");
                return;
            }
        }
    }

    /// The local candidate a datagram sent to `to` arrived on: the one address the
    /// worker announces, or (bound to every interface) the one it was sent to.
    fn local_candidate(&self, to: Option<IpAddr>) -> SocketAddr {
        match (self.candidates.as_slice(), to) {
            ([only], _) => *only,
            (_, Some(ip)) => SocketAddr::new(ip, self.local_addr.port()),
            _ => self.local_addr,
        }
    }

    fn datagram(&mut self, data: &[u8], from: SocketAddr, to: Option<IpAddr>, now: Instant) {
        if data.is_empty() {
            return; // a wake-up (or a stray empty datagram): commands are checked next
        }
        let Some(key) = self.router.route(from, data) else {
            return;
        };
        let local_addr = self.local_candidate(to);
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        conn.mark(key, &mut self.busy);
        // Errors here are per packet (a bad check, an undecryptable packet): the
        // connection has already dropped it; no log line per packet.
        let _ = conn.pc.handle_read(TaggedBytesMut {
            now,
            transport: TransportContext {
                local_addr,
                peer_addr: from,
                ecn: None,
                transport_protocol: TransportProtocol::UDP,
            },
            message: BytesMut::from(data),
        });
    }

    fn timeouts(&mut self, now: Instant) {
        for (key, conn) in self.conns.iter_mut() {
            if conn.deadline.is_some_and(|d| d <= now) {
                let _ = conn.pc.handle_timeout(now);
                conn.mark(*key, &mut self.busy);
            }
        }
    }

    /// Drains the busy connections (all of them after a command): events, then
    /// media (forwarded into the subscribers), then the offers that became due,
    /// then the datagrams to send; then the subscribers that were written to.
    /// Servicing one connection can make another busy (a new track is offered to
    /// the others): those get their turn in the next round.
    fn service(&mut self, now: Instant) {
        let mut keys = std::mem::take(&mut self.keys);
        loop {
            keys.clear();
            if std::mem::take(&mut self.all) {
                keys.extend(self.conns.keys().copied());
                self.busy.clear();
            } else {
                std::mem::swap(&mut keys, &mut self.busy);
            }
            if keys.is_empty() {
                break;
            }
            for &key in &keys {
                self.events(key, now);
            }
            for &key in &keys {
                self.reads(key, now);
            }
            for &key in &keys {
                self.negotiate(key, now);
            }
            for &key in &keys {
                self.writes(key);
                if let Some(conn) = self.conns.get_mut(&key) {
                    conn.busy = false;
                    conn.deadline = conn.pc.poll_timeout();
                }
            }
        }
        keys.clear();
        std::mem::swap(&mut keys, &mut self.flush);
        for &key in &keys {
            self.writes(key);
            if let Some(conn) = self.conns.get_mut(&key) {
                conn.flushing = false;
            }
        }
        self.socket.flush();
        self.keys = keys;
    }

    fn events(&mut self, key: ConnKey, now: Instant) {
        while let Some(event) = self.conns.get_mut(&key).and_then(|c| c.pc.poll_event()) {
            match event {
                RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) => {
                    let Some(conn) = self.conns.get_mut(&key) else {
                        return;
                    };
                    match state {
                        RTCPeerConnectionState::Connected => {
                            conn.secure = true;
                            conn.emit(MediaEvent::Connected);
                        }
                        RTCPeerConnectionState::Failed => conn.emit(MediaEvent::Failed),
                        _ => {}
                    }
                }
                RTCPeerConnectionEvent::OnTrack(RTCTrackEvent::OnOpen(init)) => {
                    self.track_opened(key, init.track_id, init.receiver_id, init.ssrc, now);
                }
                _ => {}
            }
        }
    }

    pub(super) fn writes(&mut self, key: ConnKey) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        while let Some(out) = conn.pc.poll_write() {
            let to = out.transport.peer_addr;
            self.router.outgoing(key, to, &out.message);
            self.socket.queue(to, out.transport.local_addr, out.message);
        }
    }

    fn command(&mut self, cmd: Command, now: Instant) {
        match cmd {
            Command::AddPeer {
                key,
                events,
                gates,
                reply,
            } => {
                let _ = reply.send(self.add_peer(key, events, gates, now));
            }
            Command::RemovePeer { key, reply } => {
                self.remove_peer(key);
                let _ = reply.send(());
            }
            Command::Offer { key, sdp, reply } => {
                let _ = reply.send(self.apply_offer(key, sdp, now));
            }
            Command::Answer { key, sdp, reply } => {
                let _ = reply.send(self.apply_answer(key, sdp, now));
            }
            Command::Candidate {
                key,
                candidate,
                reply,
            } => {
                let _ = reply.send(self.add_candidate(key, candidate));
            }
            Command::IsCurrentOffer { key, sdp, reply } => {
                let current = self
                    .conns
                    .get(&key)
                    .and_then(|c| c.outstanding_offer.as_deref())
                    == Some(sdp.as_str());
                let _ = reply.send(current);
            }
            Command::Census { reply } => {
                let _ = reply.send(Census {
                    peers: self.conns.len(),
                    subscriptions: self
                        .subs
                        .values()
                        .flat_map(|t| t.values())
                        .map(Vec::len)
                        .sum(),
                    routes: self.router.len(),
                });
            }
            Command::Stop => {}
        }
    }

    fn add_candidate(&mut self, key: ConnKey, c: IceCandidateInit) -> Result<(), WorkerError> {
        let conn = self.conns.get_mut(&key).ok_or(WorkerError::UnknownPeer)?;
        if c.candidate.is_empty() {
            return Ok(()); // end of candidates
        }
        conn.pc
            .add_remote_candidate(c.into())
            .map_err(|e| WorkerError::Negotiation(e.to_string()))
    }

    fn add_peer(
        &mut self,
        key: ConnKey,
        events: mpsc::Sender<MediaEvent>,
        gates: Arc<Gates>,
        now: Instant,
    ) -> Result<(), WorkerError> {
        if self.conns.contains_key(&key) {
            return Err(WorkerError::DuplicatePeer);
        }
        let ufrag = loop {
            let ufrag = conn::random_ufrag();
            if !self.router.has_ufrag(&ufrag) {
                break ufrag;
            }
        };
        let pc = conn::build(&ufrag, &self.candidates, now)?;
        self.router.add(ufrag, key);
        let refused = gates.refused_flag(key.peer);
        self.conns
            .insert(key, Conn::new(pc, events, gates, refused));
        LIVE.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn remove_peer(&mut self, key: ConnKey) {
        let Some(mut conn) = self.conns.remove(&key) else {
            return;
        };
        LIVE.fetch_sub(1, Ordering::SeqCst);
        let _ = conn.pc.close();
        // Send what closing queued (DTLS close_notify) before forgetting the routes.
        while let Some(out) = conn.pc.poll_write() {
            self.socket.send(
                out.transport.peer_addr,
                out.transport.local_addr,
                &out.message,
            );
        }
        self.router.remove(key);
        // Its tracks leave the other peers (renegotiated); its subscriptions go.
        for (_, subs) in self.subs.remove(&key).into_iter().flatten() {
            for sub in subs {
                self.unsubscribe(sub);
            }
        }
        for tracks in self.subs.values_mut() {
            for subs in tracks.values_mut() {
                subs.retain(|sub| sub.to != key);
            }
            tracks.retain(|_, subs| !subs.is_empty());
        }
        self.subs.retain(|_, tracks| !tracks.is_empty());
        self.feedback
            .retain(|(to, _), (from, _)| *to != key && *from != key);
    }

    fn close_all(&mut self) {
        let keys: Vec<ConnKey> = self.conns.keys().copied().collect();
        for key in keys {
            self.remove_peer(key);
        }
    }
}
