//! SPEC §3.1.7: supporters enter with the person they support under an
//! entry order, count as that person's party for it, and may leave with them
//! in a staggered exit. (The harness invites "sue" and "cy" as supporters of
//! seat 3, "hal" of seat 2.)

use super::harness::*;
use crate::circle::*;

/// A conference (harmed first, then responsible) in session: keeper 1, ana
/// (harmed) 2, ben (responsible) 3; hal (ana's supporter) 6 and sue (ben's) 5
/// waiting in the lobby with ana and ben.
fn conference_waiting() -> Sim {
    let mut sim = Sim::new(RoomKind::Conference, Phase::Open);
    sim.join("keeper", 1, Role::Keeper, None);
    sim.keeper(Command::StartSession).unwrap();
    for (name, seat, party) in [
        ("ana", 2, Party::Harmed),
        ("ben", 3, Party::Responsible),
        ("sue", 5, Party::Supporter),
        ("hal", 6, Party::Supporter),
    ] {
        sim.arrive(name, seat, Role::Participant, Some(party))
            .unwrap();
        sim.consent(name).unwrap();
    }
    sim
}

fn in_circle(sim: &Sim, name: &str) -> bool {
    sim.room.person(sim.id(name)).is_some_and(Person::in_circle)
}

#[test]
fn supporters_enter_with_their_person_and_wait_as_their_party() {
    let mut sim = conference_waiting();
    // Ben's supporter waits as Ben does: not before the harmed party is in and ready.
    assert_eq!(
        sim.keeper(Command::Admit {
            person: sim.id("sue")
        }),
        Err(Refusal::EntryOrderNotMet)
    );
    // Ana comes in, and her supporter with her.
    sim.keeper(Command::Admit {
        person: sim.id("ana"),
    })
    .unwrap();
    assert!(in_circle(&sim, "ana") && in_circle(&sim, "hal"));
    assert!(
        !in_circle(&sim, "sue"),
        "the other side's supporter still waits"
    );
    sim.cmd("ana", Command::Ready).unwrap();
    sim.keeper(Command::Admit {
        person: sim.id("ben"),
    })
    .unwrap();
    assert!(in_circle(&sim, "ben") && in_circle(&sim, "sue"));
    let sue = sim
        .circle_view("keeper")
        .people
        .into_iter()
        .find(|p| p.name == "sue")
        .expect("sue");
    assert_eq!(sue.supports_seat, Some(3));
}

#[test]
fn without_an_entry_order_each_is_let_in_on_their_own() {
    let mut sim = Sim::circle_in_session();
    for (name, seat, party) in [("ben", 3, Party::Responsible), ("sue", 5, Party::Supporter)] {
        sim.arrive(name, seat, Role::Participant, Some(party))
            .unwrap();
        sim.consent(name).unwrap();
    }
    sim.keeper(Command::Admit {
        person: sim.id("ben"),
    })
    .unwrap();
    assert!(!in_circle(&sim, "sue"));
}

#[test]
fn a_staggered_exit_takes_supporters_along_only_when_asked() {
    let mut sim = conference_waiting();
    for name in ["ana", "ben"] {
        let id = sim.id(name);
        if name == "ben" {
            sim.cmd("ana", Command::Ready).unwrap();
        }
        sim.keeper(Command::Admit { person: id }).unwrap();
    }
    sim.keeper(Command::EndSessionFor {
        party: Party::Responsible,
        with_supporters: false,
    })
    .unwrap();
    assert!(!in_circle(&sim, "ben") && in_circle(&sim, "sue"));

    let mut sim = conference_waiting();
    sim.keeper(Command::Admit {
        person: sim.id("ana"),
    })
    .unwrap();
    sim.cmd("ana", Command::Ready).unwrap();
    sim.keeper(Command::Admit {
        person: sim.id("ben"),
    })
    .unwrap();
    sim.take();
    sim.keeper(Command::EndSessionFor {
        party: Party::Responsible,
        with_supporters: true,
    })
    .unwrap();
    assert!(!in_circle(&sim, "ben") && !in_circle(&sim, "sue"));
    assert!(
        in_circle(&sim, "ana") && in_circle(&sim, "hal"),
        "the other side stays"
    );
    let sue = sim.session("sue");
    assert!(sim.outputs.iter().any(|o| matches!(
        o,
        Output::End { session, reason: EndReason::SessionEnded, .. } if *session == sue
    )));
}
