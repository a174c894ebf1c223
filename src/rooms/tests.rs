use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::{oneshot, watch};

use super::{Node, Rooms};
use crate::circle::{Phase, RoomKind, Settings, Timestamp};
use crate::media::MediaConfig;
use crate::store::{RoomRow, Store};

async fn two_rooms() -> (Arc<Rooms>, watch::Sender<bool>) {
    two_rooms_resting_after(None).await
}

async fn two_rooms_resting_after(
    rest_after: Option<Duration>,
) -> (Arc<Rooms>, watch::Sender<bool>) {
    let store = Store::open_memory().await.unwrap();
    for id in ["a", "b"] {
        let row = RoomRow {
            id: id.to_owned(),
            settings: Settings::for_kind(RoomKind::Circle, format!("Room {id}")),
            phase: Phase::Open,
            created_at: Timestamp(1),
        };
        store.create_room(&row).await.unwrap();
    }
    let node = Node {
        id: "n".into(),
        url: "http://127.0.0.1:1".into(),
        lease: Duration::from_secs(600),
    };
    store
        .renew_lease(&node.id, &node.url, node.lease_until())
        .await
        .unwrap();
    let media = MediaConfig {
        bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        udp_port: 0,
        ..MediaConfig::default()
    };
    let (stop, shutdown) = watch::channel(false);
    (
        Arc::new(Rooms::new(store, shutdown, media, node, rest_after)),
        stop,
    )
}

/// A room that is starting, stopping or taking an invitation holds only its
/// own slot: another room starts meanwhile, and the held room's own callers
/// wait for it.
#[tokio::test]
async fn a_room_held_does_not_hold_the_others() {
    let (rooms, _stop) = two_rooms().await;
    let (holding, held) = oneshot::channel();
    let (release, released) = oneshot::channel::<()>();
    let holder = {
        let rooms = Arc::clone(&rooms);
        tokio::spawn(async move {
            rooms
                .with_running("a", async |running| {
                    assert!(running.is_none(), "room a has not started");
                    let _ = holding.send(());
                    let _ = released.await;
                })
                .await
        })
    };
    held.await.unwrap();

    // The timeout only turns a hang (one lock for every room) into a failure.
    let b = tokio::time::timeout(Duration::from_secs(30), rooms.get("b"))
        .await
        .expect("room b starts while room a is held")
        .unwrap();
    assert_eq!(&*b.id, "b");
    assert!(rooms.running("b").await.is_some());
    assert!(
        rooms.get("a").now_or_never().is_none(),
        "room a waits for whoever holds it"
    );

    release.send(()).unwrap();
    holder.await.unwrap();
    let a = rooms.get("a").await.unwrap();
    assert_eq!(&*a.id, "a");
    assert!(rooms.running("a").await.is_some());
    assert!(rooms.running("b").await.is_some(), "room b still runs");
}

/// Waits (at most 30 s, to turn a hang into a failure) until room `id` is no
/// longer running.
async fn until_resting(rooms: &Rooms, id: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while rooms.running(id).await.is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "room {id} never rested"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn second_seat() -> crate::circle::Invitation {
    serde_json::from_value(serde_json::json!({
        "id": "inv-2", "seat": 2, "role": "participant", "party": null, "name": "P2"
    }))
    .unwrap()
}

/// A room nobody can reach rests after `rest_after`; one whose handle someone
/// holds (an arrival on its way in) does not; a rested room starts again from
/// its journal on the next arrival, with what it had.
#[tokio::test]
async fn an_idle_room_rests_and_starts_again_from_its_journal() {
    use crate::circle::Input;
    let rest = Duration::from_millis(50);
    let (rooms, _stop) = two_rooms_resting_after(Some(rest)).await;
    let a = rooms.get("a").await.unwrap();
    let invitation = second_seat();
    let accepted = a.admin(Input::Invite { invitation }).await.unwrap();
    assert!(accepted.is_ok(), "{accepted:?}");

    // Held: an arrival with the handle in hand finds the room still there.
    tokio::time::sleep(rest * 4).await;
    assert!(rooms.running("a").await.is_some(), "a held room rested");
    drop(rooms.get("b").await.unwrap());

    drop(a);
    until_resting(&rooms, "a").await;
    until_resting(&rooms, "b").await;

    // Started again from the journal: it knows the invitation, so the same
    // input is refused as no change.
    let a = rooms.get("a").await.unwrap();
    let again = a
        .admin(Input::Invite {
            invitation: second_seat(),
        })
        .await
        .unwrap();
    assert!(
        again.is_err(),
        "the invitation was lost with the rest: {again:?}"
    );
    assert!(rooms.running("a").await.is_some());
}

/// The API holds a room's slot while it sends the room an input and waits for
/// the answer: a room whose time to rest comes meanwhile stays and answers.
#[tokio::test]
async fn a_room_due_to_rest_answers_the_api_that_holds_its_slot() {
    use crate::circle::Input;
    let rest = Duration::from_millis(50);
    let (rooms, _stop) = two_rooms_resting_after(Some(rest)).await;
    drop(rooms.get("a").await.unwrap());
    let answered = rooms.with_running("a", async |running| {
        let handle = running.expect("room a runs");
        // Past its time to rest, with the slot held here.
        tokio::time::sleep(rest * 4).await;
        handle
            .admin(Input::Invite {
                invitation: second_seat(),
            })
            .await
    });
    // The timeout only turns a hang (the room waiting for the slot) into a failure.
    let answer = tokio::time::timeout(Duration::from_secs(30), answered)
        .await
        .expect("the room answers")
        .unwrap();
    assert!(answer.is_ok(), "{answer:?}");
    until_resting(&rooms, "a").await;
}
