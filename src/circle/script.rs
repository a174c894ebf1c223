//! SPEC §3.2.9: conference scripts. An outline step may give the floor to
//! named seats or parties in order; the round then goes through that order
//! once — with the talking piece, or in a moderated floor as one granted turn
//! after another — and ends after the last. A round step without a script in
//! a moderated floor goes through the seat order the same way, so one outline
//! serves a circle and a conference.

use super::outline::Speaker;
use super::output::{Refusal, RoundMark};
use super::room::{Accepted, Room};
use super::types::{FloorMode, PersonId};

impl Room {
    /// The people a script names, in its order: a seat is its person, a party
    /// every person of it in seat order. Each once. No script: the seat order.
    pub(super) fn script_order(&self, speakers: &[Speaker]) -> Vec<PersonId> {
        if speakers.is_empty() {
            return self.seat_order.clone();
        }
        let mut order = Vec::new();
        for speaker in speakers {
            for id in &self.seat_order {
                let Some(person) = self.people.get(id) else {
                    continue;
                };
                let named = match *speaker {
                    Speaker::Seat(seat) => person.invitation.seat == seat,
                    Speaker::Party(party) => person.invitation.party == Some(party),
                };
                if named && !order.contains(id) {
                    order.push(*id);
                }
            }
        }
        order
    }

    /// Is a round running through its own order?
    pub(super) fn scripted(&self) -> bool {
        self.floor
            .round
            .as_ref()
            .is_some_and(|r| !r.order.is_empty())
    }

    /// Is `id` one of the running script's speakers?
    pub(super) fn scripted_speaker(&self, id: PersonId) -> bool {
        self.floor
            .round
            .as_ref()
            .is_some_and(|r| r.order.contains(&id))
    }

    /// Who speaks after `after` in the running script (from its start with
    /// `None`): the first who can hold the floor and has not spoken or passed.
    pub(super) fn next_in_script(&self, after: Option<PersonId>) -> Option<PersonId> {
        let round = self.floor.round.as_ref()?;
        let start = after
            .and_then(|a| round.order.iter().position(|p| *p == a))
            .map_or(0, |i| i + 1);
        round.order[start..]
            .iter()
            .copied()
            .find(|p| self.can_hold(*p) && !round.marked(*p))
    }

    /// The script's current speaker: the holder, or the scripted person granted the floor.
    fn scripted_current(&self) -> Option<PersonId> {
        let round = self.floor.round.as_ref()?;
        match self.floor.mode {
            FloorMode::TalkingPiece => self.floor.holder,
            _ => round
                .order
                .iter()
                .copied()
                .find(|p| self.floor.granted.contains(p)),
        }
    }

    /// Who comes next, as the view shows it: in a script, its next speaker;
    /// otherwise the next seat after the holder.
    pub(super) fn upcoming(&self) -> Option<PersonId> {
        if self.scripted() {
            return self.next_in_script(self.scripted_current());
        }
        self.floor.holder.and_then(|h| self.next_after(h))
    }

    /// An outline step's round through `order`, in talking-piece or moderated floor.
    pub(super) fn start_scripted_round(
        &mut self,
        prompt: String,
        order: Vec<PersonId>,
    ) -> Result<Accepted, Refusal> {
        let mode = self.floor.mode;
        if mode == FloorMode::Open {
            return Err(Refusal::WrongMode);
        }
        let first = order
            .iter()
            .copied()
            .find(|p| self.can_hold(*p))
            .ok_or(Refusal::NotInCircle)?;
        self.open_round(prompt, order);
        if mode == FloorMode::TalkingPiece {
            self.set_holder(Some(first));
        } else {
            // The script has the floor now: nobody else keeps a grant into it.
            self.floor.granted.clear();
            self.give_scripted_floor(first);
        }
        Ok(Accepted::changed())
    }

    fn give_scripted_floor(&mut self, to: PersonId) {
        self.floor.hands.retain(|p| *p != to);
        self.floor.granted.insert(to);
        self.start_turn(Some(to));
    }

    /// Moderated floor: `from`'s scripted turn is over (`mark`: they spoke or
    /// passed; `None`: they are gone). The next speaker gets the floor, or the
    /// round ends after the last.
    pub(super) fn script_moves_on(&mut self, from: PersonId, mark: Option<RoundMark>) {
        if self.floor.round.is_none() {
            return;
        }
        if let Some(mark) = mark {
            self.mark_in_round(from, mark);
        }
        match self.next_in_script(Some(from)) {
            Some(next) => self.give_scripted_floor(next),
            None => self.end_round(),
        }
    }
}
