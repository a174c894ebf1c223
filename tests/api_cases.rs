//! SPEC §2 "Case" over the program API (issue 15): a case groups a matter's
//! preparation meetings (kind `preparation`, one party each, never the
//! harmed and the responsible party together) with the joint meeting. The
//! case lists its rooms, each room's record links to the others, reports
//! count preparation meetings apart from conferences and tell which joint
//! meetings were prepared, and a case is deleted only once no room names it.

#[path = "common/api.rs"]
mod api;
mod common;

use api::*;
use hyper::StatusCode;
use serde_json::{Value, json};

fn seat(seat: u32, name: &str, role: &str, party: Option<&str>) -> Value {
    json!({"seat": seat, "name": name, "role": role, "party": party})
}

fn preparation(case: &str, title: &str, seats: Vec<Value>) -> Value {
    json!({"kind": "preparation", "title": title, "case_id": case, "seats": seats})
}

fn day_offset(days: i64) -> String {
    let d = time::OffsetDateTime::now_utc() + time::Duration::days(days);
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// The room's keeper opens it and starts the session; returns the keeper.
async fn start_session(server: &common::TestServer, created: &Value) -> common::Client {
    let mut keeper = keeper_opens(server, created).await;
    keeper
        .cmd(json!({"type": "start_session"}))
        .await
        .expect("start");
    keeper
}

fn kind_report<'a>(report: &'a Value, kind: &str) -> &'a Value {
    report["kinds"]
        .as_array()
        .expect("kinds")
        .iter()
        .find(|k| k["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {report}"))
}

#[tokio::test]
async fn a_case_links_its_preparation_meetings_and_joint_meeting_and_reports_tell_them_apart() {
    let server = api::start().await;
    let http = Http::new(server.addr);

    // A case: only a title.
    let bad = http.post("/api/v1/cases", json!({"title": "  "})).await;
    assert_eq!(bad.code(), "invalid_title");
    let extra = http
        .post("/api/v1/cases", json!({"title": "Case", "names": ["Ana"]}))
        .await;
    assert_eq!(extra.code(), "bad_json");
    let made = http
        .post("/api/v1/cases", json!({"title": "Park case 2026-114"}))
        .await;
    assert_eq!(made.status, StatusCode::CREATED);
    let case = made.json();
    let case_id = case["case_id"].as_str().expect("case id").to_owned();
    assert!(case_id.starts_with("cs_"), "{case}");
    assert_eq!(case["rooms"], json!([]));
    assert_eq!(
        http.get("/api/v1/cases/cs_nothing").await.code(),
        "case_unknown"
    );

    // A preparation meeting is held with one party and their people.
    let mixed = http
        .post(
            "/api/v1/rooms",
            preparation(
                &case_id,
                "Both together",
                vec![
                    seat(1, "Kim", "keeper", None),
                    seat(2, "Ana", "participant", Some("harmed")),
                    seat(3, "Rob", "participant", Some("responsible")),
                ],
            ),
        )
        .await;
    assert_eq!(mixed.code(), "preparation_mixes_parties");
    let harmed_prep = http
        .create(preparation(
            &case_id,
            "Preparing with Ana",
            vec![
                seat(1, "Kim", "keeper", None),
                seat(2, "Ana", "participant", Some("harmed")),
                seat(3, "Sue", "participant", Some("supporter")),
                seat(4, "Ivo", "participant", Some("interpreter")),
            ],
        ))
        .await;
    let harmed_room = harmed_prep["room_id"].as_str().expect("id").to_owned();
    let added = http
        .post(
            &format!("/api/v1/rooms/{harmed_room}/invitations"),
            json!({"seats": [seat(5, "Rob", "participant", Some("responsible"))]}),
        )
        .await;
    assert_eq!(added.code(), "preparation_mixes_parties");
    let second_harmed = http
        .post(
            &format!("/api/v1/rooms/{harmed_room}/invitations"),
            json!({"seats": [seat(5, "Ada", "participant", Some("harmed"))]}),
        )
        .await;
    assert_eq!(second_harmed.status, StatusCode::CREATED);
    let responsible_prep = http
        .create(preparation(
            &case_id,
            "Preparing with Rob",
            vec![
                seat(1, "Kim", "keeper", None),
                seat(2, "Rob", "participant", Some("responsible")),
                seat(3, "Gus", "participant", Some("guardian")),
            ],
        ))
        .await;
    let responsible_room = responsible_prep["room_id"].as_str().unwrap().to_owned();
    let unknown = http
        .post(
            "/api/v1/rooms",
            json!({"kind": "conference", "title": "Joint", "case_id": "cs_nothing",
                   "seats": [seat(1, "Kim", "keeper", None)]}),
        )
        .await;
    assert_eq!(unknown.code(), "case_unknown");
    // A circle may mix parties, in a case or not.
    let joint = http
        .create(
            json!({"kind": "conference", "title": "Joint meeting", "case_id": case_id,
                       "options": {"entry_order": null},
                       "seats": [seat(1, "Kim", "keeper", None),
                                 seat(2, "Ana", "participant", Some("harmed")),
                                 seat(3, "Rob", "participant", Some("responsible"))]}),
        )
        .await;
    let joint_room = joint["room_id"].as_str().unwrap().to_owned();
    let outside = http
        .create(json!({"kind": "circle", "title": "Another matter",
                       "seats": [seat(1, "Kai", "keeper", None)]}))
        .await;

    // The case lists its rooms, with the party each preparation prepares.
    let case = http.get(&format!("/api/v1/cases/{case_id}")).await.json();
    assert_eq!(case["title"], "Park case 2026-114");
    let rooms: Vec<(Value, Value, Value)> = case["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .map(|r| {
            (
                r["room_id"].clone(),
                r["kind"].clone(),
                r["prepares"].clone(),
            )
        })
        .collect();
    assert_eq!(
        rooms,
        vec![
            (json!(harmed_room), json!("preparation"), json!("harmed")),
            (
                json!(responsible_room),
                json!("preparation"),
                json!("responsible")
            ),
            (json!(joint_room), json!("conference"), Value::Null),
        ]
    );
    let state = http
        .get(&format!("/api/v1/rooms/{joint_room}"))
        .await
        .json();
    assert_eq!(state["case_id"], json!(case_id));
    let listed = http.get("/api/v1/rooms").await.json();
    let case_of = |id: &Value| {
        listed["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["room_id"] == *id)
            .map(|r| r["case_id"].clone())
    };
    assert_eq!(case_of(&json!(harmed_room)), Some(json!(case_id)));
    assert_eq!(case_of(&outside["room_id"]), Some(Value::Null));

    // The joint meeting's record links to its preparation meetings.
    let record = http
        .get(&format!("/api/v1/rooms/{joint_room}/record"))
        .await
        .json();
    assert_eq!(
        record["room"]["case"],
        json!({"case_id": case_id, "title": "Park case 2026-114", "other_rooms": [
            {"room_id": harmed_room, "kind": "preparation"},
            {"room_id": responsible_room, "kind": "preparation"},
        ]})
    );
    let alone = http
        .get(&format!(
            "/api/v1/rooms/{}/record",
            outside["room_id"].as_str().unwrap()
        ))
        .await
        .json();
    assert_eq!(alone["room"]["case"], Value::Null);

    // The preparation with Ana is held first, on open floor; then the joint
    // meeting; the other matter's circle too, outside any case.
    let mut prep_keeper = start_session(&server, &harmed_prep).await;
    prep_keeper.wait_view(|v| v["mode"] == "open").await;
    let _joint_keeper = start_session(&server, &joint).await;
    let _other_keeper = start_session(&server, &outside).await;

    let (from, to) = (day_offset(-1), day_offset(1));
    let report = http
        .get(&format!("/api/v1/reports?from={from}&to={to}"))
        .await
        .json();
    let figures = |kind: &str| {
        let k = kind_report(&report, kind);
        (
            k["rooms"].clone(),
            k["rooms_in_cases"].clone(),
            k["rooms_prepared"].clone(),
        )
    };
    assert_eq!(figures("preparation"), (json!(1), json!(1), json!(0)));
    assert_eq!(figures("conference"), (json!(1), json!(1), json!(1)));
    assert_eq!(figures("circle"), (json!(1), json!(0), json!(0)));
    let csv = http
        .get(&format!("/api/v1/reports.csv?from={from}&to={to}"))
        .await
        .text;
    for line in ["preparation,rooms,,,1", "conference,rooms_prepared,,,1"] {
        assert!(csv.lines().any(|l| l == line), "{line} missing from\n{csv}");
    }

    // A case goes only once no room names it.
    let busy = http.delete(&format!("/api/v1/cases/{case_id}")).await;
    assert_eq!(busy.code(), "case_not_empty");
    for room in [&harmed_room, &responsible_room, &joint_room] {
        let gone = http.delete(&format!("/api/v1/rooms/{room}")).await;
        assert_eq!(gone.status, StatusCode::NO_CONTENT);
    }
    let deleted = http.delete(&format!("/api/v1/cases/{case_id}")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        http.get(&format!("/api/v1/cases/{case_id}")).await.code(),
        "case_unknown"
    );
    assert_eq!(
        http.delete(&format!("/api/v1/cases/{case_id}"))
            .await
            .code(),
        "case_unknown"
    );
}
