//! Which connection a datagram on the shared port belongs to.
//!
//! A connection is found by its remote address once known; before that, only a STUN
//! Binding Request can reach it, by the server ufrag in its USERNAME. The router
//! learns an address when the connection answers such a request with a success
//! response (it checked USERNAME and MESSAGE-INTEGRITY), as str0m's `Rtc::accepts()`
//! does: `rtc` itself accepts non-STUN datagrams from any address once ICE is up.
//! It also learns the address a connection sends its own check to: being ICE-lite it
//! checks only where an accepted request came from, and when that request carried
//! USE-CANDIDATE on a pair not yet checked (Firefox nominates that way with a lite
//! peer) `rtc` answers nothing until the answer to its own check comes back.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::SocketAddr;

use super::demux::{self, Class};

pub(crate) struct Router<K> {
    /// Server ufrag → connection: the only way in for a new remote address.
    by_ufrag: HashMap<String, K>,
    /// Remote address → connection, learnt from accepted Binding Requests. A client
    /// may check from several candidates: each address that was answered stays.
    by_addr: HashMap<SocketAddr, K>,
}

impl<K> Default for Router<K> {
    fn default() -> Self {
        Router {
            by_ufrag: HashMap::new(),
            by_addr: HashMap::new(),
        }
    }
}

impl<K: Copy + Eq + Hash> Router<K> {
    /// Whether a connection already uses `ufrag` (the worker chooses unique ones).
    pub(crate) fn has_ufrag(&self, ufrag: &str) -> bool {
        self.by_ufrag.contains_key(ufrag)
    }

    pub(crate) fn add(&mut self, ufrag: String, key: K) {
        self.by_ufrag.insert(ufrag, key);
    }

    /// The connection `datagram` from `from` is for, if any.
    pub(crate) fn route(&self, from: SocketAddr, datagram: &[u8]) -> Option<K> {
        if let Some(key) = self.by_addr.get(&from) {
            return Some(*key);
        }
        if demux::classify(datagram) != Class::Stun {
            return None;
        }
        let username = demux::binding_request_username(datagram)?;
        self.by_ufrag.get(demux::server_ufrag(username)?).copied()
    }

    /// Called for every datagram `key` sends to `to`: a Binding success response, or
    /// the check an ICE-lite connection sends back, proves `to` is `key`'s. An address
    /// that moved to another connection (a reused port) follows the latest answer.
    pub(crate) fn outgoing(&mut self, key: K, to: SocketAddr, datagram: &[u8]) {
        if self.by_addr.get(&to) != Some(&key)
            && (demux::is_binding_success(datagram) || demux::is_binding_request(datagram))
        {
            self.by_addr.insert(to, key);
        }
    }

    /// Forgets the connection's ufrag and addresses.
    pub(crate) fn remove(&mut self, key: K) {
        self.by_ufrag.retain(|_, k| *k != key);
        self.by_addr.retain(|_, k| *k != key);
    }

    /// Entries held (for leak checks).
    pub(crate) fn len(&self) -> usize {
        self.by_ufrag.len() + self.by_addr.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stun(typ: [u8; 2], username: &[u8]) -> Vec<u8> {
        let mut m = vec![typ[0], typ[1], 0, 0, 0x21, 0x12, 0xa4, 0x42];
        m.extend_from_slice(&[1; 12]);
        if !username.is_empty() {
            m.extend_from_slice(&[0, 6]);
            m.extend_from_slice(&(username.len() as u16).to_be_bytes());
            m.extend_from_slice(username);
            m.resize(m.len().next_multiple_of(4), 0);
        }
        let len = (m.len() - 20) as u16;
        m[2..4].copy_from_slice(&len.to_be_bytes());
        m
    }

    #[test]
    fn routes_by_ufrag_then_by_learnt_address() {
        let mut r = Router::default();
        r.add("aaaa".into(), 1u32);
        r.add("bbbb".into(), 2u32);
        let (x, y): (SocketAddr, SocketAddr) = (
            "127.0.0.1:1000".parse().unwrap(),
            "127.0.0.1:2000".parse().unwrap(),
        );
        let rtp = [0x80u8, 96, 0, 1];
        assert_eq!(r.route(x, &stun([0, 1], b"bbbb:cli")), Some(2));
        assert_eq!(r.route(x, &stun([0, 1], b"cccc:cli")), None);
        assert_eq!(r.route(x, &rtp), None, "media from an unknown address");
        // Anything but a success response or a check teaches nothing.
        r.outgoing(2, x, &rtp);
        r.outgoing(2, x, &stun([0x01, 0x11], b""));
        assert_eq!(r.route(x, &rtp), None);
        r.outgoing(2, x, &stun([0x01, 0x01], b""));
        assert_eq!(r.route(x, &rtp), Some(2));
        assert_eq!(r.route(y, &rtp), None);
        // The connection's own check to `y`: the answer to it comes back to it.
        r.outgoing(2, y, &stun([0x00, 0x01], b"cli:bbbb"));
        assert_eq!(r.route(y, &stun([0x01, 0x01], b"")), Some(2));
        r.outgoing(1, y, &stun([0x01, 0x01], b""));
        // The address follows the connection that answered last.
        r.outgoing(1, x, &stun([0x01, 0x01], b""));
        assert_eq!(r.route(x, &rtp), Some(1));
        r.remove(1);
        assert_eq!(r.route(x, &rtp), None);
        assert_eq!(r.route(y, &stun([0, 1], b"aaaa:cli")), None);
        r.remove(2);
        assert_eq!(r.len(), 0);
    }
}
