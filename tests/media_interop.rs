//! Clients that are not the server's twin (SPEC §6.5). Payload-type numbers are each
//! client's own: a participant who numbers Opus 109 and VP8 120, as Firefox does, where
//! the server and Chromium say 111 and 96, receives every stream — arriving second or
//! third, and again after leaving and coming back with the same link — and everyone
//! receives theirs; nothing the server forwards is refused by the subscriber's
//! connection. And a client that signals its candidates only under mDNS names, as
//! browsers do by default, connects: the server learns its address from its checks.

#![allow(clippy::await_holding_lock)]

mod common;
mod media_common;
#[path = "media_common/signalled.rs"]
mod signalled;

use circlekeeper::circle::{Party, Role, RoomKind};
use circlekeeper::media::MediaKind::{Audio, Video};
use circlekeeper::media::testing::PayloadTypes;
use common::TestServer;
use serde_json::json;
use signalled::{Peer, admit, media_server, serial, setup};
use testpeer::Setup;
use testpeer::scrape::dropped;

/// Connects with `token`, consents when asked, and hands the socket to a pump.
async fn join(server: &TestServer, token: &str, name: &str, setup: Setup) -> Peer {
    let mut client = server.connect().await;
    let first = client.hello(token).await;
    assert_eq!(first["type"], "welcome", "{name}: {first}");
    if client.stage() == "consent" {
        client.consent_all().await;
    }
    Peer::start(client, name, setup)
}

fn numbered(payload_types: PayloadTypes) -> Setup {
    Setup {
        payload_types,
        ..setup(true)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hides_its_addresses_connects_through_its_own_checks() {
    let _serial = serial();
    let server = media_server().await;
    server.room("m", RoomKind::Circle).await;
    let token = server.token("m", 1, Role::Keeper, None, "Kim").await;
    let mut keeper = join(&server, &token, "Kim", setup(true)).await;
    keeper
        .wait_stage("circle")
        .await
        .expect("the keeper's stage");
    keeper.cmd(json!({"type": "start_session"})).await.unwrap();
    keeper
        .cmd(json!({"type": "set_mode", "mode": "open"}))
        .await
        .unwrap();
    let token = server
        .token("m", 2, Role::Participant, Some(Party::Community), "Ana")
        .await;
    let hidden = Setup {
        hide_addresses: true,
        ..numbered(PayloadTypes::FIREFOX)
    };
    let mut ana = join(&server, &token, "Ana", hidden).await;
    admit(&mut keeper, &mut ana).await;
    everyone_hears_everyone(&[&keeper, &ana]).await;
    assert!(ana.refused_steps().is_empty(), "{:?}", ana.refused_steps());
    for peer in [keeper, ana] {
        peer.close().await;
    }
    server.stop().await;
}

/// Every peer receives audio and video from every other one.
async fn everyone_hears_everyone(peers: &[&Peer]) {
    for to in peers {
        for from in peers.iter().filter(|p| p.you != to.you) {
            let (audio, video) = (to.got(from.you, Audio), to.got(from.you, Video));
            to.wait_got(from.you, Audio, audio + 25)
                .await
                .expect("audio");
            to.wait_got(from.you, Video, video + 15)
                .await
                .expect("video");
        }
    }
}

/// A 3-person open circle in which `firefox_at` (0: keeper, 1: second, 2: third
/// arrival) numbers its codecs as Firefox does; that person then leaves and comes
/// back with the same link.
async fn circle_with_firefox_at(firefox_at: usize) {
    let _serial = serial();
    let server = media_server().await;
    let room = format!("n{firefox_at}");
    server.room(&room, RoomKind::Circle).await;
    let seats = [
        (1, Role::Keeper, None, "Kim"),
        (2, Role::Participant, Some(Party::Community), "Ana"),
        (3, Role::Participant, Some(Party::Community), "Ben"),
    ];
    let mut tokens = Vec::new();
    let mut peers: Vec<Peer> = Vec::new();
    for (i, (seat, role, party, name)) in seats.into_iter().enumerate() {
        let token = server.token(&room, seat, role, party, name).await;
        let pts = if i == firefox_at {
            PayloadTypes::FIREFOX
        } else {
            PayloadTypes::SERVER
        };
        let mut peer = join(&server, &token, name, numbered(pts)).await;
        if i == 0 {
            peer.wait_stage("circle").await.expect("the keeper's stage");
            peer.cmd(json!({"type": "start_session"})).await.unwrap();
            peer.cmd(json!({"type": "set_mode", "mode": "open"}))
                .await
                .unwrap();
        } else {
            admit(&mut peers[0], &mut peer).await;
        }
        tokens.push(token);
        peers.push(peer);
    }
    let before = server.metrics().await;
    everyone_hears_everyone(&peers.iter().collect::<Vec<_>>()).await;

    // The Firefox-like person leaves and comes back with the same link.
    let mut gone = peers.remove(firefox_at);
    let was = gone.you;
    gone.send(json!({"type": "leave"}));
    let ended = gone.until("ended").await.expect("ended");
    assert_eq!(ended["reason"], "left");
    gone.close().await;
    let (_, _, _, name) = seats[firefox_at];
    let mut back = join(
        &server,
        &tokens[firefox_at],
        name,
        numbered(PayloadTypes::FIREFOX),
    )
    .await;
    assert_eq!(back.you, was, "the same person comes back");
    if firefox_at == 0 {
        back.wait_stage("circle").await.expect("the keeper's stage");
        if back.seen("media_ready").is_empty() {
            back.until("media_ready").await.expect("media_ready");
        }
    } else {
        admit(&mut peers[0], &mut back).await;
    }
    peers.insert(firefox_at, back);
    everyone_hears_everyone(&peers.iter().collect::<Vec<_>>()).await;

    // No packet was put on a connection under a number it did not negotiate: the only
    // drops are of streams not yet negotiated (a subscriber's first moments).
    let after = server.metrics().await;
    let failed = dropped(&after, "write_failed") - dropped(&before, "write_failed");
    assert_eq!(failed, 0, "packets refused by a subscriber's connection");
    for peer in peers {
        assert!(
            peer.refused_steps().is_empty(),
            "{}: {:?}",
            peer.name,
            peer.refused_steps()
        );
        peer.close().await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firefox_numbered_second_arrival_receives_every_stream_through_a_rejoin() {
    circle_with_firefox_at(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firefox_numbered_third_arrival_receives_every_stream_through_a_rejoin() {
    circle_with_firefox_at(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firefox_numbered_keeper_receives_every_stream_through_a_rejoin() {
    circle_with_firefox_at(0).await;
}
