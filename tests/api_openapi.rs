//! The OpenAPI document: served without a key, OpenAPI 3.x, every `$ref`
//! resolves, its operations are exactly the router's (probed over HTTP), and
//! it is pinned by a snapshot (`INSTA_UPDATE=always` after a deliberate change).

#[path = "common/api.rs"]
mod api;
mod common;

use std::collections::BTreeSet;

use api::*;
use hyper::{Method, StatusCode};
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// A concrete path for a templated one: unknown ids, so handlers answer 404 `room_unknown`.
fn concrete(path: &str) -> String {
    path.replace("{room_id}", "rm_probe")
        .replace("{invitation_id}", "inv_probe")
        .replace("{index}", "0")
        .replace("{outline_id}", "ol_probe")
        .replace("{case_id}", "cs_probe")
}

#[tokio::test]
async fn the_document_matches_the_router() {
    let server = api::start().await;
    let http = Http::new(server.addr);
    let answer = http
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let doc = answer.json();
    assert_eq!(
        doc,
        serde_json::to_value(circlekeeper::api::openapi()).unwrap()
    );
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string());
    assert_eq!(
        doc["components"]["securitySchemes"]["api_key"]["scheme"],
        "bearer"
    );

    // Every reference resolves.
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external ref {r}"));
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }

    // The documented operations are these, each with its error answers.
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                documented.insert((method.to_uppercase(), path.clone()));
                assert!(
                    op["responses"]["401"].is_object(),
                    "{method} {path} documents no 401"
                );
                assert!(op["summary"].is_string(), "{method} {path} has no summary");
                if op.get("requestBody").is_some() {
                    for status in ["400", "413", "415"] {
                        assert!(
                            op["responses"][status].is_object(),
                            "{method} {path} takes a body but documents no {status}"
                        );
                    }
                }
            }
        }
    }
    let expected: BTreeSet<(String, String)> = [
        ("POST", "/api/v1/rooms"),
        ("GET", "/api/v1/rooms"),
        ("GET", "/api/v1/rooms/{room_id}"),
        ("DELETE", "/api/v1/rooms/{room_id}"),
        ("POST", "/api/v1/rooms/{room_id}/invitations"),
        (
            "DELETE",
            "/api/v1/rooms/{room_id}/invitations/{invitation_id}",
        ),
        ("GET", "/api/v1/rooms/{room_id}/record"),
        ("GET", "/api/v1/rooms/{room_id}/record.csv"),
        ("GET", "/api/v1/rooms/{room_id}/feedback"),
        ("GET", "/api/v1/rooms/{room_id}/agreement"),
        ("PATCH", "/api/v1/rooms/{room_id}/agreement/items/{index}"),
        ("GET", "/api/v1/reports"),
        ("GET", "/api/v1/reports.csv"),
        ("POST", "/api/v1/outlines"),
        ("GET", "/api/v1/outlines"),
        ("GET", "/api/v1/outlines/{outline_id}"),
        ("DELETE", "/api/v1/outlines/{outline_id}"),
        ("POST", "/api/v1/cases"),
        ("GET", "/api/v1/cases/{case_id}"),
        ("DELETE", "/api/v1/cases/{case_id}"),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_owned(), p.to_owned()))
    .collect();
    assert_eq!(documented, expected);

    // The router serves every documented operation, and on those paths
    // no other method: each answer is the handler's, never "no such route".
    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    for path in paths {
        for method in METHODS {
            let method = method.to_uppercase();
            let body = Some(serde_json::json!({"seats": []}));
            let answer = http
                .call(
                    Method::from_bytes(method.as_bytes()).unwrap(),
                    &concrete(path),
                    Some(KEY),
                    body,
                )
                .await;
            let code = answer.json()["error"]["code"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            if documented.contains(&(method.clone(), path.clone())) {
                assert!(
                    code != "not_found" && code != "method_not_allowed",
                    "{method} {path} is documented but not routed: {}",
                    answer.text
                );
            } else {
                assert_eq!(
                    code, "method_not_allowed",
                    "{method} {path} is routed but not documented"
                );
            }
        }
    }

    insta::assert_json_snapshot!("openapi", doc);
}

/// Each operation that takes a JSON body answers a body of another media
/// type with the 415 it documents (schemathesis `status_code_conformance`).
#[tokio::test]
async fn a_body_that_is_not_json_gets_the_documented_415() {
    let server = api::start().await;
    let http = Http::new(server.addr);
    let doc = serde_json::to_value(circlekeeper::api::openapi()).unwrap();
    let mut probed = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            if op.get("requestBody").is_none() {
                continue;
            }
            let answer = http
                .raw(
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    &concrete(path),
                    Some(KEY),
                    &[("content-type", "text/plain")],
                    "{}",
                )
                .await;
            assert_eq!(
                answer.status,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{method} {path}: {}",
                answer.text
            );
            assert_eq!(answer.code(), "unsupported_media_type", "{method} {path}");
            assert!(op["responses"]["415"].is_object(), "{method} {path}");
            probed += 1;
        }
    }
    assert_eq!(
        probed, 5,
        "POST rooms, POST invitations, PATCH items, POST outlines, POST cases"
    );
}
