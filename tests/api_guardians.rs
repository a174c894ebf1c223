//! SPEC §2 and §3.1.6 over the program API and the wire: a minor's seat names
//! their guardian's (`guardian_seat`, validated as `invalid_link`); the minor
//! passes the consent gate only after the guardian has answered for them
//! (`consent_for`), the record keeps who gave which answer, and the guardian's
//! withdrawal ends the minor's visit.

#[path = "common/api.rs"]
mod api;
mod common;

use api::*;
use hyper::StatusCode;
use serde_json::{Value, json};

fn with_minor(guardian_seat: Value) -> Value {
    json!({
        "kind": "conference",
        "title": "Youth conference",
        "options": {"entry_order": null},
        "seats": [
            {"seat": 1, "name": "Kim Keeper", "role": "keeper"},
            {"seat": 2, "name": "Mia", "role": "participant", "party": "responsible", "guardian_seat": guardian_seat},
            {"seat": 3, "name": "Gus", "role": "participant", "party": "guardian"}
        ]
    })
}

/// Every item of `terms` accepted.
fn yes_to(terms: &Value) -> Value {
    let answers: Vec<Value> = terms["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| json!({"item": i["id"], "accept": true}))
        .collect();
    json!(answers)
}

#[tokio::test]
async fn a_minor_enters_only_after_their_guardian_and_leaves_with_them() {
    let server = api::start().await;
    let http = Http::new(server.addr);
    let created = http.create(with_minor(json!(3))).await;
    assert_eq!(created["invitations"][1]["guardian_seat"], 3);
    assert_eq!(created["invitations"][2]["guardian_seat"], Value::Null);
    let room = created["room_id"].as_str().expect("id").to_owned();

    let mut keeper = keeper_opens(&server, &created).await;

    let mut mia = server.connect().await;
    mia.hello(&invitation(&created, 1).1).await;
    assert_eq!(mia.view["stage"], "consent");
    assert_eq!(mia.view["guardian_needed"], true);
    let terms = mia.view["terms"].clone();
    let refused = mia
        .refused(json!({"type": "consent", "version": terms["version"], "answers": yes_to(&terms)}))
        .await;
    assert_eq!(refused, "guardian_consent_needed");

    let mut gus = server.connect().await;
    gus.hello(&invitation(&created, 2).1).await;
    assert!(gus.view.get("guardian_needed").is_none(), "{}", gus.view);
    gus.consent_all().await;
    gus.wait_stage("lobby").await;
    let minor = &gus.view["minors"][0];
    assert_eq!(minor["name"], "Mia");
    assert_eq!(minor["consent"], "needed");
    let (mia_id, terms) = (minor["person"].clone(), minor["terms"].clone());
    gus.cmd(json!({"type": "consent_for", "person": mia_id, "version": terms["version"], "answers": yes_to(&terms)}))
        .await
        .expect("the guardian answers for Mia");
    gus.wait_view(|v| v["minors"][0]["consent"] == "given")
        .await;

    mia.wait_view(|v| v.get("guardian_needed").is_none()).await;
    mia.consent_all().await;
    mia.wait_stage("lobby").await;
    for name in ["Mia", "Gus"] {
        let person = keeper.in_lobby(name).await;
        keeper
            .cmd(json!({"type": "admit", "person": person}))
            .await
            .expect("admit");
    }
    mia.wait_stage("circle").await;
    assert_eq!(
        mia.view["people"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["name"] == "Mia"))
            .map(|p| p["guardian_seat"].clone()),
        Some(json!(3))
    );

    gus.send(json!({"type": "withdraw_consent"})).await;
    assert_eq!(mia.until("ended").await["reason"], "guardian_withdrew");

    let record = http
        .get(&format!("/api/v1/rooms/{room}/record"))
        .await
        .json();
    let mia_inv = created["invitations"][1]["invitation_id"].clone();
    let gus_inv = created["invitations"][2]["invitation_id"].clone();
    assert_eq!(
        record["invitations"]
            .as_array()
            .and_then(|l| l.iter().find(|i| i["invitation_id"] == mia_inv))
            .map(|i| i["guardian_seat"].clone()),
        Some(json!(3))
    );
    let for_mia: Vec<(&str, Value)> = record["consents"]
        .as_array()
        .expect("consents")
        .iter()
        .filter(|c| c["invitation_id"] == mia_inv)
        .map(|c| (c["decision"].as_str().unwrap_or(""), c["given_by"].clone()))
        .collect();
    let items = terms["items"].as_array().map_or(0, Vec::len);
    let count = |decision: &str, by: &Value| {
        for_mia
            .iter()
            .filter(|(d, b)| *d == decision && b == by)
            .count()
    };
    assert_eq!(
        count("accepted", &gus_inv),
        items,
        "the guardian's answers for her"
    );
    assert_eq!(
        count("accepted", &Value::Null),
        items,
        "her own, beside them"
    );
    assert_eq!(
        count("withdrawn", &gus_inv),
        items,
        "withdrawn with the guardian's"
    );
}

/// Creating this room is refused as `invalid_link`.
async fn refused_as_a_bad_link(http: &Http, body: Value, why: &str) {
    let refused = http.post("/api/v1/rooms", body).await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{why}: {}",
        refused.text
    );
    assert_eq!(refused.code(), "invalid_link", "{why}");
}

#[tokio::test]
async fn guardian_links_are_checked() {
    let server = api::start().await;
    let http = Http::new(server.addr);
    for (body, why) in [
        (with_minor(json!(2)), "their own guardian"),
        (with_minor(json!(9)), "a seat the room does not have"),
        (with_minor(json!(1)), "a keeper as guardian"),
    ] {
        refused_as_a_bad_link(&http, body, why).await;
    }
    let mut observer_minor = with_minor(json!(3));
    observer_minor["seats"][1]["role"] = json!("observer");
    refused_as_a_bad_link(&http, observer_minor, "a minor is a participant").await;
}

/// SPEC §3.1.7: a supporter's link is kept and shown, and checked whole.
#[tokio::test]
async fn a_supporters_link_is_kept_shown_and_checked() {
    let server = api::start().await;
    let http = Http::new(server.addr);
    let room = |supports: Value, party: &str| {
        json!({
            "kind": "conference",
            "title": "Conference",
            "seats": [
                {"seat": 1, "name": "Kim Keeper", "role": "keeper"},
                {"seat": 2, "name": "Ana", "role": "participant", "party": "harmed"},
                {"seat": 3, "name": "Sue", "role": "participant", "party": party, "supports_seat": supports}
            ]
        })
    };
    let created = http.create(room(json!(2), "supporter")).await;
    assert_eq!(created["invitations"][2]["supports_seat"], 2);
    assert_eq!(created["invitations"][1]["supports_seat"], Value::Null);
    let id = created["room_id"].as_str().expect("id");
    let record = http.get(&format!("/api/v1/rooms/{id}/record")).await.json();
    assert_eq!(record["invitations"][2]["supports_seat"], 2);
    for (body, why) in [
        (room(json!(3), "supporter"), "supporting themselves"),
        (room(json!(9), "supporter"), "a seat the room does not have"),
        (room(json!(2), "community"), "not a supporter"),
    ] {
        refused_as_a_bad_link(&http, body, why).await;
    }
}
