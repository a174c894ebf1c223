//! A room with nobody connected and nothing due rests: its task ends and its
//! memory is freed. The next arrival starts it again from its journal, and
//! finds it as it was. Alone in its own test binary: it reads a process-wide
//! gauge of running rooms.

mod common;

use std::time::Duration;

use circlekeeper::circle::{Party, Role, RoomKind, Settings};
use common::*;
use serde_json::json;

async fn rooms_running(server: &TestServer) -> u64 {
    let metrics = server.metrics().await;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("circlekeeper_rooms_running "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// Waits (at most 30 s, to turn a hang into a failure) until `want` rooms run.
async fn until_running(server: &TestServer, want: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = rooms_running(server).await;
        if now == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{now} rooms running, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_room_that_rested_takes_everyone_back_as_it_left_them() {
    let server = TestServer::start_with(|c| c.rooms.rest_after_seconds = 1).await;
    let mut settings = Settings::for_kind(RoomKind::Circle, "Resting");
    settings.grace_ms = 200;
    server.room_with("c1", settings).await;
    let keeper_token = server.token("c1", 1, Role::Keeper, None, "Kim").await;
    let mut keeper = server.enter(&keeper_token).await;
    let token = server
        .token("c1", 2, Role::Participant, Some(Party::Harmed), "Ana")
        .await;
    let ana = server.enter(&token).await;
    keeper
        .wait_view(|v| v.to_string().contains("\"lobby\""))
        .await;
    let a = keeper.person("Ana");
    for command in [
        json!({"type": "admit", "person": a}),
        json!({"type": "start_session"}),
    ] {
        keeper.cmd(command).await.unwrap();
    }
    assert_eq!(rooms_running(&server).await, 1);

    // Everyone leaves; once their grace periods end the room rests.
    ana.close().await;
    keeper.close().await;
    until_running(&server, 0).await;

    let mut keeper = server.connect().await;
    assert_eq!(keeper.hello(&keeper_token).await["type"], "welcome");
    assert_eq!(rooms_running(&server).await, 1, "the room started again");
    assert_eq!(keeper.stage(), "circle");
    assert_eq!(keeper.view["phase"], "in_session");
    keeper.person("Ana");
    let mut ana = server.connect().await;
    assert_eq!(ana.hello(&token).await["type"], "welcome");
    server.stop().await;
}
