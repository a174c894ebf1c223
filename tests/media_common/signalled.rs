//! Media peers that go through the room exactly as a browser does: the library's
//! [`testpeer::Peer`] (a participant of the documented protocol) on a
//! socket from `common::Client`, plus the helpers the circle tests share.
//!
//! Used as `#[path = "media_common/signalled.rs"] mod signalled;` next to `mod common;`,
//! so the SFU-only tests need not compile the socket client.
#![allow(dead_code)]

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use circlekeeper::circle::{Party, Role};
use circlekeeper::media::testing::PayloadTypes;
use serde_json::Value;
use testpeer::{self, Setup, Socket};

use crate::common::{Client, PATIENCE, TestServer};

pub use testpeer::Peer;

/// Held for a whole test by the circle tests of one binary: server counters
/// and live peer connections are process-wide, and each test has its own
/// runtime, so blocking the other tests' threads on it is the point.
static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A server whose media binds loopback, with the default signalling limits:
/// a browser-like client must negotiate within them. Two media worker threads on
/// any free ports.
pub async fn media_server() -> TestServer {
    // Captured per test and shown only when one fails: the media layer's negotiation
    // steps (a few lines per exchange, none per packet) unless RUST_LOG says otherwise.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error,circlekeeper::media=debug"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
    TestServer::start_with(|config| {
        config.media.bind_ip = Some("127.0.0.1".parse().expect("ip"));
        config.media.workers = 2;
        config.media.udp_port = 0;
    })
    .await
}

/// Waiting longer than this for packets is a failure.
pub const MEDIA_PATIENCE: Duration = Duration::from_secs(20);
/// How often a condition is checked while waiting for it.
const POLL: Duration = Duration::from_millis(10);

#[async_trait::async_trait]
impl Socket for Client {
    async fn next_message(&mut self) -> Option<Value> {
        Client::next_message(self).await
    }

    async fn try_send(&mut self, value: Value) -> bool {
        Client::try_send(self, value).await
    }

    async fn close(self) {
        Client::close(self).await;
    }

    fn arrival(&mut self) -> (u64, Value, Vec<Value>) {
        (self.you, self.view.clone(), std::mem::take(&mut self.log))
    }
}

/// Waits until `cond` holds, checking every few milliseconds.
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + MEDIA_PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// How the tests' peers behave: a publisher sends 50 audio packets/s and, at
/// 160 kbit/s, one 600-byte video packet every 30 ms.
pub fn setup(publish: bool) -> Setup {
    Setup {
        video_kbps: publish.then_some(160),
        patience: PATIENCE,
        media_patience: MEDIA_PATIENCE,
        payload_types: PayloadTypes::SERVER,
        hide_addresses: false,
    }
}

/// A person arrives with a fresh invitation, consents and lands in the lobby
/// (keepers: in the circle); then a pump takes over their socket.
pub async fn arrive(
    server: &TestServer,
    room: &str,
    seat: u32,
    role: Role,
    name: &str,
    publish: bool,
) -> Peer {
    let party = (role == Role::Participant).then_some(Party::Community);
    let client = server.arrive(room, seat, role, party, name).await;
    Peer::start(client, name, setup(publish))
}

/// A person arrives and the keeper admits them; returns once they got `media_ready`.
pub async fn admitted(
    server: &TestServer,
    keeper: &mut Peer,
    room: &str,
    seat: u32,
    role: Role,
    name: &str,
    publish: bool,
) -> Peer {
    let mut peer = arrive(server, room, seat, role, name, publish).await;
    admit(keeper, &mut peer).await;
    peer
}

/// The keeper admits a person waiting in the lobby; returns once they got `media_ready`.
/// A participant admitted into `room` by `keeper` (the common case of `admitted`).
pub async fn participant(
    server: &TestServer,
    keeper: &mut Peer,
    room: &str,
    seat: u32,
    name: &str,
    publish: bool,
) -> Peer {
    admitted(server, keeper, room, seat, Role::Participant, name, publish).await
}

pub async fn admit(keeper: &mut Peer, peer: &mut Peer) {
    testpeer::admit(keeper, peer).await.expect("admitted");
}
