//! SPEC §5.2 and §5.6: the WebSocket's Origin allow-list, connections per
//! address, and a slow client's bounded queue.

mod common;

use circlekeeper::circle::{Role, RoomKind};
use common::*;
use serde_json::json;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, http::HeaderValue};

async fn upgrade_with_origin(server: &TestServer, origin: &str) -> Result<u16, u16> {
    let mut request = format!("ws://{}/ws", server.addr)
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("Origin", HeaderValue::from_str(origin).expect("header"));
    match connect_async(request).await {
        Ok((_, response)) => Ok(response.status().as_u16()),
        Err(WsError::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("unexpected error {other}"),
    }
}

#[tokio::test]
async fn an_origin_outside_the_allow_list_gets_403_never_101() {
    let server = TestServer::start().await;
    assert_eq!(
        upgrade_with_origin(&server, "https://evil.example").await,
        Err(403)
    );
    assert_eq!(upgrade_with_origin(&server, "null").await, Err(403));
    let own = format!("http://127.0.0.1:{}", server.addr.port());
    assert_eq!(upgrade_with_origin(&server, &own).await, Ok(101));
    server.stop().await;
}

#[tokio::test]
async fn connections_per_address_are_limited() {
    let server = TestServer::start_with(|c| c.limits.sessions_per_ip = 3).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(server.connect().await);
    }
    let refused = connect_async(format!("ws://{}/ws", server.addr)).await;
    assert!(
        matches!(refused, Err(WsError::Http(ref r)) if r.status() == 429),
        "{refused:?}"
    );
    // A connection that ends gives its place back.
    open.pop().expect("one").close().await;
    let mut again = None;
    for _ in 0..200 {
        if let Ok((ws, _)) = connect_async(format!("ws://{}/ws", server.addr)).await {
            again = Some(ws);
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(again.is_some(), "the place was given back");
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_does_not_read_is_dropped_and_others_go_on() {
    let server = TestServer::start_with(|c| {
        c.limits.outbound_queue = 8;
        c.limits.messages_per_second = 100_000;
        c.limits.message_burst = 100_000;
    })
    .await;
    server.room("c1", RoomKind::Circle).await;
    let mut keeper = server.arrive("c1", 1, Role::Keeper, None, "Kim").await;
    let token = server.token("c1", 2, Role::Keeper, None, "Slow").await;
    let mut slow = Client::connect_small_buffer(server.addr).await;
    slow.hello(&token).await;
    slow.consent_all().await;
    // `slow` now reads nothing while every message to the keepers reaches
    // it (a chat, not a change of view: views to someone who did not act
    // are spaced, docs/protocol.md "When `state` comes").
    let text = "x".repeat(circlekeeper::circle::MAX_CHAT_CHARS);
    let mut dropped = false;
    for i in 0..5_000 {
        keeper
            .cmd(json!({"type": "chat", "to": "keepers", "text": text}))
            .await
            .expect("the keeper is never held up");
        if i % 50 == 49
            && server
                .metrics()
                .await
                .contains("circlekeeper_slow_clients_dropped_total")
        {
            dropped = true;
            break;
        }
    }
    assert!(dropped, "the slow client was dropped");
    assert_eq!(slow.closed().await, Closed::Code(1008));
    keeper.sync().await;
    server.stop().await;
}
