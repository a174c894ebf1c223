//! SPEC §3.5: the outcome agreement and its acknowledgements.

use super::harness::*;
use crate::circle::*;

fn items() -> Vec<AgreementItem> {
    vec![
        AgreementItem {
            what: "Repair the fence".into(),
            who: "Ben".into(),
            by: "2027-01-31".into(),
            due: None,
            owner_seat: None,
        },
        AgreementItem {
            what: "Write a letter".into(),
            who: "Ben".into(),
            by: "2026-12-15".into(),
            due: None,
            owner_seat: None,
        },
    ]
}

#[test]
fn each_party_acknowledges_the_final_text_by_its_hash() {
    let mut sim = Sim::circle_in_session();
    sim.join("ana", 2, Role::Participant, Some(Party::Harmed));
    sim.join("ben", 3, Role::Participant, Some(Party::Responsible));
    assert_eq!(
        sim.cmd("ana", Command::Acknowledge { hash: "x".into() }),
        Err(Refusal::NoAgreement)
    );
    sim.keeper(Command::DraftAgreement { items: items() })
        .unwrap();
    let agreement = sim.circle_view("ana").agreement.unwrap();
    assert_eq!(agreement.hash, text_hash(&agreement_text(&items())));
    assert!(agreement.text.starts_with("1. Repair the fence"));
    let ack = Command::Acknowledge {
        hash: agreement.hash.clone(),
    };
    assert_eq!(sim.cmd("ana", ack.clone()), Err(Refusal::AgreementNotFinal));
    sim.keeper(Command::FinalizeAgreement).unwrap();
    assert_eq!(
        sim.cmd(
            "ana",
            Command::Acknowledge {
                hash: "0".repeat(64)
            }
        ),
        Err(Refusal::HashMismatch)
    );
    assert_eq!(sim.keeper(ack.clone()), Err(Refusal::NoParty));
    sim.take();
    sim.cmd("ana", ack.clone()).unwrap();
    sim.cmd("ben", ack.clone()).unwrap();
    assert_eq!(sim.cmd("ben", ack), Err(Refusal::NoChange));
    let acks: Vec<_> = sim
        .records()
        .into_iter()
        .filter(|r| matches!(r, Record::Acknowledged { .. }))
        .collect();
    assert_eq!(acks.len(), 2);
    assert_eq!(
        sim.circle_view("keeper").agreement.unwrap().acknowledged_by,
        vec![sim.id("ana"), sim.id("ben")]
    );
}

#[test]
fn a_new_draft_clears_acknowledgements_of_the_old_text() {
    let mut sim = Sim::circle_in_session();
    sim.join("ana", 2, Role::Participant, Some(Party::Harmed));
    sim.keeper(Command::DraftAgreement { items: items() })
        .unwrap();
    sim.keeper(Command::FinalizeAgreement).unwrap();
    let old = sim.circle_view("ana").agreement.unwrap().hash;
    sim.cmd("ana", Command::Acknowledge { hash: old.clone() })
        .unwrap();
    let mut changed = items();
    changed[0].by = "2027-02-28".into();
    sim.keeper(Command::DraftAgreement { items: changed })
        .unwrap();
    let agreement = sim.circle_view("ana").agreement.unwrap();
    assert_eq!(agreement.version, 2);
    assert!(agreement.acknowledged_by.is_empty() && !agreement.is_final);
    sim.keeper(Command::FinalizeAgreement).unwrap();
    assert_eq!(
        sim.cmd("ana", Command::Acknowledge { hash: old }),
        Err(Refusal::HashMismatch)
    );
}

#[test]
fn an_agreement_needs_items_with_text() {
    let mut sim = Sim::circle_in_session();
    assert_eq!(
        sim.keeper(Command::DraftAgreement { items: vec![] }),
        Err(Refusal::BadAgreement)
    );
    let blank = vec![AgreementItem {
        what: " ".into(),
        who: "".into(),
        by: "".into(),
        due: None,
        owner_seat: None,
    }];
    assert_eq!(
        sim.keeper(Command::DraftAgreement { items: blank }),
        Err(Refusal::BadAgreement)
    );
    assert_eq!(
        sim.keeper(Command::FinalizeAgreement),
        Err(Refusal::NoAgreement)
    );
}

/// The agreement copy of the `End` output for `name`'s session, if ended.
fn copy_at_the_end(sim: &Sim, name: &str) -> Option<Option<AgreementCopy>> {
    let session = sim.session(name);
    sim.outputs.iter().find_map(|o| match o {
        Output::End {
            session: s,
            agreement,
            ..
        } if *s == session => Some(agreement.clone()),
        _ => None,
    })
}

/// SPEC §3.5.5: whoever acknowledged the final text leaves with a copy of it;
/// whoever did not, leaves with none.
#[test]
fn who_acknowledged_leaves_with_a_copy_of_that_text() {
    let mut sim = Sim::circle_in_session();
    sim.join("ana", 2, Role::Participant, Some(Party::Harmed));
    sim.join("ben", 3, Role::Participant, Some(Party::Responsible));
    sim.keeper(Command::DraftAgreement { items: items() })
        .unwrap();
    sim.keeper(Command::FinalizeAgreement).unwrap();
    let agreement = sim.circle_view("ana").agreement.unwrap();
    sim.cmd(
        "ana",
        Command::Acknowledge {
            hash: agreement.hash.clone(),
        },
    )
    .unwrap();
    sim.take();
    sim.cmd("ana", Command::Leave).unwrap();
    sim.cmd("ben", Command::Leave).unwrap();
    assert_eq!(
        copy_at_the_end(&sim, "ana"),
        Some(Some(AgreementCopy {
            text: agreement.text.clone(),
            hash: agreement.hash.clone(),
        }))
    );
    assert_eq!(copy_at_the_end(&sim, "ben"), Some(None), "not acknowledged");
}
