//! Circle outlines end to end: the program's outline library over the API,
//! a room created with a library outline, and a keeper walking it with
//! `next_step` while every participant's view follows step by step.

#[path = "common/api.rs"]
mod api;
mod common;

use api::*;
use common::*;
use hyper::StatusCode;
use serde_json::{Value, json};

fn harm_circle() -> Value {
    json!({
        "name": "Harm circle",
        "steps": [
            {"kind": "opening", "prompt": "Welcome. We begin with a moment of quiet."},
            {"kind": "check_in", "prompt": "How are you arriving today?"},
            {"kind": "round", "prompt": "What happened, and who was affected?"},
            {"kind": "round", "prompt": "What is needed to make things right?"},
            {"kind": "closing", "prompt": ""}
        ]
    })
}

fn circle_with(outline: (&str, Value)) -> Value {
    let mut room = json!({
        "kind": "circle",
        "title": "Circle about the fence",
        "seats": [
            {"seat": 1, "name": "Kim Keeper", "role": "keeper"},
            {"seat": 2, "name": "Ana Harmed", "role": "participant", "party": "harmed"},
            {"seat": 3, "name": "Ben Responsible", "role": "participant", "party": "responsible"}
        ]
    });
    room[outline.0] = outline.1;
    room
}

#[tokio::test]
async fn the_outline_library_creates_lists_reads_and_deletes() {
    let server = api::start().await;
    let http = Http::new(server.addr);

    let created = http.post("/api/v1/outlines", harm_circle()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let created = created.json();
    let id = created["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("ol_"), "{id}");
    assert_eq!(created["name"], "Harm circle");
    assert_eq!(created["steps"], harm_circle()["steps"]);
    assert!(
        created["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );

    let other = json!({"name": "Check-in", "steps": [{"kind": "check_in", "prompt": "One word?"}]});
    assert_eq!(
        http.post("/api/v1/outlines", other).await.status,
        StatusCode::CREATED
    );

    let list = http.get("/api/v1/outlines").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let names: Vec<Value> = list.json()["outlines"]
        .as_array()
        .expect("outlines")
        .iter()
        .map(|o| o["name"].clone())
        .collect();
    assert_eq!(names, [json!("Check-in"), json!("Harm circle")], "by name");

    // A read-only key reads the library but does not change it.
    let read = http
        .call(
            hyper::Method::GET,
            &format!("/api/v1/outlines/{id}"),
            Some(READ_ONLY_KEY),
            None,
        )
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.json()["steps"], harm_circle()["steps"]);
    let refused = http
        .call(
            hyper::Method::DELETE,
            &format!("/api/v1/outlines/{id}"),
            Some(READ_ONLY_KEY),
            None,
        )
        .await;
    assert_eq!(refused.code(), "read_only_key");

    // A name is unique in the library.
    let again = http.post("/api/v1/outlines", harm_circle()).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.code(), "outline_exists");

    let deleted = http.delete(&format!("/api/v1/outlines/{id}")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    for answer in [
        http.get(&format!("/api/v1/outlines/{id}")).await,
        http.delete(&format!("/api/v1/outlines/{id}")).await,
    ] {
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
        assert_eq!(answer.code(), "outline_unknown");
    }
    assert_eq!(
        http.get("/api/v1/outlines").await.json()["outlines"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[tokio::test]
async fn invalid_outlines_and_unknown_outline_ids_are_refused() {
    let server = api::start().await;
    let http = Http::new(server.addr);
    let step = |kind: &str, prompt: &str| json!({"kind": kind, "prompt": prompt});
    let long = "x".repeat(501);
    let too_many: Vec<Value> = (0..21).map(|_| step("round", "Q")).collect();
    for (body, code) in [
        (
            json!({"name": "", "steps": [step("opening", "")]}),
            "invalid_outline",
        ),
        (
            json!({"name": "n".repeat(101), "steps": [step("opening", "")]}),
            "invalid_outline",
        ),
        (json!({"name": "No steps", "steps": []}), "invalid_outline"),
        (
            json!({"name": "Many", "steps": too_many}),
            "invalid_outline",
        ),
        (
            json!({"name": "Blank round", "steps": [step("round", " ")]}),
            "invalid_outline",
        ),
        (
            json!({"name": "Long", "steps": [step("closing", &long)]}),
            "invalid_outline",
        ),
        (
            json!({"name": "Kind", "steps": [step("sermon", "Q")]}),
            "bad_json",
        ),
        // A script only on a step that starts a round, with seats 1–10000.
        (
            json!({"name": "Script", "steps": [{"kind": "opening", "prompt": "Hi", "speakers": [{"seat": 2}]}]}),
            "invalid_outline",
        ),
        (
            json!({"name": "Script", "steps": [{"kind": "round", "prompt": "Q", "speakers": [{"seat": 0}]}]}),
            "invalid_outline",
        ),
        (
            json!({"name": "Script", "steps": [{"kind": "round", "prompt": "Q", "speakers": [{"party": "judge"}]}]}),
            "bad_json",
        ),
        (
            json!({"name": "Script", "steps": [{"kind": "round", "prompt": "Q", "speakers": [{"seat": 2, "party": "harmed"}]}]}),
            "bad_json",
        ),
        (
            json!({"name": "Extra", "steps": [step("round", "Q")], "id": "ol_x"}),
            "bad_json",
        ),
    ] {
        let answer = http.post("/api/v1/outlines", body.clone()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer.code(), code, "{body}");
    }
    assert_eq!(
        http.get("/api/v1/outlines").await.json()["outlines"],
        json!([])
    );

    // Creating a room: an unknown library id, both forms, or an invalid inline outline.
    let unknown = http
        .post(
            "/api/v1/rooms",
            circle_with(("outline_id", json!("ol_nope"))),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.code(), "outline_unknown");
    let mut both = circle_with(("outline", harm_circle()));
    both["outline_id"] = json!("ol_nope");
    let both = http.post("/api/v1/rooms", both).await;
    assert_eq!(both.code(), "invalid_outline");
    let bad = http
        .post(
            "/api/v1/rooms",
            circle_with(("outline", json!({"name": "x", "steps": []}))),
        )
        .await;
    assert_eq!(bad.code(), "invalid_outline");
    assert_eq!(
        http.get("/api/v1/rooms").await.json()["rooms"],
        json!([]),
        "nothing created"
    );
}

/// Everyone's view, checked: the step the circle is at, and the round's prompt (if any).
async fn all_see(clients: &mut [&mut Client], current: u64, prompt: Option<&str>) {
    for client in clients.iter_mut() {
        client
            .wait_view(|v| v["outline"]["current"] == current)
            .await;
        assert_eq!(client.view["outline"]["name"], "Harm circle");
        assert_eq!(
            client.view["round"]["prompt"].as_str(),
            prompt,
            "{}",
            client.view
        );
    }
}

#[tokio::test]
async fn a_keeper_walks_a_library_outline_and_everyone_follows() {
    let server = api::start().await;
    let http = Http::new(server.addr);
    let outline = http.post("/api/v1/outlines", harm_circle()).await.json();
    let created = http
        .create(circle_with(("outline_id", outline["id"].clone())))
        .await;

    let mut keeper = keeper_opens(&server, &created).await;
    let mut people = Vec::new();
    for i in 1..=2 {
        let mut client = server.connect().await;
        client.hello(&invitation(&created, i).1).await;
        client.consent_all().await;
        client.wait_stage("lobby").await;
        people.push(client);
    }
    for name in ["Ana Harmed", "Ben Responsible"] {
        let person = keeper.in_lobby(name).await;
        keeper
            .cmd(json!({"type": "admit", "person": person}))
            .await
            .expect("admit");
    }
    let [ana, ben] = &mut people[..] else {
        unreachable!()
    };
    ana.wait_stage("circle").await;
    ben.wait_stage("circle").await;
    assert_eq!(ana.view["outline"]["current"], Value::Null);
    assert_eq!(ana.view["outline"]["steps"], harm_circle()["steps"]);

    // Not before the session, and never from a participant.
    assert_eq!(
        keeper.refused(json!({"type": "next_step"})).await,
        "wrong_phase"
    );
    keeper
        .cmd(json!({"type": "start_session"}))
        .await
        .expect("start");
    assert_eq!(
        ana.refused(json!({"type": "next_step"})).await,
        "keeper_only"
    );

    let steps = harm_circle()["steps"].as_array().expect("steps").clone();
    for (index, step) in steps.iter().enumerate() {
        keeper
            .cmd(json!({"type": "next_step"}))
            .await
            .expect("next step");
        let prompt = match step["kind"].as_str() {
            Some("opening" | "closing") => None,
            _ => step["prompt"].as_str(),
        };
        all_see(&mut [&mut keeper, ana, ben], index as u64, prompt).await;
        if prompt.is_some() {
            // The round goes round as any round: the piece starts at seat 1.
            assert_eq!(ana.holder(), Some(keeper.person("Kim Keeper")));
        } else {
            assert_eq!(ana.holder(), None);
        }
    }
    assert_eq!(
        keeper.refused(json!({"type": "next_step"})).await,
        "outline_done"
    );

    // A keeper's own outline replaces the room's and is saved to the library under its name.
    let own =
        json!({"name": "Follow-up", "steps": [{"kind": "round", "prompt": "What has changed?"}]});
    keeper
        .cmd(json!({"type": "set_outline", "outline": own}))
        .await
        .expect("set outline");
    ben.wait_view(|v| v["outline"]["name"] == "Follow-up").await;
    assert_eq!(ben.view["outline"]["current"], Value::Null);
    let bad = json!({"name": "Bad", "steps": []});
    assert_eq!(
        keeper
            .refused(json!({"type": "set_outline", "outline": bad}))
            .await,
        "bad_outline"
    );
    let library = http.get("/api/v1/outlines").await.json();
    let follow_up = library["outlines"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["name"] == "Follow-up"))
        .unwrap_or_else(|| panic!("saved: {library}"));
    assert_eq!(follow_up["steps"][0]["prompt"], "What has changed?");
    keeper
        .cmd(json!({"type": "next_step"}))
        .await
        .expect("next step");
    ana.wait_view(|v| v["round"]["prompt"] == "What has changed?")
        .await;
}

#[tokio::test]
async fn a_room_without_an_outline_refuses_next_step() {
    let server = api::start().await;
    let http = Http::new(server.addr);
    let created = http.create(conference()).await;
    let mut keeper = server.connect().await;
    keeper.hello(&invitation(&created, 0).1).await;
    keeper.consent_all().await;
    keeper.wait_stage("circle").await;
    assert_eq!(keeper.view["outline"], Value::Null);
    assert_eq!(
        keeper.refused(json!({"type": "next_step"})).await,
        "no_outline"
    );
}

/// SPEC §3.2.9: a conference runs from a script — the library keeps it, and
/// in the conference's moderated floor the floor goes to the responsible
/// party, then the harmed party, turn by turn, then the round ends.
#[tokio::test]
async fn a_conference_runs_from_a_scripted_outline() {
    let server = api::start().await;
    let http = Http::new(server.addr);
    let script = json!({
        "name": "Conference script",
        "steps": [
            {"kind": "opening", "prompt": "Welcome."},
            {"kind": "round", "prompt": "What happened?",
             "speakers": [{"party": "responsible"}, {"party": "harmed"}]},
            {"kind": "closing_round", "prompt": "One word to close.", "speakers": [{"seat": 2}]}
        ]
    });
    let saved = http.post("/api/v1/outlines", script.clone()).await;
    assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.text);
    let saved = saved.json();
    assert_eq!(
        saved["steps"], script["steps"],
        "the library keeps the script"
    );

    let mut room = circle_with(("outline_id", saved["id"].clone()));
    room["kind"] = json!("conference");
    room["options"] = json!({"entry_order": null});
    let created = http.create(room).await;
    let mut keeper = keeper_opens(&server, &created).await;
    let mut ana = server.connect().await;
    ana.hello(&invitation(&created, 1).1).await;
    ana.consent_all().await;
    let mut ben = server.connect().await;
    ben.hello(&invitation(&created, 2).1).await;
    ben.consent_all().await;
    for name in ["Ana Harmed", "Ben Responsible"] {
        let person = keeper.in_lobby(name).await;
        keeper
            .cmd(json!({"type": "admit", "person": person}))
            .await
            .expect("admit");
    }
    keeper
        .cmd(json!({"type": "start_session"}))
        .await
        .expect("start");
    let (ana_id, ben_id) = (
        keeper.person("Ana Harmed"),
        keeper.person("Ben Responsible"),
    );
    keeper
        .cmd(json!({"type": "next_step"}))
        .await
        .expect("opening");
    keeper
        .cmd(json!({"type": "next_step"}))
        .await
        .expect("the scripted round");
    ben.wait_view(|v| v["granted"] == json!([ben_id])).await;
    assert_eq!(ben.view["mode"], "moderated");
    assert_eq!(ben.view["round"]["order"], json!([ben_id, ana_id]));
    assert_eq!(ben.view["next"], json!(ana_id));
    ben.cmd(json!({"type": "pass"})).await.expect("Ben is done");
    ana.wait_view(|v| v["granted"] == json!([ana_id])).await;
    ana.cmd(json!({"type": "pass_without_speaking"}))
        .await
        .expect("Ana passes");
    ana.wait_view(|v| v["round"].is_null() && v["granted"] == json!([]))
        .await;

    keeper
        .cmd(json!({"type": "next_step"}))
        .await
        .expect("the closing round");
    ana.wait_view(|v| v["granted"] == json!([ana_id])).await;
    assert_eq!(ana.view["round"]["prompt"], "One word to close.");
}
