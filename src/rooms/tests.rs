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
    (Arc::new(Rooms::new(store, shutdown, media, node)), stop)
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
