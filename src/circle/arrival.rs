//! SPEC §3.1, §3.4, §3.7: arrival, the consent gate, the lobby and admission,
//! entry order, leaving, withdrawal, removal, and lost connections.

use super::command::ConsentAnswer;
use super::output::{AttendanceEvent, ConsentDecision, EndReason, Notice, Record, Refusal};
use super::room::{Accepted, Link, Person, Room, Stage};
use super::types::{ConsentTerms, Invitation, PersonId, Phase, Role, SessionId};

impl Room {
    pub(super) fn invite(&mut self, invitation: Invitation) -> Result<Accepted, Refusal> {
        if self.by_invitation.contains_key(&invitation.id) {
            return Err(Refusal::NoChange);
        }
        self.add_person(invitation);
        Ok(Accepted::changed())
    }

    fn add_person(&mut self, invitation: Invitation) -> PersonId {
        let id = PersonId(self.people.len() as u32 + 1);
        let seat = invitation.seat;
        self.record(Record::Invited {
            invitation_id: invitation.id.clone(),
            seat,
            party: invitation.party,
        });
        self.by_invitation.insert(invitation.id.clone(), id);
        // Clockwise is ascending seat number: insert before the first higher seat.
        let at = self
            .seat_order
            .iter()
            .position(|p| self.people.get(p).is_some_and(|o| o.invitation.seat > seat))
            .unwrap_or(self.seat_order.len());
        self.seat_order.insert(at, id);
        self.guardian_seats.extend(invitation.guardian);
        self.people.insert(
            id,
            Person {
                id,
                invitation,
                stage: Stage::Away,
                link: Link::Offline,
                consented: None,
                guardian_consented: None,
                keeper_muted: false,
                ready: false,
                caucus: None,
                admitted_once: false,
                stepped_out: false,
            },
        );
        id
    }

    pub(super) fn arrive(&mut self, invitation: Invitation) -> Result<Accepted, Refusal> {
        if self.phase == Phase::Closed {
            return Err(Refusal::RoomClosed);
        }
        if self.revoked.contains(&invitation.id) {
            return Err(Refusal::InvitationRevoked);
        }
        let is_keeper = invitation.role == super::types::Role::Keeper;
        let known = self.by_invitation.get(&invitation.id).copied();
        if let Some(id) = known {
            let person = self.people.get(&id).ok_or(Refusal::UnknownPerson)?;
            match (person.stage, person.link) {
                (Stage::Withdrawn, _) => return Err(Refusal::ConsentWithdrawn),
                (Stage::Removed | Stage::Revoked, _) => return Err(Refusal::InvitationRevoked),
                (_, Link::Online(_)) => return Err(Refusal::AlreadyConnected),
                (_, Link::Grace { .. }) => return Ok(self.resume(id)),
                (_, Link::Offline) => {}
            }
        }
        // A new visit: the doors must be open to this person.
        if !is_keeper && self.phase == Phase::Scheduled {
            return Err(Refusal::RoomNotOpen);
        }
        if !is_keeper && self.locked {
            return Err(Refusal::RoomLocked);
        }
        let id = match known {
            Some(id) => id,
            None => self.add_person(invitation),
        };
        let session = self.new_session(id);
        let person = self.people.get_mut(&id).ok_or(Refusal::UnknownPerson)?;
        let version = &self.settings.terms_for(person.role()).version;
        person.link = Link::Online(session);
        person.stage = if person.consented.as_deref() != Some(version.as_str()) {
            Stage::Consent
        } else if person.is_keeper() {
            Stage::Admitted
        } else {
            Stage::Lobby
        };
        let admitted = person.stage == Stage::Admitted;
        person.admitted_once |= admitted;
        self.attendance(id, AttendanceEvent::Arrived);
        if admitted {
            self.attendance(id, AttendanceEvent::Admitted);
        }
        self.welcome(session, id);
        Ok(Accepted {
            session: Some(session),
            journal: true,
        })
    }

    /// Inside the grace period the same invitation takes its place back.
    fn resume(&mut self, id: PersonId) -> Accepted {
        let session = self.new_session(id);
        if let Some(person) = self.people.get_mut(&id) {
            person.link = Link::Online(session);
        }
        self.attendance(id, AttendanceEvent::Resumed);
        self.welcome(session, id);
        Accepted {
            session: Some(session),
            journal: true,
        }
    }

    fn welcome(&mut self, session: SessionId, you: PersonId) {
        self.outputs.push_back(super::output::Output::Send {
            to: session,
            notice: Notice::Welcome { session, you },
        });
    }

    pub(super) fn consent(
        &mut self,
        me: PersonId,
        version: &str,
        answers: &[ConsentAnswer],
    ) -> Result<Accepted, Refusal> {
        let person = self.known(me)?;
        if person.stage != Stage::Consent {
            return Err(Refusal::AlreadyConsented);
        }
        if self.needs_guardian(person) {
            return Err(Refusal::GuardianConsentNeeded);
        }
        let terms = self.settings.terms_for(person.role());
        let declined_required = check_answers(terms, version, answers)?;
        let invitation_id = self.invitation_id(me);
        self.record_answers(&invitation_id, version, answers, None);
        if declined_required {
            self.end_visit(
                me,
                Stage::Away,
                Some(EndReason::ConsentDeclined),
                AttendanceEvent::Left,
            );
            return Ok(Accepted::changed());
        }
        let Some(person) = self.people.get_mut(&me) else {
            return Err(Refusal::UnknownPerson);
        };
        person.consented = Some(version.to_owned());
        if person.is_keeper() {
            // Keepers pass the consent gate too, but need no admission.
            self.let_in(me);
        } else {
            person.stage = Stage::Lobby;
        }
        Ok(Accepted::changed())
    }

    /// Into the circle (from the lobby, or a keeper from the consent gate), recorded.
    pub(super) fn let_in(&mut self, id: PersonId) {
        if let Some(person) = self.people.get_mut(&id) {
            person.stage = Stage::Admitted;
            person.admitted_once = true;
        }
        self.attendance(id, AttendanceEvent::Admitted);
    }

    pub(super) fn admit(&mut self, id: PersonId) -> Result<Accepted, Refusal> {
        let person = self.known(id)?;
        if person.stage != Stage::Lobby {
            return Err(Refusal::NotInLobby);
        }
        // A supporter enters as the person they support does (SPEC §3.1.7).
        if let Some(order) = self.settings.entry_order
            && self.entry_party(person) == Some(order.then)
        {
            let first_is_ready = self
                .people
                .values()
                .any(|p| p.invitation.party == Some(order.first) && p.in_circle() && p.ready);
            if !first_is_ready {
                return Err(Refusal::EntryOrderNotMet);
            }
        }
        self.let_in(id);
        // Under an entry order, supporters waiting in the lobby come in with their person.
        if self.settings.entry_order.is_some() {
            let waiting: Vec<PersonId> = self
                .supporters_of(id)
                .into_iter()
                .filter(|s| self.people.get(s).is_some_and(|p| p.stage == Stage::Lobby))
                .collect();
            for supporter in waiting {
                self.let_in(supporter);
            }
        }
        Ok(Accepted::changed())
    }

    pub(super) fn deny(&mut self, id: PersonId) -> Result<Accepted, Refusal> {
        if self.known(id)?.stage != Stage::Lobby {
            return Err(Refusal::NotInLobby);
        }
        self.end_visit(
            id,
            Stage::Away,
            Some(EndReason::Denied),
            AttendanceEvent::Denied,
        );
        Ok(Accepted::changed())
    }

    pub(super) fn ready(&mut self, me: PersonId) -> Result<Accepted, Refusal> {
        let person = self.known(me)?;
        let first = self.settings.entry_order.map(|o| o.first);
        if first.is_none() || person.invitation.party != first {
            return Err(Refusal::NotFirstParty);
        }
        if person.ready {
            return Err(Refusal::NoChange);
        }
        if let Some(person) = self.people.get_mut(&me) {
            person.ready = true;
        }
        Ok(Accepted::changed())
    }

    pub(super) fn withdraw(&mut self, me: PersonId) -> Result<Accepted, Refusal> {
        let invitation_id = self.invitation_id(me);
        let role = self.known(me)?.role();
        self.record_withdrawal(&invitation_id, role, None);
        // A guardian's withdrawal ends their minors' participation too (SPEC §3.1.6).
        self.guardian_withdrew(me);
        self.end_visit(
            me,
            Stage::Withdrawn,
            Some(EndReason::ConsentWithdrawn),
            AttendanceEvent::Withdrew,
        );
        Ok(Accepted::changed())
    }

    pub(super) fn remove(&mut self, me: PersonId, id: PersonId) -> Result<Accepted, Refusal> {
        let person = self.known(id)?;
        if id == me {
            // Leaving is one action already; removing oneself would revoke one's own link.
            return Err(Refusal::BadValue);
        }
        if matches!(person.stage, Stage::Removed | Stage::Revoked) {
            return Err(Refusal::NoChange);
        }
        // Removal revokes a link for good: co-keepers may not lock each other
        // out in front of the circle (docs/decisions.md); the program can.
        if person.is_keeper() {
            return Err(Refusal::KeeperProtected);
        }
        let invitation_id = person.invitation.id.clone();
        self.revoked.insert(invitation_id.clone());
        self.record(Record::Revoked { invitation_id });
        self.end_visit(
            id,
            Stage::Removed,
            Some(EndReason::Removed),
            AttendanceEvent::Removed,
        );
        Ok(Accepted::changed())
    }

    pub(super) fn revoke(&mut self, invitation_id: String) -> Result<Accepted, Refusal> {
        if self.revoked.contains(&invitation_id) {
            return Err(Refusal::NoChange);
        }
        self.revoked.insert(invitation_id.clone());
        self.record(Record::Revoked {
            invitation_id: invitation_id.clone(),
        });
        if let Some(&id) = self.by_invitation.get(&invitation_id) {
            self.end_visit(
                id,
                Stage::Revoked,
                Some(EndReason::Revoked),
                AttendanceEvent::Revoked,
            );
        }
        Ok(Accepted::changed())
    }

    pub(super) fn disconnect(&mut self, session: SessionId) -> Result<Accepted, Refusal> {
        let id = self
            .person_of_session(session)
            .ok_or(Refusal::UnknownSession)?;
        self.lose_connection(id);
        Ok(Accepted::changed())
    }

    /// A lost connection keeps the place for the grace period; someone still
    /// reading the consent terms simply goes away.
    fn lose_connection(&mut self, id: PersonId) {
        let until = self.now.plus_ms(self.settings.grace_ms);
        let Some(person) = self.people.get_mut(&id) else {
            return;
        };
        if person.stage == Stage::Consent {
            self.end_visit(id, Stage::Away, None, AttendanceEvent::Left);
            return;
        }
        if let Link::Online(session) = person.link {
            person.link = Link::Grace { until };
            self.sessions.remove(&session);
        }
    }

    pub(super) fn restored(&mut self) -> Accepted {
        let online: Vec<PersonId> = self
            .people
            .values()
            .filter(|p| p.session().is_some())
            .map(|p| p.id)
            .collect();
        if online.is_empty() {
            return Accepted::unchanged();
        }
        for id in online {
            self.lose_connection(id);
        }
        Accepted::changed()
    }
}

/// Checks a set of answers against the terms: the version, one answer per
/// item. Whether a required item was declined.
pub(super) fn check_answers(
    terms: &ConsentTerms,
    version: &str,
    answers: &[ConsentAnswer],
) -> Result<bool, Refusal> {
    if terms.version != version {
        return Err(Refusal::ConsentVersionMismatch);
    }
    let complete = answers.len() == terms.items.len()
        && terms
            .items
            .iter()
            .all(|item| answers.iter().filter(|a| a.item == item.id).count() == 1);
    if !complete {
        return Err(Refusal::ConsentIncomplete);
    }
    Ok(terms
        .items
        .iter()
        .any(|item| item.required && answers.iter().any(|a| a.item == item.id && !a.accept)))
}

impl Room {
    /// Records each answer for `invitation_id`; `given_by`: a guardian's invitation id.
    pub(super) fn record_answers(
        &mut self,
        invitation_id: &str,
        version: &str,
        answers: &[ConsentAnswer],
        given_by: Option<&str>,
    ) {
        for answer in answers {
            self.record(Record::Consent {
                invitation_id: invitation_id.to_owned(),
                item: answer.item.clone(),
                version: version.to_owned(),
                decision: if answer.accept {
                    ConsentDecision::Accepted
                } else {
                    ConsentDecision::Declined
                },
                given_by: given_by.map(str::to_owned),
            });
        }
    }

    /// Records every item of the terms for `role` as withdrawn.
    pub(super) fn record_withdrawal(
        &mut self,
        invitation_id: &str,
        role: Role,
        given_by: Option<&str>,
    ) {
        let terms = self.settings.terms_for(role);
        let version = terms.version.clone();
        let items: Vec<String> = terms.items.iter().map(|i| i.id.clone()).collect();
        for item in items {
            self.record(Record::Consent {
                invitation_id: invitation_id.to_owned(),
                item,
                version: version.clone(),
                decision: ConsentDecision::Withdrawn,
                given_by: given_by.map(str::to_owned),
            });
        }
    }
}
