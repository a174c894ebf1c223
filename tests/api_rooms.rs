//! The program API end to end over real HTTP: create a room and use its
//! links, read the live state, add and revoke invitations, export the record
//! as JSON and CSV, list rooms page by page, delete a room.

#[path = "common/api.rs"]
mod api;
mod common;

use std::collections::HashSet;

use api::*;
use common::*;
use hyper::StatusCode;
use serde_json::{Value, json};

/// People in a state answer by seat.
fn presence(state: &Value, seat: u64) -> String {
    state["people"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["seat"] == seat))
        .map(|p| p["presence"].as_str().unwrap_or("").to_owned())
        .unwrap_or_else(|| panic!("seat {seat} not in {state}"))
}

#[tokio::test]
async fn a_room_from_creation_to_deletion() {
    let server = api::start().await;
    let http = Http::new(server.addr);

    let created = http.create(conference()).await;
    let room = created["room_id"].as_str().expect("room id").to_owned();
    assert!(room.starts_with("rm_"), "{room}");
    assert_eq!(created["phase"], "scheduled");
    let invitations = created["invitations"].as_array().expect("invitations");
    assert_eq!(invitations.len(), 3);
    for (i, inv) in invitations.iter().enumerate() {
        assert_eq!(inv["seat"], i as u64 + 1);
        assert!(
            inv["link"].as_str().is_some_and(|l| l.contains("/join#t=")),
            "{inv}"
        );
        assert!(inv["expires_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
    assert_eq!(invitations[1]["party"], "harmed");

    // Before anyone came: scheduled, nobody here, the room not running.
    let state = http.get(&format!("/api/v1/rooms/{room}")).await;
    assert_eq!(state.status, StatusCode::OK, "{}", state.text);
    let state = state.json();
    assert_eq!(state["phase"], "scheduled");
    assert_eq!(state["running"], false);
    assert_eq!(presence(&state, 1), "away");

    // The links work: the keeper opens the room, Ana waits in the lobby.
    let (_, keeper_token) = invitation(&created, 0);
    let (ana_id, ana_token) = invitation(&created, 1);
    let mut keeper = server.connect().await;
    assert_eq!(keeper.hello(&keeper_token).await["type"], "welcome");
    keeper.consent_all().await;
    keeper.wait_stage("circle").await;
    keeper
        .cmd(json!({"type": "open_room"}))
        .await
        .expect("open");
    let mut ana = server.connect().await;
    assert_eq!(ana.hello(&ana_token).await["type"], "welcome");
    ana.consent_all().await;
    ana.wait_stage("lobby").await;

    let state = http.get(&format!("/api/v1/rooms/{room}")).await.json();
    assert_eq!(state["phase"], "open");
    assert_eq!(state["running"], true);
    assert_eq!(presence(&state, 1), "in_circle");
    assert_eq!(presence(&state, 2), "lobby");
    assert_eq!(presence(&state, 3), "away");
    let text = state.to_string();
    assert!(
        !text.contains("Kim") && !text.contains("Ana") && !text.contains("name"),
        "{text}"
    );

    // A new seat: the running room learns of it at once.
    let added = http
        .post(
            &format!("/api/v1/rooms/{room}/invitations"),
            json!({"seats": [{"seat": 4, "name": "Sam Supporter", "role": "participant", "party": "supporter"}]}),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    assert_eq!(added.json()["invitations"][0]["seat"], 4);
    keeper
        .wait_view(|v| {
            v["people"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p["name"] == "Sam Supporter"))
        })
        .await;

    // Revoking Ana's link ends her visit at once; the link never works again.
    let revoked = http
        .delete(&format!("/api/v1/rooms/{room}/invitations/{ana_id}"))
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.text);
    let ended = ana.until("ended").await;
    assert_eq!(ended["reason"], "revoked");
    assert!(ended.get("support").is_none(), "no contacts set: {ended}");
    let mut again = server.connect().await;
    assert_eq!(again.hello(&ana_token).await["code"], "invitation_revoked");
    let twice = http
        .delete(&format!("/api/v1/rooms/{room}/invitations/{ana_id}"))
        .await;
    assert_eq!(
        twice.status,
        StatusCode::NO_CONTENT,
        "revoking twice is fine"
    );
    let state = http.get(&format!("/api/v1/rooms/{room}")).await.json();
    assert_eq!(
        presence(&state, 2),
        "revoked",
        "told apart from a keeper's removal"
    );
    // Her seat is free again for a new invitation.
    let reinvited = http
        .post(
            &format!("/api/v1/rooms/{room}/invitations"),
            json!({"seats": [{"seat": 2, "name": "Ana Harmed", "role": "participant", "party": "harmed"}]}),
        )
        .await;
    assert_eq!(reinvited.status, StatusCode::CREATED, "{}", reinvited.text);

    // The record: consents, attendance, phases; no names, nothing said.
    let record = http.get(&format!("/api/v1/rooms/{room}/record")).await;
    assert_eq!(record.status, StatusCode::OK, "{}", record.text);
    let json = record.json();
    assert_eq!(json["room"]["room_id"], room.as_str());
    assert!(
        json["consents"].as_array().is_some_and(|c| c.len() >= 8),
        "{json}"
    );
    assert!(json["attendance"].as_array().is_some_and(|a| !a.is_empty()));
    assert_eq!(json["phase_changes"][0]["phase"], "open");
    assert!(json["invitations"].as_array().is_some_and(|i| i.len() == 5));
    assert!(!record.text.contains("Kim Keeper") && !record.text.contains("Ana Harmed"));

    let csv = http.get(&format!("/api/v1/rooms/{room}/record.csv")).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(lines[0], "kind,at,invitation_id,seat,party,detail");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("consent,") && l.contains(&ana_id) && l.contains(",2,harmed,")),
        "{}",
        csv.text
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("phase,") && l.ends_with("phase=open"))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("revoked,") && l.contains(&ana_id))
    );
    for line in &lines[1..] {
        assert_eq!(line.split(',').count(), 6, "{line}");
    }
    assert!(!csv.text.contains("Kim") && !csv.text.contains("Ana Harmed"));

    // Deleting ends the keeper's visit and removes every trace.
    let deleted = http.delete(&format!("/api/v1/rooms/{room}")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    assert_eq!(keeper.until("ended").await["reason"], "room_closed");
    for path in [
        format!("/api/v1/rooms/{room}"),
        format!("/api/v1/rooms/{room}/record"),
    ] {
        let gone = http.get(&path).await;
        assert_eq!(
            (gone.status, gone.code()),
            (StatusCode::NOT_FOUND, "room_unknown".to_owned())
        );
    }
    let mut late = server.connect().await;
    // Its invitations went with it: the link is now a token the store does
    // not back, refused like any other (SPEC §5.11).
    assert_eq!(
        late.hello(&keeper_token).await["code"],
        "token_bad_signature"
    );
    assert!(server.app.store.record(&room).await.is_err());
}

#[tokio::test]
async fn options_schedule_and_consent_terms_are_kept() {
    let server = api::start().await;
    let http = Http::new(server.addr);
    let created = http
        .create(json!({
            "kind": "circle",
            "title": "Community circle",
            "starts_at": "2999-01-01T18:00:00+01:00",
            "consent": {"version": "court-7", "items": [
                {"id": "voluntary", "text": "I take part freely.", "required": true},
                {"id": "follow_up", "text": "The programme may call me afterwards.", "required": false}
            ]},
            "seats": [{"seat": 1, "name": "K", "role": "keeper"}, {"seat": 5, "name": "O", "role": "observer"}],
            "options": {"entry_order": {"first": "harmed", "then": "responsible"}, "turn_seconds": 90,
                        "grace_seconds": 10, "keeper_speaks_out_of_turn": false}
        }))
        .await;
    assert_eq!(created["starts_at"], "2999-01-01T17:00:00.000Z");
    let room = created["room_id"].as_str().unwrap();
    let row = server.app.store.room(room).await.unwrap().expect("stored");
    assert_eq!(row.settings.consent.version, "court-7");
    assert_eq!(row.settings.turn_seconds, Some(90));
    assert_eq!(row.settings.grace_ms, 10_000);
    assert!(!row.settings.keeper_speaks_out_of_turn);
    assert!(row.settings.entry_order.is_some());
    // Links of a future room stay valid past its start.
    let expires = created["invitations"][0]["expires_at"].as_str().unwrap();
    assert!(expires > "2999-01-01", "{expires}");

    // A conference without entry order: `null` turns the default off.
    let mut body = conference();
    body["options"] = json!({"entry_order": null});
    let created = http.create(body).await;
    let row = server
        .app
        .store
        .room(created["room_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.settings.entry_order, None);
}

/// SPEC §3.5.5: the support contacts a program sets reach each person when
/// their visit ends; `pause_video` is kept; bad contacts are refused.
#[tokio::test]
async fn support_contacts_reach_everyone_at_the_end() {
    let server = api::start().await;
    let http = Http::new(server.addr);
    let mut body = conference();
    body["support_contacts"] = json!([
        {"name": "Victim Support", "contact": "0808 168 9111, any time"},
        {"name": "  Your programme worker ", "contact": "Dana, 01632 960 001 (weekdays)"}
    ]);
    body["options"] = json!({"pause_video": false});
    let created = http.create(body).await;
    let room = created["room_id"].as_str().expect("room id");
    let row = server.app.store.room(room).await.unwrap().expect("stored");
    assert!(!row.settings.pause_video);
    assert_eq!(
        row.settings.support_contacts[1].name,
        "Your programme worker"
    );

    let (_, keeper_token) = invitation(&created, 0);
    let mut keeper = server.connect().await;
    assert_eq!(keeper.hello(&keeper_token).await["type"], "welcome");
    keeper.consent_all().await;
    keeper.wait_stage("circle").await;
    keeper.send(json!({"type": "leave"})).await;
    let ended = keeper.until("ended").await;
    assert_eq!(ended["reason"], "left");
    assert_eq!(
        ended["support"],
        json!([
            {"name": "Victim Support", "contact": "0808 168 9111, any time"},
            {"name": "Your programme worker", "contact": "Dana, 01632 960 001 (weekdays)"}
        ])
    );

    let contact = json!({"name": "A line", "contact": "0800 000 000"});
    for (contacts, why) in [
        (json!(vec![contact.clone(); 11]), "more than ten"),
        (json!([{"name": " ", "contact": "0800"}]), "a blank name"),
        (json!([{"name": "A line", "contact": ""}]), "no contact"),
        (
            json!([{"name": "A line", "contact": "x".repeat(301)}]),
            "a contact too long",
        ),
        (json!([{"name": "A line"}]), "a missing field"),
    ] {
        let mut body = conference();
        body["support_contacts"] = contacts;
        let refused = http.post("/api/v1/rooms", body).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{why}: {}",
            refused.text
        );
        if why != "a missing field" {
            assert_eq!(refused.code(), "invalid_support_contacts", "{why}");
        }
    }
}

/// Issue 14: keepers consent to their own terms (the program's, or the
/// standard keepers' ones), the record keeps both, and a keeper's visit ends
/// with a summary that nobody else gets.
#[tokio::test]
async fn keepers_have_their_own_terms_and_leave_with_a_summary() {
    let server = api::start().await;
    let http = Http::new(server.addr);
    let mut body = conference();
    body["keeper_consent"] = json!({"version": "keepers-3", "items": [
        {"id": "care", "text": "I hold this room with care.", "required": true}
    ]});
    let created = http.create(body).await;
    let room = created["room_id"].as_str().expect("room id").to_owned();

    let mut keeper = server.connect().await;
    keeper.hello(&invitation(&created, 0).1).await;
    assert_eq!(keeper.view["terms"]["version"], "keepers-3");
    keeper.consent_all().await;
    keeper.wait_stage("circle").await;
    keeper
        .cmd(json!({"type": "open_room"}))
        .await
        .expect("open");
    let mut ana = server.connect().await;
    ana.hello(&invitation(&created, 1).1).await;
    assert_eq!(ana.view["terms"]["version"], "2026-11");
    ana.consent_all().await;
    let ana_id = keeper.in_lobby("Ana Harmed").await;
    keeper
        .cmd(json!({"type": "admit", "person": ana_id}))
        .await
        .expect("admit");
    ana.wait_stage("circle").await;
    let mut ben = server.connect().await;
    ben.hello(&invitation(&created, 2).1).await;
    ben.send(json!({"type": "withdraw_consent"})).await;
    assert_eq!(ben.until("ended").await["reason"], "consent_withdrawn");
    keeper
        .cmd(json!({"type": "start_session"}))
        .await
        .expect("start");
    keeper
        .cmd(json!({"type": "close_room"}))
        .await
        .expect("close");
    let ended = keeper.until("ended").await;
    assert_eq!(
        ended["summary"],
        json!({
            "people": [
                {"name": "Kim Keeper", "role": "keeper", "party": null, "outcome": "took_part"},
                {"name": "Ana Harmed", "role": "participant", "party": "harmed", "outcome": "took_part"},
                {"name": "Ben Responsible", "role": "participant", "party": "responsible", "outcome": "withdrew"}
            ],
            "rounds": 0,
            "agreement": null
        })
    );
    let ana_ended = ana.until("ended").await;
    assert!(ana_ended.get("summary").is_none(), "{ana_ended}");

    let record = http
        .get(&format!("/api/v1/rooms/{room}/record"))
        .await
        .json();
    assert_eq!(record["room"]["keeper_consent"]["version"], "keepers-3");
    let keeper_consents: Vec<(&str, &str)> = record["consents"]
        .as_array()
        .expect("consents")
        .iter()
        .filter(|c| c["version"] == "keepers-3")
        .map(|c| (c["item"].as_str().unwrap(), c["decision"].as_str().unwrap()))
        .collect();
    assert_eq!(keeper_consents, [("care", "accepted")]);

    let mut bad = conference();
    bad["keeper_consent"] = json!({"version": "k", "items": []});
    let refused = http.post("/api/v1/rooms", bad).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
    assert_eq!(refused.code(), "invalid_consent");
    assert!(
        refused.text.contains("keeper_consent.items"),
        "{}",
        refused.text
    );
}

#[tokio::test]
async fn rooms_are_listed_page_by_page() {
    let server = api::start().await;
    let http = Http::new(server.addr);
    let mut made = Vec::new();
    for _ in 0..5 {
        made.push(
            http.create(conference()).await["room_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/rooms?limit=2&cursor={c}"),
            None => "/api/v1/rooms?limit=2".to_owned(),
        };
        let page = http.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let page = page.json();
        let rooms = page["rooms"].as_array().unwrap();
        assert!(rooms.len() <= 2);
        for r in rooms {
            assert_eq!(r["phase"], "scheduled");
            assert_eq!(r["kind"], "conference");
            seen.push(r["room_id"].as_str().unwrap().to_owned());
        }
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 5);
    assert_eq!(
        seen.iter().collect::<HashSet<_>>(),
        made.iter().collect::<HashSet<_>>()
    );
    let all = http.get("/api/v1/rooms").await.json();
    assert_eq!(all["rooms"].as_array().unwrap().len(), 5);
    assert!(all["next_cursor"].is_null());
}

#[tokio::test]
async fn a_read_only_key_reads_and_the_state_survives_a_restart() {
    let server = api::start().await;
    let http = Http::new(server.addr);
    let created = http.create(conference()).await;
    let room = created["room_id"].as_str().unwrap().to_owned();
    let (_, keeper_token) = invitation(&created, 0);
    let mut keeper = server.connect().await;
    keeper.hello(&keeper_token).await;
    keeper.consent_all().await;
    keeper.cmd(json!({"type": "open_room"})).await.unwrap();
    keeper.close().await;

    let dir = server.stop().await;
    let server = TestServer::start_in(dir, with_keys).await;
    let http = Http::new(server.addr);
    for path in [
        format!("/api/v1/rooms/{room}"),
        "/api/v1/rooms".to_owned(),
        format!("/api/v1/rooms/{room}/record"),
        format!("/api/v1/rooms/{room}/record.csv"),
    ] {
        let answer = http
            .call(hyper::Method::GET, &path, Some(READ_ONLY_KEY), None)
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text);
    }
    // Not running after the restart: read from the journal, nobody here.
    let state = http
        .call(
            hyper::Method::GET,
            &format!("/api/v1/rooms/{room}"),
            Some(READ_ONLY_KEY),
            None,
        )
        .await
        .json();
    assert_eq!(state["running"], false);
    assert_eq!(state["phase"], "open");
    assert_eq!(presence(&state, 1), "away");
}
