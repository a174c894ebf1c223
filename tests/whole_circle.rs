//! A whole circle over a real socket: consent → lobby → admit → two rounds
//! with passes → pause request → pause/resume → caucus → agreement
//! acknowledged by all → close; then the record is all there.

mod common;

use circlekeeper::circle::{Party, Role, RoomKind};
use common::*;
use serde_json::json;

#[tokio::test]
async fn a_whole_circle_from_consent_to_close() {
    let server = TestServer::start().await;
    server.room("c1", RoomKind::Circle).await;
    let mut keeper = server.arrive("c1", 1, Role::Keeper, None, "Kim").await;
    keeper.wait_stage("circle").await;
    let mut ana = server
        .arrive("c1", 2, Role::Participant, Some(Party::Harmed), "Ana")
        .await;
    let mut ben = server
        .arrive("c1", 3, Role::Participant, Some(Party::Responsible), "Ben")
        .await;
    ana.wait_stage("lobby").await;
    ben.wait_stage("lobby").await;
    // The lobby view carries nothing of the room beyond its title.
    let lobby = ana.view.to_string();
    assert!(!lobby.contains("Kim") && !lobby.contains("Ben"), "{lobby}");

    keeper
        .wait_view(|v| {
            v["people"]
                .as_array()
                .is_some_and(|p| p.iter().filter(|p| p["presence"] == "lobby").count() == 2)
        })
        .await;
    let (a, b) = (keeper.person("Ana"), keeper.person("Ben"));
    keeper
        .cmd(json!({"type": "admit", "person": a}))
        .await
        .unwrap();
    keeper
        .cmd(json!({"type": "admit", "person": b}))
        .await
        .unwrap();
    ana.wait_stage("circle").await;
    ben.wait_stage("circle").await;
    keeper.cmd(json!({"type": "start_session"})).await.unwrap();

    // Round 1: everyone speaks; round 2: Ben passes without speaking.
    for (round, ben_passes) in [(1, false), (2, true)] {
        keeper
            .cmd(json!({"type": "start_round", "prompt": format!("Round {round}"), "first": a}))
            .await
            .unwrap();
        ana.wait_view(|v| v["holder"] == a).await;
        assert_eq!(ana.view["round"]["number"], round);
        assert_eq!(ben.refused(json!({"type": "pass"})).await, "not_holder");
        ana.cmd(json!({"type": "pass"})).await.unwrap();
        ben.wait_view(|v| v["holder"] == b).await;
        let kind = if ben_passes {
            "pass_without_speaking"
        } else {
            "pass"
        };
        ben.cmd(json!({"type": kind})).await.unwrap();
        let k = keeper.you;
        keeper.wait_view(|v| v["holder"] == k).await;
        keeper.cmd(json!({"type": "pass"})).await.unwrap();
        ana.wait_view(|v| v["round"].is_null()).await;
        assert!(
            ana.view["holder"].is_null(),
            "the round ended back at its start"
        );
    }

    // "I need a moment" reaches the keeper, and only the keeper.
    ben.cmd(json!({"type": "request_pause"})).await.unwrap();
    let request = keeper.until("pause_requested").await;
    assert_eq!(request["by"], b);
    keeper.cmd(json!({"type": "pause"})).await.unwrap();
    ana.wait_view(|v| v["phase"] == "paused").await;
    keeper.cmd(json!({"type": "resume"})).await.unwrap();
    ana.wait_view(|v| v["phase"] == "in_session").await;
    assert!(!ana.log.iter().any(|m| m["type"] == "pause_requested"));

    // A caucus of keeper and Ana, then back together.
    let k = keeper.you;
    keeper
        .cmd(json!({"type": "open_caucus", "members": [k, a]}))
        .await
        .unwrap();
    ana.wait_view(|v| !v["caucus"].is_null()).await;
    let caucus = ana.view["caucus"]["id"].clone();
    assert!(ben.view["caucuses"].as_array().is_none_or(|c| c.is_empty()));
    keeper
        .cmd(json!({"type": "close_caucus", "caucus": caucus}))
        .await
        .unwrap();
    ana.wait_view(|v| v["caucus"].is_null()).await;

    // The agreement, acknowledged by both parties against its hash.
    let items = json!([{"what": "Repair the fence", "who": "Ben", "by": "2027-01-31"}]);
    keeper
        .cmd(json!({"type": "draft_agreement", "items": items}))
        .await
        .unwrap();
    keeper
        .cmd(json!({"type": "finalize_agreement"}))
        .await
        .unwrap();
    for person in [&mut ana, &mut ben] {
        person
            .wait_view(|v| v["agreement"]["is_final"] == true)
            .await;
        let hash = person.view["agreement"]["hash"].clone();
        assert_eq!(
            person
                .refused(json!({"type": "acknowledge", "hash": "00"}))
                .await,
            "hash_mismatch"
        );
        person
            .cmd(json!({"type": "acknowledge", "hash": hash}))
            .await
            .unwrap();
    }
    keeper
        .wait_view(|v| {
            v["agreement"]["acknowledged_by"]
                .as_array()
                .is_some_and(|a| a.len() == 2)
        })
        .await;

    // Closing ends the keeper's own session too: its `ok` comes just before `ended`.
    keeper
        .cmd(json!({"type": "close_room"}))
        .await
        .expect("ok before ended");
    let ended = keeper.until("ended").await;
    assert_eq!(ended["reason"], "room_closed");
    assert!(
        ended.get("agreement").is_none(),
        "a keeper acknowledges nothing"
    );
    let text = ana.view["agreement"]["text"].clone();
    let hash = ana.view["agreement"]["hash"].clone();
    for person in [&mut ana, &mut ben] {
        let ended = person.until("ended").await;
        assert_eq!(ended["reason"], "room_closed");
        // The text each of them acknowledged, to keep (SPEC §3.5.5).
        assert_eq!(ended["agreement"], json!({"text": text, "hash": hash}));
        assert_eq!(person.closed().await, Closed::Code(1000));
    }

    // The record has it all, and none of what was said.
    let record = server.app.store.record("c1").await.expect("record");
    let text = serde_json::to_string(&record).expect("json");
    assert_eq!(record.rounds.len(), 2);
    assert_eq!(record.acknowledgements.len(), 2);
    assert!(
        record.consents.len() >= 12,
        "three people accepted four items each"
    );
    assert!(record.attendance.iter().any(|a| a.event == "admitted"));
    assert!(
        !text.contains("Round 1"),
        "round prompts are not part of the record"
    );
    let passed = record.rounds[1]
        .marks
        .iter()
        .filter(|m| m.mark == "passed")
        .count();
    assert_eq!(passed, 1);
    server.stop().await;
}

#[tokio::test]
async fn in_a_conference_the_responsible_party_waits_for_the_harmed_party() {
    let server = TestServer::start().await;
    server.room("v1", RoomKind::Conference).await;
    let mut keeper = server.arrive("v1", 1, Role::Keeper, None, "Kim").await;
    let mut rob = server
        .arrive("v1", 3, Role::Participant, Some(Party::Responsible), "Rob")
        .await;
    rob.wait_stage("lobby").await;
    let r = keeper.in_lobby("Rob").await;
    assert_eq!(
        keeper.refused(json!({"type": "admit", "person": r})).await,
        "entry_order_not_met"
    );

    let mut hana = server
        .arrive("v1", 2, Role::Participant, Some(Party::Harmed), "Hana")
        .await;
    let h = keeper.in_lobby("Hana").await;
    keeper
        .cmd(json!({"type": "admit", "person": h}))
        .await
        .unwrap();
    hana.wait_stage("circle").await;
    assert_eq!(
        keeper.refused(json!({"type": "admit", "person": r})).await,
        "entry_order_not_met"
    );
    assert_eq!(hana.view["mode"], "moderated");
    hana.cmd(json!({"type": "ready"})).await.unwrap();
    keeper
        .cmd(json!({"type": "admit", "person": r}))
        .await
        .unwrap();
    rob.wait_stage("circle").await;

    // Moderated floor: a raised hand, granted at the head of the queue.
    keeper.cmd(json!({"type": "start_session"})).await.unwrap();
    rob.cmd(json!({"type": "raise_hand"})).await.unwrap();
    keeper
        .cmd(json!({"type": "grant_floor", "to": null}))
        .await
        .unwrap();
    hana.wait_view(|v| v["granted"] == json!([r])).await;
    server.stop().await;
}

/// SPEC §3.5.4: the keeper ends one person's visit; the same link brings them
/// back to the lobby, unlike removal.
#[tokio::test]
async fn the_keeper_ends_one_visit_and_the_link_still_works() {
    let server = TestServer::start().await;
    server.room("e1", RoomKind::Circle).await;
    let mut keeper = server.arrive("e1", 1, Role::Keeper, None, "Kim").await;
    keeper.wait_stage("circle").await;
    let token = server
        .token("e1", 2, Role::Participant, Some(Party::Harmed), "Ana")
        .await;
    let mut ana = server.connect().await;
    ana.hello(&token).await;
    ana.consent_all().await;
    ana.wait_stage("lobby").await;
    let a = keeper.in_lobby("Ana").await;
    keeper
        .cmd(json!({"type": "admit", "person": a}))
        .await
        .unwrap();
    ana.wait_stage("circle").await;

    assert_eq!(
        keeper
            .refused(json!({"type": "end_session_of", "person": keeper.person("Kim")}))
            .await,
        "keeper_protected"
    );
    keeper
        .cmd(json!({"type": "end_session_of", "person": a}))
        .await
        .unwrap();
    assert_eq!(ana.until("ended").await["reason"], "session_ended");
    assert_eq!(ana.closed().await, Closed::Code(1000));

    // The link still works: back in the lobby, waiting to be admitted.
    let mut again = server.connect().await;
    assert_eq!(again.hello(&token).await["type"], "welcome");
    again.wait_stage("lobby").await;
    server.stop().await;
}
