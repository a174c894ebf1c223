//! SPEC §2 links over the program API: an interpreter's seat names the seats
//! it interprets for (`interprets_for`), validated whole (`invalid_link`),
//! kept with the invitation, shown in the room's state and record, and
//! carried into the circle, where everyone's view shows who interprets for whom.

#[path = "common/api.rs"]
mod api;
mod common;

use api::*;
use hyper::StatusCode;
use serde_json::{Value, json};

fn with_interpreter(link: Value) -> Value {
    json!({
        "kind": "circle",
        "title": "A circle with an interpreter",
        "seats": [
            {"seat": 1, "name": "Kim Keeper", "role": "keeper"},
            {"seat": 2, "name": "Ana", "role": "participant", "party": "harmed"},
            {"seat": 3, "name": "Ivo", "role": "participant", "party": "interpreter", "interprets_for": link}
        ]
    })
}

fn by_seat(list: &Value, seat: u64) -> Value {
    list.as_array()
        .and_then(|l| l.iter().find(|p| p["seat"] == seat))
        .cloned()
        .unwrap_or_else(|| panic!("seat {seat} not in {list}"))
}

#[tokio::test]
async fn an_interpreters_link_is_kept_shown_and_reaches_the_circle() {
    let server = api::start().await;
    let http = Http::new(server.addr);
    let created = http.create(with_interpreter(json!([2]))).await;
    let room = created["room_id"].as_str().expect("id").to_owned();
    assert_eq!(
        by_seat(&created["invitations"], 3)["interprets_for"],
        json!([2])
    );
    assert_eq!(
        by_seat(&created["invitations"], 2)["interprets_for"],
        json!([])
    );

    let state = http.get(&format!("/api/v1/rooms/{room}")).await.json();
    assert_eq!(by_seat(&state["people"], 3)["interprets_for"], json!([2]));
    let record = http.get(&format!("/api/v1/rooms/{room}/record")).await;
    assert_eq!(record.status, StatusCode::OK, "{}", record.text);
    assert_eq!(
        by_seat(&record.json()["invitations"], 3)["interprets_for"],
        json!([2])
    );

    // The keeper sees every invited person, the interpreter with their link.
    let (_, keeper_token) = invitation(&created, 0);
    let mut keeper = server.connect().await;
    assert_eq!(keeper.hello(&keeper_token).await["type"], "welcome");
    keeper.consent_all().await;
    keeper.wait_stage("circle").await;
    let people = &keeper.view["people"];
    let ana = by_seat(people, 2)["id"].clone();
    assert_eq!(by_seat(people, 3)["interprets_for"], json!([ana]));
    assert_eq!(by_seat(people, 3)["interpreting"], false);

    // A seat added later may name seats the room already holds.
    let added = http
        .post(
            &format!("/api/v1/rooms/{room}/invitations"),
            json!({"seats": [{"seat": 4, "name": "Eva", "role": "participant",
                              "party": "interpreter", "interprets_for": [1, 2]}]}),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    assert_eq!(
        added.json()["invitations"][0]["interprets_for"],
        json!([1, 2])
    );
    let missing = http
        .post(
            &format!("/api/v1/rooms/{room}/invitations"),
            json!({"seats": [{"seat": 5, "name": "Uli", "role": "participant",
                              "party": "interpreter", "interprets_for": [9]}]}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.code(), "invalid_link");
}

#[tokio::test]
async fn a_bad_link_is_refused_and_nothing_is_created() {
    let server = api::start().await;
    let http = Http::new(server.addr);
    let mut not_interpreter = with_interpreter(json!([2]));
    not_interpreter["seats"][2]["party"] = json!("supporter");
    let mut keeper_role = with_interpreter(json!([2]));
    keeper_role["seats"][2]["role"] = json!("keeper");
    let cases = [
        ("no such seat", with_interpreter(json!([7]))),
        ("its own seat", with_interpreter(json!([3]))),
        ("a seat twice", with_interpreter(json!([2, 2]))),
        ("no seat", with_interpreter(json!([]))),
        (
            "eleven seats",
            with_interpreter(json!([1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12])),
        ),
        ("not an interpreter", not_interpreter),
        ("a keeper", keeper_role),
    ];
    for (why, body) in cases {
        let answer = http.post("/api/v1/rooms", body).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{why}: {}",
            answer.text
        );
        assert_eq!(answer.code(), "invalid_link", "{why}");
    }
    // The wrong type is the JSON layer's refusal, never a panic.
    let answer = http
        .post("/api/v1/rooms", with_interpreter(json!(["two"])))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.code(), "bad_json");
    let listed = http.get("/api/v1/rooms").await.json();
    assert_eq!(listed["rooms"], json!([]), "nothing was created");
}
