//! Circle outlines: the keeper's plan of a circle as an ordered list of steps
//! (opening, check-in, guidelines, rounds, closing). `next_step` walks it;
//! steps that ask the circle something start a round with their prompt.

use serde::{Deserialize, Serialize};

use super::floor::MAX_PROMPT_CHARS;
use super::output::{Record, Refusal};
use super::room::{Accepted, Room};
use super::types::{FloorMode, Party, Phase};

pub const MAX_OUTLINE_NAME_CHARS: usize = 100;
pub const MAX_OUTLINE_STEPS: usize = 20;
/// Names in one step's script; seats are 1..=MAX_SEAT as on invitations.
pub const MAX_STEP_SPEAKERS: usize = 20;
const MAX_SEAT: u32 = 10_000;

/// A named plan of a circle; stored in rooms' settings and in the program's library.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outline {
    pub name: String,
    pub steps: Vec<OutlineStep>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutlineStep {
    pub kind: StepKind,
    /// The round's question, or the keeper's words for an opening or closing.
    pub prompt: String,
    /// A script (SPEC §3.2.9): the round goes to these seats or parties, in
    /// this order, once each, in talking-piece and in moderated floor alike.
    /// Empty: everyone in seat order. Only on steps that start a round.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub speakers: Vec<Speaker>,
}

/// Who a scripted step gives the floor to: one seat, or every person of a
/// party (in seat order). `{"seat": 3}` or `{"party": "responsible"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Speaker {
    Seat(u32),
    Party(Party),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// The keeper opens the circle; no round.
    Opening,
    CheckIn,
    Guidelines,
    Round,
    /// Everyone in turn says a closing word: a round, before the keeper closes.
    ClosingRound,
    /// The keeper closes the circle; no round.
    Closing,
}

impl StepKind {
    /// Steps that ask everyone in turn: they start a round with the prompt.
    pub fn starts_round(self) -> bool {
        matches!(
            self,
            StepKind::CheckIn | StepKind::Guidelines | StepKind::Round | StepKind::ClosingRound
        )
    }
}

/// Why an outline is not acceptable; the message names the rule, for the API.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OutlineError {
    #[error(
        "the outline's name must be 1 to {MAX_OUTLINE_NAME_CHARS} characters, not blank, without control characters"
    )]
    Name,
    #[error("an outline has 1 to {MAX_OUTLINE_STEPS} steps")]
    StepCount,
    #[error(
        "step {0}: the prompt must be at most {MAX_PROMPT_CHARS} characters without control characters, and not blank unless the step is an opening or closing"
    )]
    Prompt(usize),
    #[error(
        "step {0}: speakers name 1 to {MAX_STEP_SPEAKERS} seats (1 to {MAX_SEAT}) or parties, and only on a step that starts a round"
    )]
    Speakers(usize),
}

impl Outline {
    /// The limits of an outline, wherever it comes from (API, keeper, library).
    pub fn validate(&self) -> Result<(), OutlineError> {
        let name = &self.name;
        if name.trim().is_empty()
            || name.chars().count() > MAX_OUTLINE_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(OutlineError::Name);
        }
        if self.steps.is_empty() || self.steps.len() > MAX_OUTLINE_STEPS {
            return Err(OutlineError::StepCount);
        }
        for (index, step) in self.steps.iter().enumerate() {
            let prompt = &step.prompt;
            // Prompts may run over lines; other control characters are refused.
            let bad_char = prompt.chars().any(|c| c.is_control() && c != '\n');
            let blank = prompt.trim().is_empty() && step.kind.starts_round();
            if blank || bad_char || prompt.chars().count() > MAX_PROMPT_CHARS {
                return Err(OutlineError::Prompt(index));
            }
            let speakers = &step.speakers;
            let bad_seat = speakers
                .iter()
                .any(|s| matches!(s, Speaker::Seat(seat) if !(1..=MAX_SEAT).contains(seat)));
            if !speakers.is_empty()
                && (!step.kind.starts_round() || speakers.len() > MAX_STEP_SPEAKERS || bad_seat)
            {
                return Err(OutlineError::Speakers(index));
            }
        }
        Ok(())
    }
}

impl Room {
    /// The index of the step the circle is at, if the outline has begun.
    pub fn outline_step(&self) -> Option<usize> {
        self.step
    }

    /// Replaces the room's outline; the room task saves it to the library.
    /// The new outline starts from its beginning; a running round runs on.
    pub(super) fn set_outline(&mut self, outline: Outline) -> Result<Accepted, Refusal> {
        if self.phase == Phase::Closed {
            return Err(Refusal::WrongPhase);
        }
        if outline.validate().is_err() {
            return Err(Refusal::BadOutline);
        }
        if self.settings.outline.as_ref() == Some(&outline) {
            return Err(Refusal::NoChange);
        }
        self.settings.outline = Some(outline.clone());
        self.step = None;
        self.record(Record::OutlineSaved { outline });
        Ok(Accepted::changed())
    }

    /// Moves the circle to the outline's next step: ends a running round;
    /// check-in, guidelines, rounds and the closing round start a round with
    /// the step's prompt (as `start_round` with `first: null`, or through the
    /// step's script, and in moderated floor as turns of the floor); opening
    /// and closing start none, and the piece goes back to nobody while the
    /// keeper speaks.
    pub(super) fn next_step(&mut self) -> Result<Accepted, Refusal> {
        let outline = self.settings.outline.as_ref().ok_or(Refusal::NoOutline)?;
        if self.phase != Phase::InSession {
            return Err(Refusal::WrongPhase);
        }
        let next = self.step.map_or(0, |s| s + 1);
        let step = outline.steps.get(next).ok_or(Refusal::OutlineDone)?.clone();
        if step.kind.starts_round() {
            // Refuses (changing nothing) when no round can start now.
            if step.speakers.is_empty() && self.floor.mode == FloorMode::TalkingPiece {
                self.start_round(step.prompt, None)?;
            } else {
                let order = self.script_order(&step.speakers);
                self.start_scripted_round(step.prompt, order)?;
            }
        } else {
            self.end_round();
            if self.floor.mode == FloorMode::TalkingPiece && self.floor.holder.is_some() {
                self.set_holder(None);
            }
        }
        self.step = Some(next);
        Ok(Accepted::changed())
    }
}
