//! An input is delivered only once it is durable (SPEC §5.12): when its
//! journal write fails — a real SQLite failure, injected with a trigger —
//! its sender gets `not_saved`, nobody is told anything, and the room comes
//! back from its journal as if the input never came.

mod common;

use circlekeeper::circle::{Party, Role, RoomKind};
use circlekeeper::store::DB_FILE;
use common::*;
use serde_json::json;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

/// A second connection to the server's database, as an operator's tool would
/// open one, to make every journal append fail (or stop failing).
async fn journal_failing(server: &TestServer, failing: bool) {
    let mut db = SqliteConnectOptions::new()
        .filename(server.data_dir.path().join(DB_FILE))
        .connect()
        .await
        .expect("open the database");
    let sql = if failing {
        "CREATE TRIGGER injected_failure BEFORE INSERT ON journal \
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
    } else {
        "DROP TRIGGER injected_failure"
    };
    sqlx::query(sql).execute(&mut db).await.expect("trigger");
    db.close().await.expect("close");
}

#[tokio::test]
async fn an_input_whose_journal_write_fails_is_refused_and_nothing_is_delivered() {
    let server = TestServer::start().await;
    server.room("c1", RoomKind::Circle).await;
    let kim_token = server.token("c1", 1, Role::Keeper, None, "Kim").await;
    let mut kim = server.connect().await;
    kim.hello(&kim_token).await;
    kim.consent_all().await;
    let ana_token = server
        .token("c1", 2, Role::Participant, Some(Party::Harmed), "Ana")
        .await;
    let mut ana = server.connect().await;
    ana.hello(&ana_token).await;
    ana.consent_all().await;
    assert_eq!(ana.stage(), "lobby");
    kim.wait_view(|v| v.to_string().contains("\"lobby\"")).await;
    let a = kim.person("Ana");
    let ana_mark = ana.mark().await;
    let journal = server.app.store.journal("c1").await.expect("journal");

    journal_failing(&server, true).await;
    assert_eq!(
        kim.cmd(json!({"type": "admit", "person": a})).await,
        Err("not_saved".to_owned())
    );
    // The room reloads from its journal: everyone reconnects (1012).
    assert_eq!(kim.closed().await, Closed::Code(1012));
    assert_eq!(ana.closed().await, Closed::Code(1012));
    let told: Vec<_> = ana.log[ana_mark..]
        .iter()
        .filter(|m| m["type"] != "ok" && m["type"] != "error")
        .collect();
    assert!(told.is_empty(), "Ana was told {told:?}");
    assert_eq!(
        server.app.store.journal("c1").await.expect("journal").len(),
        journal.len(),
        "nothing was written"
    );
    assert!(
        server
            .metrics()
            .await
            .contains("circlekeeper_store_errors_total")
    );
    // While the store refuses writes, the room cannot reload (its restart is
    // journaled too): an arrival is turned away, and nothing else happens.
    let mut early = server.connect().await;
    let answer = early.hello(&kim_token).await;
    assert_eq!(answer["code"], "server_error", "{answer}");
    assert_eq!(early.closed().await, Closed::Code(1008));

    // The store works again: both come back where the journal says they were.
    journal_failing(&server, false).await;
    let mut kim = server.connect().await;
    assert_eq!(kim.hello(&kim_token).await["type"], "welcome");
    let mut ana = server.connect().await;
    assert_eq!(ana.hello(&ana_token).await["type"], "welcome");
    assert_eq!(ana.stage(), "lobby", "the admission never happened");
    kim.wait_view(|v| v.to_string().contains("\"lobby\"")).await;
    let a = kim.person("Ana");
    kim.cmd(json!({"type": "admit", "person": a}))
        .await
        .expect("admitted now");
    ana.wait_stage("circle").await;
    server.stop().await;
}

#[tokio::test]
async fn once_the_rooms_are_draining_no_room_starts_and_arrivals_are_told_to_come_back() {
    let server = TestServer::start().await;
    server.room("c1", RoomKind::Circle).await;
    let token = server.token("c1", 1, Role::Keeper, None, "Kim").await;
    // What shutdown does after the listener stops; c1 is not running yet.
    server.app.rooms.drain().await;
    let mut kim = server.connect().await;
    let answer = kim.hello(&token).await;
    assert_eq!(answer["code"], "room_gone", "{answer}");
    assert_eq!(kim.closed().await, Closed::Code(1012));
    assert!(server.app.rooms.running("c1").await.is_none());
    server.stop().await;
}
