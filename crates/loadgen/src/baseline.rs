//! The raw UDP relay baseline of SPEC §9: one socket receives packets from a sender
//! at a fixed rate and sends each one to N sockets, with no crypto and no parsing.
//! The relay runs on its own thread, which reads its own CPU time from
//! `/proc/thread-self/stat`: that time divided by the packets it sent is the
//! practical cost of forwarding one packet on this machine.
//!
//! Two ways to send the copies: one `send_to` per target ([`Sends::EachTo`], the
//! baseline every ratio so far divides by), or all of a packet's copies in one
//! `sendmmsg` ([`Sends::Batch`], the cheapest a relay can send them).
//!
//! Two kinds of receiver: a thread that drains the sinks and naps when they are
//! empty ([`Receivers::Napping`]: nobody waits on a sink, so a send never wakes a
//! thread), or one blocked in `poll` on every sink ([`Receivers::Waiting`], as a
//! client's event loop waits: on loopback the sender's system call also wakes it).
//! The load tool's peers wait; the difference is the cost of those wake-ups.

use std::io::IoSlice;
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::net::{MMsgHdr, SendAncillaryBuffer, SendFlags, SocketAddrAny, sendmmsg};

use crate::procstat;

/// How long a waiting receiver blocks before it looks at the stop flag.
const WAIT_LIMIT: Timespec = Timespec {
    tv_sec: 0,
    tv_nsec: 10_000_000,
};

/// How the relay sends a packet's copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sends {
    /// One `send_to` system call per copy.
    EachTo,
    /// One `sendmmsg` system call for all the copies of a packet.
    Batch,
}

impl Sends {
    fn label(self) -> &'static str {
        match self {
            Sends::EachTo => "send_to",
            Sends::Batch => "sendmmsg",
        }
    }
}

/// How the sinks are read (see the module comment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Receivers {
    /// Drained by a thread that sleeps 0.5 ms whenever every sink is empty.
    Napping,
    /// Drained by a thread blocked in `poll` on every sink.
    Waiting,
}

/// Every baseline a run measures, the first being the one ratios are judged by.
pub const VARIANTS: [(Sends, Receivers); 3] = [
    (Sends::EachTo, Receivers::Napping),
    (Sends::Batch, Receivers::Napping),
    (Sends::EachTo, Receivers::Waiting),
];

pub struct Baseline {
    pub sends: Sends,
    pub receivers: Receivers,
    pub fanout: usize,
    pub rate: u32,
    pub payload: usize,
    pub seconds: f64,
    pub received: u64,
    pub relayed: u64,
    pub delivered: u64,
    pub relay_cpu: f64,
}

impl Baseline {
    /// CPU seconds of the relay thread per packet it sent; `None` when the relay
    /// used less than a few clock ticks (10 ms each), too few to divide.
    pub fn cpu_per_packet(&self) -> Option<f64> {
        (self.relay_cpu >= 0.03).then(|| self.relay_cpu / self.relayed.max(1) as f64)
    }

    /// `cpu_per_packet` in µs, for reports.
    pub fn per_packet_text(&self) -> String {
        match self.cpu_per_packet() {
            Some(s) => format!("{:.2} µs", 1e6 * s),
            None => "n/a (below the clock tick: use more --seconds or --rate)".to_owned(),
        }
    }

    /// What tells this baseline from the first one, for reports.
    pub fn label_suffix(&self) -> &'static str {
        match self.receivers {
            Receivers::Napping => "",
            Receivers::Waiting => ", receivers waiting",
        }
    }

    /// `per_packet` as a ratio to this baseline, naming it, for reports.
    pub fn ratio_text(&self, per_packet: f64) -> String {
        match self.cpu_per_packet() {
            Some(b) => format!(
                "{:.1} × (baseline {})",
                per_packet / b,
                self.per_packet_text()
            ),
            None => "n/a".to_owned(),
        }
    }

    pub fn print(&self) {
        println!(
            "raw UDP relay baseline ({}{}): {} pkt/s in ({} B), fanout {}, {:.1} s: {} received, \
             {} sent, {} delivered; relay thread CPU {:.3} s = {:.1}% of a core, {} per \
             relayed packet",
            self.sends.label(),
            self.label_suffix(),
            self.rate,
            self.payload,
            self.fanout,
            self.seconds,
            self.received,
            self.relayed,
            self.delivered,
            self.relay_cpu,
            100.0 * self.relay_cpu / self.seconds,
            self.per_packet_text(),
        );
    }
}

/// Runs the relay for `seconds` with `rate` incoming packets/s of `payload` bytes.
pub fn run(
    sends: Sends,
    receivers: Receivers,
    fanout: usize,
    rate: u32,
    payload: usize,
    seconds: f64,
) -> anyhow::Result<Baseline> {
    let relay = UdpSocket::bind("127.0.0.1:0").context("bind relay")?;
    relay.set_read_timeout(Some(Duration::from_millis(100)))?;
    let relay_addr = relay.local_addr()?;
    let mut sinks = Vec::new();
    for _ in 0..fanout {
        let s = UdpSocket::bind("127.0.0.1:0").context("bind sink")?;
        s.set_nonblocking(true)?;
        sinks.push(s);
    }
    let targets: Vec<std::net::SocketAddr> = sinks
        .iter()
        .map(|s| s.local_addr())
        .collect::<Result<_, _>>()?;
    let batch_targets: Vec<SocketAddrAny> = targets.iter().copied().map(Into::into).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let delivered = Arc::new(AtomicU64::new(0));

    // The sinks are drained by one thread, as receivers would (its CPU is not counted).
    // It stops after the relay, with a last pass over every sink.
    let drained = Arc::new(AtomicBool::new(false));
    let drain = {
        let (drained, delivered) = (Arc::clone(&drained), Arc::clone(&delivered));
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            loop {
                let last = drained.load(Ordering::Acquire);
                let mut any = false;
                for s in &sinks {
                    while s.recv(&mut buf).is_ok() {
                        delivered.fetch_add(1, Ordering::Relaxed);
                        any = true;
                    }
                }
                if last {
                    break;
                }
                if !any {
                    match receivers {
                        Receivers::Napping => std::thread::sleep(Duration::from_micros(500)),
                        // Woken by the next datagram, or after 10 ms to see `drained`.
                        Receivers::Waiting => {
                            let mut fds: Vec<PollFd> = sinks
                                .iter()
                                .map(|s| PollFd::new(s, PollFlags::IN))
                                .collect();
                            let _ = poll(&mut fds, Some(&WAIT_LIMIT));
                        }
                    }
                }
            }
        })
    };

    let relay_thread = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || -> (u64, u64, f64) {
            let cpu0 = procstat::thread_cpu_seconds();
            let (mut received, mut relayed) = (0u64, 0u64);
            let mut buf = [0u8; 2048];
            while !stop.load(Ordering::Relaxed) {
                let Ok(n) = relay.recv(&mut buf) else {
                    continue;
                };
                received += 1;
                relayed += match sends {
                    Sends::EachTo => targets
                        .iter()
                        .filter(|t| relay.send_to(&buf[..n], t).is_ok())
                        .count() as u64,
                    Sends::Batch => send_batch(&relay, &buf[..n], &batch_targets),
                };
            }
            (received, relayed, procstat::thread_cpu_seconds() - cpu0)
        })
    };

    // The sender paces packets on a fixed schedule.
    let sender = UdpSocket::bind("127.0.0.1:0")?;
    let packet = vec![0x80u8; payload];
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let started = Instant::now();
    let mut next = started;
    while started.elapsed().as_secs_f64() < seconds {
        let _ = sender.send_to(&packet, relay_addr);
        next += interval;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(50));
    stop.store(true, Ordering::Relaxed);
    let (received, relayed, relay_cpu) = relay_thread.join().expect("relay thread");
    drained.store(true, Ordering::Release);
    let _ = drain.join();
    Ok(Baseline {
        sends,
        receivers,
        fanout,
        rate,
        payload,
        seconds: elapsed,
        received,
        relayed,
        delivered: delivered.load(Ordering::Relaxed),
        relay_cpu,
    })
}

/// One packet to every target in one `sendmmsg`; the copies sent. The message
/// headers are built per packet (one small allocation: they borrow the packet).
fn send_batch(relay: &UdpSocket, packet: &[u8], targets: &[SocketAddrAny]) -> u64 {
    let iov = [IoSlice::new(packet)];
    let mut controls: Vec<SendAncillaryBuffer> = targets
        .iter()
        .map(|_| SendAncillaryBuffer::default())
        .collect();
    let mut msgs: Vec<MMsgHdr> = targets
        .iter()
        .zip(controls.iter_mut())
        .map(|(t, c)| MMsgHdr::new_with_addr(t, &iov, c))
        .collect();
    let mut sent = 0;
    while sent < msgs.len() {
        match sendmmsg(relay, &mut msgs[sent..], SendFlags::empty()) {
            Ok(0) | Err(_) => break,
            Ok(n) => sent += n,
        }
    }
    sent as u64
}
