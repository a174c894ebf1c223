//! `copy-store`: every row of a SQLite store reaches an empty Postgres
//! database unchanged, and the copy refuses when it could lose or mix data.

use std::collections::BTreeMap;

use sqlx::{AssertSqlSafe, Row};

use super::copy::{
    COPIED, Column, CopyError, Kind, Lock, NOT_COPIED, columns_of, copy_to_postgres, lock,
};
use super::testing::Place;
use super::tests::{invitation_row, populate, room_row};
use super::{CaseRow, FeedbackSet, Location, Store};
use crate::circle::{Input, Outline, Timestamp};

/// Every row of `table` in `store`, each as its columns' text (NULL as
/// `None`), sorted.
async fn dump(store: &Store, columns: &[Column], table: &str) -> Vec<Vec<Option<String>>> {
    let selected = columns
        .iter()
        .map(|Column { name, kind }| match kind {
            Kind::Boolean => {
                format!(
                    "CASE WHEN {name} IS NULL THEN NULL WHEN {name} THEN 'true' ELSE 'false' END"
                )
            }
            Kind::BigInt => format!("CAST({name} AS TEXT)"),
            Kind::Text => name.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("SELECT {selected} FROM {table}");
    let rows = sqlx::query(AssertSqlSafe(sql))
        .fetch_all(&store.pool)
        .await
        .unwrap();
    let mut out: Vec<Vec<Option<String>>> = rows
        .iter()
        .map(|r| {
            (0..columns.len())
                .map(|i| r.try_get::<Option<String>, _>(i).unwrap())
                .collect()
        })
        .collect();
    out.sort();
    out
}

/// A SQLite store with rooms, journals (more than one insert batch), every
/// record kind, webhook events, a case, an outline and feedback.
async fn filled(place: &Place) -> Store {
    let store = place.open().await;
    store.set_webhooks_enabled(true).await.unwrap();
    populate(&store, "a", "jti-a").await;
    populate(&store, "b", "jti-b").await;
    for i in 0..700 {
        store
            .append("a", Timestamp(1_000 + i), &Input::Tick, &[])
            .await
            .unwrap();
    }
    store
        .create_case(&CaseRow {
            id: "case-1".into(),
            title: "Fence".into(),
            created_at: Timestamp(5),
        })
        .await
        .unwrap();
    store
        .create_api_room(
            &room_row("d", 8),
            Some(Timestamp(50)),
            Some("case-1"),
            &[invitation_row("d", "jti-d", 1)],
            100,
        )
        .await
        .unwrap();
    let outline: Outline = serde_json::from_str(
        r#"{"name": "Plan", "steps": [{"kind": "round", "prompt": "Hello"}]}"#,
    )
    .unwrap();
    store.create_outline(&outline, Timestamp(6)).await.unwrap();
    store.create_room(&room_row("c", 7)).await.unwrap();
    store
        .add_invitation(&invitation_row("c", "jti-c", 3))
        .await
        .unwrap();
    let set = FeedbackSet {
        party: None,
        declined: false,
        answers: BTreeMap::from([("safe".to_owned(), 4)]),
        comment: Some("Thank you".into()),
    };
    assert!(store.give_feedback("c", "jti-c", &set).await.unwrap());
    store
}

#[tokio::test]
async fn every_row_reaches_postgres_unchanged_and_the_rooms_read_back_equal() {
    let sqlite = Place::sqlite();
    let source = filled(&sqlite).await;
    source.close().await;
    let Location::Sqlite(data_dir) = &sqlite.location else {
        unreachable!()
    };
    let postgres = Place::postgres().await;
    let Location::Postgres(url) = &postgres.location else {
        unreachable!()
    };

    let counts = copy_to_postgres(data_dir, url).await.expect("copy");

    let source = sqlite.open().await;
    let target = postgres.open().await;
    assert_eq!(counts.len(), COPIED.len());
    let mut empty = Vec::new();
    for (table, rows) in counts {
        let columns = columns_of(&source, &target, table).await.unwrap();
        let (from, to) = (
            dump(&source, &columns, table).await,
            dump(&target, &columns, table).await,
        );
        assert_eq!(from, to, "table {table}");
        assert_eq!(rows, from.len() as i64, "table {table}");
        if rows == 0 {
            empty.push(table);
        }
    }
    // The test proves something only where tables held rows.
    assert!(empty.is_empty(), "tables the test left empty: {empty:?}");
    assert!(
        !target.outbox().await.unwrap().is_empty(),
        "pending webhooks move too"
    );
    assert_eq!(
        target.journal("a").await.unwrap(),
        source.journal("a").await.unwrap()
    );
    assert_eq!(
        format!("{:?}", target.record("a").await.unwrap()),
        format!("{:?}", source.record("a").await.unwrap())
    );
    // The copied room takes appends on Postgres, numbered after its journal.
    let next = source.journal("a").await.unwrap().len() as u64 + 1;
    assert_eq!(
        target
            .append("a", Timestamp(99_999), &Input::Tick, &[])
            .await
            .unwrap(),
        next
    );
}

#[tokio::test]
async fn the_copy_refuses_a_live_server_a_used_database_and_a_missing_store() {
    let sqlite = Place::sqlite();
    let source = filled(&sqlite).await;
    let Location::Sqlite(data_dir) = sqlite.location.clone() else {
        unreachable!()
    };
    let postgres = Place::postgres().await;
    let Location::Postgres(url) = postgres.location.clone() else {
        unreachable!()
    };

    source.close().await;

    // A server running on the directory, `invite` beside it but no second
    // server; and a server cannot start while a copy runs.
    let server = lock(&data_dir, Lock::SqliteServer).expect("a server's lock");
    let invite = lock(&data_dir, Lock::Server).expect("`invite` shares the lock");
    let second = lock(&data_dir, Lock::SqliteServer);
    assert!(
        matches!(second, Err(CopyError::ServerRunning(_))),
        "{second:?}"
    );
    let refused = copy_to_postgres(&data_dir, &url).await;
    assert!(
        matches!(refused, Err(CopyError::SourceInUse(_))),
        "{refused:?}"
    );
    drop(server);
    let next = lock(&data_dir, Lock::SqliteServer).expect("the next server's lock");
    drop((next, invite));
    let copying = lock(&data_dir, Lock::Copy).expect("the copy's lock");
    for who in [Lock::Server, Lock::SqliteServer] {
        let refused = lock(&data_dir, who);
        assert!(matches!(refused, Err(CopyError::Copying(_))), "{refused:?}");
    }
    drop(copying);

    // A database that already holds a room.
    let used = postgres.open().await;
    used.create_room(&room_row("other", 1)).await.unwrap();
    used.close().await;
    let refused = copy_to_postgres(&data_dir, &url).await;
    assert!(
        matches!(refused, Err(CopyError::TargetNotEmpty(ref t)) if t == "rooms"),
        "{refused:?}"
    );
    let target = postgres.open().await;
    assert!(
        target.journal("a").await.unwrap().is_empty(),
        "nothing landed"
    );

    // A mistyped directory is not an empty store.
    let refused = copy_to_postgres(&data_dir.join("nope"), &url).await;
    assert!(
        matches!(refused, Err(CopyError::NoSource(_))),
        "{refused:?}"
    );
    assert!(!data_dir.join("nope").exists(), "nothing was created");
    let refused = copy_to_postgres(&data_dir, "sqlite://x.db").await;
    assert!(
        matches!(refused, Err(CopyError::NotPostgres)),
        "{refused:?}"
    );
}

#[tokio::test]
async fn the_table_lists_name_every_table_of_both_dialects() {
    let sqlite = Place::sqlite().open().await;
    let mut in_sqlite: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    )
    .fetch_all(&sqlite.pool)
    .await
    .unwrap();
    let pg = Place::postgres().await.open().await;
    let mut in_postgres: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&pg.pool)
    .await
    .unwrap();
    let mut listed: Vec<String> = COPIED
        .iter()
        .chain(NOT_COPIED)
        .chain(&["_sqlx_migrations"])
        .map(|t| (*t).to_owned())
        .collect();
    in_sqlite.sort();
    in_postgres.sort();
    listed.sort();
    assert_eq!(in_sqlite, listed);
    assert_eq!(in_postgres, listed);
}
