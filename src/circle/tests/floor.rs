//! SPEC §3.2: the talking piece, rounds, the moderated and open floor,
//! the keeper's voice and the turn timer.

use super::harness::*;
use crate::circle::*;

/// Keeper at seat 1, ana 2, ben 3, cy 4, in session.
fn circle_of_four() -> Sim {
    let mut sim = Sim::circle_in_session();
    sim.join("ana", 2, Role::Participant, Some(Party::Harmed));
    sim.join("ben", 3, Role::Participant, Some(Party::Responsible));
    sim.join("cy", 4, Role::Participant, Some(Party::Community));
    sim
}

#[test]
fn only_the_holder_is_heard_and_video_always_flows() {
    let mut sim = circle_of_four();
    sim.keeper(Command::GivePiece { to: sim.id("ana") })
        .unwrap();
    assert!(sim.hears("ana", "ben") && sim.hears("ana", "cy"));
    assert!(!sim.hears("ben", "ana") && !sim.hears("cy", "ana"));
    assert!(
        sim.hears("keeper", "ana"),
        "keepers may speak out of turn by default"
    );
    for (a, b) in [
        ("ana", "ben"),
        ("ben", "cy"),
        ("cy", "ana"),
        ("keeper", "cy"),
    ] {
        assert!(sim.sees(a, b) && sim.sees(b, a));
    }
}

#[test]
fn a_round_goes_clockwise_records_marks_and_ends_back_at_its_start() {
    let mut sim = circle_of_four();
    sim.keeper(Command::SetKeeperSpeaksOutOfTurn { allowed: false })
        .unwrap();
    sim.keeper(Command::StartRound {
        prompt: "What brought you here?".into(),
        first: Some(sim.id("ana")),
    })
    .unwrap();
    assert_eq!(sim.room.holder(), Some(sim.id("ana")));
    assert_eq!(sim.circle_view("ben").next, Some(sim.id("ben")));
    assert_eq!(sim.cmd("ben", Command::Pass), Err(Refusal::NotHolder));
    sim.cmd("ana", Command::Pass).unwrap();
    assert_eq!(sim.room.holder(), Some(sim.id("ben")));
    assert!(sim.hears("ben", "ana") && !sim.hears("ana", "ben"));
    sim.cmd("ben", Command::PassWithoutSpeaking).unwrap();
    sim.cmd("cy", Command::Pass).unwrap();
    assert_eq!(
        sim.room.holder(),
        Some(sim.id("keeper")),
        "clockwise wraps to seat 1"
    );
    assert!(sim.hears("keeper", "ana"));
    sim.take();
    sim.cmd("keeper", Command::Pass).unwrap();
    assert_eq!(sim.room.holder(), None, "the round ended back at ana");
    assert!(sim.circle_view("ana").round.is_none());
    let records = sim.records();
    assert!(records.contains(&Record::RoundEnded { round: 1 }));
    assert!(records.contains(&Record::RoundMarked {
        round: 1,
        invitation_id: "jti-keeper".into(),
        mark: RoundMark::Spoke
    }));
    let passed = sim.journal.iter().filter(|(_, i)| {
        matches!(
            i,
            Input::Command {
                command: Command::PassWithoutSpeaking,
                ..
            }
        )
    });
    assert_eq!(passed.count(), 1);
    assert!(!sim.hears("keeper", "ana") && !sim.hears("ana", "ben"));
}

#[test]
fn round_marks_say_who_spoke_and_who_passed() {
    let mut sim = circle_of_four();
    sim.keeper(Command::StartRound {
        prompt: "Check-in".into(),
        first: Some(sim.id("ana")),
    })
    .unwrap();
    sim.cmd("ana", Command::Pass).unwrap();
    sim.cmd("ben", Command::PassWithoutSpeaking).unwrap();
    let view = sim.circle_view("cy");
    let round = view.round.unwrap();
    assert_eq!(round.prompt, "Check-in");
    assert_eq!(
        round.marks,
        vec![
            (sim.id("ana"), RoundMark::Spoke),
            (sim.id("ben"), RoundMark::Passed)
        ]
    );
}

#[test]
fn the_piece_skips_observers_the_lobby_and_absent_people() {
    let mut sim = circle_of_four();
    sim.join("obs", 5, Role::Observer, Some(Party::Professional));
    sim.arrive("late", 6, Role::Participant, None).unwrap();
    sim.consent("late").unwrap();
    sim.cmd("ben", Command::Leave).unwrap();
    sim.keeper(Command::GivePiece { to: sim.id("ana") })
        .unwrap();
    sim.cmd("ana", Command::Pass).unwrap();
    assert_eq!(sim.room.holder(), Some(sim.id("cy")), "ben is gone");
    sim.cmd("cy", Command::Pass).unwrap();
    assert_eq!(
        sim.room.holder(),
        Some(sim.id("keeper")),
        "observer and lobby skipped"
    );
    assert_eq!(
        sim.keeper(Command::GivePiece { to: sim.id("obs") }),
        Err(Refusal::NotInCircle)
    );
    assert_eq!(
        sim.keeper(Command::GivePiece { to: sim.id("late") }),
        Err(Refusal::NotInCircle)
    );
}

#[test]
fn an_observer_is_seen_by_nobody_and_never_heard_but_receives() {
    let mut sim = circle_of_four();
    sim.join("obs", 5, Role::Observer, None);
    sim.keeper(Command::SetMode {
        mode: FloorMode::Open,
    })
    .unwrap();
    assert!(!sim.sends_anything("obs"));
    assert!(sim.hears("ana", "obs") && sim.sees("ana", "obs"));
    // Observers are listed for everyone: no hidden watchers.
    assert!(
        sim.circle_view("ana")
            .people
            .iter()
            .any(|p| p.name == "obs" && p.role == Role::Observer)
    );
    assert_eq!(sim.cmd("obs", Command::RaiseHand), Err(Refusal::WrongMode));
}

#[test]
fn the_keeper_gives_and_takes_the_piece_and_reorders_seats() {
    let mut sim = circle_of_four();
    sim.keeper(Command::GivePiece { to: sim.id("cy") }).unwrap();
    assert_eq!(
        sim.keeper(Command::GivePiece { to: sim.id("cy") }),
        Err(Refusal::NoChange)
    );
    sim.keeper(Command::TakePiece).unwrap();
    assert_eq!(sim.room.holder(), None);
    assert!(!sim.hears("cy", "ana"));
    let order = vec![sim.id("keeper"), sim.id("cy"), sim.id("ben"), sim.id("ana")];
    sim.keeper(Command::ReorderSeats {
        order: order.clone(),
    })
    .unwrap();
    assert_eq!(
        sim.keeper(Command::ReorderSeats {
            order: order[..3].to_vec()
        }),
        Err(Refusal::BadSeatOrder)
    );
    let twice = vec![order[0], order[1], order[1], order[3]];
    assert_eq!(
        sim.keeper(Command::ReorderSeats { order: twice }),
        Err(Refusal::BadSeatOrder)
    );
    sim.keeper(Command::GivePiece { to: sim.id("cy") }).unwrap();
    sim.cmd("cy", Command::Pass).unwrap();
    assert_eq!(
        sim.room.holder(),
        Some(sim.id("ben")),
        "new order: cy then ben"
    );
}

#[test]
fn the_keeper_is_silent_out_of_turn_when_the_room_says_so() {
    let mut sim = circle_of_four();
    sim.keeper(Command::SetKeeperSpeaksOutOfTurn { allowed: false })
        .unwrap();
    assert!(!sim.hears("keeper", "ana"));
    sim.keeper(Command::GivePiece {
        to: sim.id("keeper"),
    })
    .unwrap();
    assert!(sim.hears("keeper", "ana"));
}

#[test]
fn moderated_floor_grants_the_head_of_the_hand_queue() {
    let mut sim = circle_of_four();
    sim.keeper(Command::SetMode {
        mode: FloorMode::Moderated,
    })
    .unwrap();
    assert_eq!(
        sim.keeper(Command::GrantFloor { to: None }),
        Err(Refusal::NoHands)
    );
    sim.cmd("ben", Command::RaiseHand).unwrap();
    sim.cmd("ana", Command::RaiseHand).unwrap();
    assert_eq!(sim.cmd("ana", Command::RaiseHand), Err(Refusal::NoChange));
    assert_eq!(
        sim.circle_view("cy").hands,
        vec![sim.id("ben"), sim.id("ana")]
    );
    assert!(!sim.hears("ben", "cy"));
    sim.keeper(Command::GrantFloor { to: None }).unwrap();
    assert!(sim.hears("ben", "cy") && !sim.hears("ana", "cy"));
    assert_eq!(sim.circle_view("cy").hands, vec![sim.id("ana")]);
    sim.keeper(Command::GrantFloor {
        to: Some(sim.id("cy")),
    })
    .unwrap();
    assert!(sim.hears("cy", "ana") && sim.hears("ben", "ana"));
    sim.cmd("ben", Command::Pass).unwrap();
    assert!(!sim.hears("ben", "cy"));
    sim.keeper(Command::RevokeFloor {
        person: sim.id("cy"),
    })
    .unwrap();
    assert!(!sim.hears("cy", "ana"));
    sim.cmd("ana", Command::LowerHand).unwrap();
    assert!(sim.circle_view("cy").hands.is_empty());
    assert_eq!(
        sim.cmd("ana", Command::PassWithoutSpeaking),
        Err(Refusal::WrongMode)
    );
}

#[test]
fn a_conference_starts_in_moderated_floor_and_a_circle_with_the_piece() {
    let conference = Sim::new(RoomKind::Conference, Phase::Open);
    assert_eq!(
        Settings::for_kind(RoomKind::Conference, "x").initial_mode(),
        FloorMode::Moderated
    );
    assert!(conference.room.settings().entry_order.is_some());
    assert_eq!(
        Settings::for_kind(RoomKind::Circle, "x").initial_mode(),
        FloorMode::TalkingPiece
    );
}

#[test]
fn a_preparation_meeting_starts_on_open_floor_with_no_entry_order() {
    let mut sim = Sim::new(RoomKind::Preparation, Phase::Open);
    assert_eq!(sim.room.settings().entry_order, None);
    sim.join("keeper", 1, Role::Keeper, None);
    sim.join("ana", 2, Role::Participant, Some(Party::Harmed));
    sim.join("sue", 3, Role::Participant, Some(Party::Supporter));
    sim.keeper(Command::StartSession).unwrap();
    assert_eq!(sim.circle_view("ana").mode, FloorMode::Open);
    assert!(sim.hears("ana", "sue") && sim.hears("sue", "ana"));
    assert!(sim.hears("keeper", "ana") && sim.hears("ana", "keeper"));
}

#[test]
fn on_open_floor_everyone_admitted_is_heard() {
    let mut sim = circle_of_four();
    sim.keeper(Command::SetMode {
        mode: FloorMode::Open,
    })
    .unwrap();
    for (a, b) in [("ana", "ben"), ("ben", "cy"), ("cy", "ana")] {
        assert!(sim.hears(a, b) && sim.hears(b, a));
    }
    sim.keeper(Command::SetMode {
        mode: FloorMode::TalkingPiece,
    })
    .unwrap();
    assert!(!sim.hears("ana", "ben"));
}

#[test]
fn the_turn_timer_tells_holder_and_keeper_once_and_cuts_nobody_off() {
    let mut sim = circle_of_four();
    assert_eq!(
        sim.keeper(Command::SetTurnTimer { seconds: Some(0) }),
        Err(Refusal::BadValue)
    );
    sim.keeper(Command::SetTurnTimer { seconds: Some(60) })
        .unwrap();
    sim.keeper(Command::GivePiece { to: sim.id("ana") })
        .unwrap();
    assert_eq!(sim.circle_view("ben").turn.unwrap().remaining_ms, 60_000);
    sim.advance(59_999);
    assert!(
        !sim.notices_to("ana")
            .iter()
            .any(|n| matches!(n, Notice::TimeUp { .. }))
    );
    sim.take();
    sim.advance(1);
    let ana = sim.id("ana");
    assert!(
        sim.notices_to("ana")
            .contains(&Notice::TimeUp { person: ana })
    );
    assert!(
        sim.notices_to("keeper")
            .contains(&Notice::TimeUp { person: ana })
    );
    assert!(
        !sim.notices_to("ben")
            .iter()
            .any(|n| matches!(n, Notice::TimeUp { .. }))
    );
    assert!(sim.hears("ana", "ben"), "never cut off");
    sim.take();
    sim.advance(120_000);
    assert!(!sim.outputs.iter().any(|o| matches!(
        o,
        Output::Send {
            notice: Notice::TimeUp { .. },
            ..
        }
    )));
}

#[test]
fn a_round_needs_a_session_in_progress_and_talking_piece_mode() {
    let mut sim = Sim::new(RoomKind::Circle, Phase::Open);
    sim.join("keeper", 1, Role::Keeper, None);
    let start = Command::StartRound {
        prompt: "x".into(),
        first: None,
    };
    assert_eq!(sim.keeper(start.clone()), Err(Refusal::WrongPhase));
    sim.keeper(Command::StartSession).unwrap();
    sim.keeper(Command::SetMode {
        mode: FloorMode::Open,
    })
    .unwrap();
    assert_eq!(sim.keeper(start.clone()), Err(Refusal::WrongMode));
    sim.keeper(Command::SetMode {
        mode: FloorMode::TalkingPiece,
    })
    .unwrap();
    let long = Command::StartRound {
        prompt: "x".repeat(MAX_PROMPT_CHARS + 1),
        first: None,
    };
    assert_eq!(sim.keeper(long), Err(Refusal::BadText));
    sim.keeper(start).unwrap();
    assert_eq!(
        sim.room.holder(),
        Some(sim.id("keeper")),
        "first by seat when none is named"
    );
}

#[test]
fn the_keeper_can_end_a_round_and_the_piece_stays() {
    let mut sim = circle_of_four();
    assert_eq!(sim.keeper(Command::EndRound), Err(Refusal::NoRound));
    sim.keeper(Command::StartRound {
        prompt: "x".into(),
        first: Some(sim.id("ben")),
    })
    .unwrap();
    sim.take();
    sim.keeper(Command::EndRound).unwrap();
    assert!(sim.records().contains(&Record::RoundEnded { round: 1 }));
    assert_eq!(sim.room.holder(), Some(sim.id("ben")));
    sim.keeper(Command::StartRound {
        prompt: "y".into(),
        first: None,
    })
    .unwrap();
    assert_eq!(sim.circle_view("ana").round.unwrap().number, 2);
}

#[test]
fn observers_never_raise_a_hand_or_hold_the_floor() {
    let mut sim = circle_of_four();
    sim.join("obs", 5, Role::Observer, None);
    sim.keeper(Command::SetMode {
        mode: FloorMode::Moderated,
    })
    .unwrap();
    assert_eq!(
        sim.cmd("obs", Command::RaiseHand),
        Err(Refusal::ObserverCannot)
    );
    assert_eq!(
        sim.keeper(Command::GrantFloor {
            to: Some(sim.id("obs"))
        }),
        Err(Refusal::NotInCircle)
    );
    assert!(!sim.sends_anything("obs"));
}

/// docs/protocol.md, "Before `start_session`, and the defaults".
#[test]
fn before_the_start_only_keepers_are_heard_and_everyone_is_seen() {
    for kind in [RoomKind::Circle, RoomKind::Conference] {
        let mut sim = Sim::new(kind, Phase::Open);
        sim.join("keeper", 1, Role::Keeper, None);
        sim.join("ana", 2, Role::Participant, Some(Party::Harmed));
        sim.join("ben", 3, Role::Participant, Some(Party::Community));
        sim.keeper(Command::SetKeeperSpeaksOutOfTurn { allowed: false })
            .unwrap();
        assert!(
            sim.hears("keeper", "ana"),
            "{kind:?}: keepers always, before the start"
        );
        assert!(
            !sim.hears("ana", "ben") && !sim.hears("ben", "keeper"),
            "{kind:?}"
        );
        for (a, b) in [("ana", "ben"), ("ben", "keeper"), ("keeper", "ana")] {
            assert!(sim.sees(a, b), "{kind:?}: {a} → {b}");
        }
        // Nobody else gets the right before the start.
        if kind == RoomKind::Circle {
            sim.keeper(Command::GivePiece { to: sim.id("ana") }).ok();
        }
        assert!(!sim.hears("ana", "ben"), "{kind:?}");
    }
}

#[test]
fn the_defaults_are_the_documented_ones() {
    let circle = Settings::for_kind(RoomKind::Circle, "c");
    assert!(circle.keeper_speaks_out_of_turn);
    assert_eq!(circle.initial_mode(), FloorMode::TalkingPiece);
    assert_eq!(circle.turn_seconds, None);
    assert_eq!(circle.entry_order, None);
    let conference = Settings::for_kind(RoomKind::Conference, "c");
    assert!(conference.keeper_speaks_out_of_turn);
    assert_eq!(conference.initial_mode(), FloorMode::Moderated);
    assert_eq!(
        conference.entry_order,
        Some(EntryOrder {
            first: Party::Harmed,
            then: Party::Responsible
        })
    );
    let sim = Sim::new(RoomKind::Circle, Phase::Open);
    assert_eq!(sim.room.holder(), None, "nobody holds the piece at first");
}
