//! SPEC §6.5 and promise 13 with an existing TURN server (issue 13, first
//! step): the server mints TURN REST credentials (`[turn] external_urls` and
//! the shared secret) that Debian's real coturn, run with `use-auth-secret`,
//! accepts until they expire and refuses when wrong; a relay-only room's
//! peers gather nothing but relay candidates and their media crosses coturn.
//!
//! coturn is installed by the test command (tests/all.sh) when missing; this
//! test fails, rather than skips, without it.

#![allow(clippy::await_holding_lock)]

mod common;
mod media_common;
#[path = "media_common/signalled.rs"]
mod signalled;
#[path = "media_common/turn.rs"]
mod turn;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use circlekeeper::circle::{Role, RoomKind};
use circlekeeper::turn::TurnRest;
use common::TestServer;
use serde_json::Value;
use signalled::{arrive, serial};
use turn::{turn_entry, unix_now};

/// The shared secret as coturn's `static-auth-secret` holds it, and as the
/// secret file holds it (hex, one line).
const SECRET: &str = "5e1f7d0c9b8a79685746352413021f0e5e1f7d0c9b8a79685746352413021f0e";

/// Debian's coturn on a loopback port, with the TURN REST scheme, its files
/// in a temporary directory; killed when dropped.
struct Coturn {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Coturn {
    fn start() -> Coturn {
        let dir = tempfile::tempdir().expect("temp dir");
        // A free port: bound, read, released (coturn binds it right after).
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("free port")
            .port();
        let path = |name: &str| dir.path().join(name).display().to_string();
        let mut child = Command::new("turnserver")
            .args([
                "-n",
                "--listening-ip=127.0.0.1",
                "--relay-ip=127.0.0.1",
                &format!("--listening-port={port}"),
                "--use-auth-secret",
                &format!("--static-auth-secret={SECRET}"),
                "--realm=circlekeeper.test",
                "--no-tls",
                "--no-dtls",
                "--no-cli",
                // Loopback is where our media server listens in this test only.
                "--allow-loopback-peers",
                &format!("--pidfile={}", path("pid")),
                &format!("--db={}", path("turndb")),
                "--log-file=stdout",
                "--simple-log",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("turnserver (Debian's coturn) must be installed: tests/all.sh installs it");
        // Ready once its listeners exist: it says so on stdout.
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("Total General servers") => break,
                Some(Ok(_)) => {}
                _ => panic!("coturn stopped before it was ready"),
            }
        }
        // Keep draining its log so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Coturn {
            child,
            port,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("turn:127.0.0.1:{}?transport=udp", self.port)
    }

    /// Whether coturn's own client, `turnutils_uclient`, allocates a relay and
    /// sends through it with these credentials (over TCP with `tcp`).
    fn allocates(&self, username: &str, password: &str, tcp: bool) -> bool {
        turn::uclient(self.port, username, password, tcp, None).ok
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn secret_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("turn-secret");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).expect("secret file");
    writeln!(file, "{SECRET}").expect("write");
    path
}

async fn server_with_turn(coturn: &Coturn, secrets: &Path) -> TestServer {
    let url = coturn.url();
    let secret = secret_file(secrets);
    TestServer::start_with(move |config| {
        config.media.bind_ip = Some("127.0.0.1".parse().expect("ip"));
        config.media.workers = 2;
        config.media.udp_port = 0;
        config.turn.external_urls = vec![url];
        config.turn.secret_file = Some(secret);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coturn_accepts_the_credentials_we_mint_until_they_expire_and_never_a_wrong_one() {
    let _serial = serial();
    let coturn = Coturn::start();
    let secrets = tempfile::tempdir().expect("temp dir");
    let server = server_with_turn(&coturn, secrets.path()).await;
    server.room("tc", RoomKind::Circle).await;

    // Handed only to people in the circle: not before admission.
    let mut keeper = arrive(&server, "tc", 1, Role::Keeper, "Kim", false).await;
    keeper.until("media_ready").await.expect("media_ready");
    let ready = keeper.seen("media_ready")[0].clone();
    assert_eq!(ready["ice_transport_policy"], "all");
    let (username, password, urls) = turn_entry(&ready);
    assert_eq!(urls, [Value::from(coturn.url())]);
    let (expiry, id) = username.split_once(':').expect("<expiry>:<id>");
    let expiry: u64 = expiry.parse().expect("unix expiry");
    let now = unix_now();
    assert!(
        (now + 590..=now + 610).contains(&expiry),
        "expires in 600 s: {expiry} at {now}"
    );
    assert!(
        id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "the id is opaque: {id}"
    );
    let mut lobby = arrive(&server, "tc", 2, Role::Participant, "Ana", false).await;
    lobby.sync().await.expect("sync");
    assert!(lobby.seen("media_ready").is_empty());

    assert!(coturn.allocates(&username, &password, false), "over UDP");
    assert!(coturn.allocates(&username, &password, true), "over TCP");
    assert!(!coturn.allocates(&username, "d3JvbmcgcGFzc3dvcmQ=", false));
    // A credential of the same scheme whose expiry has passed.
    let minted = TurnRest::new(
        SECRET.as_bytes().to_vec(),
        vec![coturn.url()],
        Duration::from_secs(600),
    );
    let old = minted.credential(now - 1200, id);
    let (old_user, old_password) = (old.username.unwrap(), old.credential.unwrap());
    assert!(
        !coturn.allocates(&old_user, &old_password, false),
        "expired"
    );
    // The same scheme, fresh: what proves the refusal above is the expiry.
    let fresh = minted.credential(now, id);
    assert!(coturn.allocates(&fresh.username.unwrap(), &fresh.credential.unwrap(), false));
    lobby.close().await;
    keeper.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_only_room_carries_everyones_media_through_the_turn_server() {
    let _serial = serial();
    let coturn = Coturn::start();
    let secrets = tempfile::tempdir().expect("temp dir");
    let server = server_with_turn(&coturn, secrets.path()).await;
    turn::relay_only_room_carries_media(&server).await;
}
