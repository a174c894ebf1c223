//! SPEC §3.2.7: interpreters. Heard by everyone while their person has the
//! turn, by their persons alone otherwise; finishing after their person
//! until they say done or a keeper takes it; never across a caucus, while
//! muted, paused or outside the circle.

use super::harness::*;
use crate::circle::*;

/// An interpreter's invitation: a participant linked to `seats`.
pub fn interpreter(name: &'static str, seat: u32, seats: &[u32]) -> Invitation {
    Invitation {
        interprets_for: seats.to_vec(),
        ..invitation(name, seat, Role::Participant, Some(Party::Interpreter))
    }
}

/// Keeper 1, ana 2 (harmed), ben 3 (responsible), int 4 interpreting for
/// ana; in session, talking-piece mode, nobody holding the piece.
fn circle_with_interpreter() -> Sim {
    let mut sim = Sim::circle_in_session();
    sim.join("ana", 2, Role::Participant, Some(Party::Harmed));
    sim.join("ben", 3, Role::Participant, Some(Party::Responsible));
    sim.input(Input::Invite {
        invitation: interpreter("int", 4, &[2]),
    })
    .expect("invite");
    sim.join("int", 4, Role::Participant, Some(Party::Interpreter));
    sim
}

/// Does the interpreter reach everyone (keeper and ben) and ana?
fn reaches(sim: &Sim) -> (bool, bool, bool) {
    (
        sim.hears("int", "keeper"),
        sim.hears("int", "ben"),
        sim.hears("int", "ana"),
    )
}

#[test]
fn an_interpreter_reaches_only_their_person_while_someone_else_speaks() {
    let mut sim = circle_with_interpreter();
    assert_eq!(
        reaches(&sim),
        (false, false, true),
        "nobody holds the piece"
    );
    sim.keeper(Command::GivePiece { to: sim.id("ben") })
        .unwrap();
    assert_eq!(reaches(&sim), (false, false, true));
    assert!(sim.hears("ben", "ana") && sim.hears("ben", "int"));
    assert!(!sim.hears("ana", "int"), "only the holder is heard");
}

#[test]
fn an_interpreter_reaches_everyone_while_their_person_holds_the_piece() {
    let mut sim = circle_with_interpreter();
    sim.keeper(Command::GivePiece { to: sim.id("ana") })
        .unwrap();
    assert_eq!(reaches(&sim), (true, true, true));
    assert!(
        sim.circle_view("ben")
            .people
            .iter()
            .any(|p| p.id == sim.id("int") && p.may_speak)
    );
}

#[test]
fn after_their_person_passes_the_interpreter_finishes_until_done() {
    let mut sim = circle_with_interpreter();
    sim.keeper(Command::GivePiece { to: sim.id("ana") })
        .unwrap();
    sim.cmd("ana", Command::Pass).unwrap();
    assert_eq!(sim.room.holder(), Some(sim.id("ben")));
    assert_eq!(reaches(&sim), (true, true, true), "not cut off mid-turn");
    assert!(sim.hears("ben", "ana"), "the next holder is heard too");
    let int = sim.id("int");
    let view = sim.circle_view("ben");
    let me = view.people.iter().find(|p| p.id == int).unwrap();
    assert!(me.interpreting && me.may_speak);
    assert_eq!(me.interprets_for, vec![sim.id("ana")]);

    assert_eq!(
        sim.cmd("ben", Command::DoneInterpreting),
        Err(Refusal::NotHolder),
        "only the finishing interpreter says done"
    );
    sim.cmd("int", Command::DoneInterpreting).unwrap();
    assert_eq!(reaches(&sim), (false, false, true));
    assert!(!sim.circle_view("ana").people.iter().any(|p| p.interpreting));
    assert_eq!(
        sim.cmd("int", Command::DoneInterpreting),
        Err(Refusal::NotHolder)
    );
}

#[test]
fn the_keeper_can_take_the_interpreters_finishing_turn() {
    let mut sim = circle_with_interpreter();
    sim.keeper(Command::GivePiece { to: sim.id("ana") })
        .unwrap();
    sim.cmd("ana", Command::Pass).unwrap();
    sim.cmd("ben", Command::Pass).unwrap();
    sim.cmd("int", Command::Pass).unwrap();
    // The piece went round to the keeper; the interpreter still finishes.
    assert!(reaches(&sim).0);
    sim.keeper(Command::TakePiece).unwrap();
    assert_eq!(reaches(&sim), (false, false, true));
    assert_eq!(sim.keeper(Command::TakePiece), Err(Refusal::NoChange));

    // Taking the piece from the person themselves starts no finishing turn.
    sim.keeper(Command::GivePiece { to: sim.id("ana") })
        .unwrap();
    sim.keeper(Command::TakePiece).unwrap();
    assert_eq!(reaches(&sim), (false, false, true));
}

#[test]
fn in_moderated_floor_the_interpreter_follows_the_grant_and_revoke_floor_takes_it() {
    let mut sim = circle_with_interpreter();
    sim.keeper(Command::SetMode {
        mode: FloorMode::Moderated,
    })
    .unwrap();
    assert_eq!(reaches(&sim), (false, false, true));
    sim.keeper(Command::GrantFloor {
        to: Some(sim.id("ana")),
    })
    .unwrap();
    assert_eq!(reaches(&sim), (true, true, true));
    sim.cmd("ana", Command::Pass).unwrap();
    assert_eq!(
        reaches(&sim),
        (true, true, true),
        "finishing after the floor"
    );
    sim.keeper(Command::RevokeFloor {
        person: sim.id("int"),
    })
    .unwrap();
    assert_eq!(reaches(&sim), (false, false, true));
}

#[test]
fn in_open_floor_everyone_is_heard_and_a_mode_change_starts_clean() {
    let mut sim = circle_with_interpreter();
    sim.keeper(Command::SetMode {
        mode: FloorMode::Open,
    })
    .unwrap();
    assert_eq!(reaches(&sim), (true, true, true));
    sim.keeper(Command::SetMode {
        mode: FloorMode::TalkingPiece,
    })
    .unwrap();
    assert_eq!(reaches(&sim), (false, false, true), "no turn carried over");
}

#[test]
fn the_interpreter_keeps_on_when_their_person_leaves_mid_turn() {
    let mut sim = circle_with_interpreter();
    sim.keeper(Command::GivePiece { to: sim.id("ana") })
        .unwrap();
    sim.cmd("ana", Command::Leave).unwrap();
    assert_eq!((reaches(&sim).0, reaches(&sim).1), (true, true));
    sim.cmd("int", Command::DoneInterpreting).unwrap();
    assert!(!sim.hears("int", "ben") && !sim.hears("int", "keeper"));
}

#[test]
fn a_caucus_boundary_stops_the_interpreter_both_ways() {
    let mut sim = circle_with_interpreter();
    sim.keeper(Command::GivePiece { to: sim.id("ben") })
        .unwrap();
    sim.keeper(Command::OpenCaucus {
        members: vec![sim.id("keeper"), sim.id("ana")],
    })
    .unwrap();
    assert!(!sim.hears("int", "ana"), "ana is in the caucus, int is not");
    assert!(!sim.hears("int", "ben") && !sim.hears("int", "keeper"));
    sim.keeper(Command::CloseCaucus {
        caucus: CaucusId(1),
    })
    .unwrap();
    assert!(sim.hears("int", "ana"));
    // An interpreter in the caucus with their person interprets there only.
    sim.keeper(Command::OpenCaucus {
        members: vec![sim.id("int"), sim.id("ana")],
    })
    .unwrap();
    assert!(sim.hears("int", "ana"));
    assert!(!sim.hears("int", "ben") && !sim.hears("int", "keeper"));
}

#[test]
fn mute_pause_and_removal_silence_the_interpreter() {
    let mut sim = circle_with_interpreter();
    sim.keeper(Command::GivePiece { to: sim.id("ana") })
        .unwrap();
    sim.keeper(Command::Mute {
        person: sim.id("int"),
    })
    .unwrap();
    assert_eq!(reaches(&sim), (false, false, false), "muted by a keeper");
    assert!(sim.sees("int", "ben"), "video still flows");
    sim.cmd("int", Command::Unmute).unwrap();
    assert_eq!(reaches(&sim), (true, true, true));
    sim.keeper(Command::Pause).unwrap();
    assert_eq!(
        reaches(&sim),
        (false, false, false),
        "a pause: only keepers are heard"
    );
    sim.keeper(Command::Resume).unwrap();
    assert_eq!(
        reaches(&sim),
        (true, true, true),
        "the person still holds the piece"
    );
    sim.keeper(Command::Remove {
        person: sim.id("int"),
    })
    .unwrap();
    assert!(!sim.sends_anything("int") && !sim.receives_anything("int"));
}

#[test]
fn an_interpreter_outside_the_circle_or_before_the_session_reaches_nobody() {
    let mut sim = Sim::new(RoomKind::Circle, Phase::Open);
    sim.join("keeper", 1, Role::Keeper, None);
    sim.join("ana", 2, Role::Participant, Some(Party::Harmed));
    sim.input(Input::Invite {
        invitation: interpreter("int", 4, &[2]),
    })
    .unwrap();
    sim.arrive("int", 4, Role::Participant, Some(Party::Interpreter))
        .unwrap();
    sim.consent("int").unwrap();
    assert!(!sim.sends_anything("int"), "in the lobby");
    sim.keeper(Command::Admit {
        person: sim.id("int"),
    })
    .unwrap();
    assert!(
        !sim.hears("int", "ana"),
        "before the session only keepers are heard"
    );
    assert!(sim.sees("int", "ana"));
    sim.keeper(Command::StartSession).unwrap();
    assert!(sim.hears("int", "ana"));
}

#[test]
fn a_keepers_right_to_speak_out_of_turn_does_not_widen_their_interpreter() {
    let mut sim = circle_with_interpreter();
    sim.input(Input::Invite {
        invitation: interpreter("kint", 5, &[1]),
    })
    .unwrap();
    sim.join("kint", 5, Role::Participant, Some(Party::Interpreter));
    assert!(sim.hears("keeper", "ana"));
    assert!(sim.hears("kint", "keeper") && !sim.hears("kint", "ana"));
    sim.keeper(Command::GivePiece {
        to: sim.id("keeper"),
    })
    .unwrap();
    assert!(sim.hears("kint", "ana"), "the keeper's turn with the piece");
}

#[test]
fn an_interpreter_for_two_people_and_a_link_to_a_missing_seat() {
    let mut sim = circle_with_interpreter();
    sim.input(Input::Invite {
        invitation: interpreter("duo", 5, &[2, 3, 9]),
    })
    .unwrap();
    sim.join("duo", 5, Role::Participant, Some(Party::Interpreter));
    assert!(sim.hears("duo", "ana") && sim.hears("duo", "ben"));
    assert!(!sim.hears("duo", "keeper") && !sim.hears("duo", "int"));
    sim.keeper(Command::GivePiece { to: sim.id("ben") })
        .unwrap();
    assert!(sim.hears("duo", "keeper") && sim.hears("duo", "int"));
}

#[test]
fn the_journal_rebuilds_a_finishing_interpreter() {
    let mut sim = circle_with_interpreter();
    sim.keeper(Command::GivePiece { to: sim.id("ana") })
        .unwrap();
    sim.cmd("ana", Command::Pass).unwrap();
    let mut rebuilt = Room::new(
        Settings::for_kind(RoomKind::Circle, "Test circle"),
        Phase::Open,
    );
    for (at, input) in &sim.journal {
        rebuilt.handle(*at, input.clone()).expect("replays");
    }
    while rebuilt.poll_output().is_some() {}
    let mut live = sim.room.clone();
    while live.poll_output().is_some() {}
    assert!(rebuilt == live, "replay differs");
    assert!(rebuilt.may_forward(sim.id("int"), sim.id("ben"), MediaKind::Audio));
}
