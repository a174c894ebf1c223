//! SPEC §10 "The end": a keeper leaves with a summary — who came, the rounds,
//! the agreement's state — and nobody else gets one.

use super::harness::*;
use crate::circle::*;

/// The summary of the `End` output for `name`'s session, if it ended.
fn summary_at_the_end(sim: &Sim, name: &str) -> Option<Option<KeeperSummary>> {
    let session = sim.session(name);
    sim.outputs.iter().find_map(|o| match o {
        Output::End {
            session: s,
            summary,
            ..
        } if *s == session => Some(summary.as_deref().cloned()),
        _ => None,
    })
}

fn person(name: &str, role: Role, party: Option<Party>, outcome: Outcome) -> SummaryPerson {
    SummaryPerson {
        name: name.into(),
        role,
        party,
        outcome,
    }
}

#[test]
fn the_keeper_leaves_with_who_came_the_rounds_and_the_agreement() {
    let mut sim = Sim::circle_in_session();
    sim.join("ana", 2, Role::Participant, Some(Party::Harmed));
    sim.join("ben", 3, Role::Participant, Some(Party::Responsible));
    sim.join("cy", 4, Role::Participant, Some(Party::Community));
    sim.arrive("dee", 5, Role::Participant, Some(Party::Supporter))
        .unwrap();
    sim.consent("dee").unwrap();
    for _ in 0..2 {
        sim.keeper(Command::StartRound {
            prompt: "How are you arriving?".into(),
            first: None,
        })
        .unwrap();
    }
    sim.cmd("cy", Command::WithdrawConsent).unwrap();
    sim.keeper(Command::DraftAgreement {
        items: vec![AgreementItem {
            what: "Repair the fence".into(),
            who: "ben".into(),
            by: "2027-01-31".into(),
            due: None,
            owner_seat: None,
        }],
    })
    .unwrap();
    sim.keeper(Command::FinalizeAgreement).unwrap();
    let hash = sim.circle_view("ana").agreement.unwrap().hash;
    sim.cmd("ana", Command::Acknowledge { hash }).unwrap();
    sim.take();
    sim.keeper(Command::CloseRoom).unwrap();

    let summary = summary_at_the_end(&sim, "keeper").expect("the keeper's visit ended");
    assert_eq!(
        summary,
        Some(KeeperSummary {
            people: vec![
                person("keeper", Role::Keeper, None, Outcome::TookPart),
                person(
                    "ana",
                    Role::Participant,
                    Some(Party::Harmed),
                    Outcome::TookPart
                ),
                person(
                    "ben",
                    Role::Participant,
                    Some(Party::Responsible),
                    Outcome::TookPart
                ),
                person(
                    "cy",
                    Role::Participant,
                    Some(Party::Community),
                    Outcome::Withdrew
                ),
                person(
                    "dee",
                    Role::Participant,
                    Some(Party::Supporter),
                    Outcome::DidNotEnter
                ),
            ],
            rounds: 2,
            agreement: Some(AgreementSummary {
                version: 1,
                items: 1,
                is_final: true,
                acknowledged_by: vec!["ana".into()],
            }),
        })
    );
    assert_eq!(
        summary_at_the_end(&sim, "ana"),
        Some(None),
        "participants get none"
    );
}

#[test]
fn a_summary_without_an_agreement_says_so_and_counts_no_rounds() {
    let mut sim = Sim::circle_in_session();
    sim.join("ana", 2, Role::Participant, Some(Party::Harmed));
    sim.keeper(Command::Remove {
        person: sim.id("ana"),
    })
    .unwrap();
    sim.take();
    sim.keeper(Command::Leave).unwrap();
    let summary = summary_at_the_end(&sim, "keeper")
        .expect("the keeper's visit ended")
        .expect("a keeper gets a summary however the visit ends");
    assert_eq!(summary.rounds, 0);
    assert_eq!(summary.agreement, None);
    assert_eq!(summary.people[1].outcome, Outcome::Removed);
}
