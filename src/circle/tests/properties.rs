//! Invariants over random sequences of arrivals, commands, lost connections
//! and time: the promises of SPEC §3.6 hold whatever people do.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::harness::*;
use crate::circle::*;

/// The cast: (name, seat, role, party).
const CAST: [(&str, u32, Role, Option<Party>); 7] = [
    ("keeper", 1, Role::Keeper, None),
    ("ana", 2, Role::Participant, Some(Party::Harmed)),
    ("ben", 3, Role::Participant, Some(Party::Responsible)),
    ("cy", 4, Role::Participant, Some(Party::Supporter)),
    ("obs", 5, Role::Observer, Some(Party::Professional)),
    ("co", 6, Role::Keeper, None),
    // A minor, whose guardian is cy (seat 4): see `MINORS` in the harness.
    ("mia", 7, Role::Participant, Some(Party::Community)),
];

/// The cast index of the minor, and of her guardian.
const MIA: usize = 6;
const GUARDIAN: usize = 3;

#[derive(Clone, Debug)]
enum Step {
    Arrive(usize),
    Consent(usize, bool),
    Disconnect(usize),
    Advance(u64),
    Revoke(usize),
    Restored,
    Command(usize, Command),
    /// The guardian answers for the minor (accepting the first item, or not).
    ConsentForMinor(bool),
}

fn person(i: usize) -> PersonId {
    // Invitations are registered up front in cast order, so ids are 1-based cast indices.
    PersonId(i as u32 + 1)
}

fn command() -> impl Strategy<Value = Command> {
    let who = (0..CAST.len()).prop_map(person);
    let mode = prop_oneof![
        Just(FloorMode::TalkingPiece),
        Just(FloorMode::Moderated),
        Just(FloorMode::Open)
    ];
    prop_oneof![
        Just(Command::Pass),
        Just(Command::PassWithoutSpeaking),
        Just(Command::StepOut),
        Just(Command::StepBack),
        Just(Command::RaiseHand),
        Just(Command::LowerHand),
        Just(Command::RequestPause),
        Just(Command::Unmute),
        Just(Command::Ready),
        Just(Command::Leave),
        Just(Command::WithdrawConsent),
        Just(Command::Lock),
        Just(Command::Unlock),
        Just(Command::StartSession),
        Just(Command::Pause),
        Just(Command::Resume),
        Just(Command::TakePiece),
        Just(Command::EndRound),
        Just(Command::FinalizeAgreement),
        Just(Command::Chat {
            to: ChatTo::Circle,
            text: "hello".into()
        }),
        Just(Command::Chat {
            to: ChatTo::Keepers,
            text: "a word".into()
        }),
        who.clone().prop_map(|person| Command::Admit { person }),
        who.clone().prop_map(|person| Command::Admit { person }),
        who.clone().prop_map(|person| Command::Deny { person }),
        who.clone().prop_map(|to| Command::GivePiece { to }),
        who.clone().prop_map(|person| Command::Mute { person }),
        who.clone().prop_map(|person| Command::Remove { person }),
        who.clone()
            .prop_map(|person| Command::RevokeFloor { person }),
        proptest::option::of(who.clone()).prop_map(|to| Command::GrantFloor { to }),
        proptest::option::of(who.clone()).prop_map(|first| Command::StartRound {
            prompt: "A question".into(),
            first
        }),
        proptest::collection::vec(who.clone(), 0..4)
            .prop_map(|members| Command::OpenCaucus { members }),
        (1u32..4).prop_map(|c| Command::CloseCaucus {
            caucus: CaucusId(c)
        }),
        mode.prop_map(|mode| Command::SetMode { mode }),
        any::<bool>().prop_map(|allowed| Command::SetKeeperSpeaksOutOfTurn { allowed }),
        proptest::option::of(1u32..120).prop_map(|seconds| Command::SetTurnTimer { seconds }),
        Just(Command::ReorderSeats {
            order: (0..CAST.len()).rev().map(person).collect()
        }),
        any::<bool>().prop_map(|with_supporters| Command::EndSessionFor {
            party: Party::Responsible,
            with_supporters,
        }),
        (0..CAST.len()).prop_map(|i| Command::EndSessionOf { person: person(i) }),
        Just(Command::DraftAgreement {
            items: vec![AgreementItem {
                what: "Repair".into(),
                who: "ben".into(),
                by: "soon".into(),
                due: None,
                owner_seat: None,
            }]
        }),
        Just(Command::CloseRoom),
        outline().prop_map(|outline| Command::SetOutline { outline }),
        Just(Command::NextStep),
        Just(Command::NextStep),
        Just(Command::NextStep),
        prop_oneof![
            Just(vec![]),
            Just(vec![
                " Respect ".to_owned(),
                "Speak from the heart".to_owned()
            ]),
            Just(vec![String::new()]),
        ]
        .prop_map(|values| Command::SetValues { values }),
    ]
}

/// Outlines of one to four steps of any kind, and now and then an invalid one.
fn outline() -> impl Strategy<Value = Outline> {
    let kind = prop_oneof![
        Just(StepKind::Opening),
        Just(StepKind::CheckIn),
        Just(StepKind::Guidelines),
        Just(StepKind::Round),
        Just(StepKind::ClosingRound),
        Just(StepKind::Closing),
    ];
    let prompt = prop_oneof![1 => Just(""), 4 => Just("What brings you here?")];
    // Scripts name seats of the cast (and one nobody has), or parties.
    let speaker = prop_oneof![
        (1u32..=6).prop_map(Speaker::Seat),
        Just(Speaker::Party(Party::Responsible)),
        Just(Speaker::Party(Party::Harmed)),
        Just(Speaker::Party(Party::Supporter)),
    ];
    let speakers =
        prop_oneof![2 => Just(Vec::new()), 1 => proptest::collection::vec(speaker, 1..4)];
    let step = (kind, prompt, speakers).prop_map(|(kind, prompt, speakers)| OutlineStep {
        kind,
        prompt: prompt.into(),
        speakers,
    });
    (
        prop_oneof![3 => Just("Plan A"), 2 => Just("Plan B"), 1 => Just("")],
        proptest::collection::vec(step, 0..5),
    )
        .prop_map(|(name, steps)| Outline {
            name: name.into(),
            steps,
        })
}

fn step() -> impl Strategy<Value = Step> {
    let who = 0..CAST.len();
    prop_oneof![
        3 => who.clone().prop_map(Step::Arrive),
        3 => (who.clone(), prop::bool::weighted(0.9)).prop_map(|(w, a)| Step::Consent(w, a)),
        1 => who.clone().prop_map(Step::Disconnect),
        1 => (0u64..45_000).prop_map(Step::Advance),
        1 => who.clone().prop_map(Step::Revoke),
        1 => Just(Step::Restored),
        1 => prop::bool::weighted(0.8).prop_map(Step::ConsentForMinor),
        // Keepers act most in a real circle, and their commands reach the most states.
        6 => command().prop_map(|c| Step::Command(0, c)),
        // The keeper walks the outline, when the room has one.
        2 => Just(Step::Command(0, Command::NextStep)),
        6 => (who, command()).prop_map(|(w, c)| Step::Command(w, c)),
    ]
}

fn run(sim: &mut Sim, step: &Step, dead: &mut BTreeSet<usize>) {
    let (name, seat, role, party) = match step {
        Step::Arrive(i)
        | Step::Consent(i, _)
        | Step::Disconnect(i)
        | Step::Revoke(i)
        | Step::Command(i, _) => CAST[*i],
        Step::ConsentForMinor(_) => CAST[GUARDIAN],
        _ => CAST[0],
    };
    let has_session = sim.sessions.contains_key(name);
    match step {
        Step::Arrive(i) => {
            let result = sim.arrive(name, seat, role, party);
            if dead.contains(i) {
                assert!(
                    result.is_err(),
                    "{name} came back after removal or withdrawal"
                );
            }
        }
        Step::Consent(_, accept) if has_session => {
            let terms = sim.room.settings().terms_for(role).clone();
            let mut answers = accept_all(&terms);
            answers[0].accept = *accept;
            let _ = sim.cmd(
                name,
                Command::Consent {
                    version: terms.version,
                    answers,
                },
            );
        }
        Step::Disconnect(_) if has_session => {
            let _ = sim.disconnect(name);
        }
        Step::Advance(ms) => sim.advance(*ms),
        Step::Revoke(_) => {
            let _ = sim.input(Input::Revoke {
                invitation_id: format!("jti-{name}"),
            });
        }
        Step::Restored => {
            let _ = sim.input(Input::Restored);
        }
        Step::Command(_, command) if has_session => {
            let _ = sim.cmd(name, command.clone());
        }
        Step::ConsentForMinor(accept) if has_session => {
            let _ = answer_for_minor(sim, *accept);
        }
        _ => {}
    }
    for (i, (name, ..)) in CAST.iter().enumerate() {
        let stage = sim.room.person(person(i)).map(|p| p.stage);
        if matches!(
            stage,
            Some(Stage::Removed | Stage::Revoked | Stage::Withdrawn)
        ) {
            dead.insert(i);
        }
        let _ = name;
    }
}

/// The guardian answers the participants' terms for the minor.
fn answer_for_minor(sim: &mut Sim, accept: bool) -> Result<Accepted, Refusal> {
    let terms = sim.room.settings().consent.clone();
    let mut answers = accept_all(&terms);
    answers[0].accept = accept;
    sim.cmd(
        CAST[GUARDIAN].0,
        Command::ConsentFor {
            person: person(MIA),
            version: terms.version,
            answers,
        },
    )
}

fn check_invariants(sim: &Sim) {
    let room = &sim.room;
    // A minor is in the lobby or the circle only with their guardian's consent
    // to the terms in force (SPEC §3.1.6); a guardian's withdrawal ends theirs.
    let mia = room.person(person(MIA)).expect("the minor is invited");
    if matches!(mia.stage, Stage::Lobby | Stage::Admitted) {
        assert_eq!(
            mia.guardian_consented.as_deref(),
            Some(room.settings().consent.version.as_str()),
            "a minor passed the gate without their guardian"
        );
    }
    if room.person(person(GUARDIAN)).map(|p| p.stage) == Some(Stage::Withdrawn) {
        assert!(
            matches!(
                mia.stage,
                Stage::Withdrawn | Stage::Removed | Stage::Revoked
            ),
            "the guardian withdrew, the minor is still {:?}",
            mia.stage
        );
    }
    // The talking piece: at most one holder (by type), and always someone in the circle.
    if let Some(holder) = room.holder() {
        let p = room.person(holder).expect("holder exists");
        assert!(
            p.in_circle() && p.role() != Role::Observer && !p.stepped_out,
            "bad holder {p:?}"
        );
    }
    for &(from, to, kind) in room.open_gates() {
        let sender = room.person(from).expect("sender");
        let receiver = room.person(to).expect("receiver");
        // Nobody outside the circle sends or receives; observers never send.
        assert!(
            sender.in_circle() && receiver.in_circle(),
            "gate outside the circle"
        );
        // Whoever stepped out sends and receives nothing (SPEC §3.3.4).
        assert!(
            !sender.stepped_out && !receiver.stepped_out,
            "a gate to or from someone who stepped out"
        );
        assert_ne!(sender.role(), Role::Observer, "an observer was forwarded");
        // A caucus and the rest never meet.
        assert_eq!(
            sender.caucus, receiver.caucus,
            "gate across a caucus boundary"
        );
        // Nobody is watched in a break but the keepers (and a caucus by itself).
        if kind == MediaKind::Video && room.phase() == Phase::Paused && room.settings().pause_video
        {
            assert!(
                sender.is_keeper() || sender.caucus.is_some(),
                "a participant's video forwarded during a pause"
            );
        }
        if kind == MediaKind::Audio {
            assert!(!sender.keeper_muted, "a muted person was heard");
            let free = sender.caucus.is_some()
                || (sender.is_keeper()
                    && (room.settings().keeper_speaks_out_of_turn
                        || room.phase() != Phase::InSession));
            if !free {
                assert_eq!(
                    room.phase(),
                    Phase::InSession,
                    "a participant heard outside the session"
                );
                let view = room.view_for(to);
                if let View::Circle(view) = view {
                    match view.mode {
                        FloorMode::TalkingPiece => {
                            assert_eq!(room.holder(), Some(from), "non-holder heard")
                        }
                        FloorMode::Moderated => {
                            assert!(view.granted.contains(&from), "ungranted heard")
                        }
                        FloorMode::Open => {}
                    }
                }
            }
        }
    }
    // The outline's step is one of its steps.
    if let Some(step) = room.outline_step() {
        let outline = room
            .settings()
            .outline
            .as_ref()
            .expect("a step needs an outline");
        assert!(step < outline.steps.len(), "step {step} past the outline");
    }
    // One live session per person.
    let live: Vec<PersonId> = room
        .people()
        .filter(|p| p.session().is_some())
        .map(|p| p.id)
        .collect();
    let unique: BTreeSet<PersonId> = live.iter().copied().collect();
    assert_eq!(live.len(), unique.len());
    // The lobby and the consent stage are told nothing of the circle.
    for output in &sim.outputs {
        if let Output::Send { to, notice } = output
            && let Some(p) = room.person_of_session(*to).and_then(|id| room.person(id))
            && matches!(p.stage, Stage::Lobby | Stage::Consent)
        {
            let ok = match notice {
                Notice::Welcome { .. } => true,
                Notice::State { view } => {
                    matches!(**view, View::Lobby { .. } | View::Consent { .. })
                }
                _ => false,
            };
            assert!(ok, "someone outside the circle was sent {notice:?}");
        }
    }
}

/// An outline the room accepts, to start with.
fn valid_outline() -> impl Strategy<Value = Outline> {
    outline().prop_map(|mut outline| {
        if outline.name.is_empty() {
            outline.name = "Plan C".into();
        }
        if outline.steps.is_empty() {
            outline.steps.push(OutlineStep {
                kind: StepKind::Opening,
                prompt: String::new(),
                speakers: Vec::new(),
            });
        }
        for step in &mut outline.steps {
            if step.kind.starts_round() && step.prompt.is_empty() {
                step.prompt = "Who was affected?".into();
            }
            if !step.kind.starts_round() {
                step.speakers.clear();
            }
        }
        outline
    })
}

fn settings(kind: RoomKind, outline: Option<Outline>) -> Settings {
    let mut settings = Settings::for_kind(kind, "Test circle");
    settings.outline = outline;
    settings
}

/// The last `state` each session was sent.
fn note_states(sim: &Sim, shown: &mut BTreeMap<SessionId, View>) {
    for output in &sim.outputs {
        if let Output::Send {
            to,
            notice: Notice::State { view },
        } = output
        {
            shown.insert(*to, (**view).clone());
        }
    }
}

/// A view without the turn's time left, which changes as time passes alone.
fn timeless(view: &View) -> View {
    let mut view = view.clone();
    if let View::Circle(circle) = &mut view
        && let Some(turn) = &mut circle.turn
    {
        turn.remaining_ms = 0;
    }
    view
}

fn replay(sim: &Sim, settings: Settings) -> Room {
    let mut room = Room::new(settings, Phase::Open);
    for (at, input) in &sim.journal {
        room.handle(*at, input.clone())
            .expect("a journaled input is accepted again");
    }
    while room.poll_output().is_some() {}
    room
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn the_rules_hold_for_any_sequence(
        kind in prop_oneof![Just(RoomKind::Circle), Just(RoomKind::Conference), Just(RoomKind::Preparation)],
        present in proptest::collection::vec(any::<bool>(), CAST.len()),
        started in any::<bool>(),
        outlined in proptest::option::weighted(0.8, valid_outline()),
        steps in proptest::collection::vec(step(), 1..80),
        spacing in prop_oneof![Just(0u64), Just(100u64)],
    ) {
        // Outlines reach `next_step` more often when the room starts with one.
        let mut sim = Sim::with_settings(settings(kind, outlined.clone()), Phase::Open);
        sim.room = sim.room.clone().with_view_spacing(spacing);
        for (name, seat, role, party) in CAST {
            sim.input(Input::Invite { invitation: invitation(name, seat, role, party) }).unwrap();
        }
        // Start from a circle already gathered: the keeper and a random few,
        // so that random steps reach the interesting states often.
        sim.join(CAST[0].0, CAST[0].1, CAST[0].2, CAST[0].3);
        for (i, (name, seat, role, party)) in CAST.iter().enumerate().skip(1) {
            if present[i] {
                sim.arrive(name, *seat, *role, *party).unwrap();
                if i == MIA {
                    // Her guardian answers first, when present; otherwise she waits at the gate.
                    if sim.sessions.contains_key(CAST[GUARDIAN].0) {
                        let _ = answer_for_minor(&mut sim, true);
                    }
                    if sim.consent(name).is_err() {
                        continue;
                    }
                } else {
                    sim.consent(name).unwrap();
                }
                if *party == Some(Party::Harmed) {
                    let _ = sim.keeper(Command::Admit { person: person(i) });
                    let _ = sim.cmd(name, Command::Ready);
                }
                let _ = sim.keeper(Command::Admit { person: person(i) });
            }
        }
        if started {
            sim.keeper(Command::StartSession).unwrap();
        }
        let mut dead = BTreeSet::new();
        let mut shown = BTreeMap::new();
        for step in &steps {
            note_states(&sim, &mut shown);
            sim.take();
            run(&mut sim, step, &mut dead);
            check_invariants(&sim);
        }
        // Spaced or not, no one is left with a stale view once the spacing passed.
        note_states(&sim, &mut shown);
        sim.take();
        sim.advance(spacing + 1);
        note_states(&sim, &mut shown);
        for person in sim.room.people() {
            if let Some(session) = person.session() {
                let last = shown.get(&session).map(timeless);
                prop_assert_eq!(last, Some(timeless(&sim.room.view_for(person.id))));
            }
        }
        // The journal rebuilds the room exactly (SPEC §7).
        let mut live = sim.room.clone();
        while live.poll_output().is_some() {}
        let mut rebuilt = replay(&sim, settings(kind, outlined));
        rebuilt.now = live.now;
        prop_assert!(rebuilt == live, "replay differs from the live room");
    }
}
