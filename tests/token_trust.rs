//! The stored invitation is the truth (SPEC §5.11): a token signed with the
//! server's own key gets in only if the store holds its jti unchanged; and the
//! signing key can be rotated, the old key accepted for the configured overlap.

mod common;

use circlekeeper::auth::{Claims, TokenKeys, key_id};
use circlekeeper::circle::{Party, Phase, Role, RoomKind, Settings};
use circlekeeper::invitations::ensure_room;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::Value;

fn now_secs() -> u64 {
    circlekeeper::rooms::wall_clock().0 / 1000
}

/// Signs any claims with the server's own secret and key id, as someone
/// holding a leaked secret would.
fn resign(server: &TestServer, claims: &Claims) -> String {
    let text = std::fs::read_to_string(server.app.config.secret_path()).expect("secret file");
    let secret = hex::decode(text.trim()).expect("hex secret");
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(key_id(&secret));
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(&secret)).expect("sign")
}

/// The error a token gets at `hello`, after which the socket closes with 1008.
async fn refusal(server: &TestServer, token: &str) -> Value {
    let mut client = server.connect().await;
    let answer = client.hello(token).await;
    assert_eq!(answer["type"], "error", "{answer}");
    assert_eq!(client.closed().await, Closed::Code(1008));
    answer
}

/// What a token signed by some other key gets: the answer a token the store
/// does not back must be indistinguishable from.
async fn forgery_answer(server: &TestServer, room: &str) -> Value {
    let other = TokenKeys::from_secret(
        b"not-the-server-secret-not-the-server-secret",
        "circlekeeper",
        "circlekeeper-join",
    )
    .expect("keys");
    let (forged, _) = other
        .mint(room, 1, Role::Keeper, None, "Mallory", now_secs(), 3600)
        .expect("mint");
    let answer = refusal(server, &forged).await;
    assert_eq!(answer["code"], "token_unknown_key");
    // Same key id as the server's: only the signature differs.
    let claims = server
        .app
        .keys
        .mint(room, 1, Role::Keeper, None, "Mallory", now_secs(), 3600)
        .expect("mint")
        .1;
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(server.app.keys.kid().to_owned());
    let forged = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(b"not-the-server-secret-not-the-server-secret"),
    )
    .expect("sign");
    let answer = refusal(server, &forged).await;
    assert_eq!(answer["code"], "token_bad_signature");
    answer
}

#[tokio::test]
async fn a_correctly_signed_token_with_an_unknown_jti_is_refused_even_as_keeper() {
    let server = TestServer::start().await;
    server.room("c1", RoomKind::Circle).await;
    let mut keeper = server.arrive("c1", 1, Role::Keeper, None, "Kim").await;
    let mark = keeper.mark().await;
    let forged = forgery_answer(&server, "c1").await;

    // Minted with the server's own key but never stored.
    let (token, _) = server
        .app
        .keys
        .mint("c1", 9, Role::Keeper, None, "Mallory", now_secs(), 3600)
        .expect("mint");
    assert!(server.app.keys.verify(&token).is_ok(), "authentic");
    assert_eq!(refusal(&server, &token).await, forged);

    keeper.nothing_changed_since(mark).await;
    assert!(
        !keeper.view.to_string().contains("Mallory"),
        "{}",
        keeper.view
    );
    server.stop().await;
}

#[tokio::test]
async fn an_invitation_re_signed_for_another_room_is_refused() {
    let server = TestServer::start().await;
    server.room("room-a", RoomKind::Circle).await;
    server.room("room-b", RoomKind::Circle).await;
    let mut keeper_b = server.arrive("room-b", 1, Role::Keeper, None, "Bo").await;
    let mark = keeper_b.mark().await;
    let forged = forgery_answer(&server, "room-b").await;

    let token = server
        .token("room-a", 2, Role::Participant, Some(Party::Harmed), "Ana")
        .await;
    let claims = server.app.keys.verify(&token).expect("valid");

    // Re-signing the claims unchanged gives a working token: the helper is sound.
    let mut same = server.connect().await;
    assert_eq!(
        same.hello(&resign(&server, &claims)).await["type"],
        "welcome"
    );
    same.close().await;

    let mut for_b = claims.clone();
    for_b.room = "room-b".into();
    assert_eq!(refusal(&server, &resign(&server, &for_b)).await, forged);

    keeper_b.nothing_changed_since(mark).await;
    assert!(
        !keeper_b.view.to_string().contains("Ana"),
        "{}",
        keeper_b.view
    );
    server.stop().await;
}

#[tokio::test]
async fn a_participant_re_signed_as_keeper_cannot_enter_a_room_not_yet_open() {
    let server = TestServer::start().await;
    ensure_room(
        &server.app.store,
        "later",
        Settings::for_kind(RoomKind::Conference, "Later"),
        Phase::Scheduled,
    )
    .await
    .expect("room");
    let forged = forgery_answer(&server, "later").await;
    let token = server
        .token(
            "later",
            2,
            Role::Participant,
            Some(Party::Responsible),
            "Sam",
        )
        .await;
    let mut claims = server.app.keys.verify(&token).expect("valid");
    claims.role = Role::Keeper;
    claims.party = None;
    assert_eq!(refusal(&server, &resign(&server, &claims)).await, forged);
    // The role alone is enough.
    let mut claims = server.app.keys.verify(&token).expect("valid");
    claims.role = Role::Keeper;
    assert_eq!(refusal(&server, &resign(&server, &claims)).await, forged);
    server.stop().await;
}

/// A change to a token's claims; the second argument is another room's jti.
type Change = fn(&mut Claims, &str);

#[tokio::test]
async fn every_other_difference_from_the_stored_invitation_is_refused() {
    let server = TestServer::start().await;
    server.room("c1", RoomKind::Circle).await;
    server.room("c2", RoomKind::Circle).await;
    let forged = forgery_answer(&server, "c1").await;
    let token = server
        .token("c1", 2, Role::Participant, Some(Party::Harmed), "Ana")
        .await;
    let genuine = server.app.keys.verify(&token).expect("valid");
    let other = server
        .token("c2", 2, Role::Participant, Some(Party::Harmed), "Ana")
        .await;
    let other_jti = server.app.keys.verify(&other).expect("valid").jti;

    let changes: [(&str, Change); 5] = [
        ("seat", |c, _| {
            c.seat = 3;
            c.sub = Claims::subject_for(3);
        }),
        ("party", |c, _| c.party = Some(Party::Responsible)),
        ("no party", |c, _| c.party = None),
        ("later expiry", |c, _| c.exp += 86_400),
        ("another room's jti", |c, jti| c.jti = jti.to_owned()),
    ];
    for (what, change) in changes {
        let mut claims = genuine.clone();
        change(&mut claims, &other_jti);
        assert_eq!(
            refusal(&server, &resign(&server, &claims)).await,
            forged,
            "{what}"
        );
    }
    let metrics = server.metrics().await;
    assert!(metrics.contains("invitation_mismatch"), "{metrics}");
    server.stop().await;
}

#[tokio::test]
async fn after_a_rotation_old_links_work_for_the_overlap_and_then_not() {
    let server = TestServer::start().await;
    server.room("c1", RoomKind::Circle).await;
    let old = server.token("c1", 1, Role::Keeper, None, "Kim").await;
    let old_kid = server.app.keys.kid().to_owned();
    let secret_path = server.app.config.secret_path();
    let data = server.stop().await;

    let rotation = TokenKeys::rotate(&secret_path, now_secs(), 30 * 86_400).expect("rotate");
    assert_eq!(rotation.retired_kid, old_kid);

    // Within the overlap (the default, 30 days): the old link still works,
    // new links are signed with the new key.
    let server = TestServer::start_in(data, |_| {}).await;
    assert_eq!(server.app.keys.kid(), rotation.new_kid);
    let mut kim = server.connect().await;
    assert_eq!(kim.hello(&old).await["type"], "welcome");
    kim.close().await;
    let new = server.token("c1", 2, Role::Participant, None, "Ana").await;
    let mut ana = server.connect().await;
    assert_eq!(ana.hello(&new).await["type"], "welcome");
    ana.close().await;
    let data = server.stop().await;

    // Past the overlap (here: none configured), the old key is refused.
    let server = TestServer::start_in(data, |c| c.auth.key_overlap_days = 0).await;
    assert_eq!(refusal(&server, &old).await["code"], "token_unknown_key");
    let mut ana = server.connect().await;
    assert_eq!(ana.hello(&new).await["type"], "welcome");
    ana.close().await;
    server.stop().await;
}
