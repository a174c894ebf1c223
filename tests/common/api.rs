//! Helpers for the program API tests: a server with API keys, and a small
//! HTTP client. Include beside `common` with
//! `#[path = "common/api.rs"] mod api;`.
#![allow(dead_code)]

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use circlekeeper::config::{ApiKeyConfig, Config};

use super::common::{PATIENCE, TestServer};

/// A read-write key and a read-only key, configured by hash.
pub const KEY: &str = "ck_test_read_write_key_0123456789";
pub const READ_ONLY_KEY: &str = "ck_test_read_only_key_9876543210";

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

pub fn with_keys(config: &mut Config) {
    config.api.keys = vec![
        ApiKeyConfig {
            id: "case-system".into(),
            key_sha256: sha256_hex(KEY),
            read_only: false,
        },
        ApiKeyConfig {
            id: "reporting".into(),
            key_sha256: sha256_hex(READ_ONLY_KEY),
            read_only: true,
        },
    ];
}

pub async fn start() -> TestServer {
    TestServer::start_with(with_keys).await
}

pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
    TestServer::start_with(|c| {
        with_keys(c);
        tweak(c);
    })
    .await
}

/// One answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// The stable error code of an error answer (and checks its shape).
    pub fn code(&self) -> String {
        let body = self.json();
        assert!(body["error"]["message"].is_string(), "no message: {body}");
        assert_eq!(
            body.as_object().map(|o| o.len()),
            Some(1),
            "only `error`: {body}"
        );
        body["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no code: {body}"))
            .to_owned()
    }
}

pub struct Http {
    pub addr: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Http {
    pub fn new(addr: SocketAddr) -> Http {
        Http {
            addr,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// A request with any body and headers.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Answer {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body.into())).expect("request");
        let response = tokio::time::timeout(PATIENCE, self.client.request(request))
            .await
            .expect("an answer in time")
            .expect("HTTP");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        Answer {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        match body {
            Some(body) => {
                self.raw(
                    method,
                    path,
                    key,
                    &[("content-type", "application/json")],
                    body.to_string(),
                )
                .await
            }
            None => self.raw(method, path, key, &[], Bytes::new()).await,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, Some(KEY), None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(KEY), Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.call(Method::DELETE, path, Some(KEY), None).await
    }

    /// Creates a room (asserting 201) and returns the answer's JSON.
    pub async fn create(&self, body: Value) -> Value {
        let answer = self.post("/api/v1/rooms", body).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        answer.json()
    }
}

/// A conference with a keeper, a harmed and a responsible party.
pub fn conference() -> Value {
    json!({
        "kind": "conference",
        "title": "Dialogue about the fence",
        "seats": [
            {"seat": 1, "name": "Kim Keeper", "role": "keeper"},
            {"seat": 2, "name": "Ana Harmed", "role": "participant", "party": "harmed"},
            {"seat": 3, "name": "Ben Responsible", "role": "participant", "party": "responsible"}
        ]
    })
}

/// The token in an invitation link (`…/join#t=TOKEN`, maybe `&lang=xx` after it).
pub fn token_of(link: &Value) -> String {
    link.as_str()
        .and_then(|l| l.split("#t=").nth(1))
        .and_then(|fragment| fragment.split('&').next())
        .expect("a link with #t=")
        .to_owned()
}

/// Invitation `i` of a created room: (id, token).
pub fn invitation(created: &Value, i: usize) -> (String, String) {
    let inv = &created["invitations"][i];
    (
        inv["invitation_id"].as_str().expect("id").to_owned(),
        token_of(&inv["link"]),
    )
}

/// The created room's first seat (its keeper) arrives, consents and opens the room.
pub async fn keeper_opens(server: &TestServer, created: &Value) -> super::common::Client {
    let mut keeper = server.connect().await;
    keeper.hello(&invitation(created, 0).1).await;
    keeper.consent_all().await;
    keeper.wait_stage("circle").await;
    keeper
        .cmd(json!({"type": "open_room"}))
        .await
        .expect("open");
    keeper
}
