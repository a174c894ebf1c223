//! SPEC §3.1.6: minors and their guardians. A minor's invitation names their
//! guardian's seat. The minor passes the consent gate only after the
//! guardian, past their own gate, has accepted the same terms on the minor's
//! behalf (recorded for the minor's invitation, given by the guardian's,
//! beside the minor's own answers). A guardian who withdraws ends the minor's
//! participation too.

use serde::Serialize;

use super::arrival::check_answers;
use super::command::ConsentAnswer;
use super::output::{AttendanceEvent, EndReason, Refusal};
use super::room::{Accepted, Link, Person, Room, Stage};
use super::types::{ConsentTerms, PersonId};

/// A guardian's view of one of their minors.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MinorView {
    pub person: PersonId,
    pub name: String,
    pub consent: GuardianConsent,
    /// The terms to answer for them, while `consent` is `needed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terms: Option<ConsentTerms>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardianConsent {
    Needed,
    Given,
}

/// Does `minor`'s invitation name `guardian` (by seat) as their guardian?
fn names_as_guardian(guardian: &Person, minor: &Person) -> bool {
    guardian.id != minor.id && minor.invitation.guardian == Some(guardian.invitation.seat)
}

impl Room {
    /// Is `guardian` the guardian `minor`'s invitation names?
    pub fn guards(&self, guardian: PersonId, minor: PersonId) -> bool {
        match (self.people.get(&guardian), self.people.get(&minor)) {
            (Some(g), Some(m)) => names_as_guardian(g, m),
            _ => false,
        }
    }

    /// A minor still waiting for their guardian's consent to the current terms.
    pub(super) fn needs_guardian(&self, person: &Person) -> bool {
        let version = &self.settings.terms_for(person.role()).version;
        person.invitation.guardian.is_some()
            && person.guardian_consented.as_deref() != Some(version.as_str())
    }

    /// The minors `guardian` answers for, in seat order.
    pub(super) fn minors_of(&self, guardian: &Person) -> Vec<MinorView> {
        // Every view asks, and almost nobody is a guardian: a scan of the room
        // per view made a change in a room of 100 cost 10 000 comparisons.
        if !self.guardian_seats.contains(&guardian.invitation.seat) {
            return Vec::new();
        }
        let names_me = |m: &Person| names_as_guardian(guardian, m);
        self.seat_order
            .iter()
            .filter_map(|id| self.people.get(id))
            .filter(|m| names_me(m) && !m.gone_for_good())
            .map(|m| {
                let needed = self.needs_guardian(m);
                MinorView {
                    person: m.id,
                    name: m.invitation.name.clone(),
                    consent: if needed {
                        GuardianConsent::Needed
                    } else {
                        GuardianConsent::Given
                    },
                    terms: needed.then(|| self.settings.terms_for(m.role()).clone()),
                }
            })
            .collect()
    }

    pub(super) fn consent_for(
        &mut self,
        me: PersonId,
        minor: PersonId,
        version: &str,
        answers: &[ConsentAnswer],
    ) -> Result<Accepted, Refusal> {
        // The guardian answers for someone else only once past their own gate.
        if !matches!(self.known(me)?.stage, Stage::Lobby | Stage::Admitted) {
            return Err(Refusal::NotAdmitted);
        }
        let person = self.known(minor)?;
        if !self.guards(me, minor) || person.gone_for_good() {
            return Err(Refusal::NotGuardian);
        }
        if !self.needs_guardian(person) {
            return Err(Refusal::AlreadyConsented);
        }
        let reading_now = person.stage == Stage::Consent && matches!(person.link, Link::Online(_));
        let terms = self.settings.terms_for(person.role());
        let declined_required = check_answers(terms, version, answers)?;
        let given_by = self.invitation_id(me);
        let invitation_id = self.invitation_id(minor);
        self.record_answers(&invitation_id, version, answers, Some(&given_by));
        if declined_required {
            // The minor cannot take part; if they are reading the terms now, their visit ends kindly.
            if reading_now {
                self.end_visit(
                    minor,
                    Stage::Away,
                    Some(EndReason::ConsentDeclined),
                    AttendanceEvent::Left,
                );
            }
            return Ok(Accepted::changed());
        }
        if let Some(person) = self.people.get_mut(&minor) {
            person.guardian_consented = Some(version.to_owned());
        }
        Ok(Accepted::changed())
    }

    /// `guardian` withdrew: each of their minors' consent is withdrawn with
    /// theirs, and the minor's participation ends for good.
    pub(super) fn guardian_withdrew(&mut self, guardian: PersonId) {
        let minors: Vec<(PersonId, super::types::Role)> = self
            .seat_order
            .iter()
            .filter_map(|id| self.people.get(id))
            .filter(|m| self.guards(guardian, m.id) && !m.gone_for_good())
            .map(|m| (m.id, m.role()))
            .collect();
        let given_by = self.invitation_id(guardian);
        for (minor, role) in minors {
            let invitation_id = self.invitation_id(minor);
            self.record_withdrawal(&invitation_id, role, Some(&given_by));
            if let Some(person) = self.people.get_mut(&minor) {
                person.guardian_consented = None;
            }
            self.end_visit(
                minor,
                Stage::Withdrawn,
                Some(EndReason::GuardianWithdrew),
                AttendanceEvent::Withdrew,
            );
        }
    }
}
