//! The binary as a newcomer and an operator use it: `serve` prints a demo
//! circle's links that work, `/healthz` and `/metrics` answer, SIGTERM shuts
//! down gracefully; `invite` mints a working link.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use common::{Client, http_get};

const BIN: &str = env!("CARGO_BIN_EXE_circlekeeper");

#[tokio::test]
async fn serve_prints_demo_links_that_work_and_stops_on_sigterm() {
    let data = tempfile::tempdir().expect("temp dir");
    let mut child = serve_command(data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the server");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut links = Vec::new();
    let address = loop {
        let line = lines
            .next()
            .expect("the server prints its address")
            .expect("line");
        if let Some(link) = line.split_whitespace().find(|w| w.contains("/join#t=")) {
            links.push(link.to_owned());
        }
        if let Some(rest) = line.strip_prefix("Circle Keeper is running on http://") {
            break rest.split_whitespace().next().expect("address").to_owned();
        }
    };
    assert_eq!(links.len(), 4, "a keeper and three participants");
    assert!(
        links
            .iter()
            .all(|l| l.starts_with(&format!("http://{address}/join#t=")))
    );

    assert!(http_get(&address, "/healthz").starts_with("HTTP/1.1 200"));
    assert!(http_get(&address, "/join").contains("content-security-policy"));

    let token = links[0].split("#t=").nth(1).expect("token");
    let mut keeper = Client::connect(address.parse().expect("socket address")).await;
    assert_eq!(keeper.hello(token).await["type"], "welcome");
    assert_eq!(keeper.view["stage"], "consent");
    keeper.consent_all().await;
    assert_eq!(keeper.view["title"], "Demo circle");
    assert!(http_get(&address, "/metrics").contains("circlekeeper_sessions"));

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let status = child.wait().expect("exit");
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read");
    assert!(stderr.contains("server stopped"), "{stderr}");
    assert!(!stderr.contains(token), "tokens never reach the log");
    assert!(!stderr.contains("Keeper Kim"), "names never reach the log");
}

#[tokio::test]
async fn invite_mints_a_link_for_a_new_room() {
    let data = tempfile::tempdir().expect("temp dir");
    let output = Command::new(BIN)
        .args([
            "invite",
            "--room",
            "case-17",
            "--seat",
            "2",
            "--role",
            "participant",
            "--party",
            "harmed",
        ])
        .args([
            "--name",
            "Alex",
            "--kind",
            "conference",
            "--title",
            "Dialogue",
            "--data-dir",
        ])
        .arg(data.path())
        .env_remove("CIRCLEKEEPER_CONFIG")
        .output()
        .expect("run invite");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let link = String::from_utf8(output.stdout).expect("utf-8");
    assert!(
        link.trim().starts_with("http://127.0.0.1:8080/join#t="),
        "{link}"
    );
    // `invite` is not a node: on a shared store a lease in its name would
    // speak for a server (its URL, its liveness) that may run elsewhere.
    let db = data.path().join(circlekeeper::store::DB_FILE);
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .expect("the store");
    let leases: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM nodes")
        .fetch_one(&pool)
        .await
        .expect("nodes");
    assert_eq!(leases, 0, "invite took a lease");
    pool.close().await;

    let bad = Command::new(BIN)
        .args([
            "invite",
            "--room",
            "no spaces",
            "--seat",
            "1",
            "--role",
            "keeper",
            "--name",
            "K",
            "--data-dir",
        ])
        .arg(data.path())
        .output()
        .expect("run invite");
    assert!(!bad.status.success());
}

#[tokio::test]
async fn invite_adds_the_language_to_the_link_and_a_new_room() {
    let data = tempfile::tempdir().expect("temp dir");
    let invite = |lang: &str| {
        Command::new(BIN)
            .args([
                "invite", "--room", "case-18", "--seat", "1", "--role", "keeper",
            ])
            .args(["--name", "Kim", "--lang", lang, "--data-dir"])
            .arg(data.path())
            .env_remove("CIRCLEKEEPER_CONFIG")
            .output()
            .expect("run invite")
    };
    let output = invite("es");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let link = String::from_utf8(output.stdout).expect("utf-8");
    assert!(link.trim().ends_with("&lang=es"), "{link}");
    assert!(
        !invite("ES").status.success(),
        "a language tag is lowercase"
    );
    let store = circlekeeper::store::Store::open(data.path())
        .await
        .expect("store");
    let room = store.room("case-18").await.expect("read").expect("room");
    assert_eq!(room.settings.language, "es");
    store.close().await;
}

#[test]
fn help_documents_every_command() {
    let output = Command::new(BIN)
        .arg("--help")
        .output()
        .expect("run --help");
    let help = String::from_utf8(output.stdout).expect("utf-8");
    for word in ["serve", "invite", "--config", "--listen", "--data-dir"] {
        assert!(help.contains(word), "--help lacks {word}");
    }
}

/// `serve` on a data directory, on free ports, with no settings but these.
fn serve_command(data: &std::path::Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env_remove("CIRCLEKEEPER_CONFIG")
        .env("CIRCLEKEEPER_MEDIA__UDP_PORT", "0");
    command
}

/// Starts the binary on a data directory and returns it with its address and links.
fn start_binary(data: &std::path::Path) -> (std::process::Child, String, Vec<String>) {
    start_binary_with(data, &[])
}

fn start_binary_with(
    data: &std::path::Path,
    env: &[(&str, &str)],
) -> (std::process::Child, String, Vec<String>) {
    let mut child = serve_command(data)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut links = Vec::new();
    let address = loop {
        let line = lines
            .next()
            .expect("the server prints its address")
            .expect("line");
        if let Some(link) = line.split_whitespace().find(|w| w.contains("/join#t=")) {
            links.push(link.split("#t=").nth(1).expect("token").to_owned());
        }
        if let Some(rest) = line.strip_prefix("Circle Keeper is running on http://") {
            break rest.split_whitespace().next().expect("address").to_owned();
        }
    };
    (child, address, links)
}

#[tokio::test]
async fn a_killed_server_loses_no_room_and_no_record() {
    let data = tempfile::tempdir().expect("temp dir");
    let (mut first, address, links) = start_binary(data.path());
    let (keeper_token, alex_token) = (links[0].clone(), links[1].clone());
    let mut keeper = Client::connect(address.parse().expect("address")).await;
    keeper.hello(&keeper_token).await;
    keeper.consent_all().await;
    let mut alex = Client::connect(address.parse().expect("address")).await;
    alex.hello(&alex_token).await;
    alex.consent_all().await;
    keeper
        .wait_view(|v| v.to_string().contains("\"lobby\""))
        .await;
    let a = keeper.person("Alex");
    keeper
        .cmd(serde_json::json!({"type": "admit", "person": a}))
        .await
        .expect("admit");
    keeper
        .cmd(serde_json::json!({"type": "start_session"}))
        .await
        .expect("start");
    keeper
        .cmd(serde_json::json!({"type": "give_piece", "to": a}))
        .await
        .expect("give");

    // No shutdown at all: SIGKILL.
    first.kill().expect("kill");
    first.wait().expect("reaped");

    let (mut second, address, _) = start_binary(data.path());
    let mut keeper = Client::connect(address.parse().expect("address")).await;
    assert_eq!(keeper.hello(&keeper_token).await["type"], "welcome");
    assert_eq!(
        keeper.view["stage"], "circle",
        "the keeper resumes inside the grace period"
    );
    assert_eq!(keeper.view["phase"], "in_session");
    assert_eq!(
        keeper.holder(),
        Some(a),
        "the talking piece is where it was"
    );
    let mut alex = Client::connect(address.parse().expect("address")).await;
    alex.hello(&alex_token).await;
    assert_eq!(alex.view["stage"], "circle");
    second.kill().expect("kill");
    second.wait().expect("reaped");

    let store = circlekeeper::store::Store::open(data.path())
        .await
        .expect("store");
    let record = store.record("demo-circle").await.expect("record");
    assert!(
        record.consents.len() >= 8,
        "both people's consents are kept"
    );
    assert!(record.attendance.iter().any(|r| r.event == "admitted"));
}

/// The key id in a link's token header.
fn kid_of(link: &str) -> String {
    use base64::Engine;
    let token = link.trim().split("#t=").nth(1).expect("token");
    let header = token.split('.').next().expect("header");
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("base64");
    let header: serde_json::Value = serde_json::from_slice(&header).expect("JSON");
    header["kid"].as_str().expect("kid").to_owned()
}

#[test]
fn keys_rotate_makes_a_new_signing_key_and_keeps_the_old_one() {
    let data = tempfile::tempdir().expect("temp dir");
    let run = |args: &[&str]| {
        let output = Command::new(BIN)
            .args(args)
            .arg("--data-dir")
            .arg(data.path())
            .env_remove("CIRCLEKEEPER_CONFIG")
            .output()
            .expect("run");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8")
    };
    let invite = [
        "invite", "--room", "r1", "--seat", "1", "--role", "keeper", "--name", "K",
    ];
    let before = kid_of(&run(&invite));
    let said = run(&["keys", "rotate"]);
    assert!(said.contains("New signing key"), "{said}");
    assert!(said.contains(&before), "names the retired key: {said}");
    let after = kid_of(&run(&invite));
    assert_ne!(before, after);
    assert!(said.contains(&after), "{said}");
    let retired = data.path().join("token-secret.retired");
    let text = std::fs::read_to_string(&retired).expect("the old key is kept");
    assert_eq!(text.lines().count(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&retired)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let help = Command::new(BIN)
        .args(["keys", "--help"])
        .output()
        .expect("help");
    assert!(String::from_utf8_lossy(&help.stdout).contains("rotate"));
}

/// With `[cluster] drain_seconds`, SIGTERM first turns `/healthz` to 503
/// `draining` while the node still answers, then it stops as usual.
#[tokio::test]
async fn sigterm_first_drains_with_healthz_saying_so() {
    let data = tempfile::tempdir().expect("temp dir");
    let (mut child, address, _) = start_binary_with(
        data.path(),
        &[("CIRCLEKEEPER_CLUSTER__DRAIN_SECONDS", "30")],
    );
    let ready = http_get(&address, "/healthz");
    assert!(
        ready.starts_with("HTTP/1.1 200") && ready.ends_with("ready\n"),
        "{ready}"
    );
    let pid = child.id().to_string();
    let signalled = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(signalled.expect("kill").success());
    // The flag flips as soon as the signal arrives; the node serves on meanwhile.
    let since = std::time::Instant::now();
    loop {
        let answer = http_get(&address, "/healthz");
        if answer.starts_with("HTTP/1.1 503") {
            assert!(answer.ends_with("draining\n"), "{answer}");
            break;
        }
        assert!(since.elapsed() < common::PATIENCE, "still {answer}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        http_get(&address, "/join").starts_with("HTTP/1.1 200"),
        "still serving while draining"
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// The store remembers the invitations it read (`store::memo`), which holds
/// only while no other server writes the same SQLite file: a second server
/// refuses to start, and the first keeps serving.
#[test]
fn a_second_server_on_one_sqlite_store_refuses_to_start() {
    let data = tempfile::tempdir().expect("temp dir");
    let (mut first, address, _) = start_binary(data.path());
    let mut second = serve_command(data.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start a second server");
    // It must end by itself; a server that started would run until killed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = second.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = second.kill();
            panic!("the second server did not stop within 60 s");
        }
        std::thread::park_timeout(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    second
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read");
    assert!(!status.success());
    assert!(
        stderr.contains("another server is running on the store"),
        "{stderr}"
    );
    assert!(http_get(&address, "/healthz").starts_with("HTTP/1.1 200"));
    first.kill().expect("kill");
    first.wait().expect("reaped");
}
