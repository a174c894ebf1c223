use super::testing::{Place, on_both_backends};
use super::*;
use crate::circle::{
    AgreementItem, AttendanceEvent, ChatTo, Command, ConsentAnswer, ConsentDecision, Input,
    Invitation, Output, Party, Phase, Record, Role, Room, RoomKind, RoundMark, SessionId, Settings,
    Timestamp,
};

/// The times of the room's journal entries, in order.
pub(super) async fn journal_times(store: &Store, room_id: &str) -> Vec<u64> {
    let journal = store.journal(room_id).await.unwrap();
    journal.iter().map(|(at, _)| at.0).collect()
}

pub(super) fn room_row(id: &str, created_at: u64) -> RoomRow {
    RoomRow {
        id: id.to_owned(),
        settings: Settings::for_kind(RoomKind::Circle, format!("Room {id}")),
        phase: Phase::Open,
        created_at: Timestamp(created_at),
    }
}

fn invitation(jti: &str, seat: u32, role: Role, party: Option<Party>) -> Invitation {
    Invitation {
        id: jti.to_owned(),
        seat,
        role,
        party,
        name: format!("Name of {jti}"),
        interprets_for: Vec::new(),
        guardian: None,
        supports: None,
    }
}

pub(super) fn invitation_row(room_id: &str, jti: &str, seat: u32) -> InvitationRow {
    InvitationRow {
        room_id: room_id.to_owned(),
        invitation: invitation(jti, seat, Role::Participant, Some(Party::Harmed)),
        issued_at: Timestamp(1_000),
        expires_at: Timestamp(9_000_000),
        revoked_at: None,
    }
}

fn consent(jti: &str, item: &str, decision: ConsentDecision) -> Record {
    Record::Consent {
        invitation_id: jti.to_owned(),
        item: item.to_owned(),
        version: "v1".to_owned(),
        decision,
        given_by: None,
    }
}

fn command(session: u64, command: Command) -> Input {
    Input::Command {
        session: SessionId(session),
        command,
    }
}

/// A room with one invitation and a few journaled inputs covering every record kind.
pub(super) async fn populate(store: &Store, room_id: &str, jti: &str) {
    store.create_room(&room_row(room_id, 100)).await.unwrap();
    store
        .add_invitation(&invitation_row(room_id, jti, 2))
        .await
        .unwrap();
    let items = vec![AgreementItem {
        what: "Repair the fence".into(),
        who: "R".into(),
        by: "June".into(),
        due: None,
        owner_seat: None,
    }];
    let steps: Vec<(u64, Input, Vec<Record>)> = vec![
        (
            10,
            Input::Arrive {
                invitation: invitation(jti, 2, Role::Participant, Some(Party::Harmed)),
            },
            vec![
                Record::Invited {
                    invitation_id: jti.into(),
                    seat: 2,
                    party: Some(Party::Harmed),
                },
                Record::Attendance {
                    invitation_id: jti.into(),
                    event: AttendanceEvent::Arrived,
                },
            ],
        ),
        (
            20,
            command(
                1,
                Command::Consent {
                    version: "v1".into(),
                    answers: vec![ConsentAnswer {
                        item: "voluntary".into(),
                        accept: true,
                    }],
                },
            ),
            vec![consent(jti, "voluntary", ConsentDecision::Accepted)],
        ),
        (
            30,
            command(0, Command::StartSession),
            vec![Record::PhaseChanged {
                phase: Phase::InSession,
            }],
        ),
        (
            40,
            command(
                0,
                Command::StartRound {
                    prompt: "Who was affected?".into(),
                    first: None,
                },
            ),
            vec![Record::RoundStarted { round: 1 }],
        ),
        (
            50,
            command(1, Command::PassWithoutSpeaking),
            vec![
                Record::RoundMarked {
                    round: 1,
                    invitation_id: jti.into(),
                    mark: RoundMark::Passed,
                },
                Record::RoundEnded { round: 1 },
            ],
        ),
        (
            60,
            command(
                0,
                Command::DraftAgreement {
                    items: items.clone(),
                },
            ),
            vec![Record::Agreement {
                version: 1,
                items: items.clone(),
                text: "1. Repair the fence".into(),
                hash: "h1".into(),
                is_final: false,
            }],
        ),
        (
            70,
            command(0, Command::FinalizeAgreement),
            vec![Record::Agreement {
                version: 1,
                items,
                text: "1. Repair the fence".into(),
                hash: "h1".into(),
                is_final: true,
            }],
        ),
        (
            80,
            command(1, Command::Acknowledge { hash: "h1".into() }),
            vec![Record::Acknowledged {
                invitation_id: jti.into(),
                hash: "h1".into(),
            }],
        ),
        (
            90,
            Input::Revoke {
                invitation_id: jti.into(),
            },
            vec![
                Record::Revoked {
                    invitation_id: jti.into(),
                },
                Record::Attendance {
                    invitation_id: jti.into(),
                    event: AttendanceEvent::Removed,
                },
            ],
        ),
    ];
    for (i, (at, input, records)) in steps.iter().enumerate() {
        let seq = store
            .append(room_id, Timestamp(*at), input, records)
            .await
            .unwrap();
        assert_eq!(seq, i as u64 + 1);
    }
}

on_both_backends!(open_on_disk_and_reopen_keeps_data);
async fn open_on_disk_and_reopen_keeps_data(place: Place) {
    let store = place.open().await;
    populate(&store, "r1", "jti-a").await;
    let before = store.record("r1").await.unwrap();
    let journal = store.journal("r1").await.unwrap();
    store.close().await;
    if let Location::Sqlite(data) = &place.location {
        assert!(data.join(DB_FILE).is_file(), "the directories are created");
    }

    // Migrations run again on an existing database without complaint.
    let store = place.open().await;
    assert_eq!(store.record("r1").await.unwrap(), before);
    assert_eq!(store.journal("r1").await.unwrap(), journal);
    assert!(store.is_revoked("jti-a").await.unwrap());
    let seq = store
        .append("r1", Timestamp(95), &Input::Tick, &[])
        .await
        .unwrap();
    assert_eq!(
        seq,
        journal.len() as u64 + 1,
        "sequence continues after reopen"
    );
    store.close().await;
}

on_both_backends!(rooms_are_created_read_and_listed_in_order);
async fn rooms_are_created_read_and_listed_in_order(place: Place) {
    let store = place.open().await;
    let mut conference = room_row("b", 200);
    conference.settings = Settings::for_kind(RoomKind::Conference, "Dialogue");
    conference.phase = Phase::Scheduled;
    store.create_room(&conference).await.unwrap();
    store.create_room(&room_row("c", 100)).await.unwrap();
    store.create_room(&room_row("a", 200)).await.unwrap();

    assert_eq!(store.room("b").await.unwrap(), Some(conference.clone()));
    assert_eq!(store.room("missing").await.unwrap(), None);
    let ids: Vec<String> = store
        .rooms()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, ["c", "a", "b"], "by created_at, then id");
}

on_both_backends!(duplicates_and_unknown_rooms_are_typed_errors);
async fn duplicates_and_unknown_rooms_are_typed_errors(place: Place) {
    let store = place.open().await;
    store.create_room(&room_row("r1", 1)).await.unwrap();
    assert!(matches!(
        store.create_room(&room_row("r1", 2)).await,
        Err(StoreError::Duplicate)
    ));

    store
        .add_invitation(&invitation_row("r1", "j1", 1))
        .await
        .unwrap();
    assert!(matches!(
        store.add_invitation(&invitation_row("r1", "j1", 3)).await,
        Err(StoreError::Duplicate)
    ));
    assert!(matches!(
        store.add_invitation(&invitation_row("nope", "j2", 1)).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.append("nope", Timestamp(1), &Input::Tick, &[]).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.record("nope").await,
        Err(StoreError::NotFound)
    ));
}

on_both_backends!(invitations_are_listed_by_seat);
async fn invitations_are_listed_by_seat(place: Place) {
    let store = place.open().await;
    store.create_room(&room_row("r1", 1)).await.unwrap();
    store.create_room(&room_row("r2", 1)).await.unwrap();
    let mut keeper = invitation_row("r1", "k", 1);
    keeper.invitation.role = Role::Keeper;
    keeper.invitation.party = None;
    for row in [
        invitation_row("r1", "z", 3),
        invitation_row("r1", "b", 2),
        keeper.clone(),
    ] {
        store.add_invitation(&row).await.unwrap();
    }
    store
        .add_invitation(&invitation_row("r2", "other", 1))
        .await
        .unwrap();
    let got = store.invitations("r1").await.unwrap();
    let ids: Vec<&str> = got.iter().map(|r| r.invitation.id.as_str()).collect();
    assert_eq!(ids, ["k", "b", "z"]);
    assert_eq!(got[0], keeper);
}

on_both_backends!(an_invitation_read_again_after_its_revocation_or_deletion_says_so);
/// On SQLite the store remembers invitations it read (`memo`): each way an
/// invitation is revoked or deleted must show on the next read.
async fn an_invitation_read_again_after_its_revocation_or_deletion_says_so(place: Place) {
    let store = place.open().await;
    store.create_room(&room_row("r1", 1)).await.unwrap();
    for (jti, seat) in [("by-api", 1), ("by-room", 2), ("deleted", 3)] {
        store
            .add_invitation(&invitation_row("r1", jti, seat))
            .await
            .unwrap();
    }
    let revoked_at = async |jti: &str| store.invitation(jti).await.unwrap().map(|r| r.revoked_at);
    assert_eq!(store.invitations("r1").await.unwrap().len(), 3);
    for jti in ["by-api", "by-room", "deleted"] {
        assert_eq!(revoked_at(jti).await, Some(None));
    }

    store.revoke("r1", "by-api", Timestamp(500)).await.unwrap();
    assert_eq!(revoked_at("by-api").await, Some(Some(Timestamp(500))));

    let revoke = Input::Revoke {
        invitation_id: "by-room".into(),
    };
    let records = [Record::Revoked {
        invitation_id: "by-room".into(),
    }];
    store
        .append("r1", Timestamp(600), &revoke, &records)
        .await
        .unwrap();
    assert_eq!(revoked_at("by-room").await, Some(Some(Timestamp(600))));

    assert!(store.delete_room("r1").await.unwrap());
    assert_eq!(revoked_at("deleted").await, None);
}

on_both_backends!(revoke_is_idempotent_and_room_scoped);
async fn revoke_is_idempotent_and_room_scoped(place: Place) {
    let store = place.open().await;
    store.create_room(&room_row("r1", 1)).await.unwrap();
    store.create_room(&room_row("r2", 1)).await.unwrap();
    store
        .add_invitation(&invitation_row("r1", "j1", 1))
        .await
        .unwrap();
    assert!(!store.is_revoked("j1").await.unwrap());

    store.revoke("r1", "j1", Timestamp(500)).await.unwrap();
    store.revoke("r1", "j1", Timestamp(900)).await.unwrap();
    assert!(store.is_revoked("j1").await.unwrap());
    let inv = store.invitations("r1").await.unwrap();
    assert_eq!(
        inv[0].revoked_at,
        Some(Timestamp(500)),
        "the first revocation stands"
    );
    let record = store.record("r1").await.unwrap();
    assert_eq!(
        record.revocations,
        [RevocationRow {
            invitation_id: "j1".into(),
            at: Timestamp(500)
        }]
    );

    // Another room cannot revoke r1's invitation.
    store
        .add_invitation(&invitation_row("r1", "j2", 2))
        .await
        .unwrap();
    assert!(matches!(
        store.revoke("r2", "j2", Timestamp(1)).await,
        Err(StoreError::NotFound)
    ));
    assert!(!store.is_revoked("j2").await.unwrap());

    // A jti the store never saw (minted elsewhere) is still revocable.
    store.revoke("r1", "unseen", Timestamp(600)).await.unwrap();
    assert!(store.is_revoked("unseen").await.unwrap());
}

on_both_backends!(append_journals_inputs_in_order_and_they_read_back_equal);
async fn append_journals_inputs_in_order_and_they_read_back_equal(place: Place) {
    let store = place.open().await;
    store.create_room(&room_row("r1", 1)).await.unwrap();
    let inputs = vec![
        Input::Invite {
            invitation: invitation("j1", 1, Role::Keeper, None),
        },
        Input::Arrive {
            invitation: invitation("j1", 1, Role::Keeper, None),
        },
        command(
            1,
            Command::ReorderSeats {
                order: vec![crate::circle::PersonId(1)],
            },
        ),
        Input::Disconnect {
            session: SessionId(1),
        },
        Input::Restored,
        Input::Tick,
    ];
    for (i, input) in inputs.iter().enumerate() {
        let seq = store
            .append("r1", Timestamp(10 * i as u64), input, &[])
            .await
            .unwrap();
        assert_eq!(seq, i as u64 + 1);
    }
    let journal = store.journal("r1").await.unwrap();
    let expected: Vec<(Timestamp, Input)> = inputs
        .into_iter()
        .enumerate()
        .map(|(i, input)| (Timestamp(10 * i as u64), input))
        .collect();
    assert_eq!(journal, expected);
    assert!(store.journal("other").await.unwrap().is_empty());
}

on_both_backends!(append_is_atomic);
async fn append_is_atomic(place: Place) {
    let store = place.open().await;
    store.create_room(&room_row("r1", 1)).await.unwrap();
    // The second record fails (a mark for a round that never started), so
    // neither the journal entry nor the first record may remain.
    let records = [
        consent("j1", "voluntary", ConsentDecision::Accepted),
        Record::RoundMarked {
            round: 7,
            invitation_id: "j1".into(),
            mark: RoundMark::Spoke,
        },
    ];
    let result = store
        .append("r1", Timestamp(5), &Input::Tick, &records)
        .await;
    assert!(result.is_err());
    assert!(store.journal("r1").await.unwrap().is_empty());
    assert!(store.record("r1").await.unwrap().consents.is_empty());
    // And the next good append still gets sequence 1.
    assert_eq!(
        store
            .append("r1", Timestamp(6), &Input::Tick, &[])
            .await
            .unwrap(),
        1
    );
}

on_both_backends!(chat_is_never_journaled);
async fn chat_is_never_journaled(place: Place) {
    let store = place.open().await;
    store.create_room(&room_row("r1", 1)).await.unwrap();
    let chat = command(
        1,
        Command::Chat {
            to: ChatTo::Circle,
            text: "something said in the circle".into(),
        },
    );
    assert!(matches!(
        store.append("r1", Timestamp(1), &chat, &[]).await,
        Err(StoreError::Ephemeral)
    ));
    assert!(store.journal("r1").await.unwrap().is_empty());
}

on_both_backends!(record_returns_what_was_appended);
async fn record_returns_what_was_appended(place: Place) {
    let store = place.open().await;
    populate(&store, "r1", "j1").await;
    let r = store.record("r1").await.unwrap();

    assert_eq!(r.room, room_row("r1", 100));
    assert_eq!(r.invitations.len(), 1);
    assert_eq!(r.invitations[0].revoked_at, Some(Timestamp(90)));
    assert_eq!(
        r.revocations,
        [RevocationRow {
            invitation_id: "j1".into(),
            at: Timestamp(90)
        }]
    );
    assert_eq!(
        r.consents,
        [ConsentRow {
            seq: 2,
            invitation_id: "j1".into(),
            item: "voluntary".into(),
            version: "v1".into(),
            decision: "accepted".into(),
            at: Timestamp(20),
            given_by: None,
        }]
    );
    let events: Vec<(&str, u64)> = r
        .attendance
        .iter()
        .map(|a| (a.event.as_str(), a.at.0))
        .collect();
    assert_eq!(events, [("arrived", 10), ("removed", 90)]);
    assert_eq!(
        r.phase_changes,
        [PhaseChangeRow {
            seq: 3,
            phase: Phase::InSession,
            at: Timestamp(30)
        }]
    );
    assert_eq!(
        r.rounds,
        [RoundRow {
            round: 1,
            started_at: Timestamp(40),
            ended_at: Some(Timestamp(50)),
            marks: vec![RoundMarkRow {
                seq: 5,
                invitation_id: "j1".into(),
                mark: "passed".into(),
                at: Timestamp(50),
            }],
        }]
    );
    let agreements: Vec<(u32, bool, u64)> = r
        .agreements
        .iter()
        .map(|a| (a.version, a.is_final, a.at.0))
        .collect();
    assert_eq!(agreements, [(1, false, 60), (1, true, 70)]);
    assert_eq!(r.agreements[1].items[0].what, "Repair the fence");
    assert_eq!(r.agreements[1].hash, "h1");
    assert_eq!(
        r.acknowledgements,
        [AcknowledgementRow {
            seq: 8,
            invitation_id: "j1".into(),
            hash: "h1".into(),
            at: Timestamp(80),
        }]
    );

    // The export serialises, and carries no round prompt (that is only in the journal).
    let json = serde_json::to_string(&r).unwrap();
    assert!(!json.contains("Who was affected?"));
}

on_both_backends!(delete_room_removes_that_room_only);
async fn delete_room_removes_that_room_only(place: Place) {
    let store = place.open().await;
    populate(&store, "gone", "j-gone").await;
    populate(&store, "kept", "j-kept").await;
    let kept_before = store.record("kept").await.unwrap();

    assert!(store.delete_room("gone").await.unwrap());
    assert_eq!(store.room("gone").await.unwrap(), None);
    assert!(store.journal("gone").await.unwrap().is_empty());
    assert!(store.invitations("gone").await.unwrap().is_empty());
    assert!(!store.is_revoked("j-gone").await.unwrap());
    assert!(matches!(
        store.record("gone").await,
        Err(StoreError::NotFound)
    ));
    assert!(
        !store.delete_room("gone").await.unwrap(),
        "second delete finds nothing"
    );

    assert_eq!(store.record("kept").await.unwrap(), kept_before);
    assert_eq!(store.journal("kept").await.unwrap().len(), 9);

    // No row of the deleted room is left in any table that names a room
    // (read from the catalogue, so a table a later migration adds is checked
    // too), except the webhook outbox: `room.deleted` and the events before
    // it are still delivered, and leave with their delivery.
    let mut checked = 0;
    for &table in super::copy::COPIED.iter().chain(super::copy::NOT_COPIED) {
        let columns: Vec<String> = match store.backend() {
            Backend::Sqlite => sqlx::query_scalar("SELECT name FROM pragma_table_info($1)"),
            Backend::Postgres => sqlx::query_scalar(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1",
            ),
        }
        .bind(table)
        .fetch_all(&store.pool)
        .await
        .unwrap();
        if table == "webhook_outbox" || !columns.iter().any(|c| c == "room_id") {
            continue;
        }
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE room_id = 'gone'");
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(n, 0, "{table}");
        checked += 1;
    }
    assert!(checked >= 15, "{checked} tables checked");

    // The id can be used again from scratch.
    store.create_room(&room_row("gone", 5)).await.unwrap();
    assert_eq!(
        store
            .append("gone", Timestamp(6), &Input::Tick, &[])
            .await
            .unwrap(),
        1
    );
}

on_both_backends!(journal_replays_the_real_state_machine);
/// Drives the real state machine through the store, then replays the
/// journal into a fresh room: it must come out identical (SPEC §7).
async fn journal_replays_the_real_state_machine(place: Place) {
    let store = place.open().await;
    let settings = Settings::for_kind(RoomKind::Circle, "Replay");
    store
        .create_room(&RoomRow {
            id: "r".into(),
            settings: settings.clone(),
            phase: Phase::Open,
            created_at: Timestamp(0),
        })
        .await
        .unwrap();
    let mut room = Room::new(settings.clone(), Phase::Open);
    let mut now = 1_700_000_000_000u64;

    // Feeds one input the way a room task would; returns the session for arrivals.
    async fn step(
        store: &Store,
        room: &mut Room,
        now: &mut u64,
        input: Input,
    ) -> Option<SessionId> {
        *now += 1_000;
        let accepted = room.handle(Timestamp(*now), input.clone()).ok()?;
        let mut records = Vec::new();
        while let Some(output) = room.poll_output() {
            if let Output::Record(r) = output {
                records.push(r);
            }
        }
        if accepted.journal {
            store
                .append("r", Timestamp(*now), &input, &records)
                .await
                .unwrap();
        }
        accepted.session
    }

    let keeper = invitation("jk", 1, Role::Keeper, None);
    let harmed = invitation("jh", 2, Role::Participant, Some(Party::Harmed));
    let answers = |terms: &crate::circle::ConsentTerms| -> Vec<ConsentAnswer> {
        terms
            .items
            .iter()
            .map(|i| ConsentAnswer {
                item: i.id.clone(),
                accept: true,
            })
            .collect()
    };
    let consent_cmd = Command::Consent {
        version: settings.consent.version.clone(),
        answers: answers(&settings.consent),
    };
    let keeper_consent = Command::Consent {
        version: settings.keeper_consent.version.clone(),
        answers: answers(&settings.keeper_consent),
    };
    let k = step(
        &store,
        &mut room,
        &mut now,
        Input::Arrive { invitation: keeper },
    )
    .await
    .unwrap();
    step(&store, &mut room, &mut now, command(k.0, keeper_consent)).await;
    let h = step(
        &store,
        &mut room,
        &mut now,
        Input::Arrive { invitation: harmed },
    )
    .await
    .unwrap();
    step(&store, &mut room, &mut now, command(h.0, consent_cmd)).await;
    let person = room.person_of_session(h).unwrap();
    step(
        &store,
        &mut room,
        &mut now,
        command(k.0, Command::Admit { person }),
    )
    .await;
    step(
        &store,
        &mut room,
        &mut now,
        command(k.0, Command::StartSession),
    )
    .await;
    let chat = Command::Chat {
        to: ChatTo::Keepers,
        text: "private".into(),
    };
    step(&store, &mut room, &mut now, command(h.0, chat)).await;
    step(&store, &mut room, &mut now, command(k.0, Command::Pause)).await;
    step(
        &store,
        &mut room,
        &mut now,
        Input::Disconnect { session: h },
    )
    .await;
    step(&store, &mut room, &mut now, Input::Tick).await;

    let journal = store.journal("r").await.unwrap();
    assert!(journal.len() >= 6);
    let mut replayed = Room::new(settings, Phase::Open);
    for (at, input) in journal {
        replayed.handle(at, input).unwrap();
        while replayed.poll_output().is_some() {}
    }
    // Unjournaled inputs (the last tick) only moved the clock; so does a restart.
    replayed.handle(Timestamp(now), Input::Tick).unwrap();
    while replayed.poll_output().is_some() {}
    assert_eq!(replayed, room);

    let record = store.record("r").await.unwrap();
    assert!(record.consents.iter().all(|c| c.decision == "accepted"));
    assert!(record.consents.len() >= 2 * 4);
    assert!(
        record
            .attendance
            .iter()
            .any(|a| a.event == "admitted" && a.invitation_id == "jh")
    );
    let phases: Vec<Phase> = record.phase_changes.iter().map(|p| p.phase).collect();
    assert_eq!(phases, [Phase::InSession, Phase::Paused]);
}

on_both_backends!(multi_thread: concurrent_appends_on_disk_do_not_conflict);
/// Room tasks append concurrently on one file; none may fail with "database
/// is locked" and every room's sequence stays gapless.
async fn concurrent_appends_on_disk_do_not_conflict(place: Place) {
    let store = place.open().await;
    let rooms = ["a", "b", "c", "d"];
    for id in rooms {
        store.create_room(&room_row(id, 1)).await.unwrap();
    }
    let mut tasks = Vec::new();
    for id in rooms {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50u64 {
                let records = [consent("j", "voluntary", ConsentDecision::Accepted)];
                let seq = store
                    .append(id, Timestamp(i), &Input::Tick, &records)
                    .await
                    .unwrap();
                assert_eq!(seq, i + 1);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    for id in rooms {
        assert_eq!(store.journal(id).await.unwrap().len(), 50);
        assert_eq!(store.record(id).await.unwrap().consents.len(), 50);
    }
    store.close().await;
}

on_both_backends!(
    feedback_rows_name_nobody_each_invitation_answers_once_and_deletion_clears_outcomes
);
async fn feedback_rows_name_nobody_each_invitation_answers_once_and_deletion_clears_outcomes(
    place: Place,
) {
    use sqlx::Row;
    let store = place.open().await;
    populate(&store, "r1", "jti-1").await;
    let set = FeedbackSet {
        party: Some(Party::Harmed),
        declined: false,
        answers: [("felt_heard".to_owned(), 4)].into(),
        comment: Some("it helped".into()),
    };
    assert!(!store.feedback_given("r1", "jti-1").await.unwrap());
    assert!(store.give_feedback("r1", "jti-1", &set).await.unwrap());
    assert!(store.feedback_given("r1", "jti-1").await.unwrap());
    let declined = FeedbackSet {
        declined: true,
        answers: Default::default(),
        comment: None,
        ..set.clone()
    };
    assert!(!store.give_feedback("r1", "jti-1", &declined).await.unwrap());
    assert_eq!(store.feedback_sets("r1").await.unwrap(), vec![set]);

    // The answer row: room, party, scores, comment. No invitation, seat or time.
    let columns: Vec<String> = sqlx::query_scalar(match store.backend() {
        Backend::Sqlite => "SELECT name FROM pragma_table_info('feedback_answers') ORDER BY cid",
        Backend::Postgres => {
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_name = 'feedback_answers' ORDER BY ordinal_position"
        }
    })
    .fetch_all(&store.pool)
    .await
    .unwrap();
    assert_eq!(
        columns,
        ["slot", "room_id", "party", "declined", "answers", "comment"]
    );
    let rows = sqlx::query("SELECT room_id, party, answers, comment FROM feedback_answers")
        .fetch_all(&store.pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    for i in 0..4 {
        let value: Option<String> = rows[0].try_get(i).unwrap();
        assert!(!value.unwrap_or_default().contains("jti-1"));
    }

    // The final agreement of `populate` seeded its item, open.
    let items = store.agreement_items("r1").await.unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(
        (items[0].index, items[0].status, items[0].hash.as_str()),
        (0, ItemStatus::Open, "h1")
    );

    assert!(store.delete_room("r1").await.unwrap());
    assert!(store.feedback_sets("r1").await.unwrap().is_empty());
    assert!(store.agreement_items("r1").await.unwrap().is_empty());
    assert!(!store.feedback_given("r1", "jti-1").await.unwrap());
}

/// Postgres keeps rows in insertion order and stamps each with the
/// transaction that wrote it. After every answer, all of a room's feedback
/// rows share one transaction id and lie in `slot` (random) order, so neither
/// pairs an answer with the person who gave it.
#[tokio::test]
async fn postgres_feedback_rows_share_one_transaction_and_lie_in_slot_order() {
    let place = Place::postgres().await;
    let store = place.open().await;
    store.create_room(&room_row("r1", 1)).await.unwrap();
    for i in 0..5u8 {
        let set = FeedbackSet {
            party: Some(Party::Harmed),
            declined: false,
            answers: [("felt_heard".to_owned(), i + 1)].into(),
            comment: None,
        };
        assert!(
            store
                .give_feedback("r1", &format!("p{i}"), &set)
                .await
                .unwrap()
        );
        let mut stamps = Vec::new();
        for table in ["feedback_answers", "feedback_given"] {
            let sql = format!("SELECT DISTINCT xmin::text FROM {table} WHERE room_id = 'r1'");
            let xmins: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_all(&store.pool)
                .await
                .unwrap();
            assert_eq!(xmins.len(), 1, "{table} after answer {i}: {xmins:?}");
            stamps.extend(xmins);
            let sql = format!("SELECT slot FROM {table} WHERE room_id = 'r1' ORDER BY ctid");
            let by_position: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_all(&store.pool)
                .await
                .unwrap();
            let mut by_slot = by_position.clone();
            by_slot.sort_unstable();
            assert_eq!(by_position, by_slot, "{table} after answer {i}");
            assert_eq!(by_position.len(), usize::from(i) + 1);
        }
        assert_eq!(stamps[0], stamps[1], "both tables, one transaction");
    }
}

on_both_backends!(a_room_has_one_owner_and_a_stale_owner_cannot_append);
/// SPEC §6.6: two nodes on one store. The first claim wins; the other is
/// told where the room is while the owner's lease lasts, and takes it over
/// once it lapsed. From then on the old owner's appends fail and leave nothing.
async fn a_room_has_one_owner_and_a_stale_owner_cannot_append(place: Place) {
    let (a, b) = (place.open().await, place.open().await);
    a.create_room(&room_row("r1", 1)).await.unwrap();
    a.renew_lease("a", "https://a.example", Timestamp(10_000))
        .await
        .unwrap();
    b.renew_lease("b", "https://b.example", Timestamp(10_000))
        .await
        .unwrap();

    let Claim::Owned(first) = a.claim_room("r1", "a", Timestamp(1_000)).await.unwrap() else {
        panic!("nobody owned the room");
    };
    assert_eq!(
        b.claim_room("r1", "b", Timestamp(9_999)).await.unwrap(),
        Claim::Elsewhere {
            node_id: "a".into(),
            public_url: "https://a.example".into()
        }
    );
    a.append_fenced("r1", first, Timestamp(2_000), &Input::Tick, &[])
        .await
        .unwrap();

    // a's lease ends at 10 000; at 10 001 b may take the room over.
    let Claim::Owned(second) = b.claim_room("r1", "b", Timestamp(10_001)).await.unwrap() else {
        panic!("the lease had lapsed");
    };
    assert!(second.0 > first.0, "a takeover raises the epoch");
    let refused = a
        .append_fenced("r1", first, Timestamp(10_002), &Input::Tick, &[])
        .await;
    assert!(matches!(refused, Err(StoreError::NotOwner)), "{refused:?}");
    b.append_fenced("r1", second, Timestamp(10_003), &Input::Tick, &[])
        .await
        .unwrap();
    assert_eq!(
        journal_times(&b, "r1").await,
        [2_000, 10_003],
        "the stale append left nothing"
    );

    // a comes back with a live lease: b's live lease keeps the room with b.
    a.renew_lease("a", "https://a.example", Timestamp(20_000))
        .await
        .unwrap();
    b.renew_lease("b", "https://b.example", Timestamp(20_000))
        .await
        .unwrap();
    assert!(matches!(
        a.claim_room("r1", "a", Timestamp(10_004)).await.unwrap(),
        Claim::Elsewhere { node_id, .. } if node_id == "b"
    ));
    assert_eq!(a.owned_rooms("a").await.unwrap(), []);
    assert_eq!(b.owned_rooms("b").await.unwrap(), [("r1".into(), second)]);

    // A node that ends its lease (shutdown) lets the room go at once, and a
    // node claiming its own room again (a restart) fences its older self.
    b.end_lease("b").await.unwrap();
    let Claim::Owned(third) = a.claim_room("r1", "a", Timestamp(10_005)).await.unwrap() else {
        panic!("b ended its lease");
    };
    let Claim::Owned(fourth) = a.claim_room("r1", "a", Timestamp(10_006)).await.unwrap() else {
        panic!("a owns it");
    };
    assert!(fourth.0 > third.0);
    let refused = a
        .append_fenced("r1", third, Timestamp(10_007), &Input::Tick, &[])
        .await;
    assert!(matches!(refused, Err(StoreError::NotOwner)), "{refused:?}");
    a.close().await;
    b.close().await;
}

on_both_backends!(multi_thread: racing_claims_give_the_room_to_exactly_one_node);
/// Eight nodes claim one unowned room at once: one owns it, the others are
/// told it is elsewhere, and the owner can append.
async fn racing_claims_give_the_room_to_exactly_one_node(place: Place) {
    let first = place.open().await;
    first.create_room(&room_row("r1", 1)).await.unwrap();
    let mut nodes = Vec::new();
    for n in 0..8 {
        let store = place.open().await;
        let id = format!("n{n}");
        store
            .renew_lease(&id, &format!("https://{id}.example"), Timestamp(60_000))
            .await
            .unwrap();
        nodes.push((id, store));
    }
    let claims = nodes.iter().map(|(id, store)| async move {
        (
            id.clone(),
            store.claim_room("r1", id, Timestamp(1)).await.unwrap(),
        )
    });
    let claims = futures_util::future::join_all(claims).await;
    let owners: Vec<(&String, Fence)> = claims
        .iter()
        .filter_map(|(id, c)| match c {
            Claim::Owned(fence) => Some((id, *fence)),
            Claim::Elsewhere { .. } => None,
        })
        .collect();
    assert_eq!(owners.len(), 1, "{claims:?}");
    let (owner, fence) = owners[0];
    for (id, claim) in &claims {
        if id != owner {
            assert!(
                matches!(claim, Claim::Elsewhere { node_id, .. } if node_id == owner),
                "{claim:?}"
            );
        }
    }
    first
        .append_fenced("r1", fence, Timestamp(2), &Input::Tick, &[])
        .await
        .unwrap();
    for (_, store) in nodes {
        store.close().await;
    }
    first.close().await;
}

on_both_backends!(a_duty_is_held_by_one_node_until_its_claim_ends);
async fn a_duty_is_held_by_one_node_until_its_claim_ends(place: Place) {
    let store = place.open().await;
    let hold = |node: &'static str, now: u64| {
        let store = store.clone();
        async move {
            store
                .hold_duty("webhooks", node, Timestamp(now), Timestamp(now + 1_000))
                .await
                .unwrap()
        }
    };
    assert!(hold("a", 0).await, "unclaimed");
    assert!(!hold("b", 500).await, "a's claim lasts until 1 000");
    assert!(hold("a", 900).await, "a renews until 1 900");
    assert!(!hold("b", 1_800).await);
    assert!(hold("b", 1_901).await, "a's claim ended");
    assert!(!hold("a", 1_902).await);
    assert!(
        store
            .hold_duty("retention", "a", Timestamp(1_903), Timestamp(2_000))
            .await
            .unwrap(),
        "duties are separate"
    );
}

on_both_backends!(a_consents_answers_are_kept_in_order_with_the_records_around_them);
async fn a_consents_answers_are_kept_in_order_with_the_records_around_them(place: Place) {
    let store = place.open().await;
    store.create_room(&room_row("r1", 100)).await.unwrap();
    store
        .add_invitation(&invitation_row("r1", "j1", 2))
        .await
        .unwrap();
    let guardian = Record::Consent {
        invitation_id: "j1".into(),
        item: "recording".into(),
        version: "v1".into(),
        decision: ConsentDecision::Declined,
        given_by: Some("g1".into()),
    };
    let records = [
        Record::Attendance {
            invitation_id: "j1".into(),
            event: AttendanceEvent::Arrived,
        },
        consent("j1", "voluntary", ConsentDecision::Accepted),
        guardian,
        consent("j1", "confidential", ConsentDecision::Accepted),
        Record::Attendance {
            invitation_id: "j1".into(),
            event: AttendanceEvent::Admitted,
        },
        consent("j1", "later", ConsentDecision::Withdrawn),
    ];
    let seq = store
        .append("r1", Timestamp(20), &Input::Tick, &records)
        .await
        .unwrap();
    let r = store.record("r1").await.unwrap();
    let consents: Vec<(u64, &str, &str, Option<&str>)> = r
        .consents
        .iter()
        .map(|c| {
            (
                c.seq,
                c.item.as_str(),
                c.decision.as_str(),
                c.given_by.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        consents,
        [
            (seq, "voluntary", "accepted", None),
            (seq, "recording", "declined", Some("g1")),
            (seq, "confidential", "accepted", None),
            (seq, "later", "withdrawn", None),
        ]
    );
    let attendance: Vec<&str> = r.attendance.iter().map(|a| a.event.as_str()).collect();
    assert_eq!(attendance, ["arrived", "admitted"]);
}
