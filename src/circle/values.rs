//! The circle's values and guidelines (SPEC §3.2.8): a short list the keeper
//! records, usually from the guidelines round, that everyone admitted sees for
//! the whole session. Kept with the room (journaled), shown in every circle view.

use super::output::Refusal;
use super::room::{Accepted, Room};
use super::types::Phase;

/// A list people can read at a glance on a phone.
pub const MAX_VALUES: usize = 12;
pub const MAX_VALUE_CHARS: usize = 120;

/// One line of the list: not blank, short, on one line.
fn acceptable(value: &str) -> bool {
    !value.trim().is_empty()
        && value.chars().count() <= MAX_VALUE_CHARS
        && !value.chars().any(char::is_control)
}

impl Room {
    /// The circle's values as the keeper last set them (empty: none yet).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Replaces the list; an empty list clears it. Surrounding spaces are
    /// dropped, so the list shows as it reads.
    pub(super) fn set_values(&mut self, values: Vec<String>) -> Result<Accepted, Refusal> {
        if self.phase == Phase::Closed {
            return Err(Refusal::WrongPhase);
        }
        if values.len() > MAX_VALUES || !values.iter().all(|v| acceptable(v)) {
            return Err(Refusal::BadValues);
        }
        let values: Vec<String> = values.iter().map(|v| v.trim().to_owned()).collect();
        if values == self.values {
            return Err(Refusal::NoChange);
        }
        self.values = values;
        Ok(Accepted::changed())
    }
}
