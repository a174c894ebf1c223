//! The embedded TURN relay (issue 13; SPEC §6.5, promise 13), against an
//! independent TURN client, coturn's `turnutils_uclient`:
//! - it allocates over UDP and TCP with the credential of `media_ready`, and
//!   relays to the server's media socket;
//! - it refuses a wrong password, an expired credential, a removed person's
//!   credential (whose allocations end at once), and any peer other than the
//!   server's media sockets: never an open relay;
//! - a relay-only room's peers (webrtc-rs's TURN client) carry their media
//!   through it.
//!
//! coturn's client is installed by the test command (tests/all.sh) when
//! missing; this test fails, rather than skips, without it.

#![allow(clippy::await_holding_lock)]

mod common;
mod media_common;
#[path = "media_common/signalled.rs"]
mod signalled;
#[path = "media_common/turn.rs"]
mod turn;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use circlekeeper::circle::{Role, RoomKind};
use circlekeeper::turn::TurnRest;
use common::TestServer;
use serde_json::{Value, json};
use signalled::{admitted, arrive, serial};
use turn::{Run, turn_entry, unix_now};

/// Two consecutive free UDP ports on loopback (bound, read, released): the
/// two media workers' ports, since `turnutils_uclient` relays to a peer's
/// port and the next one.
fn two_free_ports() -> u16 {
    loop {
        let first = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = first.local_addr().expect("addr").port();
        if port < u16::MAX && std::net::UdpSocket::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

/// Media, the relay and its listeners on loopback, on free ports; no TLS.
async fn server_with_relay(allocations_per_session: u32) -> TestServer {
    let media_port = two_free_ports();
    TestServer::start_with(|config| {
        config.turn.allocations_per_session = allocations_per_session;
        config.media.bind_ip = Some("127.0.0.1".parse().expect("ip"));
        config.media.workers = 2;
        config.media.udp_port = media_port;
        config.turn.enabled = true;
        config.turn.bind_ip = Some("127.0.0.1".parse().expect("ip"));
        config.turn.udp_port = 0;
        config.turn.tcp_port = 0;
        config.turn.tls_port = 0;
    })
    .await
}

/// The port of the URL for `transport` among `urls`.
fn port_of(urls: &[Value], transport: &str) -> u16 {
    let url = urls
        .iter()
        .filter_map(Value::as_str)
        .find(|u| u.starts_with("turn:") && u.ends_with(&format!("?transport={transport}")))
        .unwrap_or_else(|| panic!("no turn: URL over {transport} in {urls:?}"));
    let host_port = url["turn:".len()..].split('?').next().expect("url");
    host_port
        .rsplit(':')
        .next()
        .expect("port")
        .parse()
        .expect("port")
}

/// A credential for `session` minted at `now` with the server's own secret,
/// as the server mints them: (username, password).
fn mint(server: &TestServer, now: u64, session: &str) -> (String, String) {
    let secret =
        std::fs::read_to_string(server.data_dir.path().join("turn-secret")).expect("secret");
    let minted = TurnRest::new(
        secret.trim().as_bytes().to_vec(),
        vec![],
        Duration::from_secs(600),
    )
    .credential(now, session);
    (
        minted.username.expect("username"),
        minted.credential.expect("password"),
    )
}

/// `turnutils_uclient` off the runtime: the relay it talks to runs on it.
async fn run(port: u16, user: &str, password: &str, tcp: bool, peer: SocketAddr) -> Run {
    let (user, password) = (user.to_owned(), password.to_owned());
    tokio::task::spawn_blocking(move || turn::uclient(port, &user, &password, tcp, Some(peer)))
        .await
        .expect("uclient")
}

/// What a run of the client must end with: relayed, or refused with this error code.
#[derive(Clone, Copy, Debug)]
enum Expect {
    Relayed,
    Refused(&'static str),
}

/// One run of the client: what for, where, with what, and what must happen.
struct Case {
    what: String,
    port: u16,
    tcp: bool,
    user: String,
    password: String,
    peer: SocketAddr,
    expect: Expect,
}

/// Runs every case at once (a run that relays waits seconds for echoes the
/// media socket never sends) and checks each.
async fn check(cases: Vec<Case>) {
    let runs = cases
        .iter()
        .map(|c| run(c.port, &c.user, &c.password, c.tcp, c.peer));
    let results = futures_util::future::join_all(runs).await;
    for (case, r) in cases.iter().zip(results) {
        match case.expect {
            Expect::Relayed => assert!(r.ok, "{}: relayed\n{}", case.what, r.output),
            Expect::Refused(code) => assert!(
                !r.ok && r.output.contains(&format!("error {code}")),
                "{}: refused with {code}\n{}",
                case.what,
                r.output
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_serves_people_in_the_circle_only_towards_the_media_and_only_while_they_stay() {
    let _serial = serial();
    // turnutils_uclient leaves its allocations to expire: room for all of them.
    let server = server_with_relay(100).await;
    let turn = server.app.turn.clone().expect("the relay runs");
    server.room("tr", RoomKind::Circle).await;

    let mut keeper = arrive(&server, "tr", 1, Role::Keeper, "Kim", false).await;
    keeper.until("media_ready").await.expect("media_ready");
    let (user, password, urls) = turn_entry(keeper.seen("media_ready")[0]);
    assert_eq!(
        urls.len(),
        2,
        "UDP and TCP, no TLS without a certificate: {urls:?}"
    );
    let (udp_port, tcp_port) = (port_of(&urls, "udp"), port_of(&urls, "tcp"));
    let media = *server
        .app
        .rooms
        .media_addrs()
        .iter()
        .min()
        .expect("the keeper's media started the workers");
    let ana = admitted(
        &server,
        &mut keeper,
        "tr",
        2,
        Role::Participant,
        "Ana",
        false,
    )
    .await;
    let (ana_user, ana_password, _) = turn_entry(ana.seen("media_ready")[0]);
    let ana_id = ana_user
        .split_once(':')
        .expect("<expiry>:<id>")
        .1
        .to_owned();

    // An expired credential of the keeper's session, and a fresh one: what
    // refuses the first is its expiry.
    let id = user.split_once(':').expect("<expiry>:<id>").1;
    let old = mint(&server, unix_now() - 1200, id);
    let fresh = mint(&server, unix_now(), id);
    let case = |what: &str, tcp: bool, user: &str, password: &str, peer: SocketAddr, expect| Case {
        what: what.to_owned(),
        port: if tcp { tcp_port } else { udp_port },
        tcp,
        user: user.to_owned(),
        password: password.to_owned(),
        peer,
        expect,
    };
    let mut cases = vec![
        case(
            "the keeper over UDP",
            false,
            &user,
            &password,
            media,
            Expect::Relayed,
        ),
        case(
            "the keeper over TCP",
            true,
            &user,
            &password,
            media,
            Expect::Relayed,
        ),
        case(
            "Ana over UDP",
            false,
            &ana_user,
            &ana_password,
            media,
            Expect::Relayed,
        ),
        case(
            "a wrong password",
            false,
            &user,
            "d3JvbmcgcGFzc3dvcmQ=",
            media,
            Expect::Refused("400"),
        ),
        case(
            "expired",
            false,
            &old.0,
            &old.1,
            media,
            Expect::Refused("400"),
        ),
        case("fresh", false, &fresh.0, &fresh.1, media, Expect::Relayed),
    ];
    // Never an open relay: not the server's other ports, not other hosts,
    // private ranges included; over TCP as over UDP.
    let others: [SocketAddr; 5] = [
        server.addr,
        SocketAddr::new(media.ip(), 53),
        SocketAddr::new("10.0.0.1".parse().unwrap(), media.port()),
        "192.168.1.1:3478".parse().unwrap(),
        "203.0.113.9:443".parse().unwrap(),
    ];
    for (i, peer) in others.into_iter().enumerate() {
        let what = format!("a relay to {peer}");
        cases.push(case(
            &what,
            i % 2 == 1,
            &user,
            &password,
            peer,
            Expect::Refused("403"),
        ));
    }
    check(cases).await;
    assert!(
        turn.allocations_of(&ana_id).await > 0,
        "Ana's allocation over UDP outlives her client, until it lapses or she goes"
    );

    // Removed: her allocations end at once, her credential is refused; the
    // keeper, still in the circle, keeps theirs.
    keeper
        .cmd(json!({"type": "remove", "person": ana.you}))
        .await
        .expect("remove");
    let deadline = Instant::now() + Duration::from_secs(10);
    while turn.allocations_of(&ana_id).await > 0 {
        assert!(
            Instant::now() < deadline,
            "Ana's allocation outlived her removal"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check(vec![
        case(
            "removed, over UDP",
            false,
            &ana_user,
            &ana_password,
            media,
            Expect::Refused("400"),
        ),
        case(
            "removed, over TCP",
            true,
            &ana_user,
            &ana_password,
            media,
            Expect::Refused("400"),
        ),
        case(
            "the keeper after",
            false,
            &user,
            &password,
            media,
            Expect::Relayed,
        ),
    ])
    .await;

    let metrics = server.metrics().await;
    for line in [
        "circlekeeper_turn_refusals_total{reason=\"peer\"}",
        "circlekeeper_turn_refusals_total{reason=\"credential\"}",
        "circlekeeper_turn_relayed_bytes_total{direction=\"to_media\"}",
        "circlekeeper_turn_allocations",
    ] {
        assert!(metrics.contains(line), "/metrics shows {line}");
    }
    ana.close().await;
    keeper.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_only_room_carries_everyones_media_through_the_embedded_relay() {
    let _serial = serial();
    let server = server_with_relay(10).await;
    turn::relay_only_room_carries_media(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_holds_no_more_allocations_than_its_limit() {
    let _serial = serial();
    let server = server_with_relay(3).await;
    server.room("tq", RoomKind::Circle).await;
    let mut keeper = arrive(&server, "tq", 1, Role::Keeper, "Kim", false).await;
    keeper.until("media_ready").await.expect("media_ready");
    let (_, _, urls) = turn_entry(keeper.seen("media_ready")[0]);
    let udp = port_of(&urls, "udp");
    let media = *server
        .app
        .rooms
        .media_addrs()
        .iter()
        .min()
        .expect("workers");
    // A session of its own (the keeper's peer holds allocations of theirs),
    // with the server's secret, as the server mints them.
    let (user, password) = mint(&server, unix_now(), "0123456789abcdef");
    // One run of the client holds three allocations, which outlive it.
    let r = run(udp, &user, &password, false, media).await;
    assert!(r.ok, "within the limit:\n{}", r.output);
    let r = run(udp, &user, &password, false, media).await;
    assert!(
        !r.ok && r.output.contains("error 486"),
        "past the limit:\n{}",
        r.output
    );
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("circlekeeper_turn_refusals_total{reason=\"quota\"}"),
        "counted"
    );
    keeper.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allocation_over_tcp_ends_with_its_connection() {
    let _serial = serial();
    let server = server_with_relay(10).await;
    let turn = server.app.turn.clone().expect("the relay runs");
    server.room("tt", RoomKind::Circle).await;
    let mut keeper = arrive(&server, "tt", 1, Role::Keeper, "Kim", false).await;
    keeper.until("media_ready").await.expect("media_ready");
    let (_, _, urls) = turn_entry(keeper.seen("media_ready")[0]);
    let media = *server
        .app
        .rooms
        .media_addrs()
        .iter()
        .min()
        .expect("workers");
    for (session, tcp) in [("00000000000000aa", true), ("00000000000000bb", false)] {
        let (user, password) = mint(&server, unix_now(), session);
        let port = port_of(&urls, if tcp { "tcp" } else { "udp" });
        let r = run(port, &user, &password, tcp, media).await;
        assert!(r.ok, "relayed (tcp: {tcp}):\n{}", r.output);
    }
    // The client has exited: over TCP its allocations go with its connection
    // (they would otherwise count against the session for their lifetime);
    // over UDP nothing tells the relay, so they stay until they lapse.
    let deadline = Instant::now() + Duration::from_secs(10);
    while turn.allocations_of("00000000000000aa").await > 0 {
        assert!(
            Instant::now() < deadline,
            "allocations over TCP outlived their connection"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(turn.allocations_of("00000000000000bb").await > 0);
    keeper.close().await;
}
