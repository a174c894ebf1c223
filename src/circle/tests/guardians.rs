//! SPEC §3.1.6: a minor passes the consent gate only after their guardian has
//! accepted the same terms on their behalf; a guardian's withdrawal ends the
//! minor's participation too. (The harness invites "mia" as a minor whose
//! guardian sits at seat 4.)

use super::harness::*;
use crate::circle::*;

/// The guardian "gus" (seat 4) answers for mia: every item accepted, or the first declined.
fn answer_for_mia(sim: &mut Sim, accept: bool) -> Result<Accepted, Refusal> {
    let terms = sim.room.settings().consent.clone();
    let mut answers = accept_all(&terms);
    answers[0].accept = accept;
    let mia = sim.id("mia");
    sim.cmd(
        "gus",
        Command::ConsentFor {
            person: mia,
            version: terms.version,
            answers,
        },
    )
}

fn consents_given_by(sim: &Sim, by: &str) -> Vec<(String, ConsentDecision)> {
    sim.records()
        .into_iter()
        .filter_map(|r| match r {
            Record::Consent {
                invitation_id,
                decision,
                given_by: Some(given_by),
                ..
            } if given_by == format!("jti-{by}") => Some((invitation_id, decision)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_minor_waits_at_the_gate_until_their_guardian_has_answered_for_them() {
    let mut sim = Sim::circle_in_session();
    sim.arrive("mia", 3, Role::Participant, Some(Party::Community))
        .unwrap();
    match sim.view("mia") {
        View::Consent {
            guardian_needed, ..
        } => assert!(guardian_needed),
        other => panic!("mia should read the terms, not {other:?}"),
    }
    assert_eq!(sim.consent("mia"), Err(Refusal::GuardianConsentNeeded));

    // The guardian answers only once past their own gate.
    sim.arrive("gus", 4, Role::Participant, Some(Party::Guardian))
        .unwrap();
    assert_eq!(answer_for_mia(&mut sim, true), Err(Refusal::NotAdmitted));
    sim.consent("gus").unwrap();
    let View::Lobby { minors, .. } = sim.view("gus") else {
        panic!("gus waits in the lobby");
    };
    assert_eq!(minors.len(), 1);
    assert_eq!(minors[0].person, sim.id("mia"));
    assert_eq!(minors[0].consent, GuardianConsent::Needed);
    assert_eq!(minors[0].terms, Some(ConsentTerms::standard()));

    // Nobody else answers for her.
    sim.join("ana", 2, Role::Participant, Some(Party::Harmed));
    let terms = ConsentTerms::standard();
    let mia = sim.id("mia");
    assert_eq!(
        sim.cmd(
            "ana",
            Command::ConsentFor {
                person: mia,
                version: terms.version.clone(),
                answers: accept_all(&terms),
            }
        ),
        Err(Refusal::NotGuardian)
    );

    answer_for_mia(&mut sim, true).unwrap();
    let given = consents_given_by(&sim, "gus");
    assert_eq!(given.len(), terms.items.len());
    assert!(
        given
            .iter()
            .all(|(inv, d)| inv == "jti-mia" && *d == ConsentDecision::Accepted)
    );
    assert_eq!(
        answer_for_mia(&mut sim, true),
        Err(Refusal::AlreadyConsented)
    );
    let View::Lobby { minors, .. } = sim.view("gus") else {
        panic!("gus waits in the lobby");
    };
    assert_eq!(minors[0].consent, GuardianConsent::Given);
    assert_eq!(minors[0].terms, None);

    // Now her own answers count, and she waits in the lobby like anyone.
    assert!(matches!(
        sim.view("mia"),
        View::Consent {
            guardian_needed: false,
            ..
        }
    ));
    sim.consent("mia").unwrap();
    assert!(matches!(sim.view("mia"), View::Lobby { .. }));
}

#[test]
fn a_guardian_who_declines_for_a_minor_ends_their_visit_kindly() {
    let mut sim = Sim::circle_in_session();
    sim.join("gus", 4, Role::Participant, Some(Party::Guardian));
    sim.arrive("mia", 3, Role::Participant, Some(Party::Community))
        .unwrap();
    sim.take();
    answer_for_mia(&mut sim, false).unwrap();
    let session = sim.session("mia");
    assert!(sim.outputs.iter().any(|o| matches!(
        o,
        Output::End { session: s, reason: EndReason::ConsentDeclined, .. } if *s == session
    )));
    assert!(
        consents_given_by(&sim, "gus")
            .iter()
            .any(|(_, d)| *d == ConsentDecision::Declined)
    );
    // She may come back; the gate still waits for her guardian.
    sim.arrive("mia", 3, Role::Participant, Some(Party::Community))
        .unwrap();
    assert_eq!(sim.consent("mia"), Err(Refusal::GuardianConsentNeeded));
}

#[test]
fn a_guardian_who_withdraws_ends_the_minors_participation_too() {
    let mut sim = Sim::circle_in_session();
    sim.join("gus", 4, Role::Participant, Some(Party::Guardian));
    sim.arrive("mia", 3, Role::Participant, Some(Party::Community))
        .unwrap();
    answer_for_mia(&mut sim, true).unwrap();
    sim.consent("mia").unwrap();
    sim.keeper(Command::Admit {
        person: sim.id("mia"),
    })
    .unwrap();
    assert!(sim.hears("keeper", "mia"));
    assert_eq!(
        sim.circle_view("keeper")
            .people
            .iter()
            .find(|p| p.name == "mia")
            .and_then(|p| p.guardian_seat),
        Some(4)
    );
    sim.take();

    sim.cmd("gus", Command::WithdrawConsent).unwrap();
    let session = sim.session("mia");
    assert!(sim.outputs.iter().any(|o| matches!(
        o,
        Output::End { session: s, reason: EndReason::GuardianWithdrew, .. } if *s == session
    )));
    assert!(!sim.hears("keeper", "mia") && !sim.hears("mia", "keeper"));
    let withdrawn = consents_given_by(&sim, "gus");
    assert!(
        !withdrawn.is_empty()
            && withdrawn
                .iter()
                .all(|(inv, d)| inv == "jti-mia" && *d == ConsentDecision::Withdrawn)
    );
    // Her link never opens the room again, as after her own withdrawal.
    assert_eq!(
        sim.arrive("mia", 3, Role::Participant, Some(Party::Community)),
        Err(Refusal::ConsentWithdrawn)
    );
}
