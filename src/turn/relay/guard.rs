//! In front of the TURN server, on every listener: what a client sends is
//! looked at before the server sees it, so that
//! - a request signed with a refused credential (wrong, expired, revoked)
//!   is answered 400 at once, and costs the server nothing (no nonce kept);
//! - a permission or channel towards anything but the server's own media
//!   addresses is answered 403 Forbidden: never an open relay;
//! - a session past its allocation limit is answered 486;
//! - unauthenticated requests (the first step of every allocation) are rate
//!   limited, since each makes the server keep a nonce;
//! - over TCP and TLS, a client whose connection ends loses its allocation at
//!   once (RFC 8656 §3.1), rather than when it lapses: the guard refreshes it
//!   to a lifetime of 0 in the client's name, with the nonce it last used.

use std::any::Any;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use stun::agent::TransactionId;
use stun::attributes::{
    ATTR_MESSAGE_INTEGRITY, ATTR_NONCE, ATTR_REALM, ATTR_USERNAME, ATTR_XOR_PEER_ADDRESS,
};
use stun::error_code::{
    CODE_ALLOC_QUOTA_REACHED, CODE_BAD_REQUEST, CODE_FORBIDDEN, ErrorCode, ErrorCodeAttribute,
};
use stun::integrity::MessageIntegrity;
use stun::message::{
    CLASS_ERROR_RESPONSE, CLASS_INDICATION, CLASS_REQUEST, Getter, METHOD_ALLOCATE,
    METHOD_CHANNEL_BIND, METHOD_CREATE_PERMISSION, METHOD_REFRESH, Message, MessageType, Setter,
};
use stun::textattrs::{Nonce, Realm, Username};
use tokio::sync::mpsc;
use turn::proto::lifetime::Lifetime;
use turn::proto::peeraddr::PeerAddress;
use turn::server::Server;
use webrtc_util::Conn;

use super::Peers;
use super::credentials::Credentials;
use super::metrics::Refusal;

/// Unauthenticated requests per second, all clients together.
const UNAUTHENTICATED_PER_SECOND: u32 = 200;

/// What to do with one message from a client.
enum Verdict {
    Pass,
    Drop,
    Answer(Vec<u8>),
}

pub struct Guarded {
    inner: Arc<dyn Conn + Send + Sync>,
    credentials: Arc<Credentials>,
    peers: Peers,
    /// The server this listener feeds, to count a session's allocations.
    server: Arc<OnceLock<Arc<Server>>>,
    per_session: usize,
    unauthenticated: DefaultDirectRateLimiter,
    /// Stream listeners: the clients whose connection ended.
    ended: Option<tokio::sync::Mutex<mpsc::UnboundedReceiver<SocketAddr>>>,
    /// Stream listeners: each client's last accepted (username, realm, nonce).
    signed: Mutex<HashMap<SocketAddr, (String, String, String)>>,
}

/// What the listener gave next.
enum Next {
    Datagram(usize, SocketAddr),
    Ended(SocketAddr),
}

impl Guarded {
    pub fn new(
        inner: Arc<dyn Conn + Send + Sync>,
        credentials: Arc<Credentials>,
        peers: Peers,
        server: Arc<OnceLock<Arc<Server>>>,
        per_session: usize,
        ended: Option<mpsc::UnboundedReceiver<SocketAddr>>,
    ) -> Guarded {
        let rate = NonZeroU32::new(UNAUTHENTICATED_PER_SECOND).unwrap_or(NonZeroU32::MIN);
        Guarded {
            inner,
            credentials,
            peers,
            server,
            per_session,
            unauthenticated: RateLimiter::direct(Quota::per_second(rate)),
            ended: ended.map(tokio::sync::Mutex::new),
            signed: Mutex::new(HashMap::new()),
        }
    }

    /// The next client whose stream ended; never, on a datagram listener.
    async fn next_ended(&self) -> SocketAddr {
        if let Some(ended) = &self.ended
            && let Some(client) = ended.lock().await.recv().await
        {
            return client;
        }
        std::future::pending().await
    }

    /// A Refresh with lifetime 0 in the name of `client`, whose stream ended,
    /// signed as its last accepted request was.
    fn farewell(&self, client: SocketAddr) -> Option<Vec<u8>> {
        let (username, realm, nonce) = self
            .signed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&client)?;
        let password = self.credentials.check(&username, client).ok()?;
        let integrity =
            MessageIntegrity::new_long_term_integrity(username.clone(), realm.clone(), password);
        let mut m = Message::new();
        m.build(&[
            Box::new(TransactionId::new()),
            Box::new(MessageType::new(METHOD_REFRESH, CLASS_REQUEST)),
            Box::new(Lifetime(Duration::ZERO)),
            Box::new(Username::new(ATTR_USERNAME, username)),
            Box::new(Realm::new(ATTR_REALM, realm)),
            Box::new(Nonce::new(ATTR_NONCE, nonce)),
            Box::new(integrity),
        ])
        .ok()?;
        Some(m.raw)
    }

    /// Over a stream, remembers how `from` last signed, for [`Guarded::farewell`].
    fn remember(&self, m: &Message, from: SocketAddr, username: &str, realm: &str) {
        let mut nonce = Nonce::new(ATTR_NONCE, String::new());
        if self.ended.is_none() || nonce.get_from(m).is_err() {
            return;
        }
        self.signed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                from,
                (username.to_owned(), realm.to_owned(), nonce.to_string()),
            );
    }

    async fn verdict(&self, bytes: &[u8], from: SocketAddr) -> Verdict {
        // ChannelData (and anything else): the server checks it against its bindings.
        if !stun::message::is_message(bytes) {
            return Verdict::Pass;
        }
        let mut m = Message::new();
        if m.unmarshal_binary(bytes).is_err() {
            return Verdict::Drop;
        }
        if m.typ.class != CLASS_REQUEST && m.typ.class != CLASS_INDICATION {
            return Verdict::Drop;
        }
        if !m.contains(ATTR_MESSAGE_INTEGRITY) {
            // Send indications carry data, checked by the server against permissions.
            if m.typ.class == CLASS_INDICATION {
                return Verdict::Pass;
            }
            return if self.unauthenticated.check().is_ok() {
                Verdict::Pass
            } else {
                Refusal::Flood.count();
                Verdict::Drop
            };
        }
        let mut username = Username::new(ATTR_USERNAME, String::new());
        let mut realm = Realm::new(ATTR_REALM, String::new());
        if username.get_from(&m).is_err() || realm.get_from(&m).is_err() {
            return answer(&m, CODE_BAD_REQUEST, None);
        }
        let (username, realm) = (username.to_string(), realm.to_string());
        let Ok(password) = self.credentials.check(&username, from) else {
            Refusal::Credential.count();
            return answer(&m, CODE_BAD_REQUEST, None);
        };
        let integrity =
            MessageIntegrity::new_long_term_integrity(username.clone(), realm.clone(), password);
        if integrity.check(&mut m).is_err() {
            Refusal::Credential.count();
            return answer(&m, CODE_BAD_REQUEST, None);
        }
        self.remember(&m, from, &username, &realm);
        let method = m.typ.method;
        if method == METHOD_CREATE_PERMISSION || method == METHOD_CHANNEL_BIND {
            if peer_addresses(&m).any(|peer| !peer.is_some_and(|p| (self.peers)(p))) {
                Refusal::Peer.count();
                return answer(&m, CODE_FORBIDDEN, Some(&integrity));
            }
        } else if method == METHOD_ALLOCATE
            && self.allocations_of(&username).await >= self.per_session
        {
            Refusal::Quota.count();
            return answer(&m, CODE_ALLOC_QUOTA_REACHED, Some(&integrity));
        }
        Verdict::Pass
    }

    /// How many allocations the session of `username` holds now.
    async fn allocations_of(&self, username: &str) -> usize {
        match (self.server.get(), Credentials::session_of(username)) {
            (Some(server), Some(session)) => usernames_of(server, session).await.len(),
            _ => 0,
        }
    }
}

/// The username of each allocation `server` holds for `session`.
pub(super) async fn usernames_of(server: &Server, session: &str) -> Vec<String> {
    match server.get_allocations_info(None).await {
        Ok(all) => all
            .into_values()
            .map(|a| a.username)
            .filter(|u| Credentials::session_of(u) == Some(session))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Every XOR-PEER-ADDRESS of a message (`None` for one that does not decode).
fn peer_addresses(m: &Message) -> impl Iterator<Item = Option<SocketAddr>> + '_ {
    m.attributes
        .0
        .iter()
        .filter(|a| a.typ == ATTR_XOR_PEER_ADDRESS)
        .map(|a| {
            // Decoded alone, with the request's transaction id (IPv6 is XORed with it).
            let mut one = Message::new();
            one.transaction_id = m.transaction_id;
            one.add(a.typ, &a.value);
            let mut peer = PeerAddress::default();
            peer.get_from(&one).ok()?;
            Some(SocketAddr::new(peer.ip, peer.port))
        })
}

/// An error response to `m`, signed when the request was.
fn answer(m: &Message, code: ErrorCode, integrity: Option<&MessageIntegrity>) -> Verdict {
    let mut setters: Vec<Box<dyn Setter>> = vec![
        Box::new(Message {
            transaction_id: m.transaction_id,
            ..Default::default()
        }),
        Box::new(MessageType::new(m.typ.method, CLASS_ERROR_RESPONSE)),
        Box::new(ErrorCodeAttribute {
            code,
            reason: Vec::new(),
        }),
    ];
    if let Some(integrity) = integrity {
        setters.push(Box::new(integrity.clone()));
    }
    let mut out = Message::new();
    match out.build(&setters) {
        Ok(()) => Verdict::Answer(out.raw),
        Err(_) => Verdict::Drop,
    }
}

#[async_trait]
impl Conn for Guarded {
    async fn connect(&self, addr: SocketAddr) -> webrtc_util::Result<()> {
        self.inner.connect(addr).await
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        Ok(self.recv_from(buf).await?.0)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        loop {
            let next = tokio::select! {
                received = self.inner.recv_from(buf) => {
                    let (n, from) = received?;
                    Next::Datagram(n, from)
                }
                client = self.next_ended() => Next::Ended(client),
            };
            let (n, from) = match next {
                Next::Datagram(n, from) => (n, from),
                Next::Ended(client) => match self.farewell(client) {
                    Some(refresh) if refresh.len() <= buf.len() => {
                        buf[..refresh.len()].copy_from_slice(&refresh);
                        return Ok((refresh.len(), client));
                    }
                    _ => continue,
                },
            };
            match self.verdict(&buf[..n], from).await {
                Verdict::Pass => return Ok((n, from)),
                Verdict::Drop => {}
                Verdict::Answer(reply) => {
                    let _ = self.inner.send_to(&reply, from).await;
                }
            }
        }
    }

    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        self.inner.send(buf).await
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
        self.inner.send_to(buf, target).await
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        self.inner.remote_addr()
    }

    /// The server closes this when any one allocation ends: the listener
    /// itself stays until the relay stops.
    async fn close(&self) -> webrtc_util::Result<()> {
        Ok(())
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self
    }
}
