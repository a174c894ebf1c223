//! Circle outlines (`set_outline`, `next_step`) and the room's language.

use super::harness::*;
use crate::circle::*;

fn step(kind: StepKind, prompt: &str) -> OutlineStep {
    OutlineStep {
        kind,
        prompt: prompt.into(),
        speakers: Vec::new(),
    }
}

fn peacemaking() -> Outline {
    Outline {
        name: "Peacemaking circle".into(),
        steps: vec![
            step(
                StepKind::Opening,
                "Welcome. We begin with a moment of quiet.",
            ),
            step(StepKind::CheckIn, "How are you arriving today?"),
            step(StepKind::Guidelines, "What do you need from this circle?"),
            step(StepKind::Round, "What happened, and who was affected?"),
            step(StepKind::Closing, ""),
        ],
    }
}

/// Keeper at seat 1, ana 2, ben 3, in session, with `outline` set at creation.
fn circle_with(outline: Option<Outline>) -> Sim {
    let mut settings = Settings::for_kind(RoomKind::Circle, "Test circle");
    settings.outline = outline;
    let mut sim = Sim::with_settings(settings, Phase::Open);
    sim.join("keeper", 1, Role::Keeper, None);
    sim.join("ana", 2, Role::Participant, Some(Party::Harmed));
    sim.join("ben", 3, Role::Participant, Some(Party::Responsible));
    sim.keeper(Command::StartSession).unwrap();
    sim
}

#[test]
fn an_outline_runs_its_steps_and_rounds_in_order() {
    let outline = peacemaking();
    let mut sim = circle_with(Some(outline.clone()));
    let shown = sim
        .circle_view("ana")
        .outline
        .expect("everyone sees the outline");
    assert_eq!(shown.name, outline.name);
    assert_eq!(shown.steps, outline.steps);
    assert_eq!(shown.current, None, "no step before the first next_step");

    // Opening: the keeper speaks; no round, nobody holds the piece.
    sim.advance(60_000);
    sim.take();
    sim.keeper(Command::NextStep).unwrap();
    for name in ["keeper", "ana", "ben"] {
        let view = sim.circle_view(name);
        assert_eq!(view.outline.and_then(|o| o.current), Some(0), "{name}");
        assert!(view.round.is_none(), "an opening starts no round");
        assert_eq!(view.holder, None);
    }
    assert!(
        !sim.records()
            .iter()
            .any(|r| matches!(r, Record::RoundStarted { .. }))
    );

    // Check-in, guidelines and the round each start a round with their prompt, in order.
    for (index, number) in [(1usize, 1u32), (2, 2), (3, 3)] {
        sim.advance(120_000);
        sim.take();
        sim.keeper(Command::NextStep).unwrap();
        assert!(
            sim.records()
                .contains(&Record::RoundStarted { round: number })
        );
        if number > 1 {
            assert!(
                sim.records()
                    .contains(&Record::RoundEnded { round: number - 1 }),
                "the previous round ended"
            );
        }
        for name in ["keeper", "ana", "ben"] {
            let view = sim.circle_view(name);
            assert_eq!(view.outline.and_then(|o| o.current), Some(index), "{name}");
            let round = view.round.expect("a round runs");
            assert_eq!(round.number, number);
            assert_eq!(round.prompt, outline.steps[index].prompt);
        }
        // As `start_round` with `first: null`: the first seat in the circle holds the piece.
        assert_eq!(sim.room.holder(), Some(sim.id("keeper")));
        sim.keeper(Command::Pass).unwrap();
        assert_eq!(sim.room.holder(), Some(sim.id("ana")));
        assert!(sim.hears("ana", "ben"));
    }

    // Closing: the running round ends, no new one, the piece goes back to nobody.
    sim.advance(60_000);
    sim.take();
    sim.keeper(Command::NextStep).unwrap();
    assert!(sim.records().contains(&Record::RoundEnded { round: 3 }));
    let view = sim.circle_view("ben");
    assert_eq!(view.outline.and_then(|o| o.current), Some(4));
    assert!(view.round.is_none());
    assert_eq!(sim.room.holder(), None);
    assert!(
        !sim.hears("ana", "ben"),
        "nobody holds the piece at the closing"
    );

    // Past the end: refused, nothing changes.
    assert_eq!(sim.keeper(Command::NextStep), Err(Refusal::OutlineDone));
    assert_eq!(
        sim.circle_view("ana").outline.and_then(|o| o.current),
        Some(4)
    );
}

#[test]
fn next_step_without_an_outline_or_from_a_participant_is_refused() {
    let mut sim = circle_with(None);
    assert_eq!(sim.keeper(Command::NextStep), Err(Refusal::NoOutline));
    assert!(sim.circle_view("ana").outline.is_none());

    let mut sim = circle_with(Some(peacemaking()));
    assert_eq!(sim.cmd("ana", Command::NextStep), Err(Refusal::KeeperOnly));
    assert_eq!(
        sim.cmd(
            "ana",
            Command::SetOutline {
                outline: peacemaking()
            }
        ),
        Err(Refusal::KeeperOnly)
    );
    assert_eq!(sim.circle_view("ana").outline.and_then(|o| o.current), None);
}

#[test]
fn next_step_needs_the_session_and_a_round_needs_turns_to_give() {
    let mut sim = circle_with(Some(peacemaking()));
    sim.keeper(Command::Pause).unwrap();
    assert_eq!(sim.keeper(Command::NextStep), Err(Refusal::WrongPhase));
    sim.keeper(Command::Resume).unwrap();
    sim.keeper(Command::NextStep).unwrap();
    // The next step is a check-in: in an open floor there are no turns to give,
    // so it cannot start, and the outline stays where it was (the harness checks
    // a refusal changes nothing). A moderated floor runs it turn by turn (script.rs).
    sim.keeper(Command::SetMode {
        mode: FloorMode::Open,
    })
    .unwrap();
    assert_eq!(sim.keeper(Command::NextStep), Err(Refusal::WrongMode));
    assert_eq!(
        sim.circle_view("ana").outline.and_then(|o| o.current),
        Some(0)
    );
    sim.keeper(Command::SetMode {
        mode: FloorMode::TalkingPiece,
    })
    .unwrap();
    sim.keeper(Command::NextStep).unwrap();
    assert_eq!(
        sim.circle_view("ana").round.map(|r| r.prompt),
        Some("How are you arriving today?".to_owned())
    );
}

#[test]
fn set_outline_replaces_the_plan_saves_it_and_leaves_a_running_round_alone() {
    let mut sim = circle_with(Some(peacemaking()));
    sim.keeper(Command::NextStep).unwrap();
    sim.keeper(Command::NextStep).unwrap();
    let replacement = Outline {
        name: "Short circle".into(),
        steps: vec![step(StepKind::Round, "One word for today?")],
    };
    sim.take();
    sim.keeper(Command::SetOutline {
        outline: replacement.clone(),
    })
    .unwrap();
    assert_eq!(
        sim.records(),
        vec![Record::OutlineSaved {
            outline: replacement.clone()
        }],
        "saved to the library, nothing else recorded"
    );
    let view = sim.circle_view("ben");
    let shown = view.outline.expect("outline");
    assert_eq!((shown.name.as_str(), shown.current), ("Short circle", None));
    assert_eq!(
        view.round.map(|r| r.prompt),
        Some("How are you arriving today?".to_owned()),
        "the running round runs on"
    );
    assert_eq!(
        sim.keeper(Command::SetOutline {
            outline: replacement
        }),
        Err(Refusal::NoChange)
    );
    sim.keeper(Command::NextStep).unwrap();
    assert_eq!(
        sim.circle_view("ben").round.map(|r| (r.number, r.prompt)),
        Some((2, "One word for today?".to_owned()))
    );
    assert_eq!(sim.keeper(Command::NextStep), Err(Refusal::OutlineDone));
}

#[test]
fn an_invalid_outline_is_refused() {
    let mut sim = circle_with(None);
    let long = "x".repeat(MAX_PROMPT_CHARS + 1);
    let bad = [
        Outline {
            name: " ".into(),
            steps: vec![step(StepKind::Opening, "")],
        },
        Outline {
            name: "n".repeat(MAX_OUTLINE_NAME_CHARS + 1),
            steps: vec![step(StepKind::Opening, "")],
        },
        Outline {
            name: "Empty".into(),
            steps: vec![],
        },
        Outline {
            name: "Too many".into(),
            steps: vec![step(StepKind::Round, "Q"); MAX_OUTLINE_STEPS + 1],
        },
        Outline {
            name: "Blank round".into(),
            steps: vec![step(StepKind::CheckIn, "  ")],
        },
        Outline {
            name: "Long prompt".into(),
            steps: vec![step(StepKind::Closing, &long)],
        },
    ];
    for outline in bad {
        assert!(outline.validate().is_err(), "{outline:?}");
        assert_eq!(
            sim.keeper(Command::SetOutline { outline }),
            Err(Refusal::BadOutline)
        );
    }
    let edge = Outline {
        name: "n".repeat(MAX_OUTLINE_NAME_CHARS),
        steps: vec![step(StepKind::Round, &"x".repeat(MAX_PROMPT_CHARS)); MAX_OUTLINE_STEPS],
    };
    sim.keeper(Command::SetOutline { outline: edge }).unwrap();
}

#[test]
fn every_stage_of_the_view_carries_the_room_language() {
    let mut settings = Settings::for_kind(RoomKind::Circle, "Círculo");
    settings.language = "es".into();
    settings.consent.items[0]
        .translations
        .insert("es".into(), "Participo de forma voluntaria.".into());
    let mut sim = Sim::with_settings(settings, Phase::Open);
    sim.join("keeper", 1, Role::Keeper, None);
    sim.arrive("ana", 2, Role::Participant, None).unwrap();
    match sim.view("ana") {
        View::Consent {
            language, terms, ..
        } => {
            assert_eq!(language, "es");
            assert_eq!(
                terms.items[0].translations.get("es").map(String::as_str),
                Some("Participo de forma voluntaria.")
            );
        }
        other => panic!("not the consent view: {other:?}"),
    }
    sim.consent("ana").unwrap();
    assert!(matches!(sim.view("ana"), View::Lobby { language, .. } if language == "es"));
    assert_eq!(sim.circle_view("keeper").language, "es");
}

#[test]
fn settings_stored_before_outlines_and_languages_still_load() {
    let mut old = serde_json::to_value(Settings::for_kind(RoomKind::Circle, "Old")).unwrap();
    let map = old.as_object_mut().unwrap();
    map.remove("language");
    map.remove("outline");
    let settings: Settings = serde_json::from_value(old).unwrap();
    assert_eq!(settings.language, DEFAULT_LANGUAGE);
    assert_eq!(settings.outline, None);
    let mut untranslated = settings.consent.items[0].clone();
    untranslated.translations.clear();
    let item = serde_json::to_value(&untranslated).unwrap();
    assert!(
        item.get("translations").is_none(),
        "no translations, no field"
    );
    assert!(!is_language_tag("EN") && !is_language_tag("e") && !is_language_tag("engl"));
    assert!(is_language_tag("es") && is_language_tag("fil"));
}

#[test]
fn the_standard_words_speak_every_language_of_the_client() {
    let terms = ConsentTerms::standard();
    let questions = Questionnaire::standard();
    let texts = terms
        .items
        .iter()
        .map(|i| (&i.text, &i.translations))
        .chain(
            questions
                .questions
                .iter()
                .map(|q| (&q.text, &q.translations)),
        );
    for (english, translations) in texts {
        for language in ["es", "ar"] {
            let text = translations.get(language).map(String::as_str).unwrap_or("");
            assert!(
                !text.trim().is_empty() && text != english.as_str(),
                "{english:?} has no {language} text"
            );
        }
    }
}
