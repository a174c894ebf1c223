//! SPEC §3.6: the forwarding gates — the security core. For each pair of
//! people and each media kind: may the SFU forward it now?

use std::collections::BTreeSet;

use super::output::{GateChange, Output};
use super::room::{Person, Room};
use super::types::{FloorMode, MediaKind, PersonId, Phase, Role};

impl Room {
    /// May `from`'s `kind` reach `to` now? Everything the media layer does
    /// follows from this one function.
    pub fn may_forward(&self, from: PersonId, to: PersonId, kind: MediaKind) -> bool {
        if from == to || !matches!(self.phase, Phase::Open | Phase::InSession | Phase::Paused) {
            return false;
        }
        let (Some(sender), Some(receiver)) = (self.people.get(&from), self.people.get(&to)) else {
            return false;
        };
        // Lobby, declined, withdrawn, removed and away people neither send nor receive;
        // observers never publish; a caucus and the rest never meet.
        if !sender.in_circle()
            || !receiver.in_circle()
            || sender.stepped_out
            || receiver.stepped_out
            || sender.role() == Role::Observer
            || sender.caucus != receiver.caucus
        {
            return false;
        }
        match kind {
            MediaKind::Video => !self.video_withheld(sender),
            // An interpreter also reaches their own persons (SPEC §3.2.7).
            MediaKind::Audio => {
                !sender.keeper_muted && (self.may_speak(from) || self.interprets_to(from, to))
            }
        }
    }

    /// A break with `pause_video`: only keepers are seen, and people in a caucus by
    /// each other (a caucus goes on as it does for audio).
    fn video_withheld(&self, sender: &Person) -> bool {
        self.phase == Phase::Paused
            && self.settings.pause_video
            && !sender.is_keeper()
            && sender.caucus.is_none()
    }

    /// Does this person hold the speaking right now (ignoring mute)?
    pub fn may_speak(&self, id: PersonId) -> bool {
        let Some(person) = self.people.get(&id) else {
            return false;
        };
        if !person.in_circle() || person.role() == Role::Observer || person.stepped_out {
            return false;
        }
        if person.caucus.is_some() {
            // A caucus is a private conversation: its members speak freely.
            return true;
        }
        if person.is_keeper()
            && (self.settings.keeper_speaks_out_of_turn || self.phase != Phase::InSession)
        {
            return true;
        }
        if self.phase != Phase::InSession {
            // Before the start and while paused only keepers are heard.
            return false;
        }
        let turn = match self.floor.mode {
            FloorMode::TalkingPiece => self.floor.holder == Some(id),
            FloorMode::Moderated => self.floor.granted.contains(&id),
            FloorMode::Open => true,
        };
        turn || self.interpreter_has_right(id)
    }

    /// Recomputes every gate and tells the media layer what changed:
    /// closings first, so a pass never has two voices open at once.
    pub(super) fn refresh_gates(&mut self) {
        // Only people in the circle send or receive anything (`may_forward`): the
        // lobby and the absent are left out of the pairs, which made every arrival
        // quadratic in the size of the lobby.
        let ids: Vec<PersonId> = self
            .people
            .values()
            .filter(|p| p.in_circle())
            .map(|p| p.id)
            .collect();
        let mut now_open = BTreeSet::new();
        for &from in &ids {
            for &to in &ids {
                for kind in [MediaKind::Audio, MediaKind::Video] {
                    if self.may_forward(from, to, kind) {
                        now_open.insert((from, to, kind));
                    }
                }
            }
        }
        let closed: Vec<_> = self.open_gates.difference(&now_open).copied().collect();
        let opened: Vec<_> = now_open.difference(&self.open_gates).copied().collect();
        for ((from, to, kind), open) in closed
            .into_iter()
            .map(|g| (g, false))
            .chain(opened.into_iter().map(|g| (g, true)))
        {
            self.outputs.push_back(Output::Gate(GateChange {
                from,
                to,
                kind,
                open,
            }));
        }
        self.open_gates = now_open;
    }
}
