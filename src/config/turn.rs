//! `[turn]`: TURN for people whose network blocks direct UDP (SPEC §6.5).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[turn]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TurnSettings {
    /// `turn:` / `turns:` URLs of a TURN server that checks TURN REST
    /// credentials with the secret below (coturn: `use-auth-secret`,
    /// `static-auth-secret` = the secret file's text). Empty: no TURN.
    pub external_urls: Vec<String>,
    /// The shared secret (hex, mode 0600); unset: `{data_dir}/turn-secret`,
    /// created on first start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// How long a credential is valid; a session's is renewed at half of it.
    pub credential_seconds: u32,
}

impl Default for TurnSettings {
    fn default() -> TurnSettings {
        TurnSettings {
            external_urls: Vec::new(),
            secret_file: None,
            credential_seconds: 600,
        }
    }
}

impl TurnSettings {
    /// Whether clients get TURN credentials.
    pub fn enabled(&self) -> bool {
        !self.external_urls.is_empty()
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_owned(),
            message,
        };
        for url in &self.external_urls {
            let scheme_ok = url.starts_with("turn:") || url.starts_with("turns:");
            if !scheme_ok
                || url.len() > 300
                || url.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(invalid(
                    "turn.external_urls",
                    format!(
                        "each must be a turn: or turns: URL, like turn:turn.example.org:3478?transport=udp, not {url:?}"
                    ),
                ));
            }
        }
        if self
            .secret_file
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(invalid("turn.secret_file", "must not be empty".into()));
        }
        if !(60..=86_400).contains(&self.credential_seconds) {
            return Err(invalid(
                "turn.credential_seconds",
                "must be between 60 and 86400".into(),
            ));
        }
        Ok(())
    }
}
