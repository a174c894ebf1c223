//! The claims an invitation token carries.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::circle::{Invitation, Party, Role};

/// The payload of an invitation token.
///
/// Deserialization is strict: every claim must be present (`party` may be
/// `null`, but not absent), with its exact type, and unknown claims are
/// rejected. `Debug` redacts the display name and the `jti`.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// `seat-{seat}`.
    pub sub: String,
    pub room: String,
    pub seat: u32,
    pub role: Role,
    #[serde(deserialize_with = "present_but_nullable")]
    pub party: Option<Party>,
    /// Display name; personal data.
    pub name: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Not before, seconds since the Unix epoch.
    pub nbf: u64,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// The invitation's identity (128 random bits, lowercase hex): the key of revocation.
    pub jti: String,
}

impl Claims {
    /// What the token says about its holder, in the room's vocabulary.
    pub fn invitation(&self) -> Invitation {
        Invitation {
            id: self.jti.clone(),
            seat: self.seat,
            role: self.role,
            party: self.party,
            name: self.name.clone(),
            // Links live in the stored invitation, not in the token.
            interprets_for: Vec::new(),
            guardian: None,
            supports: None,
        }
    }

    /// The `sub` a token for `seat` must carry.
    pub fn subject_for(seat: u32) -> String {
        format!("seat-{seat}")
    }
}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claims")
            .field("iss", &self.iss)
            .field("aud", &self.aud)
            .field("sub", &self.sub)
            .field("room", &self.room)
            .field("seat", &self.seat)
            .field("role", &self.role)
            .field("party", &self.party)
            .field("name", &"<redacted>")
            .field("exp", &self.exp)
            .field("nbf", &self.nbf)
            .field("iat", &self.iat)
            .field("jti", &"<redacted>")
            .finish()
    }
}

/// `Option<T>` that must be present in the JSON (as a value or `null`):
/// with `deserialize_with`, serde no longer treats a missing field as `None`.
fn present_but_nullable<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer)
}
