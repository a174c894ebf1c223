//! Issue 8 over a real socket and the real API: post-session feedback that
//! cannot be linked back to a person, withheld aggregates, the agreement
//! follow-up with its webhooks and overdue sweep, and program reports whose
//! figures match a scripted set of meetings.

#[path = "common/api.rs"]
mod api;
mod common;

use std::collections::HashSet;
use std::net::SocketAddr;

use api::*;
use axum::http::StatusCode;
use circlekeeper::circle::Timestamp;
use circlekeeper::config::Config;
use common::*;
use hyper::Method;
use serde_json::{Value, json};
use tokio::sync::mpsc;

// ---------------------------------------------------------------- helpers

/// A room created through the API, opened and in session, with its keeper in.
struct Meeting {
    room: String,
    created: Value,
    keeper: Client,
}

impl Meeting {
    async fn start(server: &TestServer, http: &Http, body: Value) -> Meeting {
        let created = http.create(body).await;
        let room = created["room_id"].as_str().expect("room id").to_owned();
        let (_, token) = invitation(&created, 0);
        let mut keeper = server.connect().await;
        keeper.hello(&token).await;
        keeper.consent_all().await;
        keeper.wait_stage("circle").await;
        keeper.cmd(json!({"type": "open_room"})).await.unwrap();
        keeper.cmd(json!({"type": "start_session"})).await.unwrap();
        Meeting {
            room,
            created,
            keeper,
        }
    }

    /// (invitation id, token) of seat index `i` in the create request.
    fn seat(&self, i: usize) -> (String, String) {
        invitation(&self.created, i)
    }

    /// Seat `i` arrives, consents and waits in the lobby.
    async fn wait_in_lobby(&mut self, server: &TestServer, i: usize) -> Client {
        let (_, token) = self.seat(i);
        let mut client = server.connect().await;
        client.hello(&token).await;
        client.consent_all().await;
        client.wait_stage("lobby").await;
        client
    }

    /// Seat `i` (called `name`) arrives, consents and is admitted.
    async fn join(&mut self, server: &TestServer, i: usize, name: &str) -> Client {
        let mut client = self.wait_in_lobby(server, i).await;
        self.admit(name).await;
        client.wait_stage("circle").await;
        client
    }

    async fn admit(&mut self, name: &str) {
        let id = self.keeper.in_lobby(name).await;
        self.keeper
            .cmd(json!({"type": "admit", "person": id}))
            .await
            .unwrap();
    }

    async fn close(&mut self) {
        self.keeper.send(json!({"type": "close_room"})).await;
        let ended = self.keeper.until("ended").await;
        assert!(
            ended.get("feedback").is_none(),
            "keepers are not asked: {ended}"
        );
    }
}

fn seat(seat: u32, name: &str, role: &str, party: Option<&str>) -> Value {
    json!({"seat": seat, "name": name, "role": role, "party": party})
}

/// The person leaves; returns their `ended` message.
async fn leave(client: &mut Client) -> Value {
    client.send(json!({"type": "leave"})).await;
    client.until("ended").await
}

async fn post_feedback(http: &Http, token: Option<&str>, body: Value) -> Answer {
    http.call(Method::POST, "/feedback", token, Some(body))
        .await
}

async fn give(http: &Http, token: &str, body: Value) {
    let answer = post_feedback(http, Some(token), body).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.text);
}

/// The entry of party `name` in a room's feedback (`parties`) or a report kind (`feedback`).
fn party<'a>(feedback: &'a Value, name: &str) -> &'a Value {
    let list = if feedback["parties"].is_array() {
        &feedback["parties"]
    } else {
        &feedback["feedback"]
    };
    list.as_array()
        .and_then(|p| p.iter().find(|p| p["party"] == name))
        .unwrap_or_else(|| panic!("no party {name} in {feedback}"))
}

fn question<'a>(party: &'a Value, id: &str) -> &'a Value {
    party["questions"]
        .as_array()
        .and_then(|q| q.iter().find(|q| q["id"] == id))
        .unwrap_or_else(|| panic!("no question {id} in {party}"))
}

const STANDARD: [&str; 5] = [
    "felt_heard",
    "felt_safe",
    "fair_process",
    "would_recommend",
    "agreement_satisfaction",
];

/// Everything the program reads about one room besides its feedback.
async fn views(http: &Http, room: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for path in [
        format!("/api/v1/rooms/{room}"),
        format!("/api/v1/rooms/{room}/record"),
        format!("/api/v1/rooms/{room}/record.csv"),
        "/api/v1/rooms".to_owned(),
    ] {
        let answer = http.get(&path).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text);
        out.push((path, answer.text));
    }
    out
}

// ------------------------------------------------------------- feedback

#[tokio::test]
async fn feedback_is_offered_answered_once_withheld_under_three_and_never_linkable() {
    let server = start().await;
    let http = Http::new(server.addr);
    let mut m = Meeting::start(
        &server,
        &http,
        json!({
            "kind": "circle",
            "title": "Circle about the garden",
            "seats": [
                seat(1, "Kim Keeper", "keeper", None),
                seat(2, "Ana One", "participant", Some("harmed")),
                seat(3, "Amy Two", "participant", Some("harmed")),
                seat(4, "Abe Three", "participant", Some("harmed")),
                seat(5, "Ben Resp", "participant", Some("responsible")),
                seat(6, "Oli Observer", "observer", None),
                seat(7, "Lou Lobby", "participant", None),
                seat(8, "Wes Withdraws", "participant", None),
                seat(9, "Rex Removed", "participant", None),
            ]
        }),
    )
    .await;
    let room = m.room.clone();
    let ids: Vec<(String, String)> = (0..9).map(|i| m.seat(i)).collect();
    let names = [
        "Kim Keeper",
        "Ana One",
        "Amy Two",
        "Abe Three",
        "Ben Resp",
        "Oli Observer",
        "Lou Lobby",
        "Wes Withdraws",
        "Rex Removed",
    ];
    let mut ana = m.join(&server, 1, "Ana One").await;
    let mut amy = m.join(&server, 2, "Amy Two").await;
    let mut abe = m.join(&server, 3, "Abe Three").await;
    let mut ben = m.join(&server, 4, "Ben Resp").await;
    let mut oli = m.join(&server, 5, "Oli Observer").await;
    let mut lou = m.wait_in_lobby(&server, 6).await;
    let mut wes = m.join(&server, 7, "Wes Withdraws").await;
    let mut rex = m.join(&server, 8, "Rex Removed").await;

    // Withdrawal and removal end a visit without a questionnaire.
    wes.send(json!({"type": "withdraw_consent"})).await;
    let ended = wes.until("ended").await;
    assert_eq!(ended["reason"], "consent_withdrawn");
    assert!(ended.get("feedback").is_none(), "{ended}");
    let r = m.keeper.person("Rex Removed");
    m.keeper
        .cmd(json!({"type": "remove", "person": r}))
        .await
        .unwrap();
    let ended = rex.until("ended").await;
    assert_eq!(ended["reason"], "removed");
    assert!(ended.get("feedback").is_none(), "{ended}");

    // Leaving the circle offers the room's questionnaire.
    let ended = leave(&mut ana).await;
    assert_eq!(ended["reason"], "left");
    let offer = &ended["feedback"];
    assert_eq!(offer["scale"], 5);
    assert_eq!(offer["free_text"], true);
    let offered: Vec<&str> = offer["questions"]
        .as_array()
        .expect("questions")
        .iter()
        .map(|q| q["id"].as_str().unwrap())
        .collect();
    assert_eq!(offered, STANDARD);
    assert!(offer["questions"][0]["text"].is_string());

    // Presence differs while people are still connected; compare once all is quiet.

    let ana_token = &ids[1].1;
    // Bad answers are refused whole, and do not use up the answer.
    for bad in [
        json!({"answers": {"felt_heard": 6}}),
        json!({"answers": {"felt_heard": 0}}),
        json!({"answers": {"felt_heard": 2.5}}),
        json!({"answers": {"felt_heard": "5"}}),
        json!({"answers": {"unknown_question": 3}}),
        json!({"answers": {}}),
        json!({"answers": {"felt_heard": 3}, "comment": "x".repeat(2001)}),
        json!({"declined": true, "answers": {"felt_heard": 3}}),
    ] {
        let answer = post_feedback(&http, Some(ana_token), bad.clone()).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            answer.text
        );
        assert_eq!(answer.code(), "invalid_answers", "{bad}");
    }
    let answer = post_feedback(&http, Some(ana_token), json!({"answers": {}, "extra": 1})).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    give(
        &http,
        ana_token,
        json!({"answers": {"felt_heard": 5, "felt_safe": 4}, "comment": "zeta: thank you all"}),
    )
    .await;
    let again = post_feedback(
        &http,
        Some(ana_token),
        json!({"answers": {"felt_heard": 1}}),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    assert_eq!(again.code(), "already_answered");
    let declined_after = post_feedback(&http, Some(ana_token), json!({"declined": true})).await;
    assert_eq!(declined_after.code(), "already_answered");

    // One answer: withheld.
    let feedback = http.get(&format!("/api/v1/rooms/{room}/feedback")).await;
    assert_eq!(feedback.status, StatusCode::OK, "{}", feedback.text);
    let feedback = feedback.json();
    assert_eq!(feedback["min_answers"], 3);
    let harmed = party(&feedback, "harmed");
    assert_eq!(harmed["answers"], 1);
    assert_eq!(harmed["withheld"], true);
    assert!(harmed.get("questions").is_none() && harmed.get("comments").is_none());
    assert!(!feedback.to_string().contains("zeta"), "{feedback}");

    // Ana comes back: once answered, she is not asked again.
    let mut ana = server.connect().await;
    ana.hello(ana_token).await;
    ana.wait_stage("lobby").await;
    m.admit("Ana One").await;
    ana.wait_stage("circle").await;

    let ended = leave(&mut amy).await;
    assert!(ended["feedback"].is_object(), "{ended}");
    give(
        &http,
        &ids[2].1,
        json!({"answers": {"felt_heard": 3, "fair_process": 2}, "comment": "alpha: too short"}),
    )
    .await;
    let feedback = http
        .get(&format!("/api/v1/rooms/{room}/feedback"))
        .await
        .json();
    assert_eq!(party(&feedback, "harmed")["answers"], 2);
    assert_eq!(party(&feedback, "harmed")["withheld"], true);

    // Closing: participants who were in the circle are asked; the lobby,
    // observers and those who answered already are not.
    m.close().await;
    for (client, asked) in [
        (&mut ana, false),
        (&mut abe, true),
        (&mut ben, true),
        (&mut oli, false),
        (&mut lou, false),
    ] {
        let ended = client.until("ended").await;
        assert_eq!(ended["reason"], "room_closed");
        assert_eq!(ended.get("feedback").is_some(), asked, "{ended}");
    }

    let before = views(&http, &room).await;
    give(
        &http,
        &ids[3].1,
        json!({"answers": {"felt_heard": 4, "felt_safe": 4, "fair_process": 5}}),
    )
    .await;
    give(&http, &ids[4].1, json!({"declined": true})).await;

    // Three answers: the harmed party's figures appear.
    let feedback = http
        .get(&format!("/api/v1/rooms/{room}/feedback"))
        .await
        .json();
    let harmed = party(&feedback, "harmed");
    assert_eq!(harmed["answers"], 3);
    assert_eq!(harmed["declined"], 0);
    assert_eq!(harmed["withheld"], false);
    let heard = question(harmed, "felt_heard");
    assert_eq!(heard["count"], 3);
    assert_eq!(heard["mean"], 4.0);
    assert_eq!(heard["distribution"], json!([0, 0, 1, 1, 1]));
    let safe = question(harmed, "felt_safe");
    assert_eq!(
        (safe["count"].clone(), safe["mean"].clone()),
        (json!(2), json!(4.0))
    );
    assert_eq!(question(harmed, "fair_process")["mean"], 3.5);
    assert_eq!(question(harmed, "would_recommend")["count"], 0);
    assert_eq!(question(harmed, "would_recommend")["mean"], Value::Null);
    assert_eq!(
        harmed["comments"],
        json!(["alpha: too short", "zeta: thank you all"]),
        "sorted, not in the order given"
    );
    let responsible = party(&feedback, "responsible");
    assert_eq!(responsible["answers"], 0);
    assert_eq!(responsible["declined"], 1);
    assert_eq!(responsible["withheld"], true);

    // Nothing in the feedback names anyone: no invitation id, seat or name,
    // and only aggregate keys.
    let text = feedback.to_string();
    for (id, _) in &ids {
        assert!(!text.contains(id.as_str()), "an invitation id in {text}");
    }
    for name in names {
        assert!(!text.contains(name), "a name in {text}");
    }
    for p in feedback["parties"].as_array().unwrap() {
        let mut keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        for key in keys {
            assert!(
                [
                    "answers",
                    "comments",
                    "declined",
                    "party",
                    "questions",
                    "withheld"
                ]
                .contains(&key),
                "unexpected key {key} in {p}"
            );
        }
    }
    let top: HashSet<&str> = feedback
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(top, HashSet::from(["room_id", "min_answers", "parties"]));

    // Answering changed no other response: who answered is not exposed,
    // and no answer or comment appears anywhere else.
    let after = views(&http, &room).await;
    assert_eq!(before, after, "an answer changed what the program reads");
    let mut everything: Vec<String> = after.into_iter().map(|(_, text)| text).collect();
    for path in [
        "/api/v1/reports?from=2000-01-01&to=2099-12-31".to_owned(),
        "/api/v1/reports.csv?from=2000-01-01&to=2099-12-31".to_owned(),
        format!("/api/v1/rooms/{room}/agreement"),
    ] {
        everything.push(http.get(&path).await.text);
    }
    for text in &everything {
        assert!(
            !text.contains("zeta") && !text.contains("alpha: too"),
            "a comment in {text}"
        );
        assert!(
            !text.contains("feedback_given") && !text.contains("answered"),
            "{text}"
        );
    }

    // Who is not eligible: never admitted, withdrawn, removed (revoked),
    // keeper, observer. Bad credentials are 401.
    for (i, why) in [
        (6, "lobby only"),
        (7, "withdrew"),
        (8, "removed"),
        (0, "keeper"),
        (5, "observer"),
    ] {
        let answer = post_feedback(
            &http,
            Some(&ids[i].1),
            json!({"answers": {"felt_heard": 3}}),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{why}: {}",
            answer.text
        );
        assert_eq!(answer.code(), "not_eligible", "{why}");
    }
    for token in [None, Some("not-a-token"), Some(KEY)] {
        let answer = post_feedback(&http, token, json!({"declined": true})).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(answer.code(), "invalid_token");
    }
    let feedback_after = http
        .get(&format!("/api/v1/rooms/{room}/feedback"))
        .await
        .json();
    assert_eq!(feedback_after, feedback, "refused answers changed nothing");
}

#[tokio::test]
async fn create_room_takes_a_questionnaire_and_validates_it() {
    let server = start().await;
    let http = Http::new(server.addr);
    let mut body = conference();
    body["options"] = json!({"entry_order": null});
    body["feedback"] = json!({
        "questions": [
            {"id": "felt_heard", "text": "I felt heard.", "translations": {"es": "Me sentí escuchado."}},
            {"id": "would_meet_again", "text": "I would meet again."}
        ],
        "free_text": false
    });
    let mut m = Meeting::start(&server, &http, body.clone()).await;
    let mut ana = m.join(&server, 1, "Ana Harmed").await;
    let ended = leave(&mut ana).await;
    let offer = &ended["feedback"];
    assert_eq!(offer["free_text"], false);
    assert_eq!(
        offer["questions"][0]["translations"]["es"],
        "Me sentí escuchado."
    );
    assert_eq!(offer["questions"][1]["id"], "would_meet_again");
    assert!(offer["questions"][1].get("translations").is_none());
    let (_, token) = m.seat(1);
    let comment = post_feedback(
        &http,
        Some(&token),
        json!({"answers": {"felt_heard": 4}, "comment": "hi"}),
    )
    .await;
    assert_eq!(
        comment.code(),
        "invalid_answers",
        "no free text in this room"
    );
    give(&http, &token, json!({"answers": {"would_meet_again": 5}})).await;

    let bad_questionnaires = [
        json!({"questions": [], "free_text": true}),
        json!({"questions": [{"id": "Bad Id", "text": "x"}], "free_text": true}),
        json!({"questions": [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}], "free_text": true}),
        json!({"questions": [{"id": "a", "text": " "}], "free_text": true}),
        json!({"questions": [{"id": "a", "text": "x".repeat(501)}], "free_text": true}),
        json!({"questions": [{"id": "a", "text": "x", "translations": {"Spanish": "y"}}], "free_text": true}),
        json!({"questions": (0..11).map(|i| json!({"id": format!("q{i}"), "text": "x"})).collect::<Vec<_>>(), "free_text": true}),
    ];
    for bad in bad_questionnaires {
        body["feedback"] = bad.clone();
        let answer = http.post("/api/v1/rooms", body.clone()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(answer.code(), "invalid_feedback", "{bad}");
    }
    body["feedback"] =
        json!({"questions": [{"id": "a", "text": "x", "scale": 7}], "free_text": true});
    assert_eq!(http.post("/api/v1/rooms", body).await.code(), "bad_json");
}

// ---------------------------------------------------- agreement follow-up

const SECRET: &str = "a-shared-secret-for-outcomes";

/// A webhook receiver on port 0 that checks signatures; events come out of the channel.
async fn receiver() -> (SocketAddr, mpsc::UnboundedReceiver<Value>) {
    let (app, rx) = signed_webhook_receiver(SECRET);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, rx)
}

fn hooks(addr: SocketAddr) -> impl FnOnce(&mut Config) {
    move |c: &mut Config| {
        c.webhooks.url = Some(format!("http://{addr}/hook"));
        c.webhooks.secret = Some(SECRET.into());
        c.webhooks.retry_initial_ms = 20;
        c.webhooks.retry_max_ms = 100;
        c.webhooks.poll_ms = 20;
    }
}

/// The next `agreement.item_*` event (others are skipped).
async fn next_item_event(rx: &mut mpsc::UnboundedReceiver<Value>) -> Value {
    loop {
        let event = tokio::time::timeout(PATIENCE, rx.recv())
            .await
            .expect("an event in time")
            .expect("receiver");
        if event["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("agreement.item_"))
        {
            return event;
        }
    }
}

async fn patch(
    http: &Http,
    room: &str,
    index: &str,
    credential: Option<&str>,
    body: Value,
) -> Answer {
    let path = format!("/api/v1/rooms/{room}/agreement/items/{index}");
    http.call(Method::PATCH, &path, credential, Some(body))
        .await
}

/// Midday UTC of a day, as the sweep's clock.
fn noon(day: &str) -> Timestamp {
    let date = time::Date::parse(
        day,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .expect("a date");
    let secs = date.midnight().assume_utc().unix_timestamp() + 12 * 3600;
    Timestamp(secs as u64 * 1000)
}

#[tokio::test]
async fn agreement_items_are_followed_up_by_key_or_keeper_and_the_harmed_party_is_notified() {
    let (addr, mut rx) = receiver().await;
    let server = start_with(hooks(addr)).await;
    let http = Http::new(server.addr);
    let mut body = conference();
    body["options"] = json!({"entry_order": null});
    body["seats"].as_array_mut().unwrap().push(seat(
        4,
        "Sue Supporter",
        "participant",
        Some("supporter"),
    ));
    let mut m = Meeting::start(&server, &http, body.clone()).await;
    let other = Meeting::start(&server, &http, body).await;
    let room = m.room.clone();
    let (ana_id, ana_token) = m.seat(1);
    let (_, keeper_token) = m.seat(0);
    let (_, other_keeper_token) = other.seat(0);
    let mut ana = m.join(&server, 1, "Ana Harmed").await;
    let _ben = m.join(&server, 2, "Ben Responsible").await;

    // No agreement yet.
    let none = http.get(&format!("/api/v1/rooms/{room}/agreement")).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    assert_eq!(none.code(), "no_agreement");

    let items = json!([
        {"what": "Repair the fence", "who": "Ben", "by": "end of May", "due": "2030-05-31", "owner_seat": 3},
        {"what": "Write a letter", "who": "Ben", "by": "soon"},
        {"what": "Meet again", "who": "Kim", "by": "June", "due": "2030-06-01"},
    ]);
    // A bad date, and owners who cannot own an item: the keeper (seat 1), a seat nobody has.
    for bad in [
        json!([{"what": "x", "who": "y", "by": "z", "due": "2030-02-30"}]),
        json!([{"what": "x", "who": "y", "by": "z", "owner_seat": 1}]),
        json!([{"what": "x", "who": "y", "by": "z", "owner_seat": 99}]),
    ] {
        assert_eq!(
            m.keeper
                .cmd(json!({"type": "draft_agreement", "items": bad}))
                .await,
            Err("bad_agreement".into())
        );
    }
    m.keeper
        .cmd(json!({"type": "draft_agreement", "items": items}))
        .await
        .unwrap();
    ana.wait_view(|v| v["agreement"].is_object()).await;
    let text = ana.view["agreement"]["text"].as_str().unwrap().to_owned();
    assert!(
        text.contains("— due: 2030-05-31\n")
            && text.contains("2. Write a letter — responsible: Ben — by: soon\n"),
        "{text}"
    );
    m.keeper
        .cmd(json!({"type": "finalize_agreement"}))
        .await
        .unwrap();
    ana.wait_view(|v| v["agreement"]["final"] == true || v["agreement"]["is_final"] == true)
        .await;
    let hash = ana.view["agreement"]["hash"].clone();

    let followup = http.get(&format!("/api/v1/rooms/{room}/agreement")).await;
    assert_eq!(followup.status, StatusCode::OK, "{}", followup.text);
    let followup = followup.json();
    assert_eq!(followup["version"], 1);
    assert_eq!(followup["hash"], hash);
    let items = followup["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["index"], 0);
    assert_eq!(items[0]["due"], "2030-05-31");
    assert_eq!(items[1]["due"], Value::Null);
    assert_eq!(items[0]["owner_seat"], 3);
    assert_eq!(items[1]["owner_seat"], Value::Null);
    assert_eq!(items[2]["what"], "Meet again");
    assert!(
        items
            .iter()
            .all(|i| i["status"] == "open" && i["updated_at"].is_string())
    );

    // The program marks item 0 done with its key.
    let done = patch(&http, &room, "0", Some(KEY), json!({"status": "done"})).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert_eq!(done.json()["status"], "done");
    let event = next_item_event(&mut rx).await;
    assert_eq!(event["type"], "agreement.item_completed");
    assert_eq!(event["room_id"], room.as_str());
    assert_eq!(event["data"]["index"], 0);
    assert_eq!(event["data"]["hash"], hash);
    assert_eq!(
        event["data"]["notify"],
        json!({"party": "harmed", "invitation_ids": [ana_id]})
    );
    // The item's owner is told too.
    let (ben_id, _) = m.seat(2);
    assert_eq!(
        event["data"]["owner"],
        json!({"seat": 3, "invitation_ids": [ben_id]})
    );
    assert!(
        !event.to_string().contains("Repair"),
        "no agreement text in webhooks"
    );

    // The keeper marks item 1 not done with their own invitation.
    let missed = patch(
        &http,
        &room,
        "1",
        Some(&keeper_token),
        json!({"status": "not_done"}),
    )
    .await;
    assert_eq!(missed.status, StatusCode::OK, "{}", missed.text);
    let event = next_item_event(&mut rx).await;
    assert_eq!(event["type"], "agreement.item_missed");
    assert_eq!(event["data"]["index"], 1);
    assert_eq!(event["data"]["reason"], "not_done");
    assert_eq!(event["data"]["notify"]["invitation_ids"], json!([ana_id]));

    // Refused: a participant's invitation, another room's keeper, a
    // read-only key, a forged token, no credential; and bad input.
    for (credential, status, code) in [
        (
            Some(ana_token.as_str()),
            StatusCode::FORBIDDEN,
            "not_keeper",
        ),
        (
            Some(other_keeper_token.as_str()),
            StatusCode::FORBIDDEN,
            "not_keeper",
        ),
        (Some(READ_ONLY_KEY), StatusCode::FORBIDDEN, "read_only_key"),
        (
            Some("eyJhbGciOiJub25lIn0.e30."),
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        ),
        (None, StatusCode::UNAUTHORIZED, "unauthorized"),
    ] {
        let answer = patch(&http, &room, "2", credential, json!({"status": "done"})).await;
        assert_eq!(
            (answer.status, answer.code().as_str()),
            (status, code),
            "{credential:?}"
        );
    }
    // A keeper token cannot reach other endpoints of the program API.
    let state = http
        .call(
            Method::GET,
            &format!("/api/v1/rooms/{room}"),
            Some(&keeper_token),
            None,
        )
        .await;
    assert_eq!(state.code(), "unauthorized");
    for (index, body, status, code) in [
        (
            "9",
            json!({"status": "done"}),
            StatusCode::NOT_FOUND,
            "item_unknown",
        ),
        (
            "x",
            json!({"status": "done"}),
            StatusCode::NOT_FOUND,
            "item_unknown",
        ),
        (
            "2",
            json!({"due": "2030-13-01"}),
            StatusCode::BAD_REQUEST,
            "invalid_due",
        ),
        ("2", json!({}), StatusCode::BAD_REQUEST, "empty_update"),
        (
            "2",
            json!({"status": "finished"}),
            StatusCode::BAD_REQUEST,
            "bad_json",
        ),
    ] {
        let answer = patch(&http, &room, index, Some(KEY), body.clone()).await;
        assert_eq!(
            (answer.status, answer.code().as_str()),
            (status, code),
            "{index} {body}"
        );
    }
    let unknown = patch(&http, "rm_nope", "0", Some(KEY), json!({"status": "done"})).await;
    assert_eq!(unknown.code(), "room_unknown");

    // After the room closed, the keeper's link still follows up.
    m.close().await;
    let moved = patch(
        &http,
        &room,
        "2",
        Some(&keeper_token),
        json!({"due": "2030-06-10"}),
    )
    .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    assert_eq!(moved.json()["due"], "2030-06-10");
    assert_eq!(moved.json()["status"], "open");

    // The sweep: nothing before the due day has passed; once it has, the
    // open item is reported missed, exactly once; done and not-done items never.
    assert!(
        circlekeeper::api::sweep_overdue(&server.app, noon("2030-06-10"))
            .await
            .unwrap()
            .is_empty()
    );
    let swept = circlekeeper::api::sweep_overdue(&server.app, noon("2030-06-11"))
        .await
        .unwrap();
    assert_eq!(swept, vec![(room.clone(), 2)]);
    let event = next_item_event(&mut rx).await;
    assert_eq!(event["type"], "agreement.item_missed");
    assert_eq!(event["data"]["index"], 2);
    assert_eq!(event["data"]["reason"], "overdue");
    assert_eq!(event["data"]["status"], "open");
    assert_eq!(event["data"]["notify"]["invitation_ids"], json!([ana_id]));
    assert!(
        circlekeeper::api::sweep_overdue(&server.app, noon("2030-07-01"))
            .await
            .unwrap()
            .is_empty()
    );
    // Marking it not done now sends no second `missed`; done then sends
    // `completed`, the very next item event.
    let late = patch(&http, &room, "2", Some(KEY), json!({"status": "not_done"})).await;
    assert_eq!(late.status, StatusCode::OK);
    patch(&http, &room, "2", Some(KEY), json!({"status": "done"})).await;
    let event = next_item_event(&mut rx).await;
    assert_eq!(
        (event["type"].as_str(), event["data"]["index"].as_u64()),
        (Some("agreement.item_completed"), Some(2))
    );
    // Done again (after open): at most once per item.
    patch(&http, &room, "2", Some(KEY), json!({"status": "open"})).await;
    patch(&http, &room, "2", Some(KEY), json!({"status": "done"})).await;
    patch(&http, &room, "1", Some(KEY), json!({"status": "done"})).await;
    let event = next_item_event(&mut rx).await;
    assert_eq!(
        (event["type"].as_str(), event["data"]["index"].as_u64()),
        (Some("agreement.item_completed"), Some(1))
    );

    let followup = http
        .get(&format!("/api/v1/rooms/{room}/agreement"))
        .await
        .json();
    let statuses: Vec<&str> = followup["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["done", "done", "done"]);

    // A revoked keeper invitation no longer follows up.
    let (keeper_id, _) = m.seat(0);
    http.delete(&format!("/api/v1/rooms/{room}/invitations/{keeper_id}"))
        .await;
    let revoked = patch(
        &http,
        &room,
        "0",
        Some(&keeper_token),
        json!({"status": "open"}),
    )
    .await;
    assert_eq!(revoked.code(), "invalid_token");
}

// ---------------------------------------------------------------- reports

fn day_offset(days: i64) -> String {
    let d = time::OffsetDateTime::now_utc() + time::Duration::days(days);
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

async fn decline_consent(server: &TestServer, token: &str) {
    let mut client = server.connect().await;
    client.hello(token).await;
    let answers: Vec<Value> = client.view["terms"]["items"]
        .as_array()
        .expect("terms")
        .iter()
        .map(|item| json!({"item": item["id"], "accept": false}))
        .collect();
    let version = client.view["terms"]["version"].clone();
    client
        .send(json!({"type": "consent", "version": version, "answers": answers}))
        .await;
    assert_eq!(client.until("ended").await["reason"], "consent_declined");
}

#[tokio::test]
async fn report_figures_match_a_scripted_set_of_meetings() {
    let server = start().await;
    let http = Http::new(server.addr);

    // Room A, a circle: Pia (harmed) and Rae (responsible) come in, Cal
    // (community) never comes, Sid (supporter) declines consent. Two agreed
    // items, one done. Rae leaves before the close; Pia stays to it.
    let mut a = Meeting::start(
        &server,
        &http,
        json!({"kind": "circle", "title": "Room A", "seats": [
            seat(1, "Kim", "keeper", None),
            seat(2, "Pia", "participant", Some("harmed")),
            seat(3, "Rae", "participant", Some("responsible")),
            seat(4, "Cal", "participant", Some("community")),
            seat(5, "Sid", "participant", Some("supporter")),
        ]}),
    )
    .await;
    let mut pia = a.join(&server, 1, "Pia").await;
    let mut rae = a.join(&server, 2, "Rae").await;
    decline_consent(&server, &a.seat(4).1).await;
    a.keeper
        .cmd(json!({"type": "draft_agreement", "items": [
            {"what": "Apologise", "who": "Rae", "by": "now"},
            {"what": "Repair", "who": "Rae", "by": "May", "due": "2030-05-01"}]}))
        .await
        .unwrap();
    a.keeper
        .cmd(json!({"type": "finalize_agreement"}))
        .await
        .unwrap();
    leave(&mut rae).await;
    give(
        &http,
        &a.seat(2).1,
        json!({"answers": {"felt_heard": 3}, "comment": "secret words"}),
    )
    .await;
    a.close().await;
    pia.until("ended").await;
    give(&http, &a.seat(1).1, json!({"answers": {"felt_heard": 5}})).await;
    let done = patch(&http, &a.room, "0", Some(KEY), json!({"status": "done"})).await;
    assert_eq!(done.status, StatusCode::OK);

    // Room B, a circle still in session: Pat and Pam (harmed) leave and
    // answer; Wyn (no party) withdraws.
    let mut b = Meeting::start(
        &server,
        &http,
        json!({"kind": "circle", "title": "Room B", "seats": [
            seat(1, "Kay", "keeper", None),
            seat(2, "Pat", "participant", Some("harmed")),
            seat(3, "Pam", "participant", Some("harmed")),
            seat(4, "Wyn", "participant", None),
            seat(5, "Obi", "observer", None),
        ]}),
    )
    .await;
    let mut pat = b.join(&server, 1, "Pat").await;
    let mut pam = b.join(&server, 2, "Pam").await;
    let mut wyn = b.join(&server, 3, "Wyn").await;
    let _obi = b.join(&server, 4, "Obi").await;
    wyn.send(json!({"type": "withdraw_consent"})).await;
    wyn.until("ended").await;
    leave(&mut pat).await;
    leave(&mut pam).await;
    give(&http, &b.seat(1).1, json!({"answers": {"felt_heard": 4}})).await;
    give(
        &http,
        &b.seat(2).1,
        json!({"answers": {"felt_heard": 2, "fair_process": 5}}),
    )
    .await;

    // Room C, a conference: the keeper ends the responsible party's session
    // first, then closes; both stayed to their close. No agreement.
    let mut c = Meeting::start(
        &server,
        &http,
        json!({"kind": "conference", "title": "Room C", "options": {"entry_order": null}, "seats": [
            seat(1, "Kit", "keeper", None),
            seat(2, "Hal", "participant", Some("harmed")),
            seat(3, "Rob", "participant", Some("responsible")),
        ]}),
    )
    .await;
    let mut hal = c.join(&server, 1, "Hal").await;
    let mut rob = c.join(&server, 2, "Rob").await;
    c.keeper
        .cmd(json!({"type": "end_session_for", "party": "responsible"}))
        .await
        .unwrap();
    assert_eq!(rob.until("ended").await["reason"], "session_ended");
    c.close().await;
    hal.until("ended").await;

    // Room D, a circle created and never started: not in the report.
    http.create(
        json!({"kind": "circle", "title": "Room D", "seats": [seat(1, "Kai", "keeper", None)]}),
    )
    .await;

    let (from, to) = (day_offset(-1), day_offset(1));
    let report = http
        .get(&format!("/api/v1/reports?from={from}&to={to}"))
        .await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.text);
    let report = report.json();
    assert_eq!(report["min_answers"], 3);
    let kinds = report["kinds"].as_array().unwrap();
    // Every kind, also one with no room in the period (preparation meetings).
    assert_eq!(kinds.len(), 3);
    assert_eq!(kinds[2]["kind"], "preparation");
    assert_eq!(kinds[2]["rooms"], 0);
    let circle = &kinds[0];
    assert_eq!(circle["kind"], "circle");
    let expected = [
        ("rooms", 2),
        ("sessions_held", 1),
        ("people_invited", 7),
        ("people_admitted", 5),
        ("people_stayed_to_close", 1),
        ("consents_declined", 1),
        ("consents_withdrawn", 1),
        ("agreements_reached", 1),
        ("items_done", 1),
        ("items_not_done", 0),
        ("items_open", 1),
    ];
    for (figure, value) in expected {
        assert_eq!(circle[figure], value, "circle {figure}: {circle}");
    }
    assert_eq!(circle["completion_rate"], 0.5);
    // Harmed: 5 (A), 4 and 2 (B): three answers, shown. Responsible: one, withheld.
    let harmed = party(circle, "harmed");
    assert_eq!(
        (harmed["answers"].as_u64(), harmed["withheld"].as_bool()),
        (Some(3), Some(false))
    );
    let heard = question(harmed, "felt_heard");
    assert_eq!(heard["count"], 3);
    assert_eq!(heard["mean"], 3.67);
    assert_eq!(heard["distribution"], json!([0, 1, 0, 1, 1]));
    let fair = question(harmed, "fair_process");
    assert_eq!(
        (fair["count"].clone(), fair["mean"].clone()),
        (json!(1), json!(5.0))
    );
    assert!(harmed.get("comments").is_none(), "no comments in reports");
    let responsible = party(circle, "responsible");
    assert_eq!(
        (
            responsible["answers"].as_u64(),
            responsible["withheld"].as_bool()
        ),
        (Some(1), Some(true))
    );
    assert!(responsible.get("questions").is_none());

    let conference = &kinds[1];
    assert_eq!(conference["kind"], "conference");
    for (figure, value) in [
        ("rooms", 1),
        ("sessions_held", 1),
        ("people_invited", 2),
        ("people_admitted", 2),
        ("people_stayed_to_close", 2),
        ("consents_declined", 0),
        ("consents_withdrawn", 0),
        ("agreements_reached", 0),
        ("items_done", 0),
        ("items_open", 0),
    ] {
        assert_eq!(
            conference[figure], value,
            "conference {figure}: {conference}"
        );
    }
    assert_eq!(conference["completion_rate"], Value::Null);
    assert_eq!(conference["feedback"], json!([]));

    // Only one kind; an empty period; a bad period.
    let only = http
        .get(&format!(
            "/api/v1/reports?from={from}&to={to}&kind=conference"
        ))
        .await
        .json();
    assert_eq!(only["kinds"].as_array().unwrap().len(), 1);
    assert_eq!(only["kinds"][0], *conference);
    let past = http
        .get("/api/v1/reports?from=2001-01-01&to=2001-12-31")
        .await
        .json();
    assert_eq!(past["kinds"][0]["rooms"], 0);
    for query in [
        format!("from={to}&to={from}"),
        "from=2026-02-30&to=2026-03-01".to_owned(),
        "from=yesterday&to=today".to_owned(),
    ] {
        let answer = http.get(&format!("/api/v1/reports?{query}")).await;
        assert_eq!(answer.code(), "invalid_period", "{query}");
    }
    assert_eq!(
        http.get("/api/v1/reports?from=2026-01-01").await.code(),
        "bad_query"
    );

    // The CSV says the same, one figure per row.
    let csv = http
        .get(&format!("/api/v1/reports.csv?from={from}&to={to}"))
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(lines[0], "kind,figure,party,question,value");
    for line in [
        "circle,rooms,,,2",
        "circle,people_stayed_to_close,,,1",
        "circle,completion_rate,,,0.5",
        "circle,feedback_answers,harmed,,3",
        "circle,feedback_mean,harmed,felt_heard,3.67",
        "circle,feedback_score_2,harmed,felt_heard,1",
        "circle,feedback_withheld,responsible,,true",
        "conference,people_stayed_to_close,,,2",
        "conference,completion_rate,,,",
    ] {
        assert!(lines.contains(&line), "{line} missing from\n{}", csv.text);
    }
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("circle,feedback_mean,responsible"))
    );

    // Never content or ids: no room id, invitation id, name, title or comment.
    let json_text = http
        .get(&format!("/api/v1/reports?from={from}&to={to}"))
        .await
        .text;
    for text in [&json_text, &csv.text] {
        for m in [&a, &b, &c] {
            assert!(!text.contains(m.room.as_str()), "a room id in the report");
            for i in 0..m.created["invitations"].as_array().unwrap().len() {
                assert!(
                    !text.contains(m.seat(i).0.as_str()),
                    "an invitation id in the report"
                );
            }
        }
        for word in [
            "Pia",
            "Rae",
            "Room A",
            "secret words",
            "Apologise",
            "Repair",
        ] {
            assert!(!text.contains(word), "{word} in the report");
        }
    }
}
