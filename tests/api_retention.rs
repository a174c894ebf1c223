//! Retention: `purge_expired(now)` deletes the records of rooms inactive for
//! `api.retention_days`, driven here with an injected clock (no waiting).

#[path = "common/api.rs"]
mod api;
mod common;

use api::*;
use circlekeeper::api::purge_expired;
use circlekeeper::circle::Timestamp;
use circlekeeper::rooms::wall_clock;
use common::*;
use hyper::StatusCode;
use serde_json::json;

const DAY: u64 = 86_400_000;

fn days_later(days: u64) -> Timestamp {
    Timestamp(wall_clock().0 + days * DAY)
}

#[tokio::test]
async fn records_are_deleted_after_the_retention_period() {
    let server = api::start_with(|c| c.api.retention_days = 30).await;
    let http = Http::new(server.addr);
    let plain = http.create(conference()).await["room_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut later = conference();
    let start = time::OffsetDateTime::now_utc() + time::Duration::days(60);
    later["starts_at"] = json!(
        start
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    );
    let scheduled = http.create(later).await["room_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let used = http.create(conference()).await;
    let used_id = used["room_id"].as_str().unwrap().to_owned();
    let (_, keeper_token) = invitation(&used, 0);
    let mut keeper = server.connect().await;
    keeper.hello(&keeper_token).await;
    keeper.consent_all().await;

    // Within the period nothing goes.
    assert!(
        purge_expired(&server.app, days_later(29))
            .await
            .unwrap()
            .is_empty()
    );

    // After it: the plain room goes; the one scheduled in 60 days stays; the
    // one with someone connected stays while its room runs.
    let deleted = purge_expired(&server.app, days_later(31)).await.unwrap();
    assert_eq!(deleted, vec![plain.clone()]);
    let gone = http.get(&format!("/api/v1/rooms/{plain}")).await;
    assert_eq!(
        (gone.status, gone.code()),
        (StatusCode::NOT_FOUND, "room_unknown".into())
    );
    assert!(
        server
            .app
            .store
            .invitations(&plain)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        http.get(&format!("/api/v1/rooms/{used_id}")).await.status,
        StatusCode::OK
    );

    // After a restart the used room is not running: it goes too; 30 days
    // after its start, so does the scheduled one.
    keeper.close().await;
    let dir = server.stop().await;
    let server = TestServer::start_in(dir, |c| {
        with_keys(c);
        c.api.retention_days = 30;
    })
    .await;
    assert_eq!(
        purge_expired(&server.app, days_later(31)).await.unwrap(),
        vec![used_id.clone()]
    );
    assert!(server.app.store.journal(&used_id).await.unwrap().is_empty());
    assert_eq!(
        purge_expired(&server.app, days_later(91)).await.unwrap(),
        vec![scheduled]
    );
    assert!(server.app.store.rooms().await.unwrap().is_empty());
}

#[tokio::test]
async fn zero_days_keeps_everything() {
    let server = api::start().await;
    let http = Http::new(server.addr);
    http.create(conference()).await;
    assert!(
        purge_expired(&server.app, days_later(100_000))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(server.app.store.rooms().await.unwrap().len(), 1);
}
