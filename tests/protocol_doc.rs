//! docs/protocol.md is exact: it names every command, error code and end
//! reason the server can produce, and the view's JSON shape is pinned.

use circlekeeper::circle::*;
use circlekeeper::signal::wire::{COMMAND_TYPES, ClientMsg, WireError, parse_client};

fn doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/protocol.md"))
        .expect("docs/protocol.md")
}

/// One of each command; the match below stops compiling when a command is
/// added without updating this list (and so the document).
fn every_command() -> Vec<Command> {
    let p = PersonId(1);
    let all = vec![
        Command::Consent {
            version: "v".into(),
            answers: vec![],
        },
        Command::ConsentFor {
            person: p,
            version: "v".into(),
            answers: vec![],
        },
        Command::Leave,
        Command::WithdrawConsent,
        Command::Pass,
        Command::PassWithoutSpeaking,
        Command::RaiseHand,
        Command::LowerHand,
        Command::RequestPause,
        Command::Unmute,
        Command::Ready,
        Command::Chat {
            to: ChatTo::Circle,
            text: "t".into(),
        },
        Command::DoneInterpreting,
        Command::Acknowledge { hash: "h".into() },
        Command::Admit { person: p },
        Command::Deny { person: p },
        Command::Lock,
        Command::Unlock,
        Command::OpenRoom,
        Command::StartSession,
        Command::Pause,
        Command::Resume,
        Command::CloseRoom,
        Command::EndSessionFor {
            party: Party::Harmed,
            with_supporters: true,
        },
        Command::EndSessionOf {
            person: PersonId(2),
        },
        Command::SetMode {
            mode: FloorMode::Open,
        },
        Command::StartRound {
            prompt: "p".into(),
            first: None,
        },
        Command::EndRound,
        Command::GivePiece { to: p },
        Command::TakePiece,
        Command::ReorderSeats { order: vec![p] },
        Command::GrantFloor { to: None },
        Command::RevokeFloor { person: p },
        Command::SetTurnTimer { seconds: Some(60) },
        Command::SetKeeperSpeaksOutOfTurn { allowed: true },
        Command::OpenCaucus { members: vec![p] },
        Command::CloseCaucus {
            caucus: CaucusId(1),
        },
        Command::Mute { person: p },
        Command::Remove { person: p },
        Command::DraftAgreement { items: vec![] },
        Command::FinalizeAgreement,
        Command::SetOutline {
            outline: Outline {
                name: "o".into(),
                steps: vec![OutlineStep {
                    kind: StepKind::CheckIn,
                    prompt: "p".into(),
                    speakers: Vec::new(),
                }],
            },
        },
        Command::NextStep,
        Command::StepOut,
        Command::StepBack,
        Command::SetValues {
            values: vec!["Respect".into()],
        },
    ];
    for command in &all {
        use Command::*;
        match command {
            Consent { .. }
            | ConsentFor { .. }
            | Leave
            | WithdrawConsent
            | Pass
            | PassWithoutSpeaking
            | DoneInterpreting
            | RaiseHand
            | LowerHand
            | RequestPause
            | Unmute
            | Ready
            | Chat { .. }
            | Acknowledge { .. }
            | Admit { .. }
            | Deny { .. }
            | Lock
            | Unlock
            | OpenRoom
            | StartSession
            | Pause
            | Resume
            | CloseRoom
            | EndSessionFor { .. }
            | EndSessionOf { .. }
            | SetMode { .. }
            | StartRound { .. }
            | EndRound
            | GivePiece { .. }
            | TakePiece
            | ReorderSeats { .. }
            | GrantFloor { .. }
            | RevokeFloor { .. }
            | SetTurnTimer { .. }
            | SetKeeperSpeaksOutOfTurn { .. }
            | OpenCaucus { .. }
            | CloseCaucus { .. }
            | Mute { .. }
            | Remove { .. }
            | DraftAgreement { .. }
            | FinalizeAgreement
            | SetOutline { .. }
            | NextStep
            | StepOut
            | StepBack
            | SetValues { .. } => {}
        }
    }
    all
}

#[test]
fn every_command_round_trips_through_the_wire_and_is_documented() {
    let doc = doc();
    let commands = every_command();
    assert_eq!(commands.len(), COMMAND_TYPES.len());
    for command in commands {
        let json = serde_json::to_string(&command).expect("serialize");
        let kind = serde_json::from_str::<serde_json::Value>(&json).expect("json")["type"]
            .as_str()
            .expect("type")
            .to_owned();
        assert!(
            COMMAND_TYPES.contains(&kind.as_str()),
            "{kind} missing from COMMAND_TYPES"
        );
        assert!(
            doc.contains(&format!("`{kind}`")),
            "docs/protocol.md does not document `{kind}`"
        );
        let parsed = parse_client(&json).expect("parses");
        assert_eq!(
            parsed,
            ClientMsg::Command {
                command,
                reference: None
            }
        );
    }
}

#[test]
fn every_error_code_and_end_reason_is_documented() {
    let doc = doc();
    let mut codes: Vec<String> = Refusal::ALL.iter().map(|r| r.code().to_owned()).collect();
    for error in [
        WireError::Malformed(String::new()),
        WireError::DuplicateKey(String::new()),
        WireError::UnknownType(String::new()),
        WireError::UnknownField(String::new()),
        WireError::BadFields(String::new()),
    ] {
        codes.push(error.code().to_owned());
    }
    for code in [
        "token_malformed",
        "token_bad_signature",
        "token_unknown_key",
        "token_wrong_algorithm",
        "token_expired",
        "token_not_yet_valid",
        "token_wrong_issuer",
        "token_wrong_audience",
        "token_invalid_claims",
        "hello_required",
        "unsupported_version",
        "room_unknown",
        "room_gone",
        "server_error",
        "not_text",
        "rate_limited",
        "already_authenticated",
        "too_large",
        "not_utf8",
        "media_not_ready",
        "media_failed",
        "media_offer",
        "media_answer",
        "media_candidate",
        "media_ready",
        "media_closed",
        "speaking",
    ] {
        codes.push(code.to_owned());
    }
    for code in codes {
        assert!(
            doc.contains(&format!("`{code}`")),
            "docs/protocol.md does not document `{code}`"
        );
    }
    for reason in [
        EndReason::Left,
        EndReason::ConsentDeclined,
        EndReason::ConsentWithdrawn,
        EndReason::Denied,
        EndReason::Removed,
        EndReason::Revoked,
        EndReason::RoomClosed,
        EndReason::SessionEnded,
        EndReason::Replaced,
    ] {
        let name = serde_json::to_value(reason).expect("json");
        let name = name.as_str().expect("string");
        assert!(
            doc.contains(&format!("`{name}`")),
            "docs/protocol.md does not document `{name}`"
        );
    }
}

#[test]
fn the_circle_view_has_the_documented_shape() {
    let mut settings = Settings::for_kind(RoomKind::Circle, "Snapshot circle");
    settings.outline = Some(Outline {
        name: "Peacemaking circle".into(),
        steps: vec![
            OutlineStep {
                kind: StepKind::Opening,
                prompt: "Welcome.".into(),
                speakers: Vec::new(),
            },
            OutlineStep {
                kind: StepKind::CheckIn,
                prompt: "What brings you here?".into(),
                speakers: Vec::new(),
            },
        ],
    });
    let mut room = Room::new(settings, Phase::Open);
    let now = Timestamp(1_800_000_000_000);
    let invite = |id: &str, seat, role, party, name: &str| Invitation {
        id: id.into(),
        seat,
        role,
        party,
        name: name.into(),
        interprets_for: Vec::new(),
        guardian: None,
        supports: None,
    };
    let session = |room: &mut Room, inv: Invitation| {
        let role = inv.role;
        let session = room
            .handle(now, Input::Arrive { invitation: inv })
            .expect("arrive")
            .session
            .expect("session");
        let terms = room.settings().terms_for(role).clone();
        let answers = terms
            .items
            .iter()
            .map(|i| ConsentAnswer {
                item: i.id.clone(),
                accept: true,
            })
            .collect();
        room.handle(
            now,
            Input::Command {
                session,
                command: Command::Consent {
                    version: terms.version,
                    answers,
                },
            },
        )
        .expect("consent");
        session
    };
    let keeper = session(&mut room, invite("k", 1, Role::Keeper, None, "Kim"));
    let _ana = session(
        &mut room,
        invite("a", 2, Role::Participant, Some(Party::Harmed), "Ana"),
    );
    let cmd = |room: &mut Room, command| {
        room.handle(
            now,
            Input::Command {
                session: keeper,
                command,
            },
        )
        .expect("keeper command");
    };
    cmd(
        &mut room,
        Command::Admit {
            person: PersonId(2),
        },
    );
    cmd(&mut room, Command::StartSession);
    cmd(&mut room, Command::SetTurnTimer { seconds: Some(90) });
    cmd(&mut room, Command::NextStep);
    cmd(
        &mut room,
        Command::StartRound {
            prompt: "What brings you here?".into(),
            first: Some(PersonId(2)),
        },
    );
    insta::assert_json_snapshot!("circle_view_of_a_participant", room.view_for(PersonId(2)));
    insta::assert_json_snapshot!(
        "lobby_view",
        View::Lobby {
            title: "Snapshot circle".into(),
            kind: RoomKind::Circle,
            language: "en".into(),
            minors: Vec::new(),
        }
    );
}
