//! Webhooks reach an https:// receiver, verifying its certificate against
//! the configured CA (programs' receivers are HTTPS in practice).

mod common;

use circlekeeper::circle::{Role, RoomKind};
use common::*;

const SECRET: &str = "a-shared-secret-for-https-tests";

#[tokio::test]
async fn signed_events_arrive_over_https() {
    let certs = tempfile::tempdir().expect("temp dir");
    let made = circlekeeper::tls::generate_dev_certificate(certs.path()).expect("certificate");
    let (receiver, mut events) = signed_webhook_receiver(SECRET);
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
