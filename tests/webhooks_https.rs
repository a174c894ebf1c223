//! Webhooks reach an https:// receiver, verifying its certificate against
//! the configured CA (programs' receivers are HTTPS in practice).

mod common;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use circlekeeper::circle::{Role, RoomKind};
use circlekeeper::webhooks::{SIGNATURE_HEADER, verify};
use common::*;
use tokio::sync::mpsc;

const SECRET: &str = "a-shared-secret-for-https-tests";

async fn receive(
    State(tx): State<Arc<mpsc::UnboundedSender<serde_json::Value>>>,
    headers: HeaderMap,
    raw: Bytes,
) -> StatusCode {
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if verify(SECRET, signature, &raw, now, 300).is_err() {
        return StatusCode::BAD_REQUEST;
    }
    let _ = tx.send(serde_json::from_slice(&raw).unwrap_or_default());
    StatusCode::NO_CONTENT
}

#[tokio::test]
async fn signed_events_arrive_over_https() {
    let certs = tempfile::tempdir().expect("temp dir");
    let made = circlekeeper::tls::generate_dev_certificate(certs.path()).expect("certificate");
    let (tx, mut events) = mpsc::unbounded_channel();
    let receiver = Router::new()
        .route("/hook", post(receive))
        .with_state(Arc::new(tx));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let rustls = circlekeeper::tls::server_config(&made.cert_file, &made.key_file)
        .await
        .expect("tls");
    let server_task = tokio::spawn(async move {
        let _ = axum_server::from_tcp_rustls(listener, rustls)
            .expect("server")
            .serve(receiver.into_make_service())
            .await;
    });

    let ca = made.cert_file.clone();
    let server = TestServer::start_with(move |c| {
        c.webhooks.url = Some(format!("https://localhost:{port}/hook"));
        c.webhooks.secret = Some(SECRET.to_owned());
        c.webhooks.ca_file = Some(ca);
        c.webhooks.poll_ms = 20;
    })
    .await;
    server.room("c1", RoomKind::Circle).await;
    let _keeper = server.arrive("c1", 1, Role::Keeper, None, "Kim").await;
    let first = tokio::time::timeout(PATIENCE, events.recv())
        .await
        .expect("an event in time")
        .expect("event");
    assert_eq!(first["room_id"], "c1");
    assert!(
        first["type"].as_str().is_some_and(|t| t.contains('.')),
        "{first}"
    );
    assert!(!first.to_string().contains("Kim"), "no names in webhooks");
    server.stop().await;
    server_task.abort();
}
