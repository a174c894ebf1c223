//! Issue 8: who is offered post-session feedback, who may answer, and the
//! agreement's due dates.

use super::harness::*;
use crate::circle::*;

/// The feedback offer of the `End` output for `name`'s session, if ended.
fn offer(sim: &Sim, name: &str) -> Option<Option<String>> {
    let session = sim.session(name);
    sim.outputs.iter().find_map(|o| match o {
        Output::End {
            session: s,
            offer_feedback,
            ..
        } if *s == session => Some(offer_feedback.clone()),
        _ => None,
    })
}

#[test]
fn the_rule_offers_only_participants_who_were_in_the_circle_and_ended_normally() {
    use EndReason::*;
    let offered = [Left, RoomClosed, SessionEnded];
    let never = [
        ConsentDeclined,
        ConsentWithdrawn,
        Denied,
        Removed,
        Revoked,
        Replaced,
    ];
    for reason in offered {
        assert!(
            offers_feedback(Role::Participant, true, reason),
            "{reason:?}"
        );
        assert!(
            !offers_feedback(Role::Participant, false, reason),
            "{reason:?}"
        );
        assert!(!offers_feedback(Role::Keeper, true, reason), "{reason:?}");
        assert!(!offers_feedback(Role::Observer, true, reason), "{reason:?}");
    }
    for reason in never {
        assert!(
            !offers_feedback(Role::Participant, true, reason),
            "{reason:?}"
        );
    }
}

#[test]
fn a_participant_who_leaves_the_circle_is_offered_feedback() {
    let mut sim = Sim::circle_in_session();
    sim.join("ana", 2, Role::Participant, Some(Party::Harmed));
    sim.take();
    sim.cmd("ana", Command::Leave).unwrap();
    assert_eq!(offer(&sim, "ana"), Some(Some("jti-ana".into())));
    assert!(sim.room.feedback_eligible("jti-ana"));
}

#[test]
fn closing_offers_feedback_to_admitted_participants_only() {
    let mut sim = Sim::circle_in_session();
    sim.join("ana", 2, Role::Participant, Some(Party::Harmed));
    sim.join("olga", 4, Role::Observer, None);
    sim.arrive("lou", 3, Role::Participant, None).unwrap();
    sim.consent("lou").unwrap();
    sim.take();
    sim.keeper(Command::CloseRoom).unwrap();
    assert_eq!(offer(&sim, "ana"), Some(Some("jti-ana".into())));
    // Lou waited in the lobby and was never in the circle.
    assert_eq!(offer(&sim, "lou"), Some(None));
    assert_eq!(offer(&sim, "olga"), Some(None));
    assert_eq!(offer(&sim, "keeper"), Some(None));
    assert!(!sim.room.feedback_eligible("jti-lou"));
    assert!(!sim.room.feedback_eligible("jti-olga"));
    assert!(!sim.room.feedback_eligible("jti-keeper"));
    assert!(!sim.room.feedback_eligible("jti-nobody"));
}

#[test]
fn someone_who_was_in_the_circle_once_is_offered_when_leaving_from_the_lobby() {
    let mut sim = Sim::circle_in_session();
    sim.join("ana", 2, Role::Participant, None);
    sim.cmd("ana", Command::Leave).unwrap();
    sim.arrive("ana", 2, Role::Participant, None).unwrap();
    sim.take();
    assert_eq!(
        sim.room.person(sim.id("ana")).map(|p| p.stage),
        Some(Stage::Lobby)
    );
    sim.cmd("ana", Command::Leave).unwrap();
    assert_eq!(offer(&sim, "ana"), Some(Some("jti-ana".into())));
}

#[test]
fn withdrawal_removal_and_staggered_exit() {
    let mut sim = Sim::circle_in_session();
    sim.join("ana", 2, Role::Participant, Some(Party::Harmed));
    sim.join("ben", 3, Role::Participant, Some(Party::Responsible));
    sim.join("cy", 4, Role::Participant, Some(Party::Supporter));
    sim.take();
    sim.cmd("ana", Command::WithdrawConsent).unwrap();
    assert_eq!(offer(&sim, "ana"), Some(None));
    assert!(!sim.room.feedback_eligible("jti-ana"));
    let ben = sim.id("ben");
    sim.keeper(Command::Remove { person: ben }).unwrap();
    assert_eq!(offer(&sim, "ben"), Some(None));
    assert!(!sim.room.feedback_eligible("jti-ben"));
    sim.keeper(Command::EndSessionFor {
        party: Party::Supporter,
        with_supporters: false,
    })
    .unwrap();
    assert_eq!(offer(&sim, "cy"), Some(Some("jti-cy".into())));
    assert!(sim.room.feedback_eligible("jti-cy"));
}

#[test]
fn a_denied_person_is_never_eligible() {
    let mut sim = Sim::circle_in_session();
    sim.arrive("dee", 2, Role::Participant, None).unwrap();
    sim.consent("dee").unwrap();
    let dee = sim.id("dee");
    sim.take();
    sim.keeper(Command::Deny { person: dee }).unwrap();
    assert_eq!(offer(&sim, "dee"), Some(None));
    assert!(!sim.room.feedback_eligible("jti-dee"));
}

#[test]
fn rooms_stored_before_feedback_existed_get_the_standard_questionnaire() {
    let mut json = serde_json::to_value(Settings::for_kind(RoomKind::Circle, "Old")).unwrap();
    json.as_object_mut().unwrap().remove("feedback");
    let settings: Settings = serde_json::from_value(json).unwrap();
    assert_eq!(settings.feedback, Questionnaire::standard());
    let ids: Vec<_> = settings
        .feedback
        .questions
        .iter()
        .map(|q| q.id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "felt_heard",
            "felt_safe",
            "fair_process",
            "would_recommend",
            "agreement_satisfaction"
        ]
    );
}

#[test]
fn due_dates_are_real_calendar_dates() {
    for good in ["2027-01-31", "2028-02-29", "2000-02-29", "2026-12-01"] {
        assert!(valid_due(good), "{good}");
    }
    for bad in [
        "",
        "2027-1-31",
        "2027-01-32",
        "2027-02-29",
        "1900-02-29",
        "2027-13-01",
        "2027-00-10",
        "2027-01-00",
        "27-01-31",
        "2027/01/31",
        "2027-01-31T00:00",
        "next week",
        "１２３４-01-01",
        "1999-12-31",
        "+027-01-31",
    ] {
        assert!(!valid_due(bad), "{bad}");
    }
}

fn item(due: Option<&str>) -> AgreementItem {
    AgreementItem {
        what: "Repair the fence".into(),
        who: "Ben".into(),
        by: "end of January".into(),
        due: due.map(str::to_owned),
        owner_seat: None,
    }
}

#[test]
fn the_text_of_items_without_due_is_unchanged_and_due_shows_when_present() {
    // The exact text (and so hash) agreements had before `due` existed.
    assert_eq!(
        agreement_text(&[item(None)]),
        "1. Repair the fence — responsible: Ben — by: end of January\n"
    );
    assert_eq!(
        agreement_text(&[item(Some("2027-01-31"))]),
        "1. Repair the fence — responsible: Ben — by: end of January — due: 2027-01-31\n"
    );
    let json = serde_json::to_value(item(None)).unwrap();
    assert!(json.get("due").is_none(), "no due key: {json}");
}

#[test]
fn a_draft_with_a_bad_due_date_is_refused() {
    let mut sim = Sim::circle_in_session();
    let bad = Command::DraftAgreement {
        items: vec![item(Some("2027-02-30"))],
    };
    assert_eq!(sim.keeper(bad), Err(Refusal::BadAgreement));
    let good = Command::DraftAgreement {
        items: vec![item(Some("2027-02-28"))],
    };
    sim.keeper(good).unwrap();
}
