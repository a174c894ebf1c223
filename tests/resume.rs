//! SPEC §3.7.1: a dropped connection keeps the person's place for the grace
//! period; after it, the piece moves on and the way back is the lobby.

mod common;

use circlekeeper::circle::{Party, Role, RoomKind, Settings};
use common::*;
use serde_json::json;

#[tokio::test]
async fn inside_the_grace_period_the_same_link_resumes_seat_and_piece() {
    let server = TestServer::start().await;
    server.room("c1", RoomKind::Circle).await;
    let mut keeper = server.arrive("c1", 1, Role::Keeper, None, "Kim").await;
    let token = server
        .token("c1", 2, Role::Participant, Some(Party::Harmed), "Ana")
        .await;
    let mut ana = server.connect().await;
    ana.hello(&token).await;
    ana.consent_all().await;
    keeper
        .wait_view(|v| v.to_string().contains("\"lobby\""))
        .await;
    let a = keeper.person("Ana");
    keeper
        .cmd(json!({"type": "admit", "person": a}))
        .await
        .unwrap();
    keeper.cmd(json!({"type": "start_session"})).await.unwrap();
    keeper
        .cmd(json!({"type": "give_piece", "to": a}))
        .await
        .unwrap();
    ana.close().await;
    keeper
        .wait_view(|v| {
            v["people"].as_array().is_some_and(|p| {
                p.iter()
                    .any(|p| p["name"] == "Ana" && p["presence"] == "reconnecting")
            })
        })
        .await;
    let mut ana = server.connect().await;
    assert_eq!(ana.hello(&token).await["type"], "welcome");
    assert_eq!(ana.stage(), "circle");
    assert_eq!(ana.holder(), Some(a));
    ana.cmd(json!({"type": "pass"}))
        .await
        .expect("still the holder");
    server.stop().await;
}

#[tokio::test]
async fn after_the_grace_period_the_piece_moves_on_and_return_is_through_the_lobby() {
    let server = TestServer::start().await;
    let mut settings = Settings::for_kind(RoomKind::Circle, "Short grace");
    settings.grace_ms = 300;
    server.room_with("c1", settings).await;
    let mut keeper = server.arrive("c1", 1, Role::Keeper, None, "Kim").await;
    let token = server.token("c1", 2, Role::Participant, None, "Ana").await;
    let mut ana = server.connect().await;
    ana.hello(&token).await;
    ana.consent_all().await;
    keeper
        .wait_view(|v| v.to_string().contains("\"lobby\""))
        .await;
    let a = keeper.person("Ana");
    keeper
        .cmd(json!({"type": "admit", "person": a}))
        .await
        .unwrap();
    keeper.cmd(json!({"type": "start_session"})).await.unwrap();
    keeper
        .cmd(json!({"type": "give_piece", "to": a}))
        .await
        .unwrap();
    ana.close().await;
    // The room's own timer moves the piece on when the grace period ends.
    let k = keeper.you;
    keeper.wait_view(|v| v["holder"] == k).await;
    assert!(keeper.view["people"].as_array().is_some_and(|p| {
        p.iter()
            .any(|p| p["name"] == "Ana" && p["presence"] == "away")
    }));
    let mut ana = server.connect().await;
    ana.hello(&token).await;
    assert_eq!(
        ana.stage(),
        "lobby",
        "consent is remembered, admission is asked again"
    );
    server.stop().await;
}
