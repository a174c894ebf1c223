//! Languages on the server side: a room's language in every view stage,
//! consent items with their translations, and a seat's language in its
//! invitation link as `&lang=` (also for invitations added later).

#[path = "common/api.rs"]
mod api;
mod common;

use api::*;
use hyper::StatusCode;
use serde_json::{Value, json};

fn spanish_room() -> Value {
    json!({
        "kind": "circle",
        "title": "Círculo del barrio",
        "language": "es",
        "consent": {"version": "es-2027-1", "items": [
            {"id": "voluntary", "text": "I take part freely.", "required": true,
             "translations": {"es": "Participo libremente.", "ar": "أشارك بحرية."}},
            {"id": "no_recording", "text": "Nobody records this.", "required": true}
        ]},
        "seats": [
            {"seat": 1, "name": "Kim", "role": "keeper"},
            {"seat": 2, "name": "Ana", "role": "participant", "party": "harmed", "language": "ar"},
            {"seat": 3, "name": "Ben", "role": "participant", "party": "responsible"}
        ]
    })
}

#[tokio::test]
async fn a_spanish_room_shows_its_language_and_translations_at_every_stage() {
    let server = api::start().await;
    let http = Http::new(server.addr);
    let created = http.create(spanish_room()).await;

    let mut keeper = server.connect().await;
    keeper.hello(&invitation(&created, 0).1).await;
    assert_eq!(keeper.view["stage"], "consent");
    assert_eq!(keeper.view["language"], "es");
    // The program gave no keepers' terms: the standard ones, in Spanish too.
    let keeper_terms = &keeper.view["terms"];
    assert_eq!(keeper_terms["version"], "keeper-2026-12");
    assert!(
        keeper_terms["items"]
            .as_array()
            .is_some_and(|items| items.iter().all(|i| i["translations"]["es"].is_string())),
        "{keeper_terms}"
    );
    keeper.consent_all().await;
    keeper.wait_stage("circle").await;
    assert_eq!(keeper.view["language"], "es");
    keeper
        .cmd(json!({"type": "open_room"}))
        .await
        .expect("open");

    let mut ana = server.connect().await;
    ana.hello(&invitation(&created, 1).1).await;
    assert_eq!(ana.view["terms"]["version"], "es-2027-1");
    let items = &ana.view["terms"]["items"];
    assert_eq!(
        items[0]["translations"],
        json!({"ar": "أشارك بحرية.", "es": "Participo libremente."})
    );
    assert_eq!(
        items[0]["text"], "I take part freely.",
        "the fallback stays"
    );
    assert!(
        items[1].get("translations").is_none(),
        "no translations, no field: {items}"
    );
    ana.consent_all().await;
    ana.wait_stage("lobby").await;
    assert_eq!(ana.view["language"], "es");

    // The record keeps the terms as the program gave them, translations included.
    let room = created["room_id"].as_str().expect("room id");
    let record = http
        .get(&format!("/api/v1/rooms/{room}/record"))
        .await
        .json();
    assert_eq!(
        record["room"]["consent"]["items"][0]["translations"]["es"],
        "Participo libremente."
    );
}

#[tokio::test]
async fn a_seat_language_rides_in_its_link_and_not_in_its_token() {
    let server = api::start().await;
    let http = Http::new(server.addr);
    let created = http.create(spanish_room()).await;
    let links: Vec<&str> = created["invitations"]
        .as_array()
        .expect("invitations")
        .iter()
        .map(|i| i["link"].as_str().expect("link"))
        .collect();
    assert!(links[1].ends_with("&lang=ar"), "{}", links[1]);
    assert!(!links[0].contains("&lang=") && !links[2].contains("&lang="));
    // The token is the same kind of token: it works without the language.
    let _keeper = keeper_opens(&server, &created).await;
    let mut ana = server.connect().await;
    assert_eq!(
        ana.hello(&invitation(&created, 1).1).await["type"],
        "welcome"
    );

    let room = created["room_id"].as_str().expect("room id");
    let added = http
        .post(
            &format!("/api/v1/rooms/{room}/invitations"),
            json!({"seats": [{"seat": 4, "name": "Sam", "role": "participant", "language": "fil"}]}),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    let link = added.json()["invitations"][0]["link"].clone();
    assert!(
        link.as_str().is_some_and(|l| l.ends_with("&lang=fil")),
        "{link}"
    );
}

#[tokio::test]
async fn languages_and_translations_are_validated() {
    let server = api::start().await;
    let http = Http::new(server.addr);
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut body = spanish_room();
        edit(&mut body);
        body
    };
    let cases = [
        (
            with(&|b| b["language"] = json!("Spanish")),
            "invalid_language",
        ),
        (with(&|b| b["language"] = json!("ES")), "invalid_language"),
        (with(&|b| b["language"] = json!("e")), "invalid_language"),
        (
            with(&|b| b["seats"][1]["language"] = json!("es-MX")),
            "invalid_language",
        ),
        (
            with(&|b| b["consent"]["items"][0]["translations"] = json!({"EN": "x"})),
            "invalid_consent",
        ),
        (
            with(&|b| b["consent"]["items"][0]["translations"] = json!({"es": " "})),
            "invalid_consent",
        ),
        (
            with(&|b| b["consent"]["items"][0]["translations"] = json!({"es": "x".repeat(2001)})),
            "invalid_consent",
        ),
        (with(&|b| b["language"] = json!(7)), "bad_json"),
    ];
    for (body, code) in cases {
        let answer = http.post("/api/v1/rooms", body.clone()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer.code(), code, "{body}");
    }
    // The edge of the limits is fine, and a room without a language is English.
    let edge =
        with(&|b| b["consent"]["items"][0]["translations"] = json!({"fil": "x".repeat(2000)}));
    http.create(edge).await;
    let created = http.create(conference()).await;
    let mut keeper = server.connect().await;
    keeper.hello(&invitation(&created, 0).1).await;
    assert_eq!(keeper.view["language"], "en");
}
