//! SPEC §3.5: the outcome agreement, drafted by a keeper and acknowledged by
//! each party against the hash of its final text.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use super::command::AgreementItem;
use super::output::{Record, Refusal};
use super::room::{Accepted, Room};
use super::types::PersonId;

pub const MAX_AGREEMENT_ITEMS: usize = 50;
pub const MAX_ITEM_FIELD_CHARS: usize = 500;

#[derive(Clone, Debug, PartialEq)]
pub struct Agreement {
    pub version: u32,
    pub items: Vec<AgreementItem>,
    /// The canonical text that is shown and hashed.
    pub text: String,
    /// Hex SHA-256 of `text`.
    pub hash: String,
    pub is_final: bool,
    /// Who acknowledged this version's final text.
    pub acknowledged: BTreeSet<PersonId>,
}

/// The text everyone reads and acknowledges: one numbered line per item.
pub fn agreement_text(items: &[AgreementItem]) -> String {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            // Items without `due` keep the text (and so the hash) they always had.
            let due = item
                .due
                .as_deref()
                .map(|d| format!(" — due: {d}"))
                .unwrap_or_default();
            format!(
                "{}. {} — responsible: {} — by: {}{due}\n",
                i + 1,
                item.what.trim(),
                item.who.trim(),
                item.by.trim()
            )
        })
        .collect()
}

/// Whether `text` is a calendar date written `YYYY-MM-DD` (years 2000–9999:
/// a follow-up date, not history).
pub fn valid_due(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10
        || b[4] != b'-'
        || b[7] != b'-'
        || !digits(0..4)
        || !digits(5..7)
        || !digits(8..10)
    {
        return false;
    }
    let number =
        |r: std::ops::Range<usize>| b[r].iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    year >= 2000 && (1..=days).contains(&day)
}

pub fn text_hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

impl Room {
    /// An item's owner is someone of the room who takes part: not a keeper or an observer.
    fn may_own(&self, seat: u32) -> bool {
        self.people
            .values()
            .any(|p| p.invitation.seat == seat && p.role() == super::types::Role::Participant)
    }

    pub(super) fn draft_agreement(
        &mut self,
        items: Vec<AgreementItem>,
    ) -> Result<Accepted, Refusal> {
        let too_long = |s: &str| s.chars().count() > MAX_ITEM_FIELD_CHARS;
        let valid = !items.is_empty()
            && items.len() <= MAX_AGREEMENT_ITEMS
            && items.iter().all(|i| {
                !i.what.trim().is_empty()
                    && !too_long(&i.what)
                    && !too_long(&i.who)
                    && !too_long(&i.by)
                    && i.due.as_deref().is_none_or(valid_due)
                    && i.owner_seat.is_none_or(|seat| self.may_own(seat))
            });
        if !valid {
            return Err(Refusal::BadAgreement);
        }
        let text = agreement_text(&items);
        let hash = text_hash(&text);
        let version = self.agreement.as_ref().map_or(1, |a| a.version + 1);
        self.record(Record::Agreement {
            version,
            items: items.clone(),
            text: text.clone(),
            hash: hash.clone(),
            is_final: false,
        });
        self.agreement = Some(Agreement {
            version,
            items,
            text,
            hash,
            is_final: false,
            acknowledged: BTreeSet::new(),
        });
        Ok(Accepted::changed())
    }

    pub(super) fn finalize_agreement(&mut self) -> Result<Accepted, Refusal> {
        let agreement = self.agreement.as_mut().ok_or(Refusal::NoAgreement)?;
        if agreement.is_final {
            return Err(Refusal::NoChange);
        }
        agreement.is_final = true;
        let record = Record::Agreement {
            version: agreement.version,
            items: agreement.items.clone(),
            text: agreement.text.clone(),
            hash: agreement.hash.clone(),
            is_final: true,
        };
        self.record(record);
        Ok(Accepted::changed())
    }

    pub(super) fn acknowledge(&mut self, me: PersonId, hash: &str) -> Result<Accepted, Refusal> {
        if self.known(me)?.invitation.party.is_none() {
            return Err(Refusal::NoParty);
        }
        let agreement = self.agreement.as_mut().ok_or(Refusal::NoAgreement)?;
        if !agreement.is_final {
            return Err(Refusal::AgreementNotFinal);
        }
        if agreement.hash != hash {
            return Err(Refusal::HashMismatch);
        }
        if !agreement.acknowledged.insert(me) {
            return Err(Refusal::NoChange);
        }
        let hash = agreement.hash.clone();
        let invitation_id = self.invitation_id(me);
        self.record(Record::Acknowledged {
            invitation_id,
            hash,
        });
        Ok(Accepted::changed())
    }
}
