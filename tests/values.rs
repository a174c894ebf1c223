//! The circle's values (SPEC §3.2.8) and co-keepers (SPEC §2) through the
//! whole server: what a keeper records reaches everyone in the circle and
//! survives a restart; a participant cannot set them; keepers cannot remove
//! each other (docs/decisions.md).

mod common;

use circlekeeper::circle::{Party, Role, RoomKind};
use common::*;
use serde_json::{Value, json};

fn values(view: &Value) -> Vec<String> {
    view["values"]
        .as_array()
        .expect("values in the circle view")
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect()
}

#[tokio::test]
async fn values_reach_the_circle_and_survive_a_restart() {
    let server = TestServer::start().await;
    server.room("v1", RoomKind::Circle).await;
    let kim_token = server.token("v1", 1, Role::Keeper, None, "Kim").await;
    let ana_token = server
        .token("v1", 3, Role::Participant, Some(Party::Harmed), "Ana")
        .await;
    let mut kim = server.connect().await;
    kim.hello(&kim_token).await;
    kim.consent_all().await;
    let mut lee = server.arrive("v1", 2, Role::Keeper, None, "Lee").await;
    let mut ana = server.connect().await;
    ana.hello(&ana_token).await;
    ana.consent_all().await;
    kim.wait_view(|v| {
        v["people"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["presence"] == "lobby"))
    })
    .await;
    let a = kim.person("Ana");
    kim.cmd(json!({"type": "admit", "person": a}))
        .await
        .unwrap();
    ana.wait_stage("circle").await;
    assert!(values(&ana.view).is_empty());

    // The co-keeper records them; everyone in the circle sees them, trimmed.
    lee.cmd(json!({"type": "set_values", "values": [" Respect ", "Speak from the heart"]}))
        .await
        .unwrap();
    let expected = ["Respect", "Speak from the heart"];
    for client in [&mut kim, &mut ana] {
        client.wait_view(|v| !values(v).is_empty()).await;
        assert_eq!(values(&client.view), expected);
    }
    assert_eq!(
        ana.refused(json!({"type": "set_values", "values": ["Mine"]}))
            .await,
        "keeper_only"
    );
    assert_eq!(
        kim.refused(json!({"type": "set_values", "values": ["two\nlines"]}))
            .await,
        "bad_values"
    );
    // Keepers may not remove each other.
    let (k, l) = (lee.person("Kim"), kim.person("Lee"));
    assert_eq!(
        kim.refused(json!({"type": "remove", "person": l})).await,
        "keeper_protected"
    );
    assert_eq!(
        lee.refused(json!({"type": "remove", "person": k})).await,
        "keeper_protected"
    );

    let data_dir = server.stop().await;
    let server = TestServer::start_in(data_dir, |_| {}).await;
    let mut ana = server.connect().await;
    ana.hello(&ana_token).await;
    assert_eq!(ana.stage(), "circle");
    assert_eq!(values(&ana.view), expected, "the values after a restart");
    server.stop().await;
}
