//! The load tool's join/leave mode works, and a few visits with media through the
//! whole server give back what they took: `loadgen churn` against the server binary
//! completes every cycle, and afterwards the server holds only the keeper's session
//! and peer connection and no more descriptors than after the warm-up.
//! (The 1 000-cycle figures are in docs/benchmarks.md; no timing is asserted here.)

use std::process::Command;

use serde_json::Value;

#[test]
fn loadgen_churn_visits_leave_nothing_behind() {
    let dir = tempfile::tempdir().expect("temp dir");
    let report_path = dir.path().join("report.json");
    let output = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args([
            "churn",
            "--cycles",
            "8",
            "--warmup",
            "3",
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
