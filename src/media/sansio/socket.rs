//! The worker's one UDP socket: datagrams received in batches (`recvmmsg`, and GRO
//! where the kernel coalesces), each with the address it was sent to, and sends from
//! a chosen source address. quinn-udp does the control-message work.
//!
//! The destination matters when the socket is bound to every interface: the ICE
//! agent accepts a check only on the local candidate it was sent to, and the reply
//! must leave from that same address.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::net::{MMsgHdr, SendAncillaryBuffer, SendFlags, SocketAddrAny, sendmmsg};

/// Datagrams sent per system call by `flush`.
const FLUSH: usize = 32;
/// Datagrams read per system call (quinn-udp reads at most 32).
const BATCH: usize = 16;
/// One slot holds one datagram, or one GRO run of them (at most 64 KiB in all).
const SLOT: usize = 64 * 1024;
/// Socket buffers asked for: a burst of video for a few dozen people must not
/// overflow while the worker is busy (the kernel caps it at net.core.*mem_max).
const SOCKET_BUFFER: usize = 4 * 1024 * 1024;

pub(super) struct Socket {
    socket: UdpSocket,
    state: UdpSocketState,
    /// Bound to every interface: then the source of each send is chosen.
    pick_source: bool,
    /// Datagrams queued by `queue`, sent together by `flush`.
    outbox: Vec<(SocketAddrAny, bytes::BytesMut)>,
}

impl Socket {
    /// Takes over a bound socket (made non-blocking). `pick_source`: sends carry the
    /// source address the connection chose (its local candidate).
    pub(super) fn new(socket: UdpSocket, pick_source: bool) -> io::Result<Socket> {
        let state = UdpSocketState::new((&socket).into())?;
        // Best effort: a smaller buffer only means loss under a burst.
        let _ = rustix::net::sockopt::set_socket_recv_buffer_size(&socket, SOCKET_BUFFER);
        let _ = rustix::net::sockopt::set_socket_send_buffer_size(&socket, SOCKET_BUFFER);
        Ok(Socket {
            socket,
            state,
            pick_source,
            outbox: Vec::new(),
        })
    }

    /// Waits until a datagram can be read, or `timeout` passes.
    pub(super) fn wait(&self, timeout: Duration) -> io::Result<()> {
        let timeout = Timespec::try_from(timeout).map_err(io::Error::other)?;
        let mut fds = [PollFd::new(&self.socket, PollFlags::IN)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads what is waiting (one batch) into `batch`; `WouldBlock` when nothing is.
    pub(super) fn recv(&self, batch: &mut Batch) -> io::Result<()> {
        batch.count = 0;
        let mut slices = batch.slots.each_mut().map(|s| IoSliceMut::new(&mut s[..]));
        batch.count = self
            .state
            .recv((&self.socket).into(), &mut slices, &mut batch.meta)?;
        Ok(())
    }

    /// Sends one datagram; `from` is used as its source when the socket picks one.
    /// A failed send is a lost datagram, as on the wire.
    pub(super) fn send(&self, to: SocketAddr, from: SocketAddr, data: &[u8]) {
        let transmit = Transmit {
            destination: to,
            ecn: None,
            contents: data,
            segment_size: None,
            src_ip: self.pick_source.then_some(from.ip()),
        };
        let _ = self.state.try_send((&self.socket).into(), &transmit);
    }
}

impl Socket {
    /// Queues one datagram for the next `flush`; sent at once when the source must be
    /// chosen (a control message `sendmmsg` here cannot carry).
    pub(super) fn queue(&mut self, to: SocketAddr, from: SocketAddr, data: bytes::BytesMut) {
        if self.pick_source {
            self.send(to, from, &data);
        } else {
            self.outbox.push((to.into(), data));
        }
    }

    /// Sends what `queue` holds, up to `FLUSH` datagrams per system call (the
    /// message headers live on the stack: nothing is allocated per datagram).
    pub(super) fn flush(&mut self) {
        for chunk in self.outbox.chunks(FLUSH) {
            let mut iovs = [[IoSlice::new(&[])]; FLUSH];
            for (iov, (_, data)) in iovs.iter_mut().zip(chunk) {
                *iov = [IoSlice::new(data)];
            }
            let mut controls: [SendAncillaryBuffer; FLUSH] =
                std::array::from_fn(|_| SendAncillaryBuffer::default());
            let mut index = 0;
            let mut msgs = controls.each_mut().map(|control| {
                let msg = match chunk.get(index) {
                    Some((to, _)) => MMsgHdr::new_with_addr(to, &iovs[index], control),
                    None => MMsgHdr::new(&iovs[index], control),
                };
                index += 1;
                msg
            });
            let msgs = &mut msgs[..chunk.len()];
            let mut sent = 0;
            while sent < msgs.len() {
                match sendmmsg(&self.socket, &mut msgs[sent..], SendFlags::empty()) {
                    Ok(0) => break,
                    Ok(n) => sent += n,
                    // The first unsent datagram was refused (no route, a full buffer):
                    // it is lost, as on the wire; the rest still go.
                    Err(_) => sent += 1,
                }
            }
        }
        self.outbox.clear();
    }
}

/// Reused receive buffers: `BATCH` slots of `SLOT` bytes, allocated once per worker.
pub(super) struct Batch {
    slots: Box<[[u8; SLOT]; BATCH]>,
    meta: [RecvMeta; BATCH],
    count: usize,
}

impl Batch {
    pub(super) fn new() -> Batch {
        Batch {
            slots: vec![[0u8; SLOT]; BATCH]
                .into_boxed_slice()
                .try_into()
                .unwrap_or_else(|_| unreachable!("exactly BATCH slots")),
            meta: [RecvMeta::default(); BATCH],
            count: 0,
        }
    }

    /// Each datagram of the last read: (bytes, sender, the address it was sent to).
    pub(super) fn datagrams(&self) -> impl Iterator<Item = (&[u8], SocketAddr, Option<IpAddr>)> {
        self.slots[..self.count]
            .iter()
            .zip(&self.meta[..self.count])
            .flat_map(|(slot, meta)| {
                let bytes = &slot[..meta.len.min(SLOT)];
                // A GRO run holds datagrams `stride` apart; an empty one (a wake-up) none.
                let stride = if meta.stride == 0 { SLOT } else { meta.stride };
                bytes
                    .chunks(stride)
                    .map(move |d| (d, meta.addr, meta.dst_ip))
            })
    }
}

/// The addresses of the host candidates for a socket bound to `bound`:
/// `public_ip` behind a 1:1 NAT; the bound address itself; or, bound to every
/// interface, each interface's address of that family, loopback last (someone on
/// the server's own machine) and IPv6 link-local never (it needs a scope).
pub(super) fn candidate_addrs(bound: SocketAddr, public_ip: Option<IpAddr>) -> Vec<SocketAddr> {
    if let Some(ip) = public_ip {
        return vec![SocketAddr::new(ip, bound.port())];
    }
    if !bound.ip().is_unspecified() {
        return vec![bound];
    }
    let mut ips: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .iter()
        .map(|i| i.ip())
        .filter(|ip| ip.is_ipv4() == bound.is_ipv4())
        .filter(|ip| !matches!(ip, IpAddr::V6(v6) if v6.is_unicast_link_local()))
        .collect();
    if !ips.iter().any(IpAddr::is_loopback) {
        ips.push(match bound.ip() {
            IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        });
    }
    ips.sort_by_key(|ip| (ip.is_loopback(), *ip));
    ips.dedup();
    ips.into_iter()
        .map(|ip| SocketAddr::new(ip, bound.port()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_carries_each_datagram_with_its_destination() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = server.local_addr().unwrap();
        let socket = Socket::new(server, false).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        for n in 1..=3u8 {
            client.send_to(&[n; 5], to).unwrap();
        }
        let mut batch = Batch::new();
        let mut got = Vec::new();
        while got.len() < 3 {
            socket.wait(Duration::from_secs(5)).unwrap();
            socket.recv(&mut batch).unwrap();
            got.extend(
                batch
                    .datagrams()
                    .map(|(d, from, dst)| (d.to_vec(), from, dst)),
            );
        }
        let from = client.local_addr().unwrap();
        for (n, (data, sender, dst)) in got.into_iter().enumerate() {
            assert_eq!(data, vec![n as u8 + 1; 5]);
            assert_eq!(sender, from);
            assert_eq!(dst, Some(to.ip()));
        }
        let err = socket.recv(&mut batch).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn queued_datagrams_all_leave_on_flush_in_order() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let from = server.local_addr().unwrap();
        let mut socket = Socket::new(server, false).unwrap();
        let sinks: Vec<UdpSocket> = (0..2)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        // More than one system call's worth, to both sinks in turn.
        let count = FLUSH + 8;
        for n in 0..count {
            let to = sinks[n % 2].local_addr().unwrap();
            socket.queue(to, from, bytes::BytesMut::from(&[n as u8; 3][..]));
        }
        socket.flush();
        assert!(socket.outbox.is_empty());
        let mut buf = [0u8; 16];
        for (i, sink) in sinks.iter().enumerate() {
            sink.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            for n in (i..count).step_by(2) {
                let (len, sender) = sink.recv_from(&mut buf).unwrap();
                assert_eq!((&buf[..len], sender), (&[n as u8; 3][..], from));
            }
        }
    }

    #[test]
    fn candidates_follow_the_public_then_the_bound_address() {
        let bound: SocketAddr = "10.1.2.3:50000".parse().unwrap();
        let public: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(
            candidate_addrs(bound, Some(public)),
            vec!["203.0.113.7:50000".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(candidate_addrs(bound, None), vec![bound]);
        let any = candidate_addrs("0.0.0.0:50001".parse().unwrap(), None);
        assert!(
            any.iter()
                .all(|a| a.is_ipv4() && !a.ip().is_unspecified() && a.port() == 50001),
            "{any:?}"
        );
        // Loopback is there, and last: a remote client tries the others first.
        assert_eq!(any.last(), Some(&"127.0.0.1:50001".parse().unwrap()));
    }
}
