//! A real server on port 0 and a Rust client of the documented protocol.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use circlekeeper::circle::{Party, Phase, Role, RoomKind, Settings};
use circlekeeper::config::Config;
use circlekeeper::invitations::{Seat, ensure_room, issue};
use circlekeeper::server::{self, App};

/// Waiting longer than this for a message is a failure, not a synchronisation.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    pub data_dir: tempfile::TempDir,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

pub fn test_config(data_dir: &std::path::Path) -> Config {
    let mut config = Config {
        data_dir: data_dir.to_path_buf(),
        listen: "127.0.0.1:0".parse().expect("address"),
        demo: false,
        ..Config::default()
    };
    // Media workers on free ports: tests run side by side.
    config.media.udp_port = 0;
    config
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let data_dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(data_dir, tweak).await
    }

    pub async fn start_in(
        data_dir: tempfile::TempDir,
        tweak: impl FnOnce(&mut Config),
    ) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut config = test_config(data_dir.path());
        // Links and the default Origin allow-list name the port really bound.
        config.listen = addr;
        tweak(&mut config);
        let (app, shutdown) = server::build(config).await.expect("build");
        let serving = app.clone();
        let tx = shutdown.clone();
        let task = tokio::spawn(async move {
            server::serve(serving, tx, listener, std::future::pending())
                .await
                .expect("serve");
        });
        TestServer {
            addr,
            app,
            data_dir,
            shutdown,
            task,
        }
    }

    /// Stops the server and waits until it has let go of the store.
    pub async fn stop(self) -> tempfile::TempDir {
        let _ = self.shutdown.send(true);
        let _ = tokio::time::timeout(PATIENCE, self.task).await;
        self.data_dir
    }

    pub async fn room(&self, id: &str, kind: RoomKind) {
        self.room_with(id, Settings::for_kind(kind, "A circle"))
            .await;
    }

    pub async fn room_with(&self, id: &str, settings: Settings) {
        ensure_room(&self.app.store, id, settings, Phase::Open)
            .await
            .expect("room");
    }

    /// Mints a token for a seat (and records the invitation).
    pub async fn token(
        &self,
        room: &str,
        seat: u32,
        role: Role,
        party: Option<Party>,
        name: &str,
    ) -> String {
        self.linked_token(room, seat, role, party, name, &[]).await
    }

    /// Mints a token for an interpreter's seat linked to `interprets_for`.
    pub async fn interpreter_token(
        &self,
        room: &str,
        seat: u32,
        name: &str,
        interprets_for: &[u32],
    ) -> String {
        let party = Some(Party::Interpreter);
        self.linked_token(room, seat, Role::Participant, party, name, interprets_for)
            .await
    }

    async fn linked_token(
        &self,
        room: &str,
        seat: u32,
        role: Role,
        party: Option<Party>,
        name: &str,
        interprets_for: &[u32],
    ) -> String {
        let issued = issue(
            &self.app.store,
            &self.app.keys,
            "http://x",
            room,
            Seat {
                seat,
                role,
                party,
                name,
                interprets_for,
            },
            3600,
        )
        .await
        .expect("issue");
        issued
            .link
            .split("#t=")
            .nth(1)
            .expect("token in link")
            .to_owned()
    }

    pub async fn connect(&self) -> Client {
        Client::connect(self.addr).await
    }

    /// Connect, hello, consent; the keeper lands in the circle, others in the lobby.
    pub async fn arrive(
        &self,
        room: &str,
        seat: u32,
        role: Role,
        party: Option<Party>,
        name: &str,
    ) -> Client {
        let token = self.token(room, seat, role, party, name).await;
        self.enter(&token).await
    }

    /// Connect, hello and consent with a token already made (to come back with it).
    pub async fn enter(&self, token: &str) -> Client {
        let mut client = self.connect().await;
        client.hello(token).await;
        client.consent_all().await;
        client
    }

    pub async fn metrics(&self) -> String {
        self.app.metrics.render()
    }
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_ref: u64,
    /// The latest `state` view.
    pub view: Value,
    /// Every message received, in order.
    pub log: Vec<Value>,
    pub you: u64,
}

#[derive(Debug, PartialEq)]
pub enum Closed {
    Code(u16),
    NoFrame,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let (ws, _) = connect_async(format!("ws://{addr}/ws"))
            .await
            .expect("connect");
        Client {
            ws,
            next_ref: 1,
            view: Value::Null,
            log: Vec::new(),
            you: 0,
        }
    }

    /// A client whose socket receives into a tiny kernel buffer: when it stops
    /// reading, the server feels it at once.
    pub async fn connect_small_buffer(addr: SocketAddr) -> Client {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("buffer size");
        let stream = socket.connect(addr).await.expect("connect");
        let (ws, _) = tokio_tungstenite::client_async(
            format!("ws://{addr}/ws"),
            MaybeTlsStream::Plain(stream),
        )
        .await
        .expect("upgrade");
        Client {
            ws,
            next_ref: 1,
            view: Value::Null,
            log: Vec::new(),
            you: 0,
        }
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws
            .send(Message::text(text.into()))
            .await
            .expect("send");
    }

    /// Sends a text frame with any payload, valid UTF-8 or not.
    pub async fn send_raw_text(&mut self, payload: Vec<u8>) {
        use tokio_tungstenite::tungstenite::protocol::frame::Frame;
        use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
        self.ws
            .send(Message::Frame(Frame::message(
                payload,
                OpCode::Data(Data::Text),
                true,
            )))
            .await
            .expect("send");
    }

    /// Sends unless the server already closed the connection.
    pub async fn try_send(&mut self, value: Value) -> bool {
        self.ws.send(Message::text(value.to_string())).await.is_ok()
    }

    pub async fn send(&mut self, value: Value) {
        self.send_text(value.to_string()).await;
    }

    /// The next text message (pings are answered by tungstenite itself).
    pub async fn recv(&mut self) -> Option<Value> {
        loop {
            let next = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a message in time");
            match next {
                Some(Ok(Message::Text(text))) => {
                    let value: Value =
                        serde_json::from_str(text.as_str()).expect("server sends JSON");
                    if value["type"] == "state" {
                        self.view = value["view"].clone();
                    }
                    if value["type"] == "welcome" {
                        self.you = value["you"].as_u64().expect("you");
                    }
                    self.log.push(value.clone());
                    return Some(value);
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next text message, however long it takes; `None` once the
    /// connection is closed. For a task that owns the client and pumps it.
    pub async fn next_message(&mut self) -> Option<Value> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    let value: Value =
                        serde_json::from_str(text.as_str()).expect("server sends JSON");
                    if value["type"] == "state" {
                        self.view = value["view"].clone();
                    }
                    self.log.push(value.clone());
                    return Some(value);
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Reads until a message of `kind` arrives; returns it.
    pub async fn until(&mut self, kind: &str) -> Value {
        loop {
            let msg = self
                .recv()
                .await
                .unwrap_or_else(|| panic!("closed while waiting for {kind}"));
            if msg["type"] == kind {
                return msg;
            }
        }
    }

    /// Reads to the end and returns the close code.
    pub async fn closed(&mut self) -> Closed {
        loop {
            let next = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("close in time");
            match next {
                Some(Ok(Message::Close(Some(CloseFrame { code, .. })))) => {
                    return Closed::Code(code.into());
                }
                Some(Ok(Message::Close(None))) | None | Some(Err(_)) => return Closed::NoFrame,
                Some(Ok(Message::Text(text))) => {
                    self.log
                        .push(serde_json::from_str(text.as_str()).unwrap_or(Value::Null));
                }
                Some(Ok(_)) => {}
            }
        }
    }

    pub async fn hello(&mut self, token: &str) -> Value {
        self.send(json!({"type": "hello", "v": 1, "token": token}))
            .await;
        let first = self.recv().await.expect("an answer to hello");
        if first["type"] == "welcome" {
            self.until("state").await;
        }
        first
    }

    /// Sends a command with a fresh `ref`; Ok after `ok`, Err(code) after `error`.
    /// Every message that came before the answer is in `log`.
    pub async fn cmd(&mut self, mut command: Value) -> Result<(), String> {
        let reference = self.next_ref;
        self.next_ref += 1;
        command["ref"] = json!(reference);
        self.send(command).await;
        loop {
            let Some(msg) = self.recv().await else {
                return Err("closed".to_owned());
            };
            if msg["ref"] == json!(reference) {
                return match msg["type"].as_str() {
                    Some("ok") => Ok(()),
                    _ => Err(msg["code"].as_str().unwrap_or("?").to_owned()),
                };
            }
        }
    }

    /// Like `cmd`, and asserts that no `state` reached this client before the
    /// answer: the command changed nothing this client can see.
    pub async fn refused(&mut self, command: Value) -> String {
        self.sync().await;
        let before = self.log.len();
        let code = self.cmd(command).await.expect_err("expected a refusal");
        let states = self.log[before..]
            .iter()
            .filter(|m| m["type"] == "state")
            .count();
        assert_eq!(states, 0, "a refused command changed the room");
        code
    }

    /// Reads everything the room sent this client so far: the room answers
    /// in order, so once a probe is answered, nothing older is in flight.
    /// The probe (acknowledging an empty hash) is refused in every state.
    pub async fn sync(&mut self) {
        let _ = self.cmd(json!({"type": "acknowledge", "hash": ""})).await;
    }

    /// Marks a point; `nothing_changed_since` then proves no `state` came after it.
    pub async fn mark(&mut self) -> usize {
        self.sync().await;
        self.log.len()
    }

    pub async fn nothing_changed_since(&mut self, mark: usize) {
        self.sync().await;
        let states = self.log[mark..]
            .iter()
            .filter(|m| m["type"] == "state")
            .count();
        assert_eq!(states, 0, "the room changed for this client");
    }

    pub async fn consent_all(&mut self) {
        let terms = self.view["terms"].clone();
        let answers: Vec<Value> = terms["items"]
            .as_array()
            .expect("consent items")
            .iter()
            .map(|item| json!({"item": item["id"], "accept": true}))
            .collect();
        self.cmd(json!({"type": "consent", "version": terms["version"], "answers": answers}))
            .await
            .expect("consent accepted");
    }

    /// Reads until this client's view satisfies `ready` (it may already).
    pub async fn wait_view(&mut self, ready: impl Fn(&Value) -> bool) {
        while !ready(&self.view) {
            self.until("state").await;
        }
    }

    pub async fn wait_stage(&mut self, stage: &str) {
        self.wait_view(|v| v["stage"] == stage).await;
    }

    pub fn stage(&self) -> &str {
        self.view["stage"].as_str().unwrap_or("")
    }

    /// Waits until `name` is in the lobby in this (keeper's) view; their id.
    pub async fn in_lobby(&mut self, name: &str) -> u64 {
        self.wait_view(|v| {
            v["people"].as_array().is_some_and(|p| {
                p.iter()
                    .any(|p| p["name"] == name && p["presence"] == "lobby")
            })
        })
        .await;
        self.person(name)
    }

    /// The id of the person called `name` in this client's view.
    pub fn person(&self, name: &str) -> u64 {
        self.view["people"]
            .as_array()
            .and_then(|people| people.iter().find(|p| p["name"] == name))
            .and_then(|p| p["id"].as_u64())
            .unwrap_or_else(|| panic!("{name} not in view"))
    }

    pub fn holder(&self) -> Option<u64> {
        self.view["holder"].as_u64()
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// A webhook receiver's routes (`POST /hook`): every delivery must carry a valid
/// signature for `secret` (a bad one fails the test); each event's JSON comes out
/// of the channel. Serve it over HTTP or HTTPS as the test needs.
pub fn signed_webhook_receiver(
    secret: &'static str,
) -> (axum::Router, tokio::sync::mpsc::UnboundedReceiver<Value>) {
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use circlekeeper::webhooks::{SIGNATURE_HEADER, verify};

    type Sink = Arc<(&'static str, tokio::sync::mpsc::UnboundedSender<Value>)>;
    async fn receive(State(sink): State<Sink>, headers: HeaderMap, raw: Bytes) -> StatusCode {
        let (secret, tx) = &*sink;
        let signature = headers
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        verify(secret, signature, &raw, now, 300).expect("a signed event");
        let body: Value = serde_json::from_slice(&raw).expect("JSON");
        let _ = tx.send(body);
        StatusCode::OK
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let routes = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(Arc::new((secret, tx)));
    (routes, rx)
}

/// `GET path` over plain HTTP/1.1 with a blocking socket; the whole response,
/// status line and headers included.
pub fn http_get(addr: impl std::fmt::Display, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr.to_string()).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
}

/// How many of the keeper's `set_keeper_speaks_out_of_turn` toggles the demo
/// circle's journal in `store` holds.
pub async fn journaled_toggles(store: circlekeeper::store::Store) -> usize {
    use circlekeeper::circle::{Command, Input};
    let journal = store.journal("demo-circle").await.expect("journal");
    store.close().await;
    journal
        .iter()
        .filter(|(_, input)| {
            matches!(
                input,
                Input::Command {
                    command: Command::SetKeeperSpeaksOutOfTurn { .. },
                    ..
                }
            )
        })
        .count()
}
