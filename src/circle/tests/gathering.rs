//! SPEC §3.3, §3.4.3, §3.5.3–4: pause, caucus, mute, chat, close, staggered exit.

use super::harness::*;
use crate::circle::*;

fn circle_of_three() -> Sim {
    let mut sim = Sim::circle_in_session();
    sim.join("ana", 2, Role::Participant, Some(Party::Harmed));
    sim.join("ben", 3, Role::Participant, Some(Party::Responsible));
    sim
}

#[test]
fn a_pause_request_reaches_the_keepers_at_once_and_nobody_else() {
    let mut sim = circle_of_three();
    sim.join("co", 4, Role::Keeper, None);
    sim.take();
    let accepted = sim.cmd("ana", Command::RequestPause).unwrap();
    assert!(!accepted.journal, "a pause request is not a durable change");
    let ana = sim.id("ana");
    assert_eq!(
        sim.notices_to("keeper"),
        vec![Notice::PauseRequested { by: ana }]
    );
    assert_eq!(
        sim.notices_to("co"),
        vec![Notice::PauseRequested { by: ana }]
    );
    assert!(sim.notices_to("ben").is_empty());
}

#[test]
fn while_paused_only_keepers_are_heard() {
    let mut sim = circle_of_three();
    sim.keeper(Command::SetMode {
        mode: FloorMode::Open,
    })
    .unwrap();
    sim.keeper(Command::Pause).unwrap();
    assert!(!sim.hears("ana", "ben") && !sim.hears("ben", "ana"));
    assert!(sim.hears("keeper", "ana"));
    assert!(
        !sim.sees("ana", "ben") && !sim.sees("ben", "ana") && !sim.sees("ana", "keeper"),
        "nobody is watched in a break (pause_video, on by default)"
    );
    assert!(sim.sees("keeper", "ana") && sim.sees("keeper", "ben"));
    assert_eq!(sim.keeper(Command::Pause), Err(Refusal::WrongPhase));
    sim.keeper(Command::Resume).unwrap();
    assert!(sim.hears("ana", "ben"));
    assert!(sim.sees("ana", "ben") && sim.sees("ana", "keeper"));
}

#[test]
fn without_pause_video_faces_stay_in_a_break() {
    let mut settings = Settings::for_kind(RoomKind::Circle, "A circle");
    settings.pause_video = false;
    let mut sim = Sim::with_settings(settings, Phase::InSession);
    sim.join("keeper", 1, Role::Keeper, None);
    sim.join("ana", 2, Role::Participant, None);
    sim.join("ben", 3, Role::Participant, None);
    sim.keeper(Command::Pause).unwrap();
    assert!(!sim.hears("ana", "ben"), "audio still stops");
    assert!(sim.sees("ana", "ben") && sim.sees("ana", "keeper"));
}

#[test]
fn a_caucus_in_a_break_still_sees_itself() {
    let mut sim = circle_of_three();
    let (ana, ben) = (sim.id("ana"), sim.id("ben"));
    sim.keeper(Command::OpenCaucus {
        members: vec![ana, ben],
    })
    .unwrap();
    sim.keeper(Command::Pause).unwrap();
    assert!(sim.sees("ana", "ben") && sim.hears("ana", "ben"));
    assert!(!sim.sees("ana", "keeper"), "the caucus stays sealed");
}

#[test]
fn before_the_session_starts_only_keepers_are_heard() {
    let mut sim = Sim::new(RoomKind::Circle, Phase::Open);
    sim.join("keeper", 1, Role::Keeper, None);
    sim.join("ana", 2, Role::Participant, None);
    sim.keeper(Command::SetMode {
        mode: FloorMode::Open,
    })
    .unwrap();
    assert!(!sim.hears("ana", "keeper"));
    assert!(sim.hears("keeper", "ana") && sim.sees("ana", "keeper"));
}

#[test]
fn a_caucus_and_the_rest_neither_hear_nor_see_each_other() {
    let mut sim = circle_of_three();
    sim.join("cy", 4, Role::Participant, Some(Party::Supporter));
    sim.keeper(Command::SetMode {
        mode: FloorMode::Open,
    })
    .unwrap();
    let members = vec![sim.id("keeper"), sim.id("ana")];
    sim.keeper(Command::OpenCaucus { members }).unwrap();
    assert!(sim.hears("ana", "keeper") && sim.hears("keeper", "ana"));
    for outside in ["ben", "cy"] {
        for inside in ["ana", "keeper"] {
            assert!(!sim.hears(inside, outside) && !sim.sees(inside, outside));
            assert!(!sim.hears(outside, inside) && !sim.sees(outside, inside));
        }
    }
    assert!(sim.hears("ben", "cy"));
    let caucus = sim.circle_view("ana").caucus.unwrap().id;
    assert_eq!(
        sim.keeper(Command::OpenCaucus {
            members: vec![sim.id("ana"), sim.id("ben")]
        }),
        Err(Refusal::BadCaucus)
    );
    assert!(
        sim.circle_view("ben").caucuses.is_empty(),
        "only keepers see every caucus"
    );
    sim.keeper(Command::CloseCaucus { caucus }).unwrap();
    assert!(sim.hears("ana", "ben") && sim.sees("keeper", "cy"));
    assert_eq!(
        sim.keeper(Command::CloseCaucus { caucus }),
        Err(Refusal::UnknownCaucus)
    );
}

#[test]
fn a_caucus_closes_by_itself_when_fewer_than_two_remain() {
    let mut sim = circle_of_three();
    sim.keeper(Command::OpenCaucus {
        members: vec![sim.id("ana"), sim.id("ben")],
    })
    .unwrap();
    sim.cmd("ben", Command::Leave).unwrap();
    assert!(sim.circle_view("ana").caucus.is_none());
    assert!(sim.sees("ana", "keeper"));
}

#[test]
fn a_muted_person_is_not_heard_and_only_they_can_unmute() {
    let mut sim = circle_of_three();
    sim.keeper(Command::GivePiece { to: sim.id("ana") })
        .unwrap();
    sim.keeper(Command::Mute {
        person: sim.id("ana"),
    })
    .unwrap();
    assert!(!sim.hears("ana", "ben"));
    assert!(sim.sees("ana", "ben"));
    assert_eq!(sim.cmd("ben", Command::Unmute), Err(Refusal::NotMuted));
    assert_eq!(
        sim.keeper(Command::Mute {
            person: sim.id("ana")
        }),
        Err(Refusal::NoChange)
    );
    sim.cmd("ana", Command::Unmute).unwrap();
    assert!(sim.hears("ana", "ben"));
}

#[test]
fn chat_follows_the_speaking_right_and_keepers_can_always_be_written_to() {
    let mut sim = circle_of_three();
    sim.keeper(Command::GivePiece { to: sim.id("ana") })
        .unwrap();
    sim.take();
    let to_circle = |t: &str| Command::Chat {
        to: ChatTo::Circle,
        text: t.into(),
    };
    assert_eq!(sim.cmd("ben", to_circle("hello")), Err(Refusal::MayNotChat));
    let accepted = sim.cmd("ana", to_circle("hello")).unwrap();
    assert!(!accepted.journal, "chat is never stored");
    assert!(
        sim.notices_to("ben")
            .iter()
            .any(|n| matches!(n, Notice::Chat { text, .. } if text == "hello"))
    );
    sim.take();
    sim.cmd(
        "ben",
        Command::Chat {
            to: ChatTo::Keepers,
            text: "can we stop?".into(),
        },
    )
    .unwrap();
    assert_eq!(sim.notices_to("keeper").len(), 1);
    assert_eq!(
        sim.notices_to("ben").len(),
        1,
        "the sender sees their own message"
    );
    assert!(sim.notices_to("ana").is_empty());
    assert_eq!(sim.cmd("ana", to_circle("   ")), Err(Refusal::BadText));
    assert_eq!(
        sim.cmd("ana", to_circle(&"x".repeat(MAX_CHAT_CHARS + 1))),
        Err(Refusal::BadText)
    );
    assert!(sim.journal.iter().all(|(_, i)| !matches!(
        i,
        Input::Command {
            command: Command::Chat { .. },
            ..
        }
    )));
}

#[test]
fn closing_ends_every_session_and_all_media() {
    let mut sim = circle_of_three();
    sim.arrive("late", 5, Role::Participant, None).unwrap();
    sim.take();
    sim.keeper(Command::CloseRoom).unwrap();
    for name in ["keeper", "ana", "ben", "late"] {
        assert_eq!(sim.ended(name), Some(EndReason::RoomClosed));
    }
    assert!(sim.media_gates.is_empty());
    assert!(sim.records().contains(&Record::PhaseChanged {
        phase: Phase::Closed
    }));
    assert_eq!(sim.room.phase(), Phase::Closed);
}

#[test]
fn the_keeper_can_end_the_session_for_one_party_first() {
    let mut sim = circle_of_three();
    sim.take();
    sim.keeper(Command::EndSessionFor {
        party: Party::Responsible,
        with_supporters: false,
    })
    .unwrap();
    assert_eq!(sim.ended("ben"), Some(EndReason::SessionEnded));
    assert_eq!(sim.ended("ana"), None);
    assert!(sim.hears("keeper", "ana"));
    assert!(!sim.receives_anything("ben"));
    assert_eq!(
        sim.keeper(Command::EndSessionFor {
            party: Party::Guardian,
            with_supporters: false,
        }),
        Err(Refusal::NoChange)
    );
}

/// SPEC §3.5.4: the keeper ends one person's visit; their link stays good, so
/// they can come back through the lobby; keepers are protected, as from removal.
#[test]
fn the_keeper_can_end_one_persons_session_without_revoking_their_link() {
    let mut sim = circle_of_three();
    let (ana, ben) = (sim.id("ana"), sim.id("ben"));
    sim.take();
    sim.keeper(Command::EndSessionOf { person: ben }).unwrap();
    assert_eq!(sim.ended("ben"), Some(EndReason::SessionEnded));
    assert_eq!(sim.ended("ana"), None);
    assert!(!sim.receives_anything("ben"));
    assert!(
        sim.records()
            .iter()
            .all(|r| !matches!(r, Record::Revoked { .. }))
    );
    assert_eq!(
        sim.keeper(Command::EndSessionOf { person: ben }),
        Err(Refusal::NoChange),
        "already away"
    );
    assert_eq!(
        sim.keeper(Command::EndSessionOf {
            person: sim.id("keeper")
        }),
        Err(Refusal::KeeperProtected)
    );
    assert_eq!(
        sim.cmd("ana", Command::EndSessionOf { person: ana }),
        Err(Refusal::KeeperOnly)
    );
    // The same link brings Ben back: he arrives, and the keeper can admit him again.
    sim.arrive("ben", 3, Role::Participant, Some(Party::Responsible))
        .expect("the link still works");
    assert_eq!(sim.id("ben"), ben, "the same person");
    // His consent of this room stands; he waits in the lobby for the keeper.
    sim.keeper(Command::Admit { person: ben })
        .expect("admitted again");
    assert!(sim.hears("keeper", "ben"));
}
