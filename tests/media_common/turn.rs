//! TURN in the tests: coturn's own client, `turnutils_uclient` (an
//! independent implementation), and the credential a `media_ready` carries.
//!
//! Used as `#[path = "media_common/turn.rs"] mod turn;`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::Command;

use circlekeeper::circle::{Role, RoomKind, Settings};
use circlekeeper::media::MediaKind::{Audio, Video};
use serde_json::{Value, json};

use crate::common::TestServer;
use crate::signalled::{admitted, arrive};

/// In a relay-only room on `server`, two publishing peers (webrtc-rs's TURN
/// client) gather nothing but relay candidates and carry audio and video both
/// ways through the server's TURN relay, whichever it is.
pub async fn relay_only_room_carries_media(server: &TestServer) {
    let mut settings = Settings::for_kind(RoomKind::Circle, "Relay only");
    settings.relay_only = true;
    server.room_with("rr", settings).await;

    let mut keeper = arrive(server, "rr", 1, Role::Keeper, "Kim", true).await;
    keeper.until("media_ready").await.expect("media_ready");
    assert_eq!(
        keeper.seen("media_ready")[0]["ice_transport_policy"],
        "relay"
    );
    let mut ana = admitted(server, &mut keeper, "rr", 2, Role::Participant, "Ana", true).await;
    keeper
        .cmd(json!({"type": "start_session"}))
        .await
        .expect("start");
    keeper
        .cmd(json!({"type": "set_mode", "mode": "open"}))
        .await
        .expect("open floor");
    ana.wait_view(|v| v["mode"] == "open").await.expect("view");
    for (to, from) in [(&keeper, &ana), (&ana, &keeper)] {
        for kind in [Audio, Video] {
            to.wait_got(from.you, kind, 25)
                .await
                .unwrap_or_else(|e| panic!("{kind:?} from {} at {}: {e}", from.name, to.name));
        }
    }
    for peer in [&keeper, &ana] {
        let types = peer.counters.candidate_types.lock().unwrap().clone();
        assert!(!types.is_empty(), "{} trickled no candidate", peer.name);
        assert!(
            types.iter().all(|t| t == "relay"),
            "{} gathered more than relay candidates: {types:?}",
            peer.name
        );
    }
    ana.close().await;
    keeper.close().await;
}

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
