//! TURN in the tests: coturn's own client, `turnutils_uclient` (an
//! independent implementation), and the credential a `media_ready` carries.
//!
//! Used as `#[path = "media_common/turn.rs"] mod turn;`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::Command;

use serde_json::Value;

/// What one run of `turnutils_uclient` did.
pub struct Run {
    pub ok: bool,
    /// stdout and stderr, for the reason of a refusal ("error 403").
    pub output: String,
}

/// Runs `turnutils_uclient` against the TURN server on 127.0.0.1:`port` (over
/// TCP with `tcp`): it allocates a relay, binds channels (and permissions)
/// to `peer` and to the port after it (its "RTCP"), or to a second client's
/// relay without a peer, and sends three
/// messages through it. Blocking: call it from `spawn_blocking` when the TURN
/// server runs in this process.
pub fn uclient(
    port: u16,
    username: &str,
    password: &str,
    tcp: bool,
    peer: Option<SocketAddr>,
) -> Run {
    let mut command = Command::new("turnutils_uclient");
    if tcp {
        command.arg("-t");
    }
    match peer {
        Some(peer) => command.args(["-e", &peer.ip().to_string(), "-r", &peer.port().to_string()]),
        None => command.arg("-y"),
    };
    let out = command
        .args(["-n", "3", "-u", username, "-w", password, "-p"])
        .arg(port.to_string())
        .arg("127.0.0.1")
        .output()
        .expect("turnutils_uclient (Debian's coturn) must be installed: tests/all.sh installs it");
    Run {
        ok: out.status.success(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// The TURN entry of a `media_ready`: (username, credential, urls).
pub fn turn_entry(media_ready: &Value) -> (String, String, Vec<Value>) {
    let servers = media_ready["ice_servers"].as_array().expect("ice_servers");
    let turn = servers
        .iter()
        .find(|s| s["username"].is_string())
        .unwrap_or_else(|| panic!("no TURN credential in {media_ready}"));
    (
        turn["username"].as_str().unwrap().to_owned(),
        turn["credential"].as_str().unwrap().to_owned(),
        turn["urls"].as_array().unwrap().clone(),
    )
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}
