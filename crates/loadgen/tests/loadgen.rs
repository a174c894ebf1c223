//! The load tool works (issue 7: CI runs it once per mode that touches the server,
//! on a tiny configuration, and checks its report). No timing is asserted:
//! benchmarks are never timed tests.

use std::process::Command;

use serde_json::{Value, json};

/// The server binary of this build: the root package's, beside the load tool in the
/// same target directory (`cargo test --workspace` builds both before any test runs).
fn server_bin() -> std::path::PathBuf {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_loadgen")).with_file_name("circlekeeper");
    assert!(
        bin.exists(),
        "{} is missing: build the server first (cargo build, or cargo test --workspace)",
        bin.display()
    );
    bin
}

/// Runs `loadgen <args> --server-bin <this build's server> --json <file>`; returns
/// the report and the printed table.
fn loadgen(args: &[&str]) -> (Value, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let report_path = dir.path().join("report.json");
    let output = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .arg("--server-bin")
        .arg(server_bin())
        .arg("--json")
        .arg(&report_path)
        .output()
        .expect("run loadgen");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "loadgen failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report =
        serde_json::from_str(&std::fs::read_to_string(&report_path).expect("report written"))
            .expect("report is JSON");
    (report, stdout)
}

/// `loadgen signal` brings every idle session and every arrival of a small burst
/// to the lobby.
#[test]
fn loadgen_signal_brings_everyone_to_the_lobby() {
    let (report, stdout) = loadgen(&[
        "signal",
        "--sessions",
        "40",
        "--per-room",
        "20",
        "--burst-rate",
        "20",
        "--burst-seconds",
        "1",
        "--hold",
        "0",
    ]);
    // 40 idle sessions in 2 rooms, 20 arrivals in a third; a keeper in each room.
    assert_eq!(report["rooms"], 3, "{report}");
    assert_eq!(report["keepers"], 3, "{report}");
    assert_eq!(
        report["keeper_connect_to_circle_ms"]["count"], 3,
        "{report}"
    );
    assert!(stdout.contains("rooms started: keeper connect"), "{stdout}");
    assert_eq!(report["idle_in_lobby"], 40, "{report}");
    assert_eq!(report["idle_dropped"], 0, "{report}");
    assert_eq!(report["burst_arrivals"], 20, "{report}");
    assert_eq!(report["burst_in_lobby"], 20, "{report}");
    assert_eq!(report["burst_failed"], 0, "{report}");
    assert_eq!(report["burst_connect_to_lobby_ms"]["count"], 20, "{report}");
    assert!(
        report["rss_after_hold_bytes"].as_u64().unwrap_or(0) > 0,
        "the server's memory was read: {report}"
    );
    assert!(stdout.contains("server RSS per idle session"), "{stdout}");
    assert!(
        report["burst_server_cpu_ms_per_arrival"]
            .as_f64()
            .unwrap_or(0.0)
            > 0.0,
        "the server's CPU per arrival was read: {report}"
    );
    assert!(stdout.contains("CPU per arrival: server"), "{stdout}");
}

/// `loadgen churn`: a few visits with media through the whole server give back what
/// they took. Every cycle completes, and afterwards the server holds only the
/// keeper's session and peer connection and no more descriptors than after the
/// warm-up. (The long runs are in docs/benchmarks.md.)
#[test]
fn loadgen_churn_visits_leave_nothing_behind() {
    let (report, _) = loadgen(&["churn", "--cycles", "8", "--warmup", "3"]);
    assert_eq!(report["cycles"], 5, "{report}");
    assert_eq!(report["join_to_media_ms"]["count"], 5, "{report}");
    assert_eq!(report["peer_connections_after"], 1, "{report}");
    assert_eq!(report["sessions_after"], 1, "{report}");
    let fds = |key: &str| report[key].as_u64().expect("a descriptor count");
    assert!(fds("fds_after_warmup") > 0, "{report}");
    // A leaked peer connection keeps at least its UDP socket open.
    assert!(
        fds("fds_after") <= fds("fds_after_warmup") + 2,
        "descriptors leaked: {report}"
    );
}

/// `loadgen baseline` relays every packet to every sink: with a `send_to` per
/// copy, with one `sendmmsg` per packet, and with a `send_to` per copy to
/// receivers blocked in `poll`.
#[test]
fn loadgen_baseline_relays_every_copy_every_way() {
    let output = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args([
            "baseline",
            "--fanout",
            "3",
            "--seconds",
            "1",
            "--rate",
            "100",
        ])
        .args(["--payload", "200"])
        .output()
        .expect("run loadgen");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}");
    for sends in ["send_to", "sendmmsg", "send_to, receivers waiting"] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("raw UDP relay baseline ({sends}):")))
            .unwrap_or_else(|| panic!("no {sends} line: {stdout}"));
        // "…: R received, S sent, D delivered; …": every packet received is sent
        // to each of the 3 sinks, and every copy arrives.
        let number = |word: &str| -> u64 {
            let before = line.split(&format!(" {word}")).next().expect("field");
            before
                .rsplit(' ')
                .next()
                .expect("count")
                .parse()
                .expect("a number")
        };
        let (received, sent, delivered) = (number("received"), number("sent"), number("delivered"));
        assert!(received > 0, "{line}");
        assert_eq!(sent, 3 * received, "{line}");
        assert_eq!(delivered, sent, "{line}");
    }
}

/// `loadgen takeover`: two nodes on a private Postgres; each kill of the room's
/// node ends with the other node welcoming the keeper.
#[test]
fn loadgen_takeover_moves_the_room_at_every_kill() {
    let (report, stdout) = loadgen(&[
        "takeover",
        "--kills",
        "2",
        "--lease-seconds",
        "1",
        "--postgres",
    ]);
    assert_eq!(report["kills"], 2, "{report}");
    assert_eq!(report["kill_to_welcome_ms"]["count"], 2, "{report}");
    assert!(stdout.contains("kill → welcome"), "{stdout}");
}

/// `loadgen signal --postgres --nodes 3 --route any`: the same arrivals with
/// the store on Postgres and four rooms over three nodes; each arrival
/// connects to any node and follows the redirect to its room's.
#[test]
fn loadgen_signal_runs_on_postgres_across_nodes() {
    let (report, stdout) = loadgen(&[
        "signal",
        "--sessions",
        "0",
        "--per-room",
        "5",
        "--burst-rate",
        "20",
        "--burst-seconds",
        "1",
        "--hold",
        "0",
        "--postgres",
        "--nodes",
        "3",
        "--route",
        "any",
    ]);
    assert_eq!(report["nodes"], 3, "{report}");
    // Arrival i belongs to room i mod 4, on node (i mod 4) mod 3, and goes
    // to a node scrambled from i: 14 of the 20 land elsewhere and are
    // redirected once each.
    assert_eq!(report["burst_redirects"], 14, "{report}");
    // Rooms 0 and 3 on the first node, 1 and 2 on the others: a keeper and
    // five arrivals each.
    assert_eq!(report["sessions_per_node"], json!([12, 6, 6]), "{report}");
    assert_eq!(report["burst_in_lobby"], 20, "{report}");
    assert_eq!(report["burst_failed"], 0, "{report}");
    assert!(stdout.contains("(Postgres, 3 node(s))"), "{stdout}");
}
