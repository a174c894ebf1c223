//! Every bad input to the program API gets a JSON error with a stable code,
//! and nothing is half-created.

#[path = "common/api.rs"]
mod api;
mod common;

use api::*;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};

/// The rooms in the store: a refused request must leave none behind.
async fn room_count(http: &Http) -> usize {
    http.get("/api/v1/rooms").await.json()["rooms"]
        .as_array()
        .map_or(0, Vec::len)
}

/// `body` with the value at `pointer` set (a missing last key is added).
/// `GET /api/v1/rooms` with this `Authorization` header as it is.
async fn list_rooms(http: &Http, authorization: &str) -> Answer {
    http.raw(
        Method::GET,
        "/api/v1/rooms",
        None,
        &[("authorization", authorization)],
        "",
    )
    .await
}

fn with(mut body: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    let target = body
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("{pointer}"));
    match target {
        Value::Array(items) => items[key.parse::<usize>().expect("index")] = value,
        Value::Object(map) => {
            map.insert(key.to_owned(), value);
        }
        _ => panic!("{pointer}"),
    }
    body
}

#[tokio::test]
async fn keys_are_required_and_read_only_keys_only_read() {
    let server = api::start().await;
    let http = Http::new(server.addr);
    for key in [None, Some("wrong"), Some(""), Some(&KEY[..KEY.len() - 1])] {
        let answer = http.call(Method::GET, "/api/v1/rooms", key, None).await;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::UNAUTHORIZED, "unauthorized".into()),
            "{key:?}"
        );
        assert_eq!(answer.headers["www-authenticate"], "Bearer");
    }
    // Not a bearer header at all.
    let answer = http
        .raw(
            Method::GET,
            "/api/v1/rooms",
            None,
            &[("authorization", &format!("Basic {KEY}"))],
            "",
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    // The scheme is case-insensitive (RFC 9110 §11.1); the key is not.
    for scheme in ["bearer", "BEARER", "bEaReR", "Bearer "] {
        let answer = list_rooms(&http, &format!("{scheme} {KEY}")).await;
        assert_eq!(answer.status, StatusCode::OK, "{scheme}: {}", answer.text);
    }
    for header in [
        format!("bearer {}", KEY.to_uppercase()),
        format!("Bearer{KEY}"),
        format!("Bearerx {KEY}"),
        "bearer".to_owned(),
    ] {
        let answer = list_rooms(&http, &header).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{header}");
    }

    let ro = Some(READ_ONLY_KEY);
    assert_eq!(
        http.call(Method::GET, "/api/v1/rooms", ro, None)
            .await
            .status,
        StatusCode::OK
    );
    for (method, path, body) in [
        (Method::POST, "/api/v1/rooms", Some(conference())),
        (Method::DELETE, "/api/v1/rooms/rm_x", None),
        (
            Method::POST,
            "/api/v1/rooms/rm_x/invitations",
            Some(json!({"seats": []})),
        ),
        (Method::DELETE, "/api/v1/rooms/rm_x/invitations/abc", None),
    ] {
        let answer = http.call(method.clone(), path, ro, body).await;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::FORBIDDEN, "read_only_key".into()),
            "{method} {path}"
        );
    }
    assert_eq!(room_count(&http).await, 0);
}

#[tokio::test]
async fn no_keys_configured_refuses_everything() {
    let server = common::TestServer::start().await;
    let http = Http::new(server.addr);
    let answer = http.get("/api/v1/rooms").await;
    assert_eq!(answer.code(), "unauthorized");
}

#[tokio::test]
async fn bad_room_bodies_are_refused_whole() {
    let server = api::start_with(|c| c.limits.max_people_per_room = 4).await;
    let http = Http::new(server.addr);
    let keeper = json!({"seat": 1, "name": "K", "role": "keeper"});
    let cases: Vec<(Value, &str)> = vec![
        (with(conference(), "/seats", json!([])), "invalid_seats"),
        (
            with(conference(), "/seats/1/seat", json!(0)),
            "invalid_seats",
        ),
        (
            with(conference(), "/seats/1/seat", json!(10_001)),
            "invalid_seats",
        ),
        (
            with(
                conference(),
                "/seats",
                json!([keeper, {"seat": 2, "name": "a", "role": "participant"},
                {"seat": 3, "name": "b", "role": "participant"}, {"seat": 4, "name": "c", "role": "participant"},
                {"seat": 5, "name": "d", "role": "participant"}]),
            ),
            "invalid_seats",
        ),
        (
            with(conference(), "/seats/2/seat", json!(2)),
            "duplicate_seat",
        ),
        (
            with(conference(), "/seats/1/name", json!("   ")),
            "invalid_name",
        ),
        (
            with(conference(), "/seats/1/name", json!("x".repeat(101))),
            "invalid_name",
        ),
        (
            with(conference(), "/seats/0/role", json!("participant")),
            "no_keeper",
        ),
        (with(conference(), "/title", json!("")), "invalid_title"),
        (
            with(conference(), "/title", json!("t".repeat(201))),
            "invalid_title",
        ),
        (
            with(conference(), "/seats/1/role", json!("boss")),
            "bad_json",
        ),
        (
            with(conference(), "/seats/1/party", json!("victim")),
            "bad_json",
        ),
        (with(conference(), "/kind", json!("meeting")), "bad_json"),
        (with(conference(), "/seats/1/seat", json!(-1)), "bad_json"),
        (with(conference(), "/title", json!(7)), "bad_json"),
        (with(conference(), "/seats/1/extra", json!(1)), "bad_json"),
        (json!({"kind": "circle", "seats": []}), "bad_json"),
        (
            with(conference(), "/starts_at", json!("tomorrow")),
            "invalid_schedule",
        ),
        (
            with(conference(), "/starts_at", json!("2001-01-01T00:00:00Z")),
            "schedule_in_past",
        ),
        (
            with(
                conference(),
                "/consent",
                json!({"version": "", "items": []}),
            ),
            "invalid_consent",
        ),
        (
            with(
                conference(),
                "/consent",
                json!({"version": "1", "items": []}),
            ),
            "invalid_consent",
        ),
        (
            with(
                conference(),
                "/consent",
                json!({"version": "1", "items": [
                {"id": "a", "text": "x", "required": true}, {"id": "a", "text": "y", "required": true}]}),
            ),
            "invalid_consent",
        ),
        (
            with(
                conference(),
                "/consent",
                json!({"version": "1", "items": [{"id": "Bad Id", "text": "x", "required": true}]}),
            ),
            "invalid_consent",
        ),
        (
            with(conference(), "/options", json!({"turn_seconds": 0})),
            "invalid_option",
        ),
        (
            with(conference(), "/options", json!({"turn_seconds": 3601})),
            "invalid_option",
        ),
        (
            with(conference(), "/options", json!({"grace_seconds": 3601})),
            "invalid_option",
        ),
        (
            with(
                conference(),
                "/options",
                json!({"entry_order": {"first": "harmed", "then": "harmed"}}),
            ),
            "invalid_option",
        ),
        (
            // No [turn] on this server: a relay-only room could carry no media.
            with(conference(), "/options", json!({"relay_only": true})),
            "invalid_option",
        ),
        (
            with(conference(), "/options", json!({"colour": "blue"})),
            "bad_json",
        ),
    ];
    for (body, code) in cases {
        let answer = http.post("/api/v1/rooms", body.clone()).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            answer.text
        );
        assert_eq!(answer.code(), code, "{body}");
    }
    for (text, code) in [("{", "bad_json"), ("[]", "bad_json"), ("", "bad_json")] {
        let answer = http
            .raw(
                Method::POST,
                "/api/v1/rooms",
                Some(KEY),
                &[("content-type", "application/json")],
                text,
            )
            .await;
        assert_eq!(
            (answer.status, answer.code().as_str()),
            (StatusCode::BAD_REQUEST, code),
            "{text:?}"
        );
    }
    let answer = http
        .raw(
            Method::POST,
            "/api/v1/rooms",
            Some(KEY),
            &[("content-type", "text/plain")],
            conference().to_string(),
        )
        .await;
    assert_eq!(
        (answer.status, answer.code()),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type".into()
        )
    );
    assert_eq!(room_count(&http).await, 0, "nothing half-created");
}

#[tokio::test]
async fn oversized_bodies_get_413_in_json() {
    let server = api::start_with(|c| c.api.max_body_bytes = 4096).await;
    let http = Http::new(server.addr);
    let mut body = conference();
    body["title"] = json!("x".repeat(5000));
    let answer = http.post("/api/v1/rooms", body).await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large".into())
    );
    assert_eq!(room_count(&http).await, 0);
}

#[tokio::test]
async fn unknown_rooms_invitations_routes_and_methods() {
    let server = api::start().await;
    let http = Http::new(server.addr);
    let seats = json!({"seats": [{"seat": 9, "name": "N", "role": "participant"}]});
    for (method, path, body) in [
        (Method::GET, "/api/v1/rooms/rm_nope", None),
        (Method::DELETE, "/api/v1/rooms/rm_nope", None),
        (Method::GET, "/api/v1/rooms/rm_nope/record", None),
        (Method::GET, "/api/v1/rooms/rm_nope/record.csv", None),
        (
            Method::POST,
            "/api/v1/rooms/rm_nope/invitations",
            Some(seats.clone()),
        ),
        (
            Method::DELETE,
            "/api/v1/rooms/rm_nope/invitations/abc",
            None,
        ),
    ] {
        let answer = http.call(method.clone(), path, Some(KEY), body).await;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::NOT_FOUND, "room_unknown".into()),
            "{method} {path}"
        );
    }
    let created = http.create(conference()).await;
    let room = created["room_id"].as_str().unwrap();
    let answer = http
        .delete(&format!(
            "/api/v1/rooms/{room}/invitations/not-an-invitation"
        ))
        .await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::NOT_FOUND, "invitation_unknown".into())
    );

    let answer = http.get("/api/v1/nothing/here").await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    let answer = http
        .call(Method::PUT, "/api/v1/rooms", Some(KEY), Some(json!({})))
        .await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed".into())
    );

    for (query, code) in [
        ("limit=0", "bad_limit"),
        ("limit=101", "bad_limit"),
        ("limit=x", "bad_query"),
        ("cursor=%%%", "bad_cursor"),
        ("cursor=bm9wZQ", "bad_cursor"),
        ("colour=blue", "bad_query"),
    ] {
        let answer = http.get(&format!("/api/v1/rooms?{query}")).await;
        assert_eq!(
            (answer.status, answer.code().as_str()),
            (StatusCode::BAD_REQUEST, code),
            "{query}"
        );
    }
}

#[tokio::test]
async fn adding_invitations_checks_seats_and_the_room() {
    let server = api::start().await;
    let http = Http::new(server.addr);
    let created = http.create(conference()).await;
    let room = created["room_id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/rooms/{room}/invitations");
    let seat = |n: u32| json!({"seat": n, "name": "N", "role": "participant"});
    for (body, status, code) in [
        (
            json!({"seats": []}),
            StatusCode::BAD_REQUEST,
            "invalid_seats",
        ),
        (
            json!({"seats": [seat(7), seat(7)]}),
            StatusCode::BAD_REQUEST,
            "duplicate_seat",
        ),
        (
            json!({"seats": [seat(8), seat(2)]}),
            StatusCode::CONFLICT,
            "seat_taken",
        ),
        (
            json!({"seat": [seat(8)]}),
            StatusCode::BAD_REQUEST,
            "bad_json",
        ),
    ] {
        let answer = http.post(&path, body.clone()).await;
        assert_eq!(
            (answer.status, answer.code().as_str()),
            (status, code),
            "{body}"
        );
    }
    // Nothing of a refused request was kept: seat 8 is still free.
    assert_eq!(server.app.store.invitations(&room).await.unwrap().len(), 3);
    assert_eq!(
        http.post(&path, json!({"seats": [seat(8)]})).await.status,
        StatusCode::CREATED
    );

    // A closed room takes no new invitations.
    let (_, keeper_token) = invitation(&created, 0);
    let mut keeper = server.connect().await;
    keeper.hello(&keeper_token).await;
    keeper.consent_all().await;
    // Closing ends every visit, the keeper's too: `ok`, then `ended`, then the close.
    keeper
        .cmd(json!({"type": "close_room"}))
        .await
        .expect("ok before ended");
    assert_eq!(keeper.until("ended").await["reason"], "room_closed");
    let answer = http.post(&path, json!({"seats": [seat(9)]})).await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::CONFLICT, "room_closed".into())
    );
}
