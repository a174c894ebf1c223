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
            format!(
                "{}. {} — responsible: {} — by: {}\n",
                i + 1,
                item.what.trim(),
                item.who.trim(),
                item.by.trim()
            )
        })
        .collect()
}

pub fn text_hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

impl Room {
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
