//! Stepping out alone (SPEC §3.3.4): one action, at any time; nothing is
//! forwarded to or from the person; the circle sees only that they stepped
//! out; one action brings them back, with no new admission.

use super::harness::*;
use crate::circle::*;

/// Keeper 1, ana 2 (harmed), ben 3, cal 4, in session, talking piece.
fn circle() -> Sim {
    let mut sim = Sim::new(RoomKind::Circle, Phase::Open);
    sim.join("keeper", 1, Role::Keeper, None);
    sim.join("ana", 2, Role::Participant, Some(Party::Harmed));
    sim.join("ben", 3, Role::Participant, Some(Party::Responsible));
    sim.join("cal", 4, Role::Participant, Some(Party::Community));
    sim.keeper(Command::StartSession).unwrap();
    sim
}

fn nothing_either_way(sim: &Sim, name: &str) {
    assert!(!sim.sends_anything(name), "{name} still sends");
    assert!(!sim.receives_anything(name), "{name} still receives");
}

#[test]
fn one_action_takes_a_person_out_of_every_stream_and_one_brings_them_back() {
    let mut sim = circle();
    sim.keeper(Command::SetMode {
        mode: FloorMode::Open,
    })
    .unwrap();
    assert!(sim.hears("ana", "ben") && sim.sees("ben", "ana"));
    sim.take();
    sim.cmd("ana", Command::StepOut).unwrap();
    nothing_either_way(&sim, "ana");
    // The others still meet.
    assert!(sim.hears("ben", "cal") && sim.sees("cal", "keeper"));
    // The circle sees that she stepped out, and only that; keepers in the same update.
    let ana = sim.id("ana");
    for name in ["keeper", "ben", "cal"] {
        let view = sim.circle_view(name);
        let row = view
            .people
            .iter()
            .find(|p| p.id == ana)
            .expect("ana listed");
        assert!(row.stepped_out && !row.may_speak, "{name}");
        assert!(
            sim.notices_to(name)
                .iter()
                .any(|n| matches!(n, Notice::State { .. })),
            "{name} was told at once"
        );
    }
    assert_eq!(sim.cmd("ana", Command::StepOut), Err(Refusal::NoChange));
    // Back with one action: no lobby, no admission.
    sim.cmd("ana", Command::StepBack).unwrap();
    assert!(sim.hears("ana", "ben") && sim.hears("ben", "ana"));
    assert!(sim.sees("keeper", "ana") && sim.sees("ana", "keeper"));
    assert!(!sim.circle_view("ben").people.iter().any(|p| p.stepped_out));
    assert_eq!(sim.cmd("ana", Command::StepBack), Err(Refusal::NoChange));
}

#[test]
fn the_piece_skips_someone_who_stepped_out_and_their_turn_moves_on() {
    let mut sim = circle();
    let (ana, ben, cal) = (sim.id("ana"), sim.id("ben"), sim.id("cal"));
    sim.keeper(Command::StartRound {
        prompt: "How are you arriving?".into(),
        first: Some(ana),
    })
    .unwrap();
    sim.cmd("ben", Command::StepOut).unwrap();
    // Ana passes: the piece skips Ben, who stepped out, for Cal.
    sim.cmd("ana", Command::Pass).unwrap();
    assert_eq!(sim.room.holder(), Some(cal));
    // Cal steps out while holding it: it moves on (to Ana, Ben being out), no pass recorded.
    sim.cmd("cal", Command::StepOut).unwrap();
    assert_ne!(sim.room.holder(), Some(cal));
    assert!(!sim.hears("cal", "keeper"));
    // Nobody can hand it to someone who stepped out.
    assert_eq!(
        sim.keeper(Command::GivePiece { to: ben }),
        Err(Refusal::NotInCircle)
    );
    sim.cmd("ben", Command::StepBack).unwrap();
    sim.keeper(Command::GivePiece { to: ben }).unwrap();
    assert!(sim.hears("ben", "ana"));
}

#[test]
fn a_moderated_floor_and_a_caucus_hold_nothing_for_someone_out() {
    let mut sim = circle();
    sim.keeper(Command::SetMode {
        mode: FloorMode::Moderated,
    })
    .unwrap();
    let ben = sim.id("ben");
    sim.cmd("ben", Command::RaiseHand).unwrap();
    sim.keeper(Command::GrantFloor { to: Some(ben) }).unwrap();
    assert!(sim.hears("ben", "ana"));
    sim.cmd("ben", Command::StepOut).unwrap();
    let granted = sim.circle_view("keeper").granted;
    assert!(!granted.contains(&ben), "the floor goes");
    assert_eq!(
        sim.cmd("ben", Command::RaiseHand),
        Err(Refusal::NotInCircle)
    );
    // In a caucus, stepping out still cuts them off from the caucus too.
    let (keeper, ana) = (sim.id("keeper"), sim.id("ana"));
    sim.keeper(Command::OpenCaucus {
        members: vec![keeper, ana],
    })
    .unwrap();
    assert!(sim.hears("ana", "keeper"));
    sim.cmd("ana", Command::StepOut).unwrap();
    nothing_either_way(&sim, "ana");
}

#[test]
fn stepping_out_ends_with_the_visit_and_survives_a_reconnection() {
    let mut sim = circle();
    sim.cmd("ana", Command::StepOut).unwrap();
    // A lost connection keeps the place, stepped out as it was.
    sim.disconnect("ana").unwrap();
    sim.arrive("ana", 2, Role::Participant, Some(Party::Harmed))
        .unwrap();
    assert!(sim.room.stepped_out(sim.id("ana")));
    nothing_either_way(&sim, "ana");
    // Leaving ends it: a new visit starts in the circle, not out of it.
    sim.cmd("ana", Command::Leave).unwrap();
    sim.arrive("ana", 2, Role::Participant, Some(Party::Harmed))
        .unwrap();
    let ana = sim.id("ana");
    sim.keeper(Command::Admit { person: ana }).unwrap();
    assert!(!sim.room.stepped_out(ana));
    assert!(sim.sees("ana", "ben"));
}
