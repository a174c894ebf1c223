//! Webhooks over real HTTP to a receiver on port 0: every event of a meeting
//! arrives signed, in order, without names; a tampered body, a stale time
//! and a replayed event id are detected; and nothing is lost while the
//! receiver is down or when the server restarts (the outbox is durable).

#[path = "common/api.rs"]
mod api;
mod common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use api::*;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use circlekeeper::config::Config;
use circlekeeper::webhooks::{EVENT_ID_HEADER, SIGNATURE_HEADER, VerifyError, verify};
use common::*;
use hyper::Method;
use serde_json::{Value, json};
use tokio::sync::mpsc;

const SECRET: &str = "a-shared-secret-for-the-tests";

/// What the receiver saw.
#[derive(Debug, Clone)]
enum Seen {
    /// A delivery while "down" (answered 503).
    Refused,
    /// A verified new event.
    Event {
        body: Value,
        raw: Bytes,
        signature: String,
    },
    /// A verified event whose id was seen before.
    Replay(String),
    /// Signature or header wrong.
    Bad(VerifyError),
}

struct Receiver {
    up: AtomicBool,
    ids: Mutex<HashSet<String>>,
    tx: mpsc::UnboundedSender<Seen>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn receive(State(r): State<Arc<Receiver>>, headers: HeaderMap, raw: Bytes) -> StatusCode {
    if !r.up.load(Ordering::SeqCst) {
        let _ = r.tx.send(Seen::Refused);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if let Err(e) = verify(SECRET, &signature, &raw, now_secs(), 300) {
        let _ = r.tx.send(Seen::Bad(e));
        return StatusCode::BAD_REQUEST;
    }
    let body: Value = serde_json::from_slice(&raw).expect("JSON body");
    let id = headers
        .get(EVENT_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert_eq!(body["id"], id.as_str(), "the header names the body's event");
    if !r.ids.lock().unwrap().insert(id.clone()) {
        let _ = r.tx.send(Seen::Replay(id));
        return StatusCode::OK;
    }
    let _ = r.tx.send(Seen::Event {
        body,
        raw,
        signature,
    });
    StatusCode::OK
}

/// A receiver on port 0, up or down; what it sees comes out of the channel.
async fn receiver(up: bool) -> (SocketAddr, Arc<Receiver>, mpsc::UnboundedReceiver<Seen>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let state = Arc::new(Receiver {
        up: AtomicBool::new(up),
        ids: Mutex::new(HashSet::new()),
        tx,
    });
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, state, rx)
}

fn hooks(addr: SocketAddr) -> impl Fn(&mut Config) + Clone {
    move |c: &mut Config| {
        with_keys(c);
        c.webhooks.url = Some(format!("http://{addr}/hook"));
        c.webhooks.secret = Some(SECRET.into());
        c.webhooks.retry_initial_ms = 20;
        c.webhooks.retry_max_ms = 100;
        c.webhooks.poll_ms = 20;
    }
}

/// The next `n` verified events (failing on anything bad), within the patience.
async fn events(rx: &mut mpsc::UnboundedReceiver<Seen>, n: usize) -> Vec<Value> {
    let mut out = Vec::new();
    while out.len() < n {
        let seen = tokio::time::timeout(PATIENCE, rx.recv())
            .await
            .expect("events in time")
            .expect("receiver");
        match seen {
            Seen::Event { body, .. } => out.push(body),
            Seen::Refused => {}
            other => panic!("unexpected delivery: {other:?}"),
        }
    }
    out
}

/// The next delivery that is not a new event.
async fn next_other(rx: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    loop {
        match tokio::time::timeout(PATIENCE, rx.recv())
            .await
            .expect("in time")
            .expect("receiver")
        {
            Seen::Event { .. } => continue,
            other => return other,
        }
    }
}

fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or("?"))
        .collect()
}

#[tokio::test]
async fn a_meeting_sends_signed_events_in_order() {
    let (addr, _receiver, mut rx) = receiver(true).await;
    let server = TestServer::start_with(hooks(addr)).await;
    let http = Http::new(server.addr);
    let created = http.create(conference()).await;
    let room = created["room_id"].as_str().unwrap().to_owned();
    let (keeper_id, keeper_token) = invitation(&created, 0);
    let (ana_id, ana_token) = invitation(&created, 1);
    let (ben_id, ben_token) = invitation(&created, 2);

    let mut keeper = server.connect().await;
    keeper.hello(&keeper_token).await;
    keeper.consent_all().await;
    keeper.cmd(json!({"type": "open_room"})).await.unwrap();
    let mut ana = server.connect().await;
    ana.hello(&ana_token).await;
    ana.consent_all().await;
    let mut ben = server.connect().await;
    ben.hello(&ben_token).await;
    ben.consent_all().await;
    keeper
        .wait_view(|v| {
            v["people"]
                .as_array()
                .is_some_and(|p| p.iter().filter(|p| p["presence"] == "lobby").count() == 2)
        })
        .await;
    let (a, b) = (
        keeper.person("Ana Harmed"),
        keeper.person("Ben Responsible"),
    );
    keeper
        .cmd(json!({"type": "admit", "person": a}))
        .await
        .unwrap();
    ana.wait_stage("circle").await;
    keeper.cmd(json!({"type": "draft_agreement", "items": [{"what": "Fix the fence", "who": "Ben", "by": "May"}]})).await.unwrap();
    keeper
        .cmd(json!({"type": "finalize_agreement"}))
        .await
        .unwrap();
    ana.wait_view(|v| v["agreement"]["is_final"] == true).await;
    let hash = ana.view["agreement"]["hash"].clone();
    ana.cmd(json!({"type": "acknowledge", "hash": hash}))
        .await
        .unwrap();
    keeper
        .cmd(json!({"type": "remove", "person": b}))
        .await
        .unwrap();
    let _ = ana.cmd(json!({"type": "leave"})).await;
    let _ = keeper.cmd(json!({"type": "close_room"})).await;

    // Keepers need no admission: consenting puts them in the circle.
    let got = events(&mut rx, 9).await;
    assert_eq!(
        types(&got),
        [
            "consent.recorded",
            "person.admitted",
            "room.opened",
            "consent.recorded",
            "consent.recorded",
            "person.admitted",
            "agreement.acknowledged",
            "person.removed",
            "person.left",
        ]
    );
    let closing = events(&mut rx, 1).await;
    assert_eq!(types(&closing), ["room.closed"]);

    for event in got.iter().chain(&closing) {
        assert_eq!(event["room_id"], room.as_str());
        assert!(
            event["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("evt_"))
        );
        assert!(event["at"].as_str().is_some_and(|t| t.ends_with('Z')));
        let text = event.to_string();
        for name in ["Kim", "Ana Harmed", "Ben", "fence"] {
            assert!(!text.contains(name), "{name} in {text}");
        }
    }
    assert_eq!(got[0]["data"]["invitation_id"], keeper_id.as_str());
    assert_eq!(got[0]["data"]["party"], Value::Null);
    assert_eq!(got[0]["data"]["answers"].as_array().map(Vec::len), Some(4));
    assert_eq!(got[0]["data"]["answers"][0]["decision"], "accepted");
    assert_eq!(
        got[1]["data"],
        json!({"invitation_id": keeper_id, "party": null})
    );
    assert_eq!(
        got[5]["data"],
        json!({"invitation_id": ana_id, "party": "harmed"})
    );
    assert_eq!(got[6]["data"]["hash"], hash);
    assert_eq!(got[7]["data"]["invitation_id"], ben_id.as_str());
    assert_eq!(got[8]["data"]["reason"], "left");
    // The dispatcher removes an event once the receiver answered, which is
    // after the receiver passed it on: wait for the removal.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !server.app.store.outbox().await.unwrap().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "delivered events leave the outbox"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn tampering_and_replays_are_detected() {
    let (addr, receiver_state, mut rx) = receiver(true).await;
    let server = TestServer::start_with(hooks(addr)).await;
    let http = Http::new(server.addr);
    let created = http.create(conference()).await;
    let (_, keeper_token) = invitation(&created, 0);
    let mut keeper = server.connect().await;
    keeper.hello(&keeper_token).await;
    keeper.consent_all().await;
    let seen = tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .unwrap()
        .unwrap();
    let Seen::Event { raw, signature, .. } = seen else {
        panic!("{seen:?}")
    };

    let now = now_secs();
    assert_eq!(verify(SECRET, &signature, &raw, now, 300), Ok(()));
    let mut tampered = raw.to_vec();
    let at = tampered.iter().position(|&b| b == b'{').unwrap() + 1;
    tampered.insert(at, b' ');
    assert_eq!(
        verify(SECRET, &signature, &tampered, now, 300),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        verify("another-secret-entirely", &signature, &raw, now, 300),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        verify(SECRET, &signature, &raw, now + 3600, 300),
        Err(VerifyError::Stale)
    );
    assert_eq!(
        verify(SECRET, "v1=00", &raw, now, 300),
        Err(VerifyError::Malformed)
    );
    // Moving the time in the header breaks the signature too.
    let t = signature
        .split(',')
        .next()
        .unwrap()
        .trim_start_matches("t=")
        .parse::<u64>()
        .unwrap();
    let moved = signature.replacen(&format!("t={t}"), &format!("t={}", t + 1), 1);
    assert_eq!(
        verify(SECRET, &moved, &raw, now, 300),
        Err(VerifyError::Mismatch)
    );

    // Sent to the receiver: the tampered body is refused, the replay noticed.
    let hook = Http::new(addr);
    let event_id = serde_json::from_slice::<Value>(&raw).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let headers = [
        (SIGNATURE_HEADER, signature.as_str()),
        (EVENT_ID_HEADER, event_id.as_str()),
    ];
    let answer = hook
        .raw(Method::POST, "/hook", None, &headers, tampered)
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(matches!(
        next_other(&mut rx).await,
        Seen::Bad(VerifyError::Mismatch)
    ));
    let answer = hook
        .raw(Method::POST, "/hook", None, &headers, raw.clone())
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(matches!(next_other(&mut rx).await, Seen::Replay(id) if id == event_id));
    assert!(
        receiver_state.ids.lock().unwrap().contains(&event_id),
        "kept once"
    );
}

#[tokio::test]
async fn nothing_is_lost_while_the_receiver_is_down_or_the_server_restarts() {
    let (addr, receiver_state, mut rx) = receiver(false).await;
    let server = TestServer::start_with(hooks(addr)).await;
    let http = Http::new(server.addr);
    let created = http.create(conference()).await;
    let (_, keeper_token) = invitation(&created, 0);
    let (_, ana_token) = invitation(&created, 1);
    let mut keeper = server.connect().await;
    keeper.hello(&keeper_token).await;
    keeper.consent_all().await;
    keeper.cmd(json!({"type": "open_room"})).await.unwrap();

    // Down: the first event is tried again and again (with backoff), and
    // nothing is given up.
    for _ in 0..3 {
        let seen = tokio::time::timeout(PATIENCE, rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(seen, Seen::Refused), "{seen:?}");
    }
    let pending = server.app.store.outbox().await.unwrap();
    assert_eq!(pending.len(), 3);
    assert!(
        pending[0].attempts >= 2 && pending[0].failed_at.is_none(),
        "{pending:?}"
    );
    keeper.close().await;

    // The server stops with both events undelivered, and starts again.
    let dir = server.stop().await;
    let server = TestServer::start_in(dir, hooks(addr)).await;
    // Still down for a moment after the restart.
    let seen = tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(seen, Seen::Refused));
    receiver_state.up.store(true, Ordering::SeqCst);
    let got = events(&mut rx, 3).await;
    assert_eq!(
        types(&got),
        ["consent.recorded", "person.admitted", "room.opened"]
    );

    // And the restarted server goes on sending new events.
    let mut ana = server.connect().await;
    ana.hello(&ana_token).await;
    ana.consent_all().await;
    let got = events(&mut rx, 1).await;
    assert_eq!(types(&got), ["consent.recorded"]);
    assert_eq!(got[0]["data"]["party"], "harmed");
    assert_eq!(
        receiver_state.ids.lock().unwrap().len(),
        4,
        "each event exactly once"
    );
}

/// A program can tell its own revocation from a keeper's removal, and is
/// told when a room is deleted.
#[tokio::test]
async fn a_revocation_and_a_deletion_have_their_own_events() {
    let (addr, _receiver, mut rx) = receiver(true).await;
    let server = TestServer::start_with(hooks(addr)).await;
    let http = Http::new(server.addr);
    let created = http.create(conference()).await;
    let room = created["room_id"].as_str().unwrap().to_owned();
    let (_, keeper_token) = invitation(&created, 0);
    let (ana_id, ana_token) = invitation(&created, 1);
    let (ben_id, _) = invitation(&created, 2);

    let mut keeper = server.connect().await;
    keeper.hello(&keeper_token).await;
    keeper.consent_all().await;
    keeper.cmd(json!({"type": "open_room"})).await.unwrap();
    let mut ana = server.connect().await;
    ana.hello(&ana_token).await;
    ana.consent_all().await;
    let got = events(&mut rx, 4).await;
    assert_eq!(
        types(&got),
        [
            "consent.recorded",
            "person.admitted",
            "room.opened",
            "consent.recorded"
        ]
    );

    // Ana, present, and Ben, who never came: both revoked through the API.
    for id in [&ana_id, &ben_id] {
        let answer = http
            .delete(&format!("/api/v1/rooms/{room}/invitations/{id}"))
            .await;
        assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.text);
    }
    assert_eq!(ana.until("ended").await["reason"], "revoked");
    let got = events(&mut rx, 2).await;
    assert_eq!(types(&got), ["invitation.revoked", "invitation.revoked"]);
    assert_eq!(
        got[0]["data"],
        json!({"invitation_id": ana_id, "party": "harmed"})
    );
    assert_eq!(
        got[1]["data"],
        json!({"invitation_id": ben_id, "party": "responsible"})
    );
    // Revoking again tells nothing new.
    let again = http
        .delete(&format!("/api/v1/rooms/{room}/invitations/{ana_id}"))
        .await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
    let state = http.get(&format!("/api/v1/rooms/{room}")).await.json();
    let presence_of = |id: &str| {
        state["people"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["invitation_id"] == id))
            .map(|p| p["presence"].clone())
    };
    assert_eq!(presence_of(&ana_id), Some(json!("revoked")));
    assert_eq!(presence_of(&ben_id), Some(json!("revoked")));

    let deleted = http.delete(&format!("/api/v1/rooms/{room}")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    let got = events(&mut rx, 1).await;
    assert_eq!(types(&got), ["room.deleted"], "{got:?}");
    assert_eq!(got[0]["room_id"], room.as_str());
    assert_eq!(got[0]["data"], json!({}));
}
