//! SPEC §3.7.2: a restart loses no room and no record; people rejoin with
//! their links, and those who were connected get their grace period. On both
//! stores: SQLite in the data directory, and a real Postgres (SPEC §6.6).

mod common;

use circlekeeper::circle::{Party, Role, RoomKind};
use circlekeeper::store::Backend;
use common::*;
use serde_json::json;

#[tokio::test]
async fn rooms_invitations_revocations_and_records_survive_a_restart_on_sqlite() {
    survive_a_restart(None, None).await;
}

/// Issue 17: `circlekeeper copy-store` between a stop on SQLite and a start
/// on Postgres loses nothing either.
#[tokio::test]
async fn they_survive_a_move_from_sqlite_to_postgres() {
    let url = fresh_postgres().await;
    survive_a_restart(None, Some(url)).await;
}

#[tokio::test]
async fn rooms_invitations_revocations_and_records_survive_a_restart_on_postgres() {
    let url = fresh_postgres().await;
    survive_a_restart(Some(url.clone()), Some(url)).await;
}

async fn fresh_postgres() -> String {
    tokio::task::spawn_blocking(|| testpg::shared().fresh_database())
        .await
        .expect("createdb task")
        .expect("a fresh Postgres database")
}

/// `store_url`: `[store] url` before the restart, or `None` for SQLite;
/// `after`: the same after it. From SQLite to Postgres the store is copied.
async fn survive_a_restart(store_url: Option<String>, after: Option<String>) {
    let url = store_url.clone();
    let server = TestServer::start_with(|c| c.store.url = url).await;
    let expected = match store_url {
        Some(_) => Backend::Postgres,
        None => Backend::Sqlite,
    };
    assert_eq!(server.app.store.backend(), expected);
    server.room("c1", RoomKind::Circle).await;
    let keeper_token = server.token("c1", 1, Role::Keeper, None, "Kim").await;
    let ana_token = server
        .token("c1", 2, Role::Participant, Some(Party::Harmed), "Ana")
        .await;
    let eve_token = server.token("c1", 3, Role::Participant, None, "Eve").await;
    let mut keeper = server.connect().await;
    keeper.hello(&keeper_token).await;
    keeper.consent_all().await;
    let mut ana = server.connect().await;
    ana.hello(&ana_token).await;
    ana.consent_all().await;
    let mut eve = server.connect().await;
    eve.hello(&eve_token).await;
    eve.consent_all().await;
    keeper
        .wait_view(|v| {
            v["people"]
                .as_array()
                .is_some_and(|p| p.iter().filter(|p| p["presence"] == "lobby").count() == 2)
        })
        .await;
    let (a, e) = (keeper.person("Ana"), keeper.person("Eve"));
    keeper
        .cmd(json!({"type": "admit", "person": a}))
        .await
        .unwrap();
    keeper
        .cmd(json!({"type": "remove", "person": e}))
        .await
        .unwrap();
    keeper.cmd(json!({"type": "start_session"})).await.unwrap();
    keeper
        .cmd(json!({"type": "start_round", "prompt": "Check-in", "first": a}))
        .await
        .unwrap();
    let before = server.app.store.record("c1").await.expect("record");

    if let (None, Some(url)) = (&store_url, &after) {
        let refused = circlekeeper::store::copy_to_postgres(server.data_dir.path(), url).await;
        assert!(
            matches!(refused, Err(circlekeeper::store::CopyError::SourceInUse(_))),
            "no copy while the server runs: {refused:?}"
        );
    }
    let data_dir = server.stop().await;
    assert_ne!(
        keeper.closed().await,
        Closed::Code(1000),
        "a restart is not an ended session"
    );
    if let (None, Some(url)) = (&store_url, &after) {
        let copied = circlekeeper::store::copy_to_postgres(data_dir.path(), url)
            .await
            .expect("copy-store");
        assert!(copied.iter().any(|(t, rows)| *t == "journal" && *rows > 0));
    }
    let server = TestServer::start_in(data_dir, |c| c.store.url = after.clone()).await;
    assert_eq!(
        server.app.store.backend() == Backend::Postgres,
        after.is_some()
    );

    let after = server.app.store.record("c1").await.expect("record");
    assert_eq!(before.consents.len(), after.consents.len());
    assert_eq!(before.invitations.len(), after.invitations.len());
    assert_eq!(before.revocations.len(), 1);

    // Inside the grace period both come straight back to their places.
    let mut keeper = server.connect().await;
    assert_eq!(keeper.hello(&keeper_token).await["type"], "welcome");
    assert_eq!(keeper.stage(), "circle");
    let mut ana = server.connect().await;
    ana.hello(&ana_token).await;
    assert_eq!(ana.stage(), "circle");
    assert_eq!(ana.holder(), Some(a), "the talking piece is where it was");
    assert_eq!(ana.view["round"]["prompt"], "Check-in");
    ana.cmd(json!({"type": "pass"})).await.unwrap();

    // The removed invitation stays revoked.
    let mut eve = server.connect().await;
    assert_eq!(eve.hello(&eve_token).await["code"], "invitation_revoked");
    server.stop().await;
}
