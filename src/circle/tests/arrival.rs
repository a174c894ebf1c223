//! SPEC §3.1, §3.4, §3.7: arrival, consent, lobby, admission, entry order,
//! leaving, withdrawal, removal and the grace period.

use super::harness::*;
use crate::circle::*;

#[test]
fn a_participant_passes_consent_then_waits_in_the_lobby_until_admitted() {
    let mut sim = Sim::circle_in_session();
    sim.arrive("ana", 2, Role::Participant, Some(Party::Harmed))
        .unwrap();
    assert!(matches!(sim.view("ana"), View::Consent { .. }));
    sim.consent("ana").unwrap();
    assert_eq!(
        sim.view("ana"),
        View::Lobby {
            title: "Test circle".into(),
            kind: RoomKind::Circle,
            language: "en".into(),
            minors: Vec::new(),
        }
    );
    assert!(!sim.receives_anything("ana"));
    let keeper_view = sim.circle_view("keeper");
    let ana = keeper_view.people.iter().find(|p| p.name == "ana").unwrap();
    assert_eq!(ana.presence, Presence::Lobby);

    sim.keeper(Command::Admit {
        person: sim.id("ana"),
    })
    .unwrap();
    assert!(matches!(sim.view("ana"), View::Circle(_)));
    assert!(sim.sees("keeper", "ana"));
    assert!(sim.hears("keeper", "ana"));
}

#[test]
fn keepers_consent_but_need_no_admission() {
    let mut sim = Sim::new(RoomKind::Circle, Phase::Open);
    sim.arrive("keeper", 1, Role::Keeper, None).unwrap();
    assert!(matches!(sim.view("keeper"), View::Consent { .. }));
    sim.consent("keeper").unwrap();
    assert!(matches!(sim.view("keeper"), View::Circle(_)));
}

/// Keepers read and accept their own terms (issue 14), not the participants'.
#[test]
fn keepers_consent_to_their_own_terms() {
    let mut sim = Sim::new(RoomKind::Circle, Phase::Open);
    sim.arrive("keeper", 1, Role::Keeper, None).unwrap();
    sim.arrive("ana", 2, Role::Participant, None).unwrap();
    let terms_of = |sim: &Sim, name| match sim.view(name) {
        View::Consent { terms, .. } => terms,
        other => panic!("{name} should be at the consent gate, not {other:?}"),
    };
    let keeper_terms = terms_of(&sim, "keeper");
    assert_eq!(keeper_terms, ConsentTerms::keeper_standard());
    assert_eq!(terms_of(&sim, "ana"), ConsentTerms::standard());
    assert_ne!(keeper_terms.version, ConsentTerms::standard().version);

    // The participants' terms do not let a keeper in.
    let participants = ConsentTerms::standard();
    let answers: Vec<ConsentAnswer> = participants
        .items
        .iter()
        .map(|i| ConsentAnswer {
            item: i.id.clone(),
            accept: true,
        })
        .collect();
    assert_eq!(
        sim.cmd(
            "keeper",
            Command::Consent {
                version: participants.version.clone(),
                answers,
            }
        ),
        Err(Refusal::ConsentVersionMismatch)
    );
    sim.consent("keeper").unwrap();
    assert!(matches!(sim.view("keeper"), View::Circle(_)));
    let recorded: Vec<&str> = sim
        .outputs
        .iter()
        .filter_map(|o| match o {
            Output::Record(Record::Consent { item, version, .. }) => {
                assert_eq!(version, &keeper_terms.version);
                Some(item.as_str())
            }
            _ => None,
        })
        .collect();
    let expected: Vec<&str> = keeper_terms.items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(recorded, expected);
}

#[test]
fn the_lobby_sees_no_roster_and_may_only_consent_leave_or_withdraw() {
    let mut sim = Sim::circle_in_session();
    sim.join("ben", 3, Role::Participant, Some(Party::Community));
    sim.arrive("ana", 2, Role::Participant, None).unwrap();
    sim.consent("ana").unwrap();
    sim.take();
    for command in [
        Command::Pass,
        Command::RaiseHand,
        Command::RequestPause,
        Command::Chat {
            to: ChatTo::Keepers,
            text: "hi".into(),
        },
        Command::Chat {
            to: ChatTo::Circle,
            text: "hi".into(),
        },
        Command::Ready,
        Command::Acknowledge { hash: "x".into() },
        Command::Admit {
            person: sim.id("ana"),
        },
    ] {
        assert_eq!(sim.cmd("ana", command), Err(Refusal::NotAdmitted));
    }
    // Nothing of the circle reaches the lobby when the circle changes.
    sim.keeper(Command::StartRound {
        prompt: "Who are you?".into(),
        first: None,
    })
    .unwrap();
    // Not even a `state`: the lobby view did not change.
    assert_eq!(sim.notices_to("ana"), Vec::new());
    assert!(matches!(sim.view("ana"), View::Lobby { .. }));
    let json = serde_json::to_string(&sim.view("ana")).unwrap();
    assert!(!json.contains("ben") && !json.contains("keeper"), "{json}");
}

#[test]
fn a_bad_consent_answer_is_refused_without_effect() {
    let mut sim = Sim::circle_in_session();
    sim.arrive("ana", 2, Role::Participant, None).unwrap();
    let terms = sim.room.settings().consent.clone();
    let wrong_version = Command::Consent {
        version: "old".into(),
        answers: accept_all(&terms),
    };
    assert_eq!(
        sim.cmd("ana", wrong_version),
        Err(Refusal::ConsentVersionMismatch)
    );
    let mut partial = accept_all(&terms);
    partial.pop();
    let incomplete = Command::Consent {
        version: terms.version.clone(),
        answers: partial,
    };
    assert_eq!(sim.cmd("ana", incomplete), Err(Refusal::ConsentIncomplete));
    let mut doubled = accept_all(&terms);
    doubled.push(doubled[0].clone());
    let duplicate = Command::Consent {
        version: terms.version.clone(),
        answers: doubled,
    };
    assert_eq!(sim.cmd("ana", duplicate), Err(Refusal::ConsentIncomplete));
    sim.consent("ana").unwrap();
    assert_eq!(sim.consent("ana"), Err(Refusal::AlreadyConsented));
}

#[test]
fn declining_a_required_item_is_recorded_and_ends_the_visit() {
    let mut sim = Sim::circle_in_session();
    sim.arrive("ana", 2, Role::Participant, None).unwrap();
    let terms = sim.room.settings().consent.clone();
    let mut answers = accept_all(&terms);
    answers[1].accept = false;
    sim.take();
    sim.cmd(
        "ana",
        Command::Consent {
            version: terms.version.clone(),
            answers,
        },
    )
    .unwrap();
    assert_eq!(sim.ended("ana"), Some(EndReason::ConsentDeclined));
    let declined = sim.records().into_iter().filter(|r| {
        matches!(r, Record::Consent { decision: ConsentDecision::Declined, item, .. } if *item == terms.items[1].id)
    });
    assert_eq!(declined.count(), 1);
    assert!(!sim.receives_anything("ana"));
    // Declining is not final: the same link shows the terms again.
    sim.arrive("ana", 2, Role::Participant, None).unwrap();
    assert!(matches!(sim.view("ana"), View::Consent { .. }));
}

#[test]
fn arrival_is_refused_when_closed_not_open_locked_or_revoked() {
    let mut sim = Sim::new(RoomKind::Circle, Phase::Scheduled);
    assert_eq!(
        sim.arrive("ana", 2, Role::Participant, None),
        Err(Refusal::RoomNotOpen)
    );
    sim.join("keeper", 1, Role::Keeper, None);
    sim.keeper(Command::OpenRoom).unwrap();
    sim.keeper(Command::Lock).unwrap();
    assert_eq!(
        sim.arrive("ana", 2, Role::Participant, None),
        Err(Refusal::RoomLocked)
    );
    sim.arrive("co", 9, Role::Keeper, None)
        .expect("keepers pass a lock");
    sim.keeper(Command::Unlock).unwrap();
    sim.input(Input::Revoke {
        invitation_id: "jti-ana".into(),
    })
    .unwrap();
    assert_eq!(
        sim.arrive("ana", 2, Role::Participant, None),
        Err(Refusal::InvitationRevoked)
    );
    sim.keeper(Command::CloseRoom).unwrap();
    assert_eq!(
        sim.arrive("bo", 3, Role::Participant, None),
        Err(Refusal::RoomClosed)
    );
}

#[test]
fn a_second_connection_does_not_evict_a_live_one() {
    let mut sim = Sim::circle_in_session();
    sim.join("ana", 2, Role::Participant, None);
    assert_eq!(
        sim.arrive("ana", 2, Role::Participant, None),
        Err(Refusal::AlreadyConnected)
    );
}

#[test]
fn inside_the_grace_period_a_reconnection_keeps_seat_and_talking_piece() {
    let mut sim = Sim::circle_in_session();
    sim.join("ana", 2, Role::Participant, None);
    sim.join("ben", 3, Role::Participant, None);
    sim.keeper(Command::GivePiece { to: sim.id("ana") })
        .unwrap();
    sim.disconnect("ana").unwrap();
    assert_eq!(sim.room.holder(), Some(sim.id("ana")));
    let presence = |sim: &Sim| {
        sim.circle_view("keeper")
            .people
            .iter()
            .find(|p| p.name == "ana")
            .unwrap()
            .presence
            .clone()
    };
    assert_eq!(presence(&sim), Presence::Reconnecting);
    sim.advance(29_000);
    let old = sim.session("ana");
    sim.arrive("ana", 2, Role::Participant, None).unwrap();
    assert_ne!(sim.session("ana"), old);
    assert_eq!(sim.room.holder(), Some(sim.id("ana")));
    assert!(matches!(sim.view("ana"), View::Circle(_)));
    assert!(sim.hears("ana", "ben"));
}

#[test]
fn after_the_grace_period_the_piece_moves_on_and_return_is_through_the_lobby() {
    let mut sim = Sim::circle_in_session();
    sim.join("ana", 2, Role::Participant, None);
    sim.join("ben", 3, Role::Participant, None);
    sim.keeper(Command::GivePiece { to: sim.id("ana") })
        .unwrap();
    sim.disconnect("ana").unwrap();
    sim.take();
    sim.advance(30_000);
    assert_eq!(sim.room.holder(), Some(sim.id("ben")));
    assert!(sim.records().contains(&Record::Attendance {
        invitation_id: "jti-ana".into(),
        event: AttendanceEvent::Away
    }));
    // Consent is remembered; admission is asked again.
    sim.arrive("ana", 2, Role::Participant, None).unwrap();
    assert!(matches!(sim.view("ana"), View::Lobby { .. }));
    assert!(!sim.receives_anything("ana"));
}

#[test]
fn a_dropped_connection_while_reading_consent_just_goes_away() {
    let mut sim = Sim::circle_in_session();
    sim.arrive("ana", 2, Role::Participant, None).unwrap();
    sim.disconnect("ana").unwrap();
    assert_eq!(sim.room.next_deadline(), None);
    sim.arrive("ana", 2, Role::Participant, None).unwrap();
    assert!(matches!(sim.view("ana"), View::Consent { .. }));
}

#[test]
fn leaving_is_not_withdrawal() {
    let mut sim = Sim::circle_in_session();
    sim.join("ana", 2, Role::Participant, None);
    sim.take();
    sim.cmd("ana", Command::Leave).unwrap();
    assert_eq!(sim.ended("ana"), Some(EndReason::Left));
    assert!(!sim.sends_anything("ana") && !sim.receives_anything("ana"));
    sim.arrive("ana", 2, Role::Participant, None)
        .expect("may come back");
    assert!(matches!(sim.view("ana"), View::Lobby { .. }));
}

#[test]
fn withdrawal_stops_all_media_and_the_invitation_never_enters_again() {
    let mut sim = Sim::circle_in_session();
    sim.join("ana", 2, Role::Participant, None);
    sim.keeper(Command::GivePiece { to: sim.id("ana") })
        .unwrap();
    assert!(sim.hears("ana", "keeper"));
    sim.take();
    sim.cmd("ana", Command::WithdrawConsent).unwrap();
    assert_eq!(sim.ended("ana"), Some(EndReason::ConsentWithdrawn));
    assert!(!sim.sends_anything("ana") && !sim.receives_anything("ana"));
    let withdrawn = sim.records().into_iter().filter(|r| {
        matches!(
            r,
            Record::Consent {
                decision: ConsentDecision::Withdrawn,
                ..
            }
        )
    });
    assert_eq!(withdrawn.count(), sim.room.settings().consent.items.len());
    assert_eq!(
        sim.room.holder(),
        Some(sim.id("keeper")),
        "the piece moved on without her"
    );
    assert_eq!(
        sim.arrive("ana", 2, Role::Participant, None),
        Err(Refusal::ConsentWithdrawn)
    );
}

#[test]
fn a_removed_person_is_revoked_at_once() {
    let mut sim = Sim::circle_in_session();
    sim.join("ana", 2, Role::Participant, None);
    sim.take();
    sim.keeper(Command::Remove {
        person: sim.id("ana"),
    })
    .unwrap();
    assert_eq!(sim.ended("ana"), Some(EndReason::Removed));
    assert!(sim.records().contains(&Record::Revoked {
        invitation_id: "jti-ana".into()
    }));
    assert_eq!(
        sim.arrive("ana", 2, Role::Participant, None),
        Err(Refusal::InvitationRevoked)
    );
    assert_eq!(
        sim.keeper(Command::Remove {
            person: sim.id("keeper")
        }),
        Err(Refusal::BadValue)
    );
}

#[test]
fn a_participant_cannot_use_keeper_commands() {
    let mut sim = Sim::circle_in_session();
    sim.join("ana", 2, Role::Participant, None);
    sim.join("ben", 3, Role::Participant, None);
    for command in [
        Command::Admit {
            person: sim.id("ben"),
        },
        Command::Remove {
            person: sim.id("ben"),
        },
        Command::Mute {
            person: sim.id("ben"),
        },
        Command::GivePiece { to: sim.id("ana") },
        Command::Pause,
        Command::CloseRoom,
        Command::Lock,
        Command::DraftAgreement { items: vec![] },
    ] {
        assert_eq!(sim.cmd("ana", command), Err(Refusal::KeeperOnly));
    }
}

#[test]
fn denial_ends_the_visit_and_records_it() {
    let mut sim = Sim::circle_in_session();
    sim.arrive("ana", 2, Role::Participant, None).unwrap();
    sim.consent("ana").unwrap();
    sim.take();
    sim.keeper(Command::Deny {
        person: sim.id("ana"),
    })
    .unwrap();
    assert_eq!(sim.ended("ana"), Some(EndReason::Denied));
    assert_eq!(
        sim.keeper(Command::Admit {
            person: sim.id("ana")
        }),
        Err(Refusal::NotInLobby)
    );
}

#[test]
fn in_a_conference_the_harmed_party_decides_when_the_other_side_enters() {
    let mut sim = Sim::new(RoomKind::Conference, Phase::Open);
    sim.join("keeper", 1, Role::Keeper, None);
    sim.arrive("rob", 3, Role::Participant, Some(Party::Responsible))
        .unwrap();
    sim.consent("rob").unwrap();
    let rob = sim.id("rob");
    assert_eq!(
        sim.keeper(Command::Admit { person: rob }),
        Err(Refusal::EntryOrderNotMet)
    );
    sim.join("hana", 2, Role::Participant, Some(Party::Harmed));
    assert_eq!(
        sim.keeper(Command::Admit { person: rob }),
        Err(Refusal::EntryOrderNotMet)
    );
    assert_eq!(
        sim.cmd("keeper", Command::Ready),
        Err(Refusal::NotFirstParty)
    );
    sim.cmd("hana", Command::Ready).unwrap();
    sim.keeper(Command::Admit { person: rob }).unwrap();
    assert!(sim.sees("rob", "hana"));
}

#[test]
fn a_restart_gives_everyone_online_their_grace_period() {
    let mut sim = Sim::circle_in_session();
    sim.join("ana", 2, Role::Participant, None);
    sim.input(Input::Restored).unwrap();
    assert_eq!(sim.room.person_of_session(sim.session("ana")), None);
    sim.arrive("ana", 2, Role::Participant, None).unwrap();
    assert!(matches!(sim.view("ana"), View::Circle(_)));
}

#[test]
fn a_revocation_from_the_program_ends_a_live_session_at_once() {
    let mut sim = Sim::circle_in_session();
    sim.join("ana", 2, Role::Participant, None);
    sim.take();
    sim.input(Input::Revoke {
        invitation_id: "jti-ana".into(),
    })
    .unwrap();
    assert_eq!(sim.ended("ana"), Some(EndReason::Revoked));
    assert!(!sim.receives_anything("ana"));
    assert_eq!(
        sim.input(Input::Revoke {
            invitation_id: "jti-ana".into()
        }),
        Err(Refusal::NoChange)
    );
    assert_eq!(
        sim.arrive("ana", 2, Role::Participant, None),
        Err(Refusal::InvitationRevoked)
    );
}

#[test]
fn invited_seats_are_visible_to_keepers_before_their_people_arrive() {
    let mut sim = Sim::circle_in_session();
    sim.input(Input::Invite {
        invitation: invitation("zoe", 7, Role::Participant, None),
    })
    .unwrap();
    let people = sim.circle_view("keeper").people;
    let zoe = people.iter().find(|p| p.name == "zoe").unwrap();
    assert_eq!((zoe.seat, zoe.presence.clone()), (7, Presence::Away));
    assert_eq!(
        sim.input(Input::Invite {
            invitation: invitation("zoe", 7, Role::Participant, None)
        }),
        Err(Refusal::NoChange)
    );
    sim.join("ana", 2, Role::Participant, None);
    assert!(
        sim.circle_view("ana")
            .people
            .iter()
            .all(|p| p.name != "zoe"),
        "participants see the circle only"
    );
}
