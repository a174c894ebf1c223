//! Co-keepers (SPEC §2: "a co-keeper has the same powers"): a second keeper
//! runs every part of a circle alone, and the decision on keepers acting on
//! keepers (docs/decisions.md): a keeper may mute a co-keeper, who alone
//! unmutes, but may not remove one.

use super::harness::*;
use crate::circle::*;

/// "keeper" at seat 1 and "cokeeper" at seat 2; ana and ben wait in the lobby.
fn two_keepers() -> Sim {
    let mut sim = Sim::new(RoomKind::Circle, Phase::Open);
    sim.join("keeper", 1, Role::Keeper, None);
    sim.join("cokeeper", 2, Role::Keeper, None);
    for (name, seat, party) in [("ana", 3, Party::Harmed), ("ben", 4, Party::Responsible)] {
        sim.arrive(name, seat, Role::Participant, Some(party))
            .unwrap();
        sim.consent(name).unwrap();
    }
    sim
}

fn co(sim: &mut Sim, command: Command) {
    sim.cmd("cokeeper", command.clone())
        .unwrap_or_else(|refusal| panic!("the co-keeper's {command:?}: {refusal}"));
}

#[test]
fn a_co_keeper_runs_a_whole_circle() {
    let mut sim = two_keepers();
    let (ana, ben) = (sim.id("ana"), sim.id("ben"));
    // The co-keeper sees the lobby and admits.
    let lobby: Vec<PersonId> = sim
        .circle_view("cokeeper")
        .people
        .iter()
        .filter(|p| matches!(p.presence, Presence::Lobby))
        .map(|p| p.id)
        .collect();
    assert_eq!(lobby, [ana, ben]);
    co(&mut sim, Command::Admit { person: ana });
    co(&mut sim, Command::Admit { person: ben });
    co(&mut sim, Command::StartSession);
    // A round with the piece.
    co(
        &mut sim,
        Command::StartRound {
            prompt: "How are you arriving?".into(),
            first: Some(ana),
        },
    );
    assert!(sim.hears("ana", "ben"));
    assert!(!sim.hears("ben", "ana"));
    co(&mut sim, Command::GivePiece { to: ben });
    assert!(sim.hears("ben", "ana"));
    co(&mut sim, Command::TakePiece);
    // Both keepers are heard out of turn, by default.
    assert!(sim.hears("keeper", "ana") && sim.hears("cokeeper", "ana"));
    // A participant's mute, a pause, a caucus.
    co(&mut sim, Command::Mute { person: ben });
    assert!(!sim.hears("ben", "ana"));
    co(&mut sim, Command::Pause);
    co(&mut sim, Command::Resume);
    let cokeeper = sim.id("cokeeper");
    co(
        &mut sim,
        Command::OpenCaucus {
            members: vec![cokeeper, ana],
        },
    );
    assert!(
        !sim.hears("ana", "keeper"),
        "the caucus is sealed from the other keeper too"
    );
    co(
        &mut sim,
        Command::CloseCaucus {
            caucus: CaucusId(1),
        },
    );
    // The agreement and the close.
    co(
        &mut sim,
        Command::DraftAgreement {
            items: vec![AgreementItem {
                what: "Repair the fence".into(),
                who: "Ben".into(),
                by: "June".into(),
                due: None,
                owner_seat: None,
            }],
        },
    );
    co(&mut sim, Command::FinalizeAgreement);
    co(&mut sim, Command::CloseRoom);
    assert_eq!(sim.ended("ana"), Some(EndReason::RoomClosed));
}

#[test]
fn a_keeper_may_mute_a_co_keeper_who_alone_unmutes() {
    let mut sim = two_keepers();
    sim.keeper(Command::StartSession).unwrap();
    let ana = sim.id("ana");
    sim.keeper(Command::Admit { person: ana }).unwrap();
    let cokeeper = sim.id("cokeeper");
    sim.keeper(Command::Mute { person: cokeeper }).unwrap();
    assert!(!sim.hears("cokeeper", "ana"));
    assert_eq!(sim.keeper(Command::Unmute), Err(Refusal::NotMuted));
    sim.cmd("cokeeper", Command::Unmute).unwrap();
    assert!(sim.hears("cokeeper", "ana"));
}

#[test]
fn a_keeper_cannot_remove_a_co_keeper() {
    let mut sim = two_keepers();
    sim.keeper(Command::StartSession).unwrap();
    let (keeper, cokeeper) = (sim.id("keeper"), sim.id("cokeeper"));
    assert_eq!(
        sim.keeper(Command::Remove { person: cokeeper }),
        Err(Refusal::KeeperProtected)
    );
    assert_eq!(
        sim.cmd("cokeeper", Command::Remove { person: keeper }),
        Err(Refusal::KeeperProtected)
    );
    assert!(sim.ended("cokeeper").is_none() && sim.ended("keeper").is_none());
    // Participants they can remove, either of them.
    let ben = sim.id("ben");
    sim.keeper(Command::Admit { person: ben }).unwrap();
    co(&mut sim, Command::Remove { person: ben });
    assert_eq!(sim.ended("ben"), Some(EndReason::Removed));
}
