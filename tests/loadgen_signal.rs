//! The load tool works (issue 7: CI runs it once, on a tiny configuration):
//! `loadgen signal` against the server binary brings every idle session and
//! every arrival of a small burst to the lobby, and writes a report that parses.
//! No timing is asserted: benchmarks are never timed tests.

use std::process::Command;

use serde_json::Value;

#[test]
fn loadgen_signal_brings_everyone_to_the_lobby() {
    let dir = tempfile::tempdir().expect("temp dir");
    let report_path = dir.path().join("report.json");
    let output = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args([
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
            "--server-bin",
            env!("CARGO_BIN_EXE_circlekeeper"),
            "--json",
        ])
        .arg(&report_path)
        .output()
        .expect("run loadgen");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "loadgen failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).expect("report written"))
            .expect("report is JSON");

    // 40 idle sessions in 2 rooms, 20 arrivals in a third; a keeper in each room.
    assert_eq!(report["rooms"], 3, "{report}");
    assert_eq!(report["keepers"], 3, "{report}");
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
}
