//! TURN for people whose network blocks direct UDP (SPEC §5.13, §6.5; issue 13).
//!
//! Credentials follow the TURN REST scheme that coturn's `use-auth-secret`
//! checks: the username is `<unix expiry>:<opaque id>` and the password
//! base64(HMAC-SHA1(secret, username)), so a TURN server that holds the same
//! secret accepts them until the expiry and never needs to ask us. One is
//! minted per media session, handed only to people in the circle (inside
//! `media_ready`), and renewed while the session lasts (`media_ice_servers`).
//!
//! This step serves an existing TURN server (`[turn] external_urls`, e.g.
//! coturn); the embedded relay comes next.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;

use crate::config::TurnSettings;
use crate::media::IceServer;

/// Why TURN could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    #[error("TURN secret: {0}")]
    Secret(#[from] crate::auth::AuthError),
}

/// The password of a TURN REST username: base64(HMAC-SHA1(secret, username)).
pub fn password(secret: &[u8], username: &str) -> String {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(username.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Mints short-lived TURN credentials for the configured TURN servers.
#[derive(Clone)]
pub struct TurnRest {
    /// The shared secret as the TURN server holds it (coturn's
    /// `static-auth-secret`): the text of the secret file, not its bytes.
    secret: Vec<u8>,
    urls: Vec<String>,
    lifetime: Duration,
}

impl std::fmt::Debug for TurnRest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("TurnRest")
            .field("urls", &self.urls)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl TurnRest {
    /// Reads the TURN secret file, creating it (32 random bytes, hex, mode
    /// 0600) on first start, so that an operator can hand it to coturn before
    /// turning TURN on. `None` when no TURN server is configured.
    pub fn load(settings: &TurnSettings, data_dir: &Path) -> Result<Option<TurnRest>, TurnError> {
        let path = settings
            .secret_file
            .clone()
            .unwrap_or_else(|| data_dir.join("turn-secret"));
        let secret = crate::auth::load_or_create_secret(&path)?;
        if settings.external_urls.is_empty() {
            return Ok(None);
        }
        Ok(Some(TurnRest::new(
            hex::encode(secret).into_bytes(),
            settings.external_urls.clone(),
            Duration::from_secs(u64::from(settings.credential_seconds)),
        )))
    }

    pub fn new(secret: Vec<u8>, urls: Vec<String>, lifetime: Duration) -> TurnRest {
        TurnRest {
            secret,
            urls,
            lifetime,
        }
    }

    /// A credential valid until `now_unix` + the lifetime, for a session
    /// known as `id` (opaque: it names nobody).
    pub fn credential(&self, now_unix: u64, id: &str) -> IceServer {
        let username = format!("{}:{id}", now_unix.saturating_add(self.lifetime.as_secs()));
        IceServer {
            urls: self.urls.clone(),
            credential: Some(password(&self.secret, &username)),
            username: Some(username),
        }
    }

    /// How often a session's credential is renewed: at half its lifetime,
    /// so a client always holds one that is valid for a while yet.
    pub fn renew_every(&self) -> Duration {
        (self.lifetime / 2).max(Duration::from_secs(1))
    }
}

/// A fresh opaque id for one media session's credentials.
pub fn session_id() -> String {
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_the_turn_rest_hmac() {
        // Computed independently: Python's hmac.new(b"s3cret",
        // b"1800000000:abc", hashlib.sha1), base64.
        assert_eq!(
            password(b"s3cret", "1800000000:abc"),
            "RV6If/ONLhIFCRt1FUd760l2eM0="
        );
    }

    #[test]
    fn a_credential_expires_after_its_lifetime_and_names_only_the_session() {
        let turn = TurnRest::new(
            b"s3cret".to_vec(),
            vec!["turn:turn.example.org:3478?transport=udp".into()],
            Duration::from_secs(600),
        );
        let server = turn.credential(1_799_999_400, "abc");
        assert_eq!(server.username.as_deref(), Some("1800000000:abc"));
        assert_eq!(
            server.credential.as_deref(),
            Some("RV6If/ONLhIFCRt1FUd760l2eM0=")
        );
        assert_eq!(server.urls, ["turn:turn.example.org:3478?transport=udp"]);
        assert_eq!(turn.renew_every(), Duration::from_secs(300));
        assert!(!format!("{turn:?}").contains("s3cret"));
    }
}
