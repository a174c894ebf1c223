//! The circle's values (SPEC §3.2.8): the keeper records them; everyone
//! admitted sees them all session; nobody outside the circle does.

use super::harness::*;
use crate::circle::*;

fn values(list: &[&str]) -> Command {
    Command::SetValues {
        values: list.iter().map(|v| (*v).to_owned()).collect(),
    }
}

/// Keeper at seat 1, ana 2, an observer at 3, in session; carl waits in the lobby.
fn circle() -> Sim {
    let mut sim = Sim::new(RoomKind::Circle, Phase::Open);
    sim.join("keeper", 1, Role::Keeper, None);
    sim.join("ana", 2, Role::Participant, Some(Party::Harmed));
    sim.join("olga", 3, Role::Observer, None);
    sim.arrive("carl", 4, Role::Participant, Some(Party::Community))
        .unwrap();
    sim.consent("carl").unwrap();
    sim.keeper(Command::StartSession).unwrap();
    sim
}

#[test]
fn everyone_in_the_circle_sees_the_values_the_keeper_records() {
    let mut sim = circle();
    assert!(sim.circle_view("ana").values.is_empty(), "none before");
    sim.keeper(values(&[" Respect ", "Speak from the heart", "Listen"]))
        .unwrap();
    let expected = ["Respect", "Speak from the heart", "Listen"];
    for name in ["keeper", "ana", "olga"] {
        assert_eq!(sim.circle_view(name).values, expected, "{name}");
    }
    // The lobby sees nothing of the room, values included (SPEC §3.1.3).
    assert!(matches!(sim.view("carl"), View::Lobby { .. }));
    // They stay through a pause and a round, and whoever is admitted later sees them.
    sim.keeper(Command::Pause).unwrap();
    sim.keeper(Command::Resume).unwrap();
    let carl = sim.id("carl");
    sim.keeper(Command::Admit { person: carl }).unwrap();
    assert_eq!(sim.circle_view("carl").values, expected);
    // An empty list clears them.
    sim.keeper(values(&[])).unwrap();
    assert!(sim.circle_view("ana").values.is_empty());
}

#[test]
fn only_keepers_record_values_and_only_short_lines() {
    let mut sim = circle();
    assert_eq!(sim.cmd("ana", values(&["Mine"])), Err(Refusal::KeeperOnly));
    for bad in [
        vec![" ".to_owned()],
        vec!["two\nlines".to_owned()],
        vec!["x".repeat(MAX_VALUE_CHARS + 1)],
        vec!["Respect".to_owned(); MAX_VALUES + 1],
    ] {
        assert_eq!(
            sim.keeper(Command::SetValues {
                values: bad.clone()
            }),
            Err(Refusal::BadValues),
            "{bad:?}"
        );
    }
    let longest = vec!["x".repeat(MAX_VALUE_CHARS); MAX_VALUES];
    sim.keeper(Command::SetValues {
        values: longest.clone(),
    })
    .unwrap();
    assert_eq!(sim.circle_view("ana").values, longest);
    assert_eq!(
        sim.keeper(Command::SetValues { values: longest }),
        Err(Refusal::NoChange)
    );
}

#[test]
fn values_are_journaled_and_come_back_after_a_restart() {
    let mut sim = circle();
    sim.keeper(values(&["Respect"])).unwrap();
    assert!(
        sim.journal.iter().any(|(_, input)| matches!(
            input,
            Input::Command {
                command: Command::SetValues { .. },
                ..
            }
        )),
        "the command is journaled"
    );
    let mut rebuilt = Room::new(sim.room.settings().clone(), Phase::Open);
    for (at, input) in &sim.journal {
        rebuilt.handle(*at, input.clone()).unwrap();
    }
    assert_eq!(rebuilt.values(), ["Respect"]);
}
