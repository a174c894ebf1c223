//! Invariant (SPEC §3.2.7 inside §3.6): whatever people do, the interpreter
//! rule never opens a gate the rest of §3.6 forbids. An interpreter's audio
//! is forwarded only in session, between people in the circle, inside one
//! caucus (or none), never while muted; and beyond their own persons only
//! while a person of theirs has the turn or they finish after it.

use proptest::prelude::*;

use super::harness::*;
use super::interpreting::interpreter;
use crate::circle::*;

/// One of the cast: (name, seat, role, party, seats interpreted for).
type Member = (&'static str, u32, Role, Option<Party>, &'static [u32]);

const CAST: [Member; 6] = [
    ("keeper", 1, Role::Keeper, None, &[]),
    ("ana", 2, Role::Participant, Some(Party::Harmed), &[]),
    ("ben", 3, Role::Participant, Some(Party::Responsible), &[]),
    ("int", 4, Role::Participant, Some(Party::Interpreter), &[2]),
    (
        "duo",
        5,
        Role::Participant,
        Some(Party::Interpreter),
        &[2, 3, 4],
    ),
    ("obs", 6, Role::Observer, Some(Party::Professional), &[]),
];

fn person(i: usize) -> PersonId {
    PersonId(i as u32 + 1)
}

#[derive(Clone, Debug)]
enum Step {
    Arrive(usize),
    Disconnect(usize),
    Advance(u64),
    Command(usize, Command),
}

fn command() -> impl Strategy<Value = Command> {
    let who = (0..CAST.len()).prop_map(person);
    let mode = prop_oneof![
        Just(FloorMode::TalkingPiece),
        Just(FloorMode::Moderated),
        Just(FloorMode::Open)
    ];
    prop_oneof![
        3 => Just(Command::Pass),
        1 => Just(Command::PassWithoutSpeaking),
        3 => Just(Command::DoneInterpreting),
        1 => Just(Command::Unmute),
        1 => Just(Command::Leave),
        1 => Just(Command::WithdrawConsent),
        1 => Just(Command::Pause),
        1 => Just(Command::Resume),
        2 => Just(Command::TakePiece),
        1 => Just(Command::RaiseHand),
        3 => who.clone().prop_map(|person| Command::Admit { person }),
        3 => who.clone().prop_map(|to| Command::GivePiece { to }),
        1 => who.clone().prop_map(|person| Command::Mute { person }),
        1 => who.clone().prop_map(|person| Command::Remove { person }),
        2 => who.clone().prop_map(|person| Command::RevokeFloor { person }),
        2 => proptest::option::of(who.clone()).prop_map(|to| Command::GrantFloor { to }),
        1 => proptest::collection::vec(who, 0..4)
            .prop_map(|members| Command::OpenCaucus { members }),
        1 => (1u32..3).prop_map(|c| Command::CloseCaucus { caucus: CaucusId(c) }),
        1 => mode.prop_map(|mode| Command::SetMode { mode }),
        1 => any::<bool>().prop_map(|allowed| Command::SetKeeperSpeaksOutOfTurn { allowed }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let who = 0..CAST.len();
    prop_oneof![
        2 => who.clone().prop_map(Step::Arrive),
        1 => who.clone().prop_map(Step::Disconnect),
        1 => (0u64..45_000).prop_map(Step::Advance),
        5 => command().prop_map(|c| Step::Command(0, c)),
        6 => (who, command()).prop_map(|(w, c)| Step::Command(w, c)),
    ]
}

fn run(sim: &mut Sim, step: &Step) {
    match step {
        Step::Arrive(i) => {
            let (name, seat, role, party, _) = CAST[*i];
            if sim.arrive(name, seat, role, party).is_ok() {
                let _ = sim.consent(name);
            }
        }
        Step::Disconnect(i) if sim.sessions.contains_key(CAST[*i].0) => {
            let _ = sim.disconnect(CAST[*i].0);
        }
        Step::Advance(ms) => sim.advance(*ms),
        Step::Command(i, command) if sim.sessions.contains_key(CAST[*i].0) => {
            let _ = sim.cmd(CAST[*i].0, command.clone());
        }
        _ => {}
    }
}

/// Has `id` the turn on the main circle's floor (the rule's own definition,
/// restated here independently of the code under test)?
fn has_turn(room: &Room, view: &CircleView, id: PersonId) -> bool {
    let Some(p) = room.person(id) else {
        return false;
    };
    p.in_circle()
        && p.caucus.is_none()
        && p.role() != Role::Observer
        && match view.mode {
            FloorMode::TalkingPiece => view.holder == Some(id),
            FloorMode::Moderated => view.granted.contains(&id),
            FloorMode::Open => true,
        }
}

fn check(room: &Room) {
    let keeper_view = || match room.view_for(person(0)) {
        View::Circle(view) => Some(*view),
        _ => None,
    };
    for &(from, to, kind) in room.open_gates() {
        let sender = room.person(from).expect("sender");
        let receiver = room.person(to).expect("receiver");
        // §3.6 for everyone, interpreters included.
        assert!(
            sender.in_circle() && receiver.in_circle(),
            "gate outside the circle"
        );
        assert_ne!(sender.role(), Role::Observer);
        assert_eq!(
            sender.caucus, receiver.caucus,
            "gate across a caucus boundary"
        );
        if kind != MediaKind::Audio || sender.invitation.interprets_for.is_empty() {
            continue;
        }
        assert!(!sender.keeper_muted, "a muted interpreter was heard");
        if sender.caucus.is_some() {
            continue; // a caucus speaks freely among itself
        }
        assert_eq!(
            room.phase(),
            Phase::InSession,
            "an interpreter heard outside the session"
        );
        let own_person = sender
            .invitation
            .interprets_for
            .contains(&receiver.invitation.seat);
        let Some(view) = keeper_view() else {
            continue;
        };
        let own_turn = has_turn(room, &view, from);
        let person_turn = room
            .persons_of(from)
            .into_iter()
            .any(|q| has_turn(room, &view, q));
        let finishing = view.people.iter().any(|p| p.id == from && p.interpreting);
        assert!(
            own_person || own_turn || person_turn || finishing,
            "an interpreter reached {to:?} with no right to"
        );
    }
    // Only an interpreter in the main circle is ever finishing.
    if let Some(view) = keeper_view() {
        for p in view.people.iter().filter(|p| p.interpreting) {
            let person = room.person(p.id).expect("person");
            assert!(!person.invitation.interprets_for.is_empty() && person.in_circle());
            assert!(person.caucus.is_none());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn the_interpreter_rule_never_opens_a_forbidden_gate(
        steps in proptest::collection::vec(step(), 1..80),
    ) {
        let settings = Settings::for_kind(RoomKind::Circle, "Test circle");
        let mut sim = Sim::with_settings(settings.clone(), Phase::Open);
        for (name, seat, role, party, seats) in CAST {
            let invitation = if seats.is_empty() {
                invitation(name, seat, role, party)
            } else {
                interpreter(name, seat, seats)
            };
            sim.input(Input::Invite { invitation }).unwrap();
        }
        sim.join("keeper", 1, Role::Keeper, None);
        for (name, seat, role, party, _) in CAST.iter().skip(1) {
            sim.join(name, *seat, *role, *party);
        }
        sim.keeper(Command::StartSession).unwrap();
        for step in &steps {
            sim.take();
            run(&mut sim, step);
            check(&sim.room);
        }
        let mut live = sim.room.clone();
        while live.poll_output().is_some() {}
        let mut rebuilt = Room::new(settings, Phase::Open);
        for (at, input) in &sim.journal {
            rebuilt.handle(*at, input.clone()).expect("a journaled input is accepted again");
        }
        while rebuilt.poll_output().is_some() {}
        rebuilt.now = live.now;
        prop_assert!(rebuilt == live, "replay differs from the live room");
    }
}
