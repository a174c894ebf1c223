//! Shutdown drains every room before the store closes (SPEC §5.12): SIGTERM
//! in the middle of a busy circle, again and again, loses no acknowledged
//! input and fails no write.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use circlekeeper::store::Store;
use common::Client;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_circlekeeper");

/// How many times the server is started and sent SIGTERM.
const ROUNDS: usize = 8;
/// Commands the keeper sends at once in each round.
const BURST: u64 = 300;

/// Starts the binary on `data` (its log in `data/server-N.log`); returns it
/// with its address and the demo keeper's token.
fn start(data: &std::path::Path, round: usize) -> (std::process::Child, String, String) {
    let log = std::fs::File::create(data.join(format!("server-{round}.log"))).expect("log");
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env_remove("CIRCLEKEEPER_CONFIG")
        .env("CIRCLEKEEPER_MEDIA__BIND_IP", "127.0.0.1")
        .env("CIRCLEKEEPER_MEDIA__UDP_PORT", "0")
        // The flood is the point here, not the rate limit.
        .env("CIRCLEKEEPER_LIMITS__MESSAGES_PER_SECOND", "100000")
        .env("CIRCLEKEEPER_LIMITS__MESSAGE_BURST", "100000")
        .env("CIRCLEKEEPER_LIMITS__OUTBOUND_QUEUE", "4096")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start the server");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut keeper = None;
    let address = loop {
        let line = lines
            .next()
            .expect("the server prints its address")
            .expect("line");
        if line.contains("Keeper Kim")
            && let Some(link) = line.split_whitespace().find(|w| w.contains("/join#t="))
        {
            keeper = Some(link.split("#t=").nth(1).expect("token").to_owned());
        }
        if let Some(rest) = line.strip_prefix("Circle Keeper is running on http://") {
            break rest.split_whitespace().next().expect("address").to_owned();
        }
    };
    (child, address, keeper.expect("the keeper's link"))
}

fn sigterm(child: &std::process::Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// How many of the keeper's toggles the journal holds.
async fn journaled_toggles(data: &std::path::Path) -> usize {
    common::journaled_toggles(Store::open(data).await.expect("store")).await
}

#[tokio::test]
async fn sigterm_during_a_busy_circle_loses_no_acknowledged_input_and_fails_no_write() {
    let data = tempfile::tempdir().expect("temp dir");
    let mut acknowledged = 0usize;
    let mut sent = 0usize;
    for round in 0..ROUNDS {
        let (mut child, address, token) = start(data.path(), round);
        let mut keeper = Client::connect(address.parse().expect("address")).await;
        assert_eq!(keeper.hello(&token).await["type"], "welcome");
        keeper.consent_all().await;
        let mut allowed = keeper.view["keeper_speaks_out_of_turn"]
            .as_bool()
            .expect("the setting is in the view");
        // Each toggle changes the setting, so each is accepted and journaled.
        for reference in 1..=BURST {
            allowed = !allowed;
            keeper
                .send(json!({"type": "set_keeper_speaks_out_of_turn",
                    "allowed": allowed, "ref": 1000 + reference}))
                .await;
        }
        sent += BURST as usize;
        // SIGTERM once the room is busy with them.
        let mut oks = 0;
        while oks < 10 {
            let msg = keeper.recv().await.expect("answers before the shutdown");
            assert_ne!(msg["type"], "error", "{msg}");
            if msg["type"] == "ok" {
                oks += 1;
            }
        }
        sigterm(&child);
        while let Some(msg) = keeper.recv().await {
            assert!(
                msg["type"] != "error" || msg["code"] == "room_gone",
                "{msg}"
            );
            if msg["type"] == "ok" {
                oks += 1;
            }
        }
        let status = child.wait().expect("exit");
        assert!(status.success(), "round {round}: exit {status}");
        acknowledged += oks;

        let log =
            std::fs::read_to_string(data.path().join(format!("server-{round}.log"))).expect("log");
        assert!(log.contains("server stopped"), "round {round}: {log}");
        for bad in ["journal write failed", "closed pool", "ERROR"] {
            assert!(
                !log.contains(bad),
                "round {round}: `{bad}` in the log:\n{log}"
            );
        }
        let journaled = journaled_toggles(data.path()).await;
        assert!(
            journaled >= acknowledged,
            "round {round}: {acknowledged} acknowledged, {journaled} journaled"
        );
        assert!(journaled <= sent, "round {round}: more journaled than sent");
    }
}
