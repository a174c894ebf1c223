//! SPEC §3.2.7: interpreters. An interpreter's invitation names the seats
//! they interpret for (their persons). Their audio reaches everyone while one
//! of their persons has the turn, and only their persons at other times.
//! When the person's turn ends, the interpreter is not cut off mid-sentence:
//! they finish, heard by everyone, until they say done or a keeper takes it.
//!
//! The interpreter only ever widens whom their own voice reaches, and only
//! inside what §3.6 already allows: in session, both in the circle, in the
//! same caucus (or none), not muted by a keeper. The checks live in
//! `gates::may_forward`; this file says who has which right.

use super::output::Refusal;
use super::room::{Accepted, Room};
use super::types::{FloorMode, PersonId, Phase, Role};

impl Room {
    /// The people `interpreter` interprets for: every person whose seat
    /// their invitation names (never themselves), present or not.
    pub fn persons_of(&self, interpreter: PersonId) -> Vec<PersonId> {
        let Some(me) = self.people.get(&interpreter) else {
            return Vec::new();
        };
        let seats = &me.invitation.interprets_for;
        if seats.is_empty() {
            return Vec::new();
        }
        self.people
            .values()
            .filter(|p| p.id != interpreter && seats.contains(&p.invitation.seat))
            .map(|p| p.id)
            .collect()
    }

    /// Does `interpreter` interpret for `person`?
    pub fn interprets_for(&self, interpreter: PersonId, person: PersonId) -> bool {
        interpreter != person
            && matches!(
                (self.people.get(&interpreter), self.people.get(&person)),
                (Some(i), Some(p)) if i.invitation.interprets_for.contains(&p.invitation.seat)
            )
    }

    /// Has this person the turn on the floor of the main circle: holds the
    /// piece, was granted the floor, or the floor is open? A keeper's right to
    /// speak out of turn is not a turn: it would keep their interpreter on
    /// for everyone all session (docs/decisions.md).
    fn has_turn(&self, id: PersonId) -> bool {
        let Some(p) = self.people.get(&id) else {
            return false;
        };
        if !p.in_circle() || p.role() == Role::Observer || p.caucus.is_some() || p.stepped_out {
            return false;
        }
        match self.floor.mode {
            FloorMode::TalkingPiece => self.floor.holder == Some(id),
            FloorMode::Moderated => self.floor.granted.contains(&id),
            FloorMode::Open => true,
        }
    }

    /// An interpreter in the main circle, in session, whose person has the
    /// turn or who is finishing after it: heard by everyone (`may_speak`).
    pub(super) fn interpreter_has_right(&self, id: PersonId) -> bool {
        let Some(p) = self.people.get(&id) else {
            return false;
        };
        if self.phase != Phase::InSession
            || !p.in_circle()
            || p.role() == Role::Observer
            || p.caucus.is_some()
            || p.stepped_out
        {
            return false;
        }
        self.floor.finishing.contains(&id)
            || self.persons_of(id).into_iter().any(|q| self.has_turn(q))
    }

    /// The narrow audience: an interpreter reaches their own persons at any
    /// time in session (§3.2.7), so they can interpret the others to them.
    /// Caucus, mute and presence are checked by `may_forward` around it.
    pub(super) fn interprets_to(&self, from: PersonId, to: PersonId) -> bool {
        self.phase == Phase::InSession && self.interprets_for(from, to)
    }

    /// Run after every accepted input, before the gates: an interpreter whose
    /// person just lost the turn (passed, was passed over, left) keeps on
    /// finishing; one who left the main circle keeps nothing.
    pub(super) fn follow_interpreters(&mut self) {
        let interpreters: Vec<PersonId> = self
            .people
            .values()
            .filter(|p| !p.invitation.interprets_for.is_empty())
            .map(|p| p.id)
            .collect();
        for id in interpreters {
            let present = self
                .people
                .get(&id)
                .is_some_and(|p| p.in_circle() && p.caucus.is_none() && !p.stepped_out);
            if !present {
                self.floor.interpreting_with.remove(&id);
                self.floor.finishing.remove(&id);
                continue;
            }
            if self.persons_of(id).into_iter().any(|q| self.has_turn(q)) {
                // Their person speaks (again): nothing to finish meanwhile.
                self.floor.interpreting_with.insert(id);
                self.floor.finishing.remove(&id);
            } else if self.floor.interpreting_with.remove(&id) {
                self.floor.finishing.insert(id);
            }
        }
    }

    /// A keeper ends every interpreter's finishing turn, and no interpreter
    /// starts one from this change (take the piece, change the floor mode).
    pub(super) fn keeper_takes_interpreting(&mut self) {
        self.floor.finishing.clear();
        self.floor.interpreting_with.clear();
    }

    /// `done_interpreting`: the interpreter has finished after their person.
    pub(super) fn done_interpreting(&mut self, me: PersonId) -> Result<Accepted, Refusal> {
        if !self.floor.finishing.remove(&me) {
            return Err(Refusal::NotHolder);
        }
        Ok(Accepted::changed())
    }
}
