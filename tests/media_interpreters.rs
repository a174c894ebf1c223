//! SPEC §3.2.7 on the media, with real WebRTC peers: an interpreter is heard
//! by everyone while their person holds the talking piece (and while they
//! finish after it, until `done_interpreting`), by their person alone at
//! other times, and by nobody across a caucus boundary or while muted.
//!
//! Server counters and live peer connections are process-wide, so the tests
//! of this binary run one at a time (`serial`).

#![allow(clippy::await_holding_lock)]

mod common;
mod media_common;
#[path = "media_common/signalled.rs"]
mod signalled;

use circlekeeper::circle::{Role, RoomKind};
use circlekeeper::media::MediaKind::Audio;
use common::TestServer;
use serde_json::{Value, json};
use signalled::{Peer, admit, arrive, media_server, participant, serial};

/// The interpreter Ivo at `seat`, interpreting for `seats`, admitted by the keeper.
async fn interpreter(
    server: &TestServer,
    keeper: &mut Peer,
    room: &str,
    seat: u32,
    seats: &[u32],
) -> Peer {
    let token = server.interpreter_token(room, seat, "Ivo", seats).await;
    let mut client = server.connect().await;
    client.hello(&token).await;
    client.consent_all().await;
    let mut ivo = Peer::start(client, "Ivo", signalled::setup(true));
    admit(keeper, &mut ivo).await;
    ivo
}

fn row(view: &Value, id: u64) -> Value {
    view["people"]
        .as_array()
        .and_then(|people| people.iter().find(|p| p["id"] == id))
        .cloned()
        .unwrap_or(Value::Null)
}

/// Asserts that none of `listeners` gets any more of `ivo`'s audio, over a
/// window in which `clock` provably keeps flowing to `witness` (the first
/// packets after a gate change may have been in flight: they are waited out).
async fn silent_at(listeners: &[&Peer], ivo: &Peer, witness: &Peer, clock: &Peer, why: &str) {
    let tick = witness.got(clock.you, Audio);
    witness
        .wait_got(clock.you, Audio, tick + 10)
        .await
        .expect("packets");
    let settled: Vec<u64> = listeners.iter().map(|l| l.got(ivo.you, Audio)).collect();
    let tick = witness.got(clock.you, Audio);
    witness
        .wait_got(clock.you, Audio, tick + 50)
        .await
        .expect("packets");
    let after: Vec<u64> = listeners.iter().map(|l| l.got(ivo.you, Audio)).collect();
    assert_eq!(after, settled, "{why}");
}

/// Waits for 25 more of `ivo`'s audio packets at `listener`.
async fn hears(listener: &Peer, ivo: &Peer) {
    let had = listener.got(ivo.you, Audio);
    listener
        .wait_got(ivo.you, Audio, had + 25)
        .await
        .expect("the interpreter's audio");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interpreter_reaches_everyone_only_with_their_person_and_never_across_a_caucus_or_muted()
{
    let _serial = serial();
    let server = media_server().await;
    server.room("ri", RoomKind::Circle).await;
    // The keeper publishes: heard out of turn, a clock that never stops.
    let mut keeper = arrive(&server, "ri", 1, Role::Keeper, "Kim", true).await;
    keeper.wait_stage("circle").await.expect("the stage");
    let mut ana = participant(&server, &mut keeper, "ri", 2, "Ana", true).await;
    let mut ben = participant(&server, &mut keeper, "ri", 3, "Ben", true).await;
    let mut ivo = interpreter(&server, &mut keeper, "ri", 4, &[2]).await;
    let (ana_id, ben_id, ivo_id) = (ana.you, ben.you, ivo.you);
    keeper.cmd(json!({"type": "start_session"})).await.unwrap();
    ana.wait_view(|v| v["phase"] == "in_session")
        .await
        .expect("the view");
    assert_eq!(
        row(&ana.view, ivo.you)["interprets_for"],
        json!([ana_id]),
        "the view shows who interprets for whom"
    );

    // Nobody holds the piece: only Ana hears Ivo.
    hears(&ana, &ivo).await;
    silent_at(
        &[&ben, &keeper],
        &ivo,
        &ben,
        &keeper,
        "Ivo reached others without Ana's turn",
    )
    .await;
    assert_eq!(ben.got(ivo.you, Audio), 0, "Ben never heard Ivo");

    // Ana holds the piece: everyone hears Ivo.
    keeper
        .cmd(json!({"type": "give_piece", "to": ana.you}))
        .await
        .unwrap();
    hears(&ben, &ivo).await;
    hears(&keeper, &ivo).await;

    // Ana passes to Ben: Ivo is not cut off mid-sentence, and says done.
    ana.cmd(json!({"type": "pass"})).await.unwrap();
    ben.wait_view(|v| v["holder"] == ben_id)
        .await
        .expect("the view");
    assert_eq!(row(&ben.view, ivo.you)["interpreting"], true);
    hears(&ben, &ivo).await;
    ivo.wait_view(|v| row(v, ivo_id)["interpreting"] == true)
        .await
        .expect("the view");
    ivo.cmd(json!({"type": "done_interpreting"})).await.unwrap();
    ben.wait_view(|v| row(v, ivo_id)["interpreting"] == false)
        .await
        .expect("the view");
    silent_at(
        &[&ben, &keeper],
        &ivo,
        &ben,
        &keeper,
        "Ivo still reached everyone after done",
    )
    .await;
    hears(&ana, &ivo).await;

    // A caucus of Ana and Ben: Ivo, outside it, reaches nobody, not even Ana.
    keeper
        .cmd(json!({"type": "open_caucus", "members": [ana.you, ben.you]}))
        .await
        .unwrap();
    ana.wait_view(|v| !v["caucus"].is_null())
        .await
        .expect("the view");
    silent_at(
        &[&ana, &ben, &keeper],
        &ivo,
        &ana,
        &ben,
        "Ivo crossed the caucus boundary",
    )
    .await;
    let caucus = ana.view["caucus"]["id"].clone();
    keeper
        .cmd(json!({"type": "close_caucus", "caucus": caucus}))
        .await
        .unwrap();
    hears(&ana, &ivo).await;

    // Muted by the keeper, even with Ana's turn: nobody hears Ivo.
    keeper
        .cmd(json!({"type": "give_piece", "to": ana.you}))
        .await
        .unwrap();
    hears(&ben, &ivo).await;
    keeper
        .cmd(json!({"type": "mute", "person": ivo.you}))
        .await
        .unwrap();
    ana.wait_view(|v| row(v, ivo_id)["muted"] == true)
        .await
        .expect("the view");
    silent_at(
        &[&ana, &ben, &keeper],
        &ivo,
        &ben,
        &keeper,
        "a muted interpreter was heard",
    )
    .await;

    for peer in [&ana, &ben, &ivo, &keeper] {
        assert!(
            peer.refused_steps().is_empty(),
            "{}: {:?}",
            peer.name,
            peer.refused_steps()
        );
    }
}
