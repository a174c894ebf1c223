//! Every kind of bad input gets its documented error and changes nothing.

mod common;

use circlekeeper::auth::TokenKeys;
use circlekeeper::circle::{Party, Role, RoomKind};
use common::*;
use serde_json::json;

async fn refused_at_hello(server: &TestServer, token: &str) -> String {
    let mut client = server.connect().await;
    let answer = client.hello(token).await;
    assert_eq!(answer["type"], "error", "{answer}");
    assert_eq!(client.closed().await, Closed::Code(1008));
    answer["code"].as_str().unwrap_or("").to_owned()
}

fn now_secs() -> u64 {
    circlekeeper::rooms::wall_clock().0 / 1000
}

#[tokio::test]
async fn bad_expired_forged_revoked_and_other_room_tokens_get_nothing() {
    let server = TestServer::start().await;
    server.room("c1", RoomKind::Circle).await;
    let mut keeper = server.arrive("c1", 1, Role::Keeper, None, "Kim").await;
    let mark = keeper.mark().await;

    assert_eq!(
        refused_at_hello(&server, "not-a-token").await,
        "token_malformed"
    );

    let keys = &server.app.keys;
    let (expired, _) = keys
        .mint(
            "c1",
            2,
            Role::Participant,
            None,
            "Old",
            now_secs() - 7200,
            3600,
        )
        .expect("mint");
    assert_eq!(refused_at_hello(&server, &expired).await, "token_expired");

    let other = TokenKeys::from_secret(
        &[7u8; 32]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ i as u8)
            .collect::<Vec<_>>(),
        "circlekeeper",
        "circlekeeper-join",
    )
    .expect("keys");
    let (forged, _) = other
        .mint("c1", 1, Role::Keeper, None, "Mallory", now_secs(), 3600)
        .expect("mint");
    // Signed by a key of its own: its key id is not one of ours.
    assert_eq!(
        refused_at_hello(&server, &forged).await,
        "token_unknown_key"
    );

    let elsewhere = server.token("c1", 5, Role::Participant, None, "Eve").await;
    let (wrong_room, _) = keys
        .mint(
            "nowhere",
            2,
            Role::Participant,
            None,
            "Eve",
            now_secs(),
            3600,
        )
        .expect("mint");
    // Authentic but never stored: refused exactly as a forgery (SPEC §5.11).
    assert_eq!(
        refused_at_hello(&server, &wrong_room).await,
        "token_bad_signature"
    );

    let revoked = server.token("c1", 6, Role::Participant, None, "Rev").await;
    let jti = server.app.keys.verify(&revoked).expect("valid").jti;
    server
        .app
        .store
        .revoke("c1", &jti, circlekeeper::rooms::wall_clock())
        .await
        .expect("revoke");
    assert_eq!(
        refused_at_hello(&server, &revoked).await,
        "invitation_revoked"
    );

    // None of it reached the room.
    keeper.nothing_changed_since(mark).await;
    let _ = elsewhere;
    server.stop().await;
}

#[tokio::test]
async fn a_removed_person_cannot_come_back_even_racing() {
    let server = TestServer::start().await;
    server.room("c1", RoomKind::Circle).await;
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
        .cmd(json!({"type": "remove", "person": a}))
        .await
        .unwrap();
    assert_eq!(ana.until("ended").await["reason"], "removed");
    // Two connections at once with the removed token: both refused.
    let (mut one, mut two) = (server.connect().await, server.connect().await);
    let (first, second) = tokio::join!(one.hello(&token), two.hello(&token));
    assert_eq!(first["code"], "invitation_revoked");
    assert_eq!(second["code"], "invitation_revoked");
    server.stop().await;
}

#[tokio::test]
async fn a_second_live_connection_with_the_same_link_is_refused() {
    let server = TestServer::start().await;
    server.room("c1", RoomKind::Circle).await;
    let token = server.token("c1", 1, Role::Keeper, None, "Kim").await;
    let mut first = server.connect().await;
    first.hello(&token).await;
    let mut second = server.connect().await;
    assert_eq!(second.hello(&token).await["code"], "already_connected");
    first.sync().await;
    server.stop().await;
}

#[tokio::test]
async fn the_lobby_and_participants_cannot_act_beyond_their_place() {
    let server = TestServer::start().await;
    server.room("c1", RoomKind::Circle).await;
    server.room("c2", RoomKind::Circle).await;
    let mut keeper = server.arrive("c1", 1, Role::Keeper, None, "Kim").await;
    let mut ana = server
        .arrive("c1", 2, Role::Participant, Some(Party::Harmed), "Ana")
        .await;
    let mut ben = server
        .arrive("c1", 3, Role::Participant, Some(Party::Responsible), "Ben")
        .await;
    ben.wait_stage("lobby").await;
    keeper
        .wait_view(|v| v["people"].as_array().is_some_and(|p| p.len() == 3))
        .await;
    let (a, b) = (keeper.person("Ana"), keeper.person("Ben"));
    keeper
        .cmd(json!({"type": "admit", "person": a}))
        .await
        .unwrap();
    ana.wait_stage("circle").await;
    let mark = keeper.mark().await;

    // From the lobby: only consent, leave and withdraw.
    for command in [
        json!({"type": "pass"}),
        json!({"type": "request_pause"}),
        json!({"type": "chat", "to": "keepers", "text": "hello"}),
        json!({"type": "admit", "person": b}),
    ] {
        assert_eq!(ben.refused(command).await, "not_admitted");
    }
    // A participant cannot use keeper commands.
    for command in [
        json!({"type": "admit", "person": b}),
        json!({"type": "give_piece", "to": a}),
        json!({"type": "mute", "person": a}),
        json!({"type": "remove", "person": a}),
        json!({"type": "close_room"}),
    ] {
        assert_eq!(ana.refused(command).await, "keeper_only");
    }
    // The sender is the session, never a field: naming someone else is an unknown field.
    assert_eq!(
        ana.refused(json!({"type": "pass", "from": b})).await,
        "unknown_field"
    );
    keeper.nothing_changed_since(mark).await;

    // A keeper of room c1 cannot moderate room c2: person ids are the room's own.
    let mut other = server.arrive("c2", 2, Role::Participant, None, "Zoe").await;
    other.wait_stage("lobby").await;
    let other_mark = other.mark().await;
    assert_eq!(
        keeper.refused(json!({"type": "admit", "person": 99})).await,
        "unknown_person"
    );
    other.nothing_changed_since(other_mark).await;
    assert_eq!(other.stage(), "lobby");
    server.stop().await;
}

#[tokio::test]
async fn malformed_messages_get_their_error_codes() {
    let server = TestServer::start().await;
    server.room("c1", RoomKind::Circle).await;
    let mut keeper = server.arrive("c1", 1, Role::Keeper, None, "Kim").await;
    let mark = keeper.mark().await;
    let cases = [
        ("{not json", "bad_message"),
        ("[1,2]", "bad_message"),
        (r#"{"type": 5}"#, "bad_message"),
        (r#"{"type": "fly"}"#, "unknown_type"),
        (r#"{"type": "pass", "extra": 1}"#, "unknown_field"),
        (r#"{"type": "admit"}"#, "bad_fields"),
        (r#"{"type": "admit", "person": "one"}"#, "bad_fields"),
        (r#"{"type": "pass", "type": "lock"}"#, "duplicate_key"),
        (
            r#"{"type": "chat", "to": "circle", "text": "a", "text": "b"}"#,
            "duplicate_key",
        ),
        // A key repeated deeper down is as ambiguous as one at the top.
        (
            r#"{"type": "consent", "version": "1", "answers": [{"item": "a", "item": "b", "accept": true}]}"#,
            "duplicate_key",
        ),
        (r#"{"type": "pass"} {"type": "lock"}"#, "bad_message"),
        (
            r#"{"type": "hello", "v": 1, "token": "x"}"#,
            "already_authenticated",
        ),
        (r#"{"type": "pass", "ref": "x"}"#, "bad_message"),
    ];
    for (text, code) in cases {
        keeper.send_text(text).await;
        let answer = keeper.until("error").await;
        assert_eq!(answer["code"], code, "{text}");
    }
    keeper.nothing_changed_since(mark).await;
    server.stop().await;
}

#[tokio::test]
async fn the_first_message_must_be_a_hello_of_version_one() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    client.send(json!({"type": "pass"})).await;
    assert_eq!(client.until("error").await["code"], "hello_required");
    assert_eq!(client.closed().await, Closed::Code(1008));
    let mut client = server.connect().await;
    client
        .send(json!({"type": "hello", "v": 2, "token": "x"}))
        .await;
    assert_eq!(client.until("error").await["code"], "unsupported_version");
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_message_closes_with_1009_and_others_are_undisturbed() {
    let server = TestServer::start().await;
    server.room("c1", RoomKind::Circle).await;
    let mut keeper = server.arrive("c1", 1, Role::Keeper, None, "Kim").await;
    let mut ana = server.arrive("c1", 2, Role::Participant, None, "Ana").await;
    let big = format!(
        r#"{{"type": "chat", "to": "keepers", "text": "{}"}}"#,
        "x".repeat(70 * 1024)
    );
    ana.send_text(big).await;
    assert_eq!(ana.closed().await, Closed::Code(1009));
    keeper.sync().await;
    assert!(server.metrics().await.contains("circlekeeper_sessions"));
    server.stop().await;
}

#[tokio::test]
async fn a_text_frame_that_is_not_utf8_closes_with_1007_and_others_are_undisturbed() {
    let server = TestServer::start().await;
    server.room("c1", RoomKind::Circle).await;
    let mut keeper = server.arrive("c1", 1, Role::Keeper, None, "Kim").await;
    let mut ana = server.arrive("c1", 2, Role::Participant, None, "Ana").await;
    ana.send_raw_text(b"{\"type\": \"leave\", \"x\": \"\xff\xfe\"}".to_vec())
        .await;
    assert_eq!(ana.closed().await, Closed::Code(1007));
    keeper.sync().await;

    // Before hello as well, with the error first.
    let mut early = server.connect().await;
    early.send_raw_text(vec![0xc3, 0x28]).await;
    assert_eq!(early.closed().await, Closed::Code(1007));
    assert_eq!(
        early.log.last().map(|m| m["code"].clone()),
        Some(json!("not_utf8"))
    );
    server.stop().await;
}

#[tokio::test]
async fn a_flood_is_throttled_then_closed_with_1008() {
    let server = TestServer::start().await;
    server.room("c1", RoomKind::Circle).await;
    let mut keeper = server.arrive("c1", 1, Role::Keeper, None, "Kim").await;
    let mut ana = server.arrive("c1", 2, Role::Participant, None, "Ana").await;
    for _ in 0..400 {
        if !ana.try_send(json!({"type": "request_pause"})).await {
            break;
        }
    }
    assert_eq!(ana.closed().await, Closed::Code(1008));
    let throttled = ana
        .log
        .iter()
        .filter(|m| m["code"] == "rate_limited")
        .count();
    assert_eq!(
        throttled, 20,
        "docs/protocol.md: the connection closes after the 20th rate_limited error"
    );
    // The keeper heard at most the burst of pause requests, and still works.
    keeper.sync().await;
    let requests = keeper
        .log
        .iter()
        .filter(|m| m["type"] == "pause_requested")
        .count();
    assert!(requests <= 40 + 5, "{requests} requests got through");
    assert!(
        server
            .metrics()
            .await
            .contains("circlekeeper_rate_limited_total")
    );
    server.stop().await;
}
