//! The signalling floor: what an arrival costs the stack Circle Keeper is built
//! on (tokio, hyper and axum's WebSocket, JSON), with none of Circle Keeper's
//! work. Started by `loadgen signal --server-bin target/release/signal-floor`
//! in place of the server, it answers the load tool's arrivals with the frames
//! the server sends, of the server's sizes, through the same tasks and hops (a
//! task per connection, a task per room, a queue between them), and checks,
//! stores and renders nothing: no token signature, no rules, no journal, no
//! views. docs/benchmarks.md, "The floor under an arrival", divides the
//! server's CPU per arrival by this one's.
//!
//! Per arrival, as the server does for a room of 10: `welcome` and the consent
//! view to the newcomer, the keeper's view to the keeper; on `consent`, the
//! lobby view and `ok` to the newcomer and the keeper's view again.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;

/// The frames, padded to the sizes the server sends (measured on the demo
/// circle, 4 December 2026): a consent view 1.6 KiB, a keeper's view of ten
/// people 4.8 KiB.
const CONSENT_VIEW_BYTES: usize = 1_636;
const KEEPER_VIEW_BYTES: usize = 4_800;

/// What a session's task is asked to write.
type Frames = mpsc::UnboundedSender<String>;

/// A room's task takes these, one at a time, as the server's room task does.
enum ToRoom {
    Arrived {
        seat: u64,
        keeper: bool,
        out: Frames,
    },
    Consented {
        seat: u64,
        reference: Value,
    },
}

struct Floor {
    rooms: Mutex<HashMap<String, mpsc::UnboundedSender<ToRoom>>>,
    sessions: AtomicI64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The server's command line: `serve --listen ADDR --data-dir DIR`; only
    // the address matters here.
    let args: Vec<String> = std::env::args().collect();
    let listen = args
        .iter()
        .position(|a| a == "--listen")
        .and_then(|i| args.get(i + 1))
        .map_or("127.0.0.1:0", String::as_str);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let floor = Arc::new(Floor {
        rooms: Mutex::new(HashMap::new()),
        sessions: AtomicI64::new(0),
    });
    let app = Router::new()
        .route("/ws", get(upgrade))
        .route("/metrics", get(metrics))
        .with_state(floor);
    // The line the load tool waits for, as the server prints it.
    println!(
        "Circle Keeper is running on http://{} (the signalling floor)",
        listener.local_addr()?
    );
    // On a worker, as the server's accept loop.
    let serve = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    );
    tokio::spawn(async move { serve.await }).await??;
    Ok(())
}

async fn metrics(State(floor): State<Arc<Floor>>) -> String {
    format!(
        "circlekeeper_sessions {}\n",
        floor.sessions.load(Ordering::Relaxed)
    )
}

async fn upgrade(State(floor): State<Arc<Floor>>, ws: WebSocketUpgrade) -> Response {
    ws.read_buffer_size(8 * 1024)
        .on_upgrade(move |socket| async move {
            floor.sessions.fetch_add(1, Ordering::Relaxed);
            session(&floor, socket).await;
            floor.sessions.fetch_sub(1, Ordering::Relaxed);
        })
}

/// One connection: reads `hello` and `consent`, hands them to the room, and
/// writes what the room queues, reader and writer joined in one task.
async fn session(floor: &Floor, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (out, mut queue) = mpsc::unbounded_channel::<String>();
    let write = async move {
        while let Some(frame) = queue.recv().await {
            if sink.feed(Message::Text(frame.into())).await.is_err() {
                return;
            }
            while let Ok(more) = queue.try_recv() {
                if sink.feed(Message::Text(more.into())).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    };
    let read = async move {
        let mut joined: Option<(mpsc::UnboundedSender<ToRoom>, u64)> = None;
        while let Some(Ok(message)) = stream.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            let Ok(msg) = serde_json::from_str::<Value>(text.as_str()) else {
                return;
            };
            match (msg["type"].as_str(), &joined) {
                (Some("hello"), None) => {
                    let Some((room, seat, keeper)) = msg["token"].as_str().and_then(claims) else {
                        return;
                    };
                    let to_room = floor.room(&room);
                    let arrived = ToRoom::Arrived {
                        seat,
                        keeper,
                        out: out.clone(),
                    };
                    if to_room.send(arrived).is_err() {
                        return;
                    }
                    joined = Some((to_room, seat));
                }
                (Some("consent"), Some((to_room, seat))) => {
                    let consented = ToRoom::Consented {
                        seat: *seat,
                        reference: msg["ref"].clone(),
                    };
                    if to_room.send(consented).is_err() {
                        return;
                    }
                }
                _ => {}
            }
        }
    };
    // Either side ending ends the connection.
    tokio::select! {
        () = write => {}
        () = read => {}
    }
}

impl Floor {
    /// The room's queue, its task started at its first arrival.
    fn room(&self, id: &str) -> mpsc::UnboundedSender<ToRoom> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(room) = rooms.get(id) {
            return room.clone();
        }
        let (to_room, inbox) = mpsc::unbounded_channel();
        tokio::spawn(room(inbox));
        rooms.insert(id.to_owned(), to_room.clone());
        to_room
    }
}

/// A room: who is where, and the frames each change sends.
async fn room(mut inbox: mpsc::UnboundedReceiver<ToRoom>) {
    let mut people: HashMap<u64, (bool, Frames)> = HashMap::new();
    while let Some(msg) = inbox.recv().await {
        match msg {
            ToRoom::Arrived { seat, keeper, out } => {
                let _ = out.send(format!(
                    r#"{{"type":"welcome","session":{seat},"you":{seat}}}"#
                ));
                let _ = out.send(consent_view(keeper));
                people.insert(seat, (keeper, out));
                tell_keepers(&people);
            }
            ToRoom::Consented { seat, reference } => {
                let Some((keeper, out)) = people.get(&seat) else {
                    continue;
                };
                let stage = if *keeper { "circle" } else { "lobby" };
                let _ = out.send(format!(
                    r#"{{"type":"state","view":{{"stage":"{stage}","title":"Load","kind":"circle","language":"en"}}}}"#
                ));
                let _ = out.send(format!(r#"{{"type":"ok","ref":{reference}}}"#));
                tell_keepers(&people);
            }
        }
    }
}

fn tell_keepers(people: &HashMap<u64, (bool, Frames)>) {
    for (_, out) in people.values().filter(|(keeper, _)| *keeper) {
        let _ = out.send(keeper_view());
    }
}

/// A keeper's view of the server's size.
fn keeper_view() -> String {
    padded(
        r#"{"type":"state","view":{"stage":"circle","people":[],"pad":""#,
        r#""}}"#,
        KEEPER_VIEW_BYTES,
    )
}

/// A consent view with one item the load tool accepts, of the server's size.
fn consent_view(keeper: bool) -> String {
    let version = if keeper { "keeper-1" } else { "1" };
    let start = format!(
        r#"{{"type":"state","view":{{"stage":"consent","title":"Load","kind":"circle","language":"en","terms":{{"version":"{version}","items":[{{"id":"voluntary","required":true,"text":""#
    );
    padded(&start, r#""}]}}}"#, CONSENT_VIEW_BYTES)
}

/// `start`, then spaces inside its open string up to `bytes`, then `end`.
fn padded(start: &str, end: &str, bytes: usize) -> String {
    let mut frame = String::with_capacity(bytes);
    frame.push_str(start);
    while frame.len() + end.len() < bytes {
        frame.push(' ');
    }
    frame.push_str(end);
    frame
}

/// The token's room, seat and whether it is a keeper's, read from its
/// payload without checking the signature (the floor trusts the load tool).
fn claims(token: &str) -> Option<(String, u64, bool)> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    Some((
        claims["room"].as_str()?.to_owned(),
        claims["seat"].as_u64()?,
        claims["role"] == "keeper",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frames_are_json_of_the_servers_sizes() {
        for keeper in [false, true] {
            let view = consent_view(keeper);
            assert_eq!(view.len(), CONSENT_VIEW_BYTES);
            let parsed: Value = serde_json::from_str(&view).expect("a consent view is JSON");
            assert_eq!(parsed["view"]["stage"], "consent");
            assert_eq!(parsed["view"]["terms"]["items"][0]["id"], "voluntary");
        }
        let keeper_view = keeper_view();
        assert_eq!(keeper_view.len(), KEEPER_VIEW_BYTES);
        let parsed: Value = serde_json::from_str(&keeper_view).expect("a keeper view is JSON");
        assert_eq!(parsed["type"], "state");
    }

    #[test]
    fn claims_are_read_from_the_tokens_payload() {
        let payload = URL_SAFE_NO_PAD.encode(r#"{"room":"load-3","seat":1,"role":"keeper"}"#);
        let token = format!("header.{payload}.signature");
        assert_eq!(claims(&token), Some(("load-3".to_owned(), 1, true)));
        let payload = URL_SAFE_NO_PAD.encode(r#"{"room":"r","seat":4,"role":"participant"}"#);
        assert_eq!(
            claims(&format!("h.{payload}.s")),
            Some(("r".to_owned(), 4, false))
        );
        assert_eq!(claims("not a token"), None);
    }
}
