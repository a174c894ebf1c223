//! The relayed side of each allocation: a UDP socket that talks only to the
//! server's own media addresses, within the bandwidth limits, counted.

use std::any::Any;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::net::UdpSocket;
use turn::relay::RelayAddressGenerator;
use webrtc_util::Conn;

use super::Peers;
use super::metrics::{Refusal, Relayed};

/// `kbps` kbit/s in bytes, with one second's worth as burst; `None` for 0.
fn byte_quota(kbps: u32) -> Option<Quota> {
    NonZeroU32::new(kbps.saturating_mul(125)).map(Quota::per_second)
}

/// A byte-rate limiter of `kbps` kbit/s; `None` (no limit) for 0.
pub fn byte_limiter(kbps: u32) -> Option<DefaultDirectRateLimiter> {
    byte_quota(kbps).map(RateLimiter::direct)
}

type Limiter<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Whether `n` bytes fit under every limiter given.
fn within<C: Clock>(limiters: [Option<&Limiter<C>>; 2], n: usize) -> bool {
    let Some(n) = NonZeroU32::new(u32::try_from(n).unwrap_or(u32::MAX)) else {
        return true;
    };
    limiters
        .into_iter()
        .flatten()
        .all(|l| matches!(l.check_n(n), Ok(Ok(()))))
}

/// Makes the relay sockets of allocations, up to `max` at once.
pub struct Relays {
    /// Where relay sockets bind.
    pub bind_ip: IpAddr,
    /// The relayed address clients are told (the bound one may be unspecified).
    pub relayed_ip: IpAddr,
    pub peers: Peers,
    pub live: Arc<AtomicUsize>,
    pub max: usize,
    pub kbps: u32,
    pub total: Option<Arc<DefaultDirectRateLimiter>>,
    pub metrics: Relayed,
}

/// Holds one place of the allocation limit; gives it back when dropped.
struct Place(Arc<AtomicUsize>, Relayed);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
        self.1.allocations.decrement(1.0);
    }
}

#[async_trait]
impl RelayAddressGenerator for Relays {
    fn validate(&self) -> Result<(), turn::Error> {
        Ok(())
    }

    async fn allocate_conn(
        &self,
        use_ipv4: bool,
        _requested_port: u16,
    ) -> Result<(Arc<dyn Conn + Send + Sync>, SocketAddr), turn::Error> {
        if self.live.fetch_add(1, Ordering::SeqCst) >= self.max {
            self.live.fetch_sub(1, Ordering::SeqCst);
            Refusal::Quota.count();
            return Err(turn::Error::Other(
                "the relay is at its allocation limit".into(),
            ));
        }
        self.metrics.allocations.increment(1.0);
        let place = Place(Arc::clone(&self.live), self.metrics.clone());
        if use_ipv4 != self.relayed_ip.is_ipv4() {
            return Err(turn::Error::Other("address family not served".into()));
        }
        let socket = UdpSocket::bind(SocketAddr::new(self.bind_ip, 0)).await?;
        let relayed = SocketAddr::new(self.relayed_ip, socket.local_addr()?.port());
        let conn = RelaySocket {
            socket,
            peers: Arc::clone(&self.peers),
            own: byte_limiter(self.kbps),
            total: self.total.clone(),
            metrics: self.metrics.clone(),
            _place: place,
        };
        Ok((Arc::new(conn), relayed))
    }
}

struct RelaySocket {
    socket: UdpSocket,
    peers: Peers,
    own: Option<DefaultDirectRateLimiter>,
    total: Option<Arc<DefaultDirectRateLimiter>>,
    metrics: Relayed,
    _place: Place,
}

impl RelaySocket {
    fn passes(&self, peer: SocketAddr, n: usize) -> bool {
        if !(self.peers)(peer) {
            // Permissions to others are refused; this is a second lock on the door.
            return false;
        }
        if within([self.own.as_ref(), self.total.as_deref()], n) {
            true
        } else {
            Refusal::Rate.count();
            false
        }
    }
}

#[async_trait]
impl Conn for RelaySocket {
    async fn connect(&self, _addr: SocketAddr) -> webrtc_util::Result<()> {
        Err(webrtc_util::Error::Other(
            "a relay socket is not connected".into(),
        ))
    }

    async fn recv(&self, _buf: &mut [u8]) -> webrtc_util::Result<usize> {
        Err(webrtc_util::Error::Other("use recv_from".into()))
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        loop {
            let (n, from) = self.socket.recv_from(buf).await?;
            if self.passes(from, n) {
                self.metrics.from_peer.increment(n as u64);
                return Ok((n, from));
            }
        }
    }

    async fn send(&self, _buf: &[u8]) -> webrtc_util::Result<usize> {
        Err(webrtc_util::Error::Other("use send_to".into()))
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
        if self.passes(target, buf.len()) {
            self.metrics.to_peer.increment(buf.len() as u64);
            self.socket.send_to(buf, target).await?;
        }
        // A dropped packet is a lost datagram, not an error of the allocation.
        Ok(buf.len())
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        None
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        Ok(())
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;
    use std::time::Duration;

    #[test]
    fn packets_past_a_byte_rate_drop_until_it_refills() {
        let clock = FakeRelativeClock::default();
        // 8 kbit/s: 1 000 bytes a second; the whole relay at 12 kbit/s (1 500).
        let own = RateLimiter::direct_with_clock(byte_quota(8).unwrap(), clock.clone());
        let total = RateLimiter::direct_with_clock(byte_quota(12).unwrap(), clock.clone());
        let both = [Some(&own), Some(&total)];
        assert!(within(both, 600));
        assert!(within(both, 400));
        assert!(!within(both, 1), "the allocation's second is spent");
        clock.advance(Duration::from_millis(500));
        assert!(within(both, 500), "half a second refills half");
        assert!(!within(both, 100));
        // The relay's limit binds across allocations: 1 000 of its 1 500 bytes
        // (refilled by 750) are spent, so another allocation gets the 750 left.
        let other = RateLimiter::direct_with_clock(byte_quota(8).unwrap(), clock.clone());
        assert!(within([Some(&other), Some(&total)], 750));
        assert!(
            !within([Some(&other), Some(&total)], 1),
            "the relay's second is spent"
        );
        assert!(byte_quota(0).is_none(), "0: no limit");
    }
}
