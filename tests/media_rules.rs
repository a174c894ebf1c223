//! SPEC §3.6 on the media, through the room and the signalling socket: whatever a
//! client sends, the server forwards only what the room allows.
//!
//! - Lobby members and people who declined get no peer connection (`media_ready`
//!   never comes, their `media_*` messages get `media_not_ready`); an observer
//!   receives but what it publishes reaches nobody (`publish_refused`).
//! - A keeper's mute stops a person's audio (and their `speaking`); a caucus and
//!   the rest neither hear nor see each other.
//! - Audio from someone without the speaking right is dropped packet by packet
//!   (`gate_closed`) while nobody receives any of it.
//! - Leaving, removal and withdrawal end the person's media: `ended`, their packets
//!   stop reaching anyone, and the server-side peer connection is freed.
//!
//! Server counters and live peer connections are process-wide, so the tests of
//! this binary run one at a time.

#![allow(clippy::await_holding_lock)]

mod common;
mod media_common;
#[path = "media_common/signalled.rs"]
mod signalled;

use circlekeeper::circle::{Role, RoomKind};
use circlekeeper::media::MediaKind::{self, Audio, Video};
use circlekeeper::media::Sfu;
use common::TestServer;
use serde_json::{Value, json};
use signalled::{Peer, admitted, arrive, media_server, participant, serial, wait_until};
use testpeer::Counters;
use testpeer::scrape;

async fn dropped(server: &TestServer, reason: &str) -> u64 {
    scrape::dropped(&server.metrics().await, reason)
}

/// Waits until exactly `n` server-side peer connections are alive in this process
/// (earlier ones wind down asynchronously after they close).
async fn live_connections(n: usize) {
    wait_until(&format!("{n} live server peer connections"), || {
        Sfu::live_peer_connections() == n
    })
    .await;
}

/// A keeper (receive-only) in the circle of a fresh room.
async fn keeper_of(server: &TestServer, room: &str) -> Peer {
    server.room(room, RoomKind::Circle).await;
    let mut keeper = arrive(server, room, 1, Role::Keeper, "Kim", false).await;
    keeper.wait_stage("circle").await.expect("the stage");
    keeper
}

/// Packets of `from`'s `kind` at each receiver.
fn snapshot(receivers: &[&Peer], from: &Peer, kind: MediaKind) -> Vec<u64> {
    receivers.iter().map(|r| r.got(from.you, kind)).collect()
}

fn media_not_ready(answer: Result<(), testpeer::Error>) {
    let code = answer.map_err(|e| e.code().map(str::to_owned));
    assert_eq!(code, Err(Some("media_not_ready".to_owned())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lobby_declined_and_observers_neither_receive_nor_are_forwarded() {
    let _serial = serial();
    live_connections(0).await;
    let server = media_server().await;
    let mut keeper = keeper_of(&server, "r1").await;
    let mut a = participant(&server, &mut keeper, "r1", 2, "Ana", true).await;
    let obs = admitted(&server, &mut keeper, "r1", 3, Role::Observer, "Oli", true).await;
    // Lou waits in the lobby; Dee reads the consent terms and declines them.
    let mut lou = arrive(&server, "r1", 4, Role::Participant, "Lou", true).await;
    lou.wait_stage("lobby").await.expect("the stage");
    let token = server.token("r1", 5, Role::Participant, None, "Dee").await;
    let mut client = server.connect().await;
    client.hello(&token).await;
    let mut dee = Peer::start(client, "Dee", signalled::setup(true));
    dee.wait_stage("consent").await.expect("the stage");

    // Media messages before the circle are refused, whatever they say.
    let offer = json!({"type": "media_offer", "sdp": "v=0\r\n"});
    let candidate = json!({"type": "media_candidate", "candidate": {
        "candidate": "candidate:1 1 udp 2130706431 127.0.0.1 9 typ host",
        "sdpMid": "0", "sdpMLineIndex": 0}});
    for peer in [&mut lou, &mut dee] {
        media_not_ready(peer.cmd(offer.clone()).await);
        media_not_ready(peer.cmd(candidate.clone()).await);
        media_not_ready(
            peer.cmd(json!({"type": "media_answer", "sdp": "v=0\r\n"}))
                .await,
        );
    }
    let answers: Vec<Value> = dee.view["terms"]["items"]
        .as_array()
        .expect("terms")
        .iter()
        .map(|item| json!({"item": item["id"], "accept": false}))
        .collect();
    let version = dee.view["terms"]["version"].clone();
    dee.send(json!({"type": "consent", "version": version, "answers": answers}));
    assert_eq!(
        dee.until("ended").await.expect("a message")["reason"],
        "consent_declined"
    );

    keeper.cmd(json!({"type": "start_session"})).await.unwrap();
    keeper
        .cmd(json!({"type": "give_piece", "to": a.you}))
        .await
        .unwrap();
    // The observer receives A's audio and video, like the keeper.
    for rx in [&obs, &keeper] {
        rx.wait_got(a.you, Audio, 25).await.expect("packets");
        rx.wait_got(a.you, Video, 15).await.expect("packets");
    }
    // Only the people in the circle have a server-side peer connection.
    live_connections(3).await;

    // The observer publishes all along; the server drops it at the door.
    let refused = dropped(&server, "publish_refused").await;
    let sent = obs.counters.sent(Audio) + obs.counters.sent(Video);
    let seen = keeper.got(a.you, Video);
    keeper
        .wait_got(a.you, Video, seen + 30)
        .await
        .expect("packets");
    let sent = obs.counters.sent(Audio) + obs.counters.sent(Video) - sent;
    // A loaded server may still be reading the window's last packets: give it time
    // to count them (each refused packet is counted, none forwarded, whenever read).
    let before = refused;
    let deadline = tokio::time::Instant::now() + signalled::MEDIA_PATIENCE;
    let refused = loop {
        let refused = dropped(&server, "publish_refused").await - before;
        if refused + 10 >= sent || tokio::time::Instant::now() >= deadline {
            break refused;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    println!("observer sent {sent} packets in the window; {refused} refused at the server");
    assert!(sent >= 50, "the observer did not publish: {sent}");
    assert!(
        refused + 10 >= sent,
        "only {refused} of the observer's {sent} packets were refused"
    );
    for rx in [&keeper, &a] {
        assert_eq!(rx.got(obs.you, Audio), 0, "{} heard the observer", rx.name);
        assert_eq!(rx.got(obs.you, Video), 0, "{} saw the observer", rx.name);
    }
    // Nor are the observer's tracks offered: no description announces them.
    let stream = format!("msid:peer-{} ", obs.you);
    for rx in [&mut keeper, &mut a] {
        rx.sync().await.expect("synced");
        for offer in rx.seen("media_offer") {
            let sdp = offer["sdp"].as_str().unwrap_or("");
            assert!(
                !sdp.contains(&stream),
                "{} was offered the observer's tracks",
                rx.name
            );
        }
    }

    // Lou, after all this, has had nothing: no peer, no roster, no speaking.
    lou.sync().await.expect("synced");
    for kind in ["media_ready", "media_offer", "media_candidate", "speaking"] {
        assert!(lou.seen(kind).is_empty(), "a lobby member got {kind}");
        assert!(dee.seen(kind).is_empty(), "a declined person got {kind}");
    }
    assert!(lou.view.get("people").is_none());
    assert_eq!(lou.counters.total() + dee.counters.total(), 0);
    for peer in [&a, &obs, &keeper] {
        assert!(
            peer.refused_steps().is_empty(),
            "{}: {:?}",
            peer.name,
            peer.refused_steps()
        );
    }
    for peer in [a, obs, lou, dee, keeper] {
        peer.close().await;
    }
    server.stop().await;
    live_connections(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mute_stops_the_audio_and_a_caucus_is_sealed_both_ways() {
    let _serial = serial();
    live_connections(0).await;
    let server = media_server().await;
    server.room("r2", RoomKind::Circle).await;
    // This keeper publishes: keepers are heard out of turn.
    let mut keeper = arrive(&server, "r2", 1, Role::Keeper, "Kim", true).await;
    keeper.wait_stage("circle").await.expect("the stage");
    let mut a = participant(&server, &mut keeper, "r2", 2, "Ana", true).await;
    let mut b = participant(&server, &mut keeper, "r2", 3, "Ben", true).await;
    let c = participant(&server, &mut keeper, "r2", 4, "Cal", true).await;
    let d = participant(&server, &mut keeper, "r2", 5, "Dia", true).await;
    keeper.cmd(json!({"type": "start_session"})).await.unwrap();
    keeper
        .cmd(json!({"type": "give_piece", "to": a.you}))
        .await
        .unwrap();
    for rx in [&b, &c, &keeper] {
        rx.wait_got(a.you, Audio, 25).await.expect("packets");
        rx.wait_got(a.you, Video, 15).await.expect("packets");
    }
    b.wait_got(keeper.you, Audio, 25).await.expect("packets");

    // Muted: A's audio stops everywhere, A's video and the keeper's voice go on.
    keeper
        .cmd(json!({"type": "mute", "person": a.you}))
        .await
        .unwrap();
    b.wait_view(|v| muted(v, a.you)).await.expect("the view");
    let heard = snapshot(&[&b, &c], &a, Audio);
    let at_b = b.got(keeper.you, Audio);
    // The first packets after the mute could have been in flight: wait them out.
    b.wait_got(keeper.you, Audio, at_b + 10)
        .await
        .expect("packets");
    let heard_settled = snapshot(&[&b, &c, &keeper], &a, Audio);
    let at_b = b.got(keeper.you, Audio);
    let seen = b.got(a.you, Video);
    b.wait_got(keeper.you, Audio, at_b + 50)
        .await
        .expect("packets");
    b.wait_got(a.you, Video, seen + 30).await.expect("packets");
    assert_eq!(
        snapshot(&[&b, &c, &keeper], &a, Audio),
        heard_settled,
        "A's audio still arrives while muted"
    );
    println!(
        "mute: A's audio at B and C {:?} when B saw the mute, {:?} for good",
        heard,
        &heard_settled[..2]
    );
    // Only A can unmute; then A is heard again.
    a.cmd(json!({"type": "unmute"})).await.unwrap();
    b.wait_got(a.you, Audio, heard_settled[0] + 25)
        .await
        .expect("packets");
    // Nobody was told that A spoke while A was muted (B's log, in order).
    b.sync().await.expect("synced");
    let mut is_muted = false;
    for msg in &b.log {
        if msg["type"] == "state" {
            is_muted = muted(&msg["view"], a.you);
        }
        assert!(
            !(is_muted && msg["type"] == "speaking" && msg["person"] == a.you),
            "B was told that muted A speaks"
        );
    }

    // A caucus of A and B: they hear and see each other, and nobody else.
    keeper
        .cmd(json!({"type": "open_caucus", "members": [a.you, b.you]}))
        .await
        .unwrap();
    b.wait_view(|v| !v["caucus"].is_null())
        .await
        .expect("the view");
    let b_at_a = a.got(b.you, Audio);
    a.wait_got(b.you, Audio, b_at_a + 25)
        .await
        .expect("packets");
    let caucus = [&a, &b];
    let rest = [&keeper, &c, &d];
    let across = |kind| -> Vec<u64> {
        let mut v = Vec::new();
        for x in caucus {
            v.extend(snapshot(&rest, x, kind));
        }
        for y in rest {
            v.extend(snapshot(&caucus, y, kind));
        }
        v
    };
    let (audio, video) = (across(Audio), across(Video));
    // A window in which both sides provably keep going among themselves.
    let (ab, kc, cd) = (
        b.got(a.you, Video),
        c.got(keeper.you, Audio),
        d.got(c.you, Video),
    );
    b.wait_got(a.you, Video, ab + 30).await.expect("packets");
    c.wait_got(keeper.you, Audio, kc + 50)
        .await
        .expect("packets");
    d.wait_got(c.you, Video, cd + 30).await.expect("packets");
    assert_eq!(across(Audio), audio, "audio crossed the caucus boundary");
    assert_eq!(across(Video), video, "video crossed the caucus boundary");

    // Back together: C sees B again.
    let caucus_id = b.view["caucus"]["id"].clone();
    keeper
        .cmd(json!({"type": "close_caucus", "caucus": caucus_id}))
        .await
        .unwrap();
    let seen = c.got(b.you, Video);
    c.wait_got(b.you, Video, seen + 15).await.expect("packets");

    for peer in [&a, &b, &c, &d, &keeper] {
        assert!(
            peer.refused_steps().is_empty(),
            "{}: {:?}",
            peer.name,
            peer.refused_steps()
        );
    }
    for peer in [a, b, c, d, keeper] {
        peer.close().await;
    }
    server.stop().await;
}

/// SPEC §3.3.4: one who steps out sends and receives nothing, audio or video,
/// while the others go on; stepping back restores both ways at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stepping_out_seals_a_person_both_ways() {
    let _serial = serial();
    live_connections(0).await;
    let server = media_server().await;
    server.room("r5", RoomKind::Circle).await;
    let mut keeper = arrive(&server, "r5", 1, Role::Keeper, "Kim", true).await;
    keeper.wait_stage("circle").await.expect("the stage");
    let mut a = participant(&server, &mut keeper, "r5", 2, "Ana", true).await;
    let b = participant(&server, &mut keeper, "r5", 3, "Ben", true).await;
    keeper.cmd(json!({"type": "start_session"})).await.unwrap();
    keeper
        .cmd(json!({"type": "set_mode", "mode": "open"}))
        .await
        .unwrap();
    for (rx, from) in [(&b, &a), (&keeper, &a), (&a, &b), (&a, &keeper)] {
        rx.wait_got(from.you, Audio, 25).await.expect("packets");
        rx.wait_got(from.you, Video, 15).await.expect("packets");
    }

    a.cmd(json!({"type": "step_out"})).await.unwrap();
    let out = |v: &Value, who: u64| {
        v["people"]
            .as_array()
            .and_then(|people| people.iter().find(|p| p["id"] == who))
            .is_some_and(|p| p["stepped_out"] == true)
    };
    let you = a.you;
    keeper.wait_view(|v| out(v, you)).await.expect("the view");
    // Both ways, both kinds: what A receives and what reaches anyone from A.
    let sealed = || -> Vec<u64> {
        let mut v = snapshot(&[&b, &keeper], &a, Audio);
        v.extend(snapshot(&[&b, &keeper], &a, Video));
        v.extend([Audio, Video].map(|k| a.got(b.you, k)));
        v.extend([Audio, Video].map(|k| a.got(keeper.you, k)));
        v
    };
    // Packets sent before the step out may still be on their way: wait them out.
    let kb = b.got(keeper.you, Audio);
    b.wait_got(keeper.you, Audio, kb + 10)
        .await
        .expect("packets");
    let settled = sealed();
    // A window in which the others provably go on among themselves.
    let (kb, bk) = (b.got(keeper.you, Audio), keeper.got(b.you, Video));
    b.wait_got(keeper.you, Audio, kb + 50)
        .await
        .expect("packets");
    keeper
        .wait_got(b.you, Video, bk + 30)
        .await
        .expect("packets");
    assert_eq!(
        sealed(),
        settled,
        "media crossed to or from someone who stepped out"
    );

    a.cmd(json!({"type": "step_back"})).await.unwrap();
    let (ab, ba) = (b.got(a.you, Audio), a.got(b.you, Video));
    b.wait_got(a.you, Audio, ab + 25).await.expect("packets");
    a.wait_got(b.you, Video, ba + 15).await.expect("packets");
    for peer in [a, b, keeper] {
        peer.close().await;
    }
    server.stop().await;
}

fn muted(view: &Value, person: u64) -> bool {
    view["people"]
        .as_array()
        .and_then(|people| people.iter().find(|p| p["id"] == person))
        .is_some_and(|p| p["muted"] == true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_without_the_speaking_right_is_dropped_packet_by_packet() {
    let _serial = serial();
    live_connections(0).await;
    let server = media_server().await;
    let mut keeper = keeper_of(&server, "r3").await;
    let a = participant(&server, &mut keeper, "r3", 2, "Ana", true).await;
    let b = participant(&server, &mut keeper, "r3", 3, "Ben", false).await;
    let c = participant(&server, &mut keeper, "r3", 4, "Cal", false).await;
    keeper.cmd(json!({"type": "start_session"})).await.unwrap();
    // Nobody holds the piece. A's video flowing proves A's media reaches the SFU.
    for rx in [&b, &c, &keeper] {
        rx.wait_got(a.you, Video, 15).await.expect("packets");
    }
    let drops = dropped(&server, "gate_closed").await;
    let sent = a.counters.sent(Audio);
    let seen = b.got(a.you, Video);
    b.wait_got(a.you, Video, seen + 50).await.expect("packets");
    let drops = dropped(&server, "gate_closed").await - drops;
    let sent = a.counters.sent(Audio) - sent;
    println!("A sent {sent} audio packets without the piece; {drops} gate drops (3 listeners)");
    for rx in [&b, &c, &keeper] {
        assert_eq!(rx.got(a.you, Audio), 0, "{} heard A", rx.name);
    }
    // Each of A's audio packets is dropped once per listener (a few may be in
    // flight at either end of the window); nothing else is gated here.
    assert!(sent >= 50, "A sent only {sent} audio packets");
    assert!(
        drops + 3 * 5 >= 3 * sent && drops <= 3 * (sent + 5),
        "{drops} gate drops for {sent} packets to 3 listeners"
    );

    // The gate opens on the next packets once A may speak.
    keeper
        .cmd(json!({"type": "give_piece", "to": a.you}))
        .await
        .unwrap();
    for rx in [&b, &c, &keeper] {
        rx.wait_got(a.you, Audio, 10).await.expect("packets");
    }
    for peer in [a, b, c, keeper] {
        peer.close().await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_removal_and_withdrawal_end_the_persons_media() {
    let _serial = serial();
    live_connections(0).await;
    let server = media_server().await;
    let mut keeper = keeper_of(&server, "r4").await;
    let mut a = participant(&server, &mut keeper, "r4", 2, "Ana", true).await;
    let mut b = participant(&server, &mut keeper, "r4", 3, "Ben", true).await;
    let mut c = participant(&server, &mut keeper, "r4", 4, "Cal", true).await;
    // Dia stays to the end: her media is what provably keeps flowing.
    let d = participant(&server, &mut keeper, "r4", 5, "Dia", true).await;
    keeper.cmd(json!({"type": "start_session"})).await.unwrap();
    keeper
        .cmd(json!({"type": "give_piece", "to": a.you}))
        .await
        .unwrap();
    for x in [&a, &b, &c] {
        keeper.wait_got(x.you, Video, 15).await.expect("packets");
        d.wait_got(x.you, Video, 15).await.expect("packets");
    }
    d.wait_got(a.you, Audio, 25).await.expect("packets");
    keeper.wait_got(d.you, Video, 15).await.expect("packets");
    live_connections(5).await;

    let mut live = 5;
    for (who, reason) in [
        (&mut a, "left"),
        (&mut b, "removed"),
        (&mut c, "consent_withdrawn"),
    ] {
        match reason {
            "left" => who.send(json!({"type": "leave"})),
            "removed" => keeper
                .cmd(json!({"type": "remove", "person": who.you}))
                .await
                .unwrap(),
            _ => who.send(json!({"type": "withdraw_consent"})),
        }
        let ended = who.until("ended").await.expect("a message");
        let ended_at = Counters::stamp_now();
        assert_eq!(ended["reason"], reason);
        live -= 1;
        live_connections(live).await;

        // Their client keeps publishing; nothing of it reaches anyone. A packet the
        // server forwarded just before the gate closed may still be on its way (the
        // subscriber's stack sends it later): wait those out before counting.
        let receivers = [&keeper, &d];
        let seen = keeper.got(d.you, Video);
        keeper
            .wait_got(d.you, Video, seen + 10)
            .await
            .expect("packets");
        let (audio, video) = (
            snapshot(&receivers, who, Audio),
            snapshot(&receivers, who, Video),
        );
        let (sent, seen) = (who.counters.sent(Video), keeper.got(d.you, Video));
        keeper
            .wait_got(d.you, Video, seen + 30)
            .await
            .expect("packets");
        assert_eq!(snapshot(&receivers, who, Audio), audio, "{reason}: audio");
        assert_eq!(snapshot(&receivers, who, Video), video, "{reason}: video");
        // And not one packet the client sent after `ended`, at any time.
        for rx in receivers {
            for kind in [Audio, Video] {
                let latest = rx.tally(who.you, kind).latest_sent_us;
                assert!(
                    latest <= Some(ended_at),
                    "{reason}: {} got {kind:?} sent {:?} µs after `ended`",
                    rx.name,
                    latest.map(|t| t - ended_at)
                );
            }
        }
        println!(
            "{reason}: {} video packets sent by the client after `ended`, none forwarded",
            who.counters.sent(Video) - sent
        );
    }
    for peer in [a, b, c, d, keeper] {
        peer.close().await;
    }
    server.stop().await;
    live_connections(0).await;
}

/// SPEC §3.3.2 (`pause_video`, on by default): while paused nobody is watched
/// but the keepers — no participant's video or audio crosses — and resuming
/// brings everyone back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_stops_everyones_video_but_the_keepers() {
    let _serial = serial();
    live_connections(0).await;
    let server = media_server().await;
    server.room("r6", RoomKind::Circle).await;
    let mut keeper = arrive(&server, "r6", 1, Role::Keeper, "Kim", true).await;
    keeper.wait_stage("circle").await.expect("the stage");
    let a = participant(&server, &mut keeper, "r6", 2, "Ana", true).await;
    let b = participant(&server, &mut keeper, "r6", 3, "Ben", true).await;
    keeper.cmd(json!({"type": "start_session"})).await.unwrap();
    keeper
        .cmd(json!({"type": "set_mode", "mode": "open"}))
        .await
        .unwrap();
    for (rx, from) in [(&b, &a), (&a, &b), (&a, &keeper)] {
        rx.wait_got(from.you, Video, 15).await.expect("packets");
    }

    keeper.cmd(json!({"type": "pause"})).await.unwrap();
    keeper
        .wait_view(|v| v["phase"] == "paused")
        .await
        .expect("the view");
    // What the participants send to each other and to the keeper, both kinds.
    let watched = || -> Vec<u64> {
        let mut v = snapshot(&[&b, &keeper], &a, Video);
        v.extend(snapshot(&[&a, &keeper], &b, Video));
        v.extend(snapshot(&[&b, &keeper], &a, Audio));
        v.extend(snapshot(&[&a, &keeper], &b, Audio));
        v
    };
    // Packets sent before the pause may still be on their way: wait them out.
    let ka = a.got(keeper.you, Video);
    a.wait_got(keeper.you, Video, ka + 10)
        .await
        .expect("packets");
    let settled = watched();
    // A window in which the keeper's video provably goes on reaching both.
    let (ka, kb) = (a.got(keeper.you, Video), b.got(keeper.you, Video));
    a.wait_got(keeper.you, Video, ka + 30)
        .await
        .expect("the keeper is still seen");
    b.wait_got(keeper.you, Video, kb + 30)
        .await
        .expect("the keeper is still seen");
    assert_eq!(
        watched(),
        settled,
        "a participant's media crossed during the pause"
    );

    keeper.cmd(json!({"type": "resume"})).await.unwrap();
    let (ab, ba) = (b.got(a.you, Video), a.got(b.you, Video));
    b.wait_got(a.you, Video, ab + 15).await.expect("packets");
    a.wait_got(b.you, Video, ba + 15).await.expect("packets");
    for peer in [a, b, keeper] {
        peer.close().await;
    }
    server.stop().await;
}
