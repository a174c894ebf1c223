//! SPEC §3.2: who may speak. The talking piece and its rounds, the moderated
//! floor with its hand queue, the open floor, and the turn timer.

use std::collections::BTreeSet;

use super::output::{Record, Refusal, RoundMark};
use super::room::{Accepted, Link, Room, Stage};
use super::types::{FloorMode, PersonId, Role, Timestamp};

pub const MAX_PROMPT_CHARS: usize = 500;
pub const MAX_TURN_SECONDS: u32 = 3600;

#[derive(Clone, Debug, PartialEq)]
pub struct Round {
    pub number: u32,
    pub prompt: String,
    /// Who spoke or passed in this round, in order. Never what was said.
    pub marks: Vec<(PersonId, RoundMark)>,
    /// A scripted round's order (SPEC §3.2.9); empty: the seat order.
    pub order: Vec<PersonId>,
}

impl Round {
    pub(super) fn marked(&self, id: PersonId) -> bool {
        self.marks.iter().any(|(p, _)| *p == id)
    }
}

/// The running turn, for the optional timer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Turn {
    pub person: PersonId,
    pub ends_at: Timestamp,
    /// The holder and keepers were told time is up (once per turn).
    pub told: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Floor {
    pub mode: FloorMode,
    /// Talking-piece mode: the one holder, or nobody.
    pub holder: Option<PersonId>,
    pub round: Option<Round>,
    pub rounds_held: u32,
    /// Moderated floor: raised hands in the order they were raised.
    pub hands: Vec<PersonId>,
    /// Moderated floor: people the keeper granted the floor to.
    pub granted: BTreeSet<PersonId>,
    pub turn: Option<Turn>,
    /// Interpreters one of whose persons had the turn when the room last
    /// changed: when that person loses it, the interpreter carries on.
    pub interpreting_with: BTreeSet<PersonId>,
    /// Interpreters finishing after their person's turn ended (SPEC
    /// §3.2.7): heard by everyone until they say done or a keeper takes it.
    pub finishing: BTreeSet<PersonId>,
}

impl Floor {
    pub fn new(mode: FloorMode) -> Floor {
        Floor {
            mode,
            holder: None,
            round: None,
            rounds_held: 0,
            hands: Vec::new(),
            granted: BTreeSet::new(),
            turn: None,
            interpreting_with: BTreeSet::new(),
            finishing: BTreeSet::new(),
        }
    }

    pub fn timer_deadline(&self) -> Option<Timestamp> {
        self.turn.filter(|t| !t.told).map(|t| t.ends_at)
    }

    /// The person whose time ran out at `now`, once per turn.
    pub fn timer_fires(&mut self, now: Timestamp) -> Option<PersonId> {
        let turn = self.turn.as_mut()?;
        if turn.told || turn.ends_at > now {
            return None;
        }
        turn.told = true;
        Some(turn.person)
    }
}

/// A pass's mark in the round.
fn mark_of(without_speaking: bool) -> RoundMark {
    if without_speaking {
        RoundMark::Passed
    } else {
        RoundMark::Spoke
    }
}

impl Room {
    /// May this person receive the talking piece or the floor now?
    pub(super) fn can_hold(&self, id: PersonId) -> bool {
        self.people.get(&id).is_some_and(|p| {
            p.stage == Stage::Admitted
                && !p.stepped_out
                && p.role() != Role::Observer
                && matches!(p.link, Link::Online(_))
                && p.caucus.is_none()
        })
    }

    /// The next person clockwise after `from` who can hold the piece;
    /// `from` itself comes last, when nobody else can.
    pub(super) fn next_after(&self, from: PersonId) -> Option<PersonId> {
        let n = self.seat_order.len();
        let start = self.seat_order.iter().position(|p| *p == from)?;
        (1..=n)
            .map(|step| self.seat_order[(start + step) % n])
            .find(|p| self.can_hold(*p))
    }

    fn first_in_seat_order(&self) -> Option<PersonId> {
        self.seat_order.iter().copied().find(|p| self.can_hold(*p))
    }

    pub(super) fn start_turn(&mut self, person: Option<PersonId>) {
        self.floor.turn = match (person, self.settings.turn_seconds) {
            (Some(person), Some(seconds)) => Some(Turn {
                person,
                ends_at: self.now.plus_ms(u64::from(seconds) * 1000),
                told: false,
            }),
            _ => None,
        };
    }

    pub(super) fn set_holder(&mut self, holder: Option<PersonId>) {
        self.floor.holder = holder;
        self.start_turn(holder);
    }

    /// The piece moves on from `from` (who passed, or is gone). A round ends
    /// when the piece would come back to someone who already spoke or passed.
    fn piece_moves_on(&mut self, from: PersonId) {
        let next = if self.scripted() {
            self.next_in_script(Some(from))
        } else {
            self.next_after(from)
        };
        let round_done = match &self.floor.round {
            Some(round) => next.is_none_or(|n| round.marked(n)),
            None => false,
        };
        if round_done {
            self.end_round();
            self.set_holder(None);
        } else {
            self.set_holder(next);
        }
    }

    /// Marks `id` as having spoken or passed in the running round, once, recorded.
    pub(super) fn mark_in_round(&mut self, id: PersonId, mark: RoundMark) {
        let invitation_id = self.invitation_id(id);
        if let Some(round) = self.floor.round.as_mut()
            && !round.marked(id)
        {
            round.marks.push((id, mark));
            let round = round.number;
            self.record(Record::RoundMarked {
                round,
                invitation_id,
                mark,
            });
        }
    }

    pub(super) fn end_round(&mut self) {
        if let Some(round) = self.floor.round.take() {
            self.record(Record::RoundEnded {
                round: round.number,
            });
        }
    }

    /// Someone leaves the floor for good (left, removed, timed out, …).
    pub(super) fn floor_loses(&mut self, id: PersonId) {
        self.floor.hands.retain(|p| *p != id);
        let had_the_floor = self.floor.granted.remove(&id);
        if had_the_floor && self.floor.mode == FloorMode::Moderated && self.scripted_speaker(id) {
            // A script does not wait for someone who is gone.
            self.script_moves_on(id, None);
        }
        if self.floor.holder == Some(id) {
            self.piece_moves_on(id);
        } else if self.floor.turn.is_some_and(|t| t.person == id) {
            self.floor.turn = None;
        }
    }

    pub(super) fn pass(
        &mut self,
        me: PersonId,
        without_speaking: bool,
    ) -> Result<Accepted, Refusal> {
        match self.floor.mode {
            FloorMode::TalkingPiece => {
                if self.floor.holder != Some(me) {
                    return Err(Refusal::NotHolder);
                }
                self.mark_in_round(me, mark_of(without_speaking));
                self.piece_moves_on(me);
                Ok(Accepted::changed())
            }
            FloorMode::Moderated => {
                // Passing without speaking is a round's choice: only inside a script.
                let scripted = self.scripted_speaker(me);
                if without_speaking && !scripted {
                    return Err(Refusal::WrongMode);
                }
                if !self.floor.granted.remove(&me) {
                    return Err(Refusal::NotHolder);
                }
                if self.floor.turn.is_some_and(|t| t.person == me) {
                    self.floor.turn = None;
                }
                if scripted {
                    self.script_moves_on(me, Some(mark_of(without_speaking)));
                }
                Ok(Accepted::changed())
            }
            _ => Err(Refusal::WrongMode),
        }
    }

    pub(super) fn start_round(
        &mut self,
        prompt: String,
        first: Option<PersonId>,
    ) -> Result<Accepted, Refusal> {
        if self.phase != super::types::Phase::InSession {
            return Err(Refusal::WrongPhase);
        }
        if self.floor.mode != FloorMode::TalkingPiece {
            return Err(Refusal::WrongMode);
        }
        if prompt.chars().count() > MAX_PROMPT_CHARS {
            return Err(Refusal::BadText);
        }
        let first = match first {
            Some(p) if self.can_hold(p) => p,
            Some(p) => {
                self.known(p)?;
                return Err(Refusal::NotInCircle);
            }
            None => self.first_in_seat_order().ok_or(Refusal::NotInCircle)?,
        };
        self.open_round(prompt, Vec::new());
        self.set_holder(Some(first));
        Ok(Accepted::changed())
    }

    /// Ends any running round and opens the next one, recorded.
    pub(super) fn open_round(&mut self, prompt: String, order: Vec<PersonId>) {
        self.end_round();
        self.floor.rounds_held += 1;
        let number = self.floor.rounds_held;
        self.floor.round = Some(Round {
            number,
            prompt,
            marks: Vec::new(),
            order,
        });
        self.record(Record::RoundStarted { round: number });
    }

    pub(super) fn end_round_command(&mut self) -> Result<Accepted, Refusal> {
        if self.floor.round.is_none() {
            return Err(Refusal::NoRound);
        }
        self.end_round();
        Ok(Accepted::changed())
    }

    pub(super) fn give_piece(&mut self, to: PersonId) -> Result<Accepted, Refusal> {
        if self.floor.mode != FloorMode::TalkingPiece {
            return Err(Refusal::WrongMode);
        }
        self.known(to)?;
        if !self.can_hold(to) {
            return Err(Refusal::NotInCircle);
        }
        if self.floor.holder == Some(to) {
            return Err(Refusal::NoChange);
        }
        self.set_holder(Some(to));
        Ok(Accepted::changed())
    }

    /// The keeper takes the piece back, and with it any interpreter's
    /// finishing turn (SPEC §3.2.7: "or the keeper takes it").
    pub(super) fn take_piece(&mut self) -> Result<Accepted, Refusal> {
        if self.floor.holder.is_none() && self.floor.finishing.is_empty() {
            return Err(Refusal::NoChange);
        }
        self.set_holder(None);
        self.keeper_takes_interpreting();
        Ok(Accepted::changed())
    }

    pub(super) fn reorder_seats(&mut self, order: Vec<PersonId>) -> Result<Accepted, Refusal> {
        let mut sorted = order.clone();
        sorted.sort();
        sorted.dedup();
        let mut current = self.seat_order.clone();
        current.sort();
        if sorted.len() != order.len() || sorted != current {
            return Err(Refusal::BadSeatOrder);
        }
        if order == self.seat_order {
            return Err(Refusal::NoChange);
        }
        self.seat_order = order;
        Ok(Accepted::changed())
    }

    pub(super) fn set_mode(&mut self, mode: FloorMode) -> Result<Accepted, Refusal> {
        if self.floor.mode == mode {
            return Err(Refusal::NoChange);
        }
        self.end_round();
        self.floor.holder = None;
        self.floor.hands.clear();
        self.floor.granted.clear();
        self.floor.turn = None;
        // A new floor starts clean: nobody carries a turn into it.
        self.keeper_takes_interpreting();
        self.floor.mode = mode;
        Ok(Accepted::changed())
    }

    pub(super) fn raise_hand(&mut self, me: PersonId) -> Result<Accepted, Refusal> {
        if self.floor.mode != FloorMode::Moderated {
            return Err(Refusal::WrongMode);
        }
        if self.known(me)?.role() == Role::Observer {
            return Err(Refusal::ObserverCannot);
        }
        // Stepped out: the floor could not be granted; step back first.
        if self.stepped_out(me) {
            return Err(Refusal::NotInCircle);
        }
        if self.floor.hands.contains(&me) || self.floor.granted.contains(&me) {
            return Err(Refusal::NoChange);
        }
        self.floor.hands.push(me);
        Ok(Accepted::changed())
    }

    pub(super) fn lower_hand(&mut self, me: PersonId) -> Result<Accepted, Refusal> {
        if !self.floor.hands.contains(&me) {
            return Err(Refusal::NoChange);
        }
        self.floor.hands.retain(|p| *p != me);
        Ok(Accepted::changed())
    }

    pub(super) fn grant_floor(&mut self, to: Option<PersonId>) -> Result<Accepted, Refusal> {
        if self.floor.mode != FloorMode::Moderated {
            return Err(Refusal::WrongMode);
        }
        let to = match to {
            Some(p) => {
                self.known(p)?;
                p
            }
            None => *self.floor.hands.first().ok_or(Refusal::NoHands)?,
        };
        if !self.can_hold(to) {
            return Err(Refusal::NotInCircle);
        }
        if self.floor.granted.contains(&to) {
            return Err(Refusal::NoChange);
        }
        self.floor.hands.retain(|p| *p != to);
        self.floor.granted.insert(to);
        self.start_turn(Some(to));
        Ok(Accepted::changed())
    }

    pub(super) fn revoke_floor(&mut self, person: PersonId) -> Result<Accepted, Refusal> {
        self.known(person)?;
        // Also an interpreter's finishing turn after their person: the keeper takes it.
        let was_finishing = self.floor.finishing.remove(&person);
        if !self.floor.granted.remove(&person) && !was_finishing {
            return Err(Refusal::NoChange);
        }
        if self.floor.turn.is_some_and(|t| t.person == person) {
            self.floor.turn = None;
        }
        Ok(Accepted::changed())
    }

    pub(super) fn set_turn_timer(&mut self, seconds: Option<u32>) -> Result<Accepted, Refusal> {
        if seconds.is_some_and(|s| s == 0 || s > MAX_TURN_SECONDS) {
            return Err(Refusal::BadValue);
        }
        if self.settings.turn_seconds == seconds {
            return Err(Refusal::NoChange);
        }
        self.settings.turn_seconds = seconds;
        // The running turn keeps its time; the new setting applies from the next turn.
        if seconds.is_none() {
            self.floor.turn = None;
        }
        Ok(Accepted::changed())
    }

    pub(super) fn set_keeper_speaks(&mut self, allowed: bool) -> Result<Accepted, Refusal> {
        if self.settings.keeper_speaks_out_of_turn == allowed {
            return Err(Refusal::NoChange);
        }
        self.settings.keeper_speaks_out_of_turn = allowed;
        Ok(Accepted::changed())
    }
}
