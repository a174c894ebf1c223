//! SPEC §3.2.9: outline steps that give the floor to seats or parties in
//! order (a conference script), in talking-piece and moderated floor; the
//! closing round.

use super::harness::*;
use crate::circle::*;

fn step(kind: StepKind, prompt: &str, speakers: Vec<Speaker>) -> OutlineStep {
    OutlineStep {
        kind,
        prompt: prompt.into(),
        speakers,
    }
}

/// The IIRP order: the responsible party, then the harmed party, then supporters.
fn iirp() -> Vec<Speaker> {
    vec![
        Speaker::Party(Party::Responsible),
        Speaker::Party(Party::Harmed),
        Speaker::Party(Party::Supporter),
    ]
}

/// A room of `kind` with keeper 1, ana (harmed) 2, ben (responsible) 3, cy
/// (supporter) 4, dee (supporter) 5, in session, with these steps.
fn room(kind: RoomKind, steps: Vec<OutlineStep>) -> Sim {
    let mut settings = Settings::for_kind(kind, "Conference");
    settings.entry_order = None;
    settings.outline = Some(Outline {
        name: "Script".into(),
        steps,
    });
    let mut sim = Sim::with_settings(settings, Phase::Open);
    sim.join("keeper", 1, Role::Keeper, None);
    sim.join("ana", 2, Role::Participant, Some(Party::Harmed));
    sim.join("ben", 3, Role::Participant, Some(Party::Responsible));
    sim.join("cy", 4, Role::Participant, Some(Party::Supporter));
    sim.join("dee", 5, Role::Participant, Some(Party::Supporter));
    sim.keeper(Command::StartSession).unwrap();
    sim
}

/// Who other than keepers `listener` hears now, by name.
fn heard_by(sim: &Sim, listener: &str) -> Vec<&'static str> {
    ["ana", "ben", "cy", "dee"]
        .into_iter()
        .filter(|name| *name != listener && sim.hears(name, listener))
        .collect()
}

#[test]
fn a_scripted_round_passes_the_piece_through_the_script_only_once() {
    let mut sim = room(
        RoomKind::Circle,
        vec![step(StepKind::Round, "What happened?", iirp())],
    );
    sim.keeper(Command::NextStep).unwrap();
    let view = sim.circle_view("ana");
    let ids = |names: &[&str]| names.iter().map(|n| sim.id(n)).collect::<Vec<_>>();
    assert_eq!(
        view.holder,
        Some(sim.id("ben")),
        "the responsible party first"
    );
    assert_eq!(view.next, Some(sim.id("ana")), "then the harmed party");
    assert_eq!(
        view.round.expect("a round").order,
        ids(&["ben", "ana", "cy", "dee"])
    );
    assert_eq!(heard_by(&sim, "keeper"), ["ben"]);

    for (passer, next) in [
        ("ben", Some("ana")),
        ("ana", Some("cy")),
        ("cy", Some("dee")),
    ] {
        sim.cmd(passer, Command::Pass).unwrap();
        assert_eq!(sim.circle_view("keeper").holder, next.map(|n| sim.id(n)));
        assert_eq!(
            heard_by(&sim, "keeper"),
            next.into_iter().collect::<Vec<_>>()
        );
    }
    sim.cmd("dee", Command::PassWithoutSpeaking).unwrap();
    let view = sim.circle_view("keeper");
    assert_eq!(
        view.holder, None,
        "after the last, nobody: the keeper speaks"
    );
    assert!(view.round.is_none(), "the round ended with the script");
    assert!(heard_by(&sim, "keeper").is_empty());
}

#[test]
fn in_a_moderated_floor_the_script_grants_the_floor_turn_by_turn() {
    let mut sim = room(
        RoomKind::Conference,
        vec![step(
            StepKind::Round,
            "What were you thinking at the time?",
            vec![Speaker::Seat(3), Speaker::Seat(2)],
        )],
    );
    assert_eq!(sim.circle_view("keeper").mode, FloorMode::Moderated);
    // Someone the keeper gave the floor before the script does not keep it into it.
    sim.cmd("cy", Command::RaiseHand).unwrap();
    sim.keeper(Command::GrantFloor { to: None }).unwrap();
    assert_eq!(heard_by(&sim, "keeper"), ["cy"]);

    sim.keeper(Command::NextStep).unwrap();
    let view = sim.circle_view("keeper");
    assert_eq!(view.granted, [sim.id("ben")]);
    assert_eq!(view.next, Some(sim.id("ana")));
    assert_eq!(heard_by(&sim, "keeper"), ["ben"]);
    // Outside a script there is no passing without speaking in a moderated floor;
    // inside it, there is.
    sim.cmd("ben", Command::Pass).unwrap();
    assert_eq!(sim.circle_view("keeper").granted, [sim.id("ana")]);
    assert_eq!(heard_by(&sim, "keeper"), ["ana"]);
    sim.cmd("ana", Command::PassWithoutSpeaking).unwrap();
    let view = sim.circle_view("keeper");
    assert!(view.granted.is_empty());
    assert!(view.round.is_none(), "the script is over");
    assert!(
        sim.records().contains(&Record::RoundMarked {
            round: 1,
            invitation_id: "jti-ana".into(),
            mark: RoundMark::Passed,
        }),
        "{:?}",
        sim.records()
    );
    assert_eq!(
        sim.cmd("cy", Command::PassWithoutSpeaking),
        Err(Refusal::WrongMode)
    );
}

#[test]
fn a_scripted_speaker_who_leaves_hands_the_floor_on() {
    let mut sim = room(
        RoomKind::Conference,
        vec![step(StepKind::Round, "What happened?", iirp())],
    );
    sim.keeper(Command::NextStep).unwrap();
    assert_eq!(sim.circle_view("keeper").granted, [sim.id("ben")]);
    sim.cmd("ben", Command::Leave).unwrap();
    assert_eq!(sim.circle_view("keeper").granted, [sim.id("ana")]);
}

#[test]
fn a_round_step_without_a_script_goes_round_the_seats_in_a_moderated_floor() {
    let mut sim = room(
        RoomKind::Conference,
        vec![step(StepKind::CheckIn, "How are you arriving?", Vec::new())],
    );
    sim.keeper(Command::NextStep).unwrap();
    let keeper = sim.id("keeper");
    assert_eq!(sim.circle_view("keeper").granted, [keeper], "seat 1 first");
    sim.keeper(Command::Pass).unwrap();
    assert_eq!(sim.circle_view("keeper").granted, [sim.id("ana")]);
}

#[test]
fn an_open_floor_has_no_turns_to_script() {
    let mut sim = room(
        RoomKind::Circle,
        vec![step(StepKind::Round, "What happened?", iirp())],
    );
    sim.keeper(Command::SetMode {
        mode: FloorMode::Open,
    })
    .unwrap();
    assert_eq!(sim.keeper(Command::NextStep), Err(Refusal::WrongMode));
    assert_eq!(sim.circle_view("keeper").outline.unwrap().current, None);
}

#[test]
fn the_closing_round_is_a_round_and_the_closing_is_the_keepers() {
    let mut sim = room(
        RoomKind::Circle,
        vec![
            step(
                StepKind::ClosingRound,
                "One word for how you leave.",
                Vec::new(),
            ),
            step(StepKind::Closing, "Thank you all.", Vec::new()),
        ],
    );
    sim.keeper(Command::NextStep).unwrap();
    let view = sim.circle_view("ana");
    assert_eq!(
        view.round.expect("a closing round").prompt,
        "One word for how you leave."
    );
    assert_eq!(view.holder, Some(sim.id("keeper")));
    sim.keeper(Command::NextStep).unwrap();
    let view = sim.circle_view("ana");
    assert!(view.round.is_none());
    assert_eq!(view.holder, None);
}

#[test]
fn scripts_are_checked() {
    let outline = |steps| Outline {
        name: "Script".into(),
        steps,
    };
    let bad = [
        step(StepKind::Opening, "Welcome.", iirp()),
        step(StepKind::Closing, "", vec![Speaker::Seat(2)]),
        step(StepKind::Round, "Q?", vec![Speaker::Seat(0)]),
        step(StepKind::Round, "Q?", vec![Speaker::Seat(10_001)]),
        step(
            StepKind::Round,
            "Q?",
            vec![Speaker::Seat(2); MAX_STEP_SPEAKERS + 1],
        ),
    ];
    for bad in bad {
        assert_eq!(
            outline(vec![bad.clone()]).validate(),
            Err(OutlineError::Speakers(0)),
            "{bad:?}"
        );
    }
    let good = step(
        StepKind::ClosingRound,
        "Q?",
        vec![Speaker::Seat(10_000); MAX_STEP_SPEAKERS],
    );
    assert_eq!(outline(vec![good]).validate(), Ok(()));
}
