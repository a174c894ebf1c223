//! Answers arrive in the order docs/protocol.md promises: a command with a
//! `ref` gets its `ok` after the `state`s it caused and before the `ended`
//! it caused, then the socket closes with 1000.

mod common;

use circlekeeper::circle::{Party, Role, RoomKind};
use common::*;
use serde_json::json;

/// Sends `command` with `ref` 77 and returns the types of what came back,
/// up to the close, with the close code.
async fn answers_to(client: &mut Client, command: serde_json::Value) -> (Vec<String>, Closed) {
    client.sync().await;
    let before = client.log.len();
    let mut command = command;
    command["ref"] = json!(77);
    client.send(command).await;
    let closed = client.closed().await;
    let kinds = client.log[before..]
        .iter()
        .map(|m| match m["type"].as_str() {
            Some("ok") => {
                assert_eq!(m["ref"], 77, "{m}");
                "ok".to_owned()
            }
            Some(kind) => kind.to_owned(),
            None => "?".to_owned(),
        })
        .collect();
    (kinds, closed)
}

#[tokio::test]
async fn leave_and_withdraw_consent_with_a_ref_get_ok_before_ended() {
    let server = TestServer::start().await;
    server.room("c1", RoomKind::Circle).await;
    let mut keeper = server.arrive("c1", 1, Role::Keeper, None, "Kim").await;
    let mut ana = server
        .arrive("c1", 2, Role::Participant, Some(Party::Harmed), "Ana")
        .await;
    let mut sam = server
        .arrive("c1", 3, Role::Participant, Some(Party::Responsible), "Sam")
        .await;

    let (kinds, closed) = answers_to(&mut ana, json!({"type": "leave"})).await;
    assert!(kinds.ends_with(&["ok".into(), "ended".into()]), "{kinds:?}");
    assert_eq!(closed, Closed::Code(1000));
    assert_eq!(ana.log.last().expect("ended")["reason"], "left");

    let (kinds, closed) = answers_to(&mut sam, json!({"type": "withdraw_consent"})).await;
    assert!(kinds.ends_with(&["ok".into(), "ended".into()]), "{kinds:?}");
    assert_eq!(closed, Closed::Code(1000));
    assert_eq!(
        sam.log.last().expect("ended")["reason"],
        "consent_withdrawn"
    );

    // A keeper who leaves with a ref likewise.
    let (kinds, closed) = answers_to(&mut keeper, json!({"type": "leave"})).await;
    assert!(kinds.ends_with(&["ok".into(), "ended".into()]), "{kinds:?}");
    assert_eq!(closed, Closed::Code(1000));
    server.stop().await;
}

/// Views to people who did not act may wait a moment while changes come
/// fast (docs/protocol.md, "When `state` comes"), but never for ever: with
/// nothing else happening, the keeper's views still come to show everyone
/// who arrived together. The room's own timer sends the views that waited.
#[tokio::test]
async fn a_keeper_watching_people_arrive_together_ends_with_all_of_them_in_view() {
    let server = TestServer::start().await;
    server.room("c1", RoomKind::Circle).await;
    let mut keeper = server.arrive("c1", 1, Role::Keeper, None, "Kim").await;
    for seat in 2..=7 {
        let name = format!("P{seat}");
        let _ = server
            .arrive("c1", seat, Role::Participant, Some(Party::Community), &name)
            .await;
    }
    let in_lobby = |view: &serde_json::Value| {
        view["people"].as_array().map_or(0, |people| {
            people.iter().filter(|p| p["presence"] == "lobby").count()
        })
    };
    // `recv` fails the test if no message comes in time; it keeps the last view.
    while in_lobby(&keeper.view) < 6 {
        keeper.recv().await.expect("the keeper's views");
    }
    server.stop().await;
}
