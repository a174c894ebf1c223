//! SPEC §6.6: several nodes (real `circlekeeper` processes) on one real
//! Postgres. A room runs on one node; a link used on another node is
//! redirected there; when the owner is killed another node takes the room
//! over from its journal and people resume with their links; a node that was
//! paused while its room was taken over can never write to it again.

#[path = "common/api.rs"]
mod api;
mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use circlekeeper::store::{Location, Store};
use circlekeeper::webhooks::{EVENT_ID_HEADER, SIGNATURE_HEADER, verify};
use common::{Client, Closed};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_circlekeeper");
/// Short, so a takeover waits about a second rather than the default ten.
const LEASE_SECONDS: &str = "1";
/// How long a test waits for another node to take a room over.
const TAKEOVER_LIMIT: Duration = Duration::from_secs(20);

struct Node {
    child: Child,
    addr: String,
    /// Demo links by name (only the node that made the demo circle has them).
    tokens: Vec<(String, String)>,
}

impl Node {
    /// Starts `circlekeeper serve` as node `id` on the shared store and token
    /// secret, in its own data directory.
    fn start(id: &str, dir: &Path, store_url: &str, demo: bool) -> Node {
        Node::start_with(id, dir, store_url, demo, &[])
    }

    fn start_with(
        id: &str,
        dir: &Path,
        store_url: &str,
        demo: bool,
        env: &[(&str, String)],
    ) -> Node {
        let data = dir.join(id);
        let log = std::fs::File::create(dir.join(format!("{id}.log"))).expect("log");
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .env_remove("CIRCLEKEEPER_CONFIG")
            .env("CIRCLEKEEPER_STORE__URL", store_url)
            .env("CIRCLEKEEPER_AUTH__SECRET_FILE", dir.join("token-secret"))
            .env("CIRCLEKEEPER_CLUSTER__NODE_ID", id)
            .env("CIRCLEKEEPER_CLUSTER__LEASE_SECONDS", LEASE_SECONDS)
            .env("CIRCLEKEEPER_DEMO", demo.to_string())
            .env("CIRCLEKEEPER_MEDIA__BIND_IP", "127.0.0.1")
            .env("CIRCLEKEEPER_MEDIA__UDP_PORT", "0")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start a node");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut tokens = Vec::new();
        let addr = loop {
            let line = lines
                .next()
                .expect("the node prints its address")
                .expect("line");
            if let Some(link) = line.split_whitespace().find(|w| w.contains("/join#t=")) {
                let name = line
                    .split_whitespace()
                    .skip(1)
                    .take_while(|w| !w.contains("://"))
                    .collect::<Vec<_>>()
                    .join(" ");
                let token = link.split("#t=").nth(1).expect("token").to_owned();
                tokens.push((name, token));
            }
            if let Some(rest) = line.strip_prefix("Circle Keeper is running on http://") {
                break rest.split_whitespace().next().expect("address").to_owned();
            }
        };
        // Keep reading, so the node never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Node {
            child,
            addr,
            tokens,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn token(&self, name: &str) -> String {
        self.tokens
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| panic!("no demo link for {name}"))
    }

    async fn client(&self) -> Client {
        Client::connect(self.addr.parse().expect("address")).await
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {signal}");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fresh_store() -> String {
    testpg::shared()
        .fresh_database()
        .expect("a fresh Postgres database")
}

/// Says hello at `node` until it welcomes `token`'s person: while the old
/// owner's lease lasts, the node redirects to it. Returns the client and how
/// long the takeover took from `since`.
async fn hello_until_welcome(node: &Node, token: &str, since: Instant) -> (Client, Duration) {
    loop {
        let mut client = node.client().await;
        let answer = client.hello(token).await;
        match answer["type"].as_str() {
            Some("welcome") => return (client, since.elapsed()),
            Some("redirect") => {}
            _ => panic!("unexpected answer to hello: {answer}"),
        }
        assert!(
            since.elapsed() < TAKEOVER_LIMIT,
            "no takeover within {TAKEOVER_LIMIT:?}"
        );
        // The old owner's lease has to lapse: look again shortly.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many `set_keeper_speaks_out_of_turn` inputs the room's journal holds.
async fn journaled_toggles(store_url: &str) -> usize {
    let store = Store::open_at(&Location::Postgres(store_url.to_owned()))
        .await
        .expect("store");
    common::journaled_toggles(store).await
}

/// The keeper (consented) and Alex (consented, in the lobby) of the demo
/// circle, both on `node`.
async fn keeper_and_alex_in_lobby(node: &Node) -> (Client, Client, u64) {
    let mut keeper = node.client().await;
    assert_eq!(
        keeper.hello(&node.token("Keeper Kim")).await["type"],
        "welcome"
    );
    keeper.consent_all().await;
    let mut alex = node.client().await;
    assert_eq!(alex.hello(&node.token("Alex")).await["type"], "welcome");
    alex.consent_all().await;
    let alex_id = keeper.in_lobby("Alex").await;
    (keeper, alex, alex_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_moves_to_another_node_when_its_owner_is_killed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = fresh_store();
    let a = Node::start("a", dir.path(), &url, true);
    let b = Node::start("b", dir.path(), &url, false);
    let c = Node::start("c", dir.path(), &url, false);
    let (keeper_token, alex_token) = (a.token("Keeper Kim"), a.token("Alex"));

    // The keeper starts the room on a.
    let mut keeper = a.client().await;
    assert_eq!(keeper.hello(&keeper_token).await["type"], "welcome");
    keeper.consent_all().await;

    // Alex's link used on b is redirected to a, the room's node.
    let mut alex = b.client().await;
    let answer = alex.hello(&alex_token).await;
    assert_eq!(answer, json!({"type": "redirect", "url": a.url()}));
    assert_eq!(alex.closed().await, Closed::Code(1012));
    let mut alex = a.client().await;
    assert_eq!(alex.hello(&alex_token).await["type"], "welcome");
    alex.consent_all().await;

    let alex_id = keeper.in_lobby("Alex").await;
    for command in [
        json!({"type": "admit", "person": alex_id}),
        json!({"type": "start_session"}),
        json!({"type": "start_round", "prompt": "Check-in", "first": alex_id}),
    ] {
        keeper.cmd(command).await.expect("accepted");
    }
    alex.wait_view(|v| v["holder"] == json!(alex_id)).await;

    // a dies without a word. Within its grace period, the keeper's link on
    // b brings the room back there, as it was.
    a.signal("-KILL");
    let killed = Instant::now();
    let (keeper, takeover) = hello_until_welcome(&b, &keeper_token, killed).await;
    println!("takeover: kill → welcome from b in {takeover:?}");
    assert_eq!(keeper.stage(), "circle", "the keeper resumes in the circle");
    // c, asked now, names b.
    let mut late = c.client().await;
    assert_eq!(
        late.hello(&alex_token).await,
        json!({"type": "redirect", "url": b.url()})
    );
    let mut alex = b.client().await;
    assert_eq!(alex.hello(&alex_token).await["type"], "welcome");
    assert_eq!(alex.stage(), "circle", "Alex resumes her seat");
    assert_eq!(
        alex.holder(),
        Some(alex_id),
        "and still holds the talking piece"
    );
    assert_eq!(alex.view["round"]["prompt"], "Check-in");
    alex.cmd(json!({"type": "pass"}))
        .await
        .expect("the room goes on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_node_cannot_append_to_the_room_it_lost() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = fresh_store();
    let a = Node::start("a", dir.path(), &url, true);
    let b = Node::start("b", dir.path(), &url, false);
    let keeper_token = a.token("Keeper Kim");

    let mut stale = a.client().await;
    assert_eq!(stale.hello(&keeper_token).await["type"], "welcome");
    stale.consent_all().await;
    let toggle = |on: bool| json!({"type": "set_keeper_speaks_out_of_turn", "allowed": on});
    stale.cmd(toggle(false)).await.expect("a owns the room");
    assert_eq!(journaled_toggles(&url).await, 1);

    // a stops (SIGSTOP) long enough for its lease to lapse; b takes over.
    a.signal("-STOP");
    let (mut keeper, _) = hello_until_welcome(&b, &keeper_token, Instant::now()).await;
    keeper.cmd(toggle(true)).await.expect("b owns the room");
    assert_eq!(journaled_toggles(&url).await, 2);

    // a wakes up still holding its old session and its old room, where the
    // toggle is still off. Whatever it learns first (its next append's epoch
    // check, or its lease renewal's list of rooms), the command does not land
    // and the session is sent away.
    a.signal("-CONT");
    let outcome = stale.cmd(toggle(true)).await;
    assert!(
        matches!(
            outcome.as_ref().map_err(String::as_str),
            Err("not_saved" | "closed")
        ),
        "{outcome:?}"
    );
    assert_eq!(
        journaled_toggles(&url).await,
        2,
        "nothing from the stale node"
    );
    // Coming back to a now leads to b.
    let mut again = a.client().await;
    let answer: Value = again.hello(&keeper_token).await;
    assert_eq!(answer, json!({"type": "redirect", "url": b.url()}));
    keeper.sync().await;
}

const HOOK_SECRET: &str = "a-secret-for-the-cluster";

/// A program's webhook receiver: keeps every delivery (event id, body,
/// whether its signature verified) and can leave the next one unanswered.
#[derive(Clone, Default)]
struct Receiver {
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    hold_next: Arc<std::sync::atomic::AtomicBool>,
}

struct Delivery {
    id: String,
    body: Vec<u8>,
    signed: bool,
}

impl Receiver {
    /// Serves on loopback; returns its URL and where held deliveries' ids go.
    async fn start(&self) -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
        let (held_tx, held_rx) = tokio::sync::mpsc::unbounded_channel();
        let this = self.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let this = this.clone();
                    let held_tx = held_tx.clone();
                    async move {
                        let header = |name| {
                            headers
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_owned()
                        };
                        let id = header(EVENT_ID_HEADER);
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .expect("clock")
                            .as_secs();
                        let signed =
                            verify(HOOK_SECRET, &header(SIGNATURE_HEADER), &body, now, 300).is_ok();
                        this.deliveries.lock().expect("deliveries").push(Delivery {
                            id: id.clone(),
                            body: body.to_vec(),
                            signed,
                        });
                        if this
                            .hold_next
                            .swap(false, std::sync::atomic::Ordering::SeqCst)
                        {
                            let _ = held_tx.send(id);
                            // Never answers: the sender dies waiting.
                            std::future::pending::<()>().await;
                        }
                        axum::http::StatusCode::NO_CONTENT
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/hook"), held_rx)
    }

    /// How many times each event id arrived; every delivery's signature verified.
    fn counts(&self) -> HashMap<String, usize> {
        let deliveries = self.deliveries.lock().expect("deliveries");
        let mut counts = HashMap::new();
        for Delivery { id, signed, .. } in deliveries.iter() {
            assert!(*signed, "{id} arrived with a bad signature");
            assert!(id.starts_with("evt_"), "an event id: {id}");
            *counts.entry(id.clone()).or_default() += 1;
        }
        counts
    }

    /// The bodies that arrived under `id`.
    fn bodies(&self, id: &str) -> Vec<Vec<u8>> {
        let deliveries = self.deliveries.lock().expect("deliveries");
        deliveries
            .iter()
            .filter(|d| d.id == id)
            .map(|d| d.body.clone())
            .collect()
    }
}

/// Waits until every event written has been delivered (the outbox is empty).
async fn outbox_drained(store: &Store) {
    let since = Instant::now();
    while !store.outbox().await.expect("outbox").is_empty() {
        assert!(since.elapsed() < TAKEOVER_LIMIT, "the outbox never emptied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_arrive_once_across_nodes_and_only_the_one_in_flight_repeats_after_a_kill() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = fresh_store();
    let receiver = Receiver::default();
    let (hook, mut held) = receiver.start().await;
    let env = [
        ("CIRCLEKEEPER_WEBHOOKS__URL", hook),
        ("CIRCLEKEEPER_WEBHOOKS__SECRET", HOOK_SECRET.to_owned()),
        ("CIRCLEKEEPER_WEBHOOKS__POLL_MS", "50".to_owned()),
        // Long enough that the held POST is still waiting when its node dies.
        ("CIRCLEKEEPER_WEBHOOKS__TIMEOUT_SECONDS", "3".to_owned()),
    ];
    let mut nodes = vec![
        Node::start_with("a", dir.path(), &url, true, &env),
        Node::start_with("b", dir.path(), &url, false, &env),
        Node::start_with("c", dir.path(), &url, false, &env),
    ];
    let store = Store::open_at(&Location::Postgres(url.clone()))
        .await
        .expect("store");

    // Three nodes live: consents and an admission, each delivered once,
    // whichever node holds the delivery duty.
    let (mut keeper, _alex, alex_id) = keeper_and_alex_in_lobby(&nodes[0]).await;
    keeper
        .cmd(json!({"type": "admit", "person": alex_id}))
        .await
        .expect("admitted");
    outbox_drained(&store).await;
    let before = receiver.counts();
    assert!(before.len() >= 3, "consents and the admission: {before:?}");
    assert!(before.values().all(|n| *n == 1), "each once: {before:?}");

    // The next delivery gets no answer; the node sending it is killed
    // mid-POST, before it can know whether the receiver kept the event.
    receiver
        .hold_next
        .store(true, std::sync::atomic::Ordering::SeqCst);
    keeper
        .cmd(json!({"type": "remove", "person": alex_id}))
        .await
        .expect("removed");
    let in_flight = tokio::time::timeout(TAKEOVER_LIMIT, held.recv())
        .await
        .expect("the removal's events are sent")
        .expect("the receiver runs");
    let (sender, _) = store
        .duty_holder("webhooks")
        .await
        .expect("duties readable")
        .expect("a node holds the delivery duty");
    let at = ["a", "b", "c"]
        .iter()
        .position(|id| *id == sender)
        .unwrap_or_else(|| panic!("an unknown node {sender}"));
    nodes[at].signal("-KILL");
    nodes.remove(at);

    // Another node takes the duty over once the dead one's claim lapses. The
    // event in flight goes again, the same bytes under the same id (the
    // receiver drops it by id); every other event arrives once.
    outbox_drained(&store).await;
    store.close().await;
    let after = receiver.counts();
    assert!(after.len() > before.len(), "the removal arrived: {after:?}");
    for (id, n) in &after {
        let expected = if *id == in_flight { 2 } else { 1 };
        assert_eq!(*n, expected, "{id} in {after:?} (in flight: {in_flight})");
    }
    let bodies = receiver.bodies(&in_flight);
    assert_eq!(bodies[0], bodies[1], "the repeat is the same event");
    drop(nodes);
}

/// The invitation id (`jti`) a demo token carries.
fn jti(token: &str) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    let claims: Value = serde_json::from_slice(&claims).expect("JSON claims");
    claims["jti"].as_str().expect("jti").to_owned()
}

/// Nodes a (with the demo circle) and b on a fresh store, both knowing the
/// test program's API key; the directory holds their data and logs.
fn two_nodes_with_a_program_key() -> (tempfile::TempDir, Node, Node) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = fresh_store();
    let keys = format!(
        r#"[{{ id = "case-system", key_sha256 = "{}" }}]"#,
        api::sha256_hex(api::KEY)
    );
    let env = [("CIRCLEKEEPER_API__KEYS", keys)];
    let a = Node::start_with("a", dir.path(), &url, true, &env);
    let b = Node::start_with("b", dir.path(), &url, false, &env);
    (dir, a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_through_any_node_ends_the_person_on_the_rooms_node() {
    let (_dir, a, b) = two_nodes_with_a_program_key();
    let alex_token = a.token("Alex");
    let (_keeper, mut alex, _) = keeper_and_alex_in_lobby(&a).await;

    // The program's call reaches b; the room runs on a.
    let http = api::Http::new(b.addr.parse().expect("address"));
    let path = format!("/api/v1/rooms/demo-circle/invitations/{}", jti(&alex_token));
    assert_eq!(http.delete(&path).await.status, 204);
    let ended = alex.until("ended").await;
    assert_eq!(ended["reason"], "revoked", "{ended}");
    let mut again = b.client().await;
    assert_eq!(again.hello(&alex_token).await["code"], "invitation_revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_on_any_node_sees_who_is_present_and_its_deletion_closes_the_room() {
    let (_dir, a, b) = two_nodes_with_a_program_key();
    let (keeper_token, alex_token) = (a.token("Keeper Kim"), a.token("Alex"));
    let (mut keeper, mut alex, _) = keeper_and_alex_in_lobby(&a).await;

    // The program asks b, which does not run the room; a does.
    let http = api::Http::new(b.addr.parse().expect("address"));
    let state = http.get("/api/v1/rooms/demo-circle").await.json();
    assert_eq!(state["running"], true, "{state}");
    let presence = |token: &str| {
        let id = jti(token);
        state["people"]
            .as_array()
            .expect("people")
            .iter()
            .find(|p| p["invitation_id"] == id.as_str())
            .map(|p| p["presence"].clone())
            .expect("invited")
    };
    assert_eq!(presence(&keeper_token), "in_circle", "{state}");
    assert_eq!(presence(&alex_token), "lobby", "{state}");

    // Deleted through b: the people on a are told the room closed.
    assert_eq!(http.delete("/api/v1/rooms/demo-circle").await.status, 204);
    for person in [&mut keeper, &mut alex] {
        let ended = person.until("ended").await;
        assert_eq!(ended["reason"], "room_closed", "{ended}");
    }
}
