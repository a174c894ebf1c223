//! `[turn]`: TURN for people whose network blocks direct UDP (SPEC §6.5).

use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[turn]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TurnSettings {
    /// Runs the embedded TURN relay (off by default: on loopback nobody needs it).
    pub enabled: bool,
    /// Address the embedded relay listens on; unset: every interface.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_ip: Option<IpAddr>,
    /// The host name or address clients reach the relay at, in the URLs they are
    /// given (for `turns:` it must match the certificate); unset: `[media] public_ip`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// TURN over UDP; 0: a free port (tests), announced as bound.
    pub udp_port: u16,
    /// TURN over TCP; 0: a free port.
    pub tcp_port: u16,
    /// TURN over TLS, with `cert_file`/`key_file` or else `[tls]`'s certificate;
    /// 0 turns it off. Without any certificate it stays off (logged at start).
    pub tls_port: u16,
    /// PEM certificate for TURN over TLS; unset: `[tls] cert_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// Its private key; unset: `[tls] key_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Allocations the relay holds at once, all people together.
    pub max_allocations: u32,
    /// Allocations one person's session may hold at once (a browser makes one
    /// per TURN URL and network adapter).
    pub allocations_per_session: u32,
    /// Relayed kbit/s of one allocation, each way; past it, packets drop.
    pub kbps_per_allocation: u32,
    /// Relayed kbit/s of the whole relay, each way; 0: no limit.
    pub total_kbps: u32,
    /// `turn:` / `turns:` URLs of an existing TURN server that checks TURN REST
    /// credentials with the secret below (coturn: `use-auth-secret`,
    /// `static-auth-secret` = the secret file's text).
    pub external_urls: Vec<String>,
    /// The shared secret (hex, mode 0600); unset: `{data_dir}/turn-secret`,
    /// created on first start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// How long a credential is valid for a new allocation; a session's is
    /// renewed at half of it.
    pub credential_seconds: u32,
}

impl Default for TurnSettings {
    fn default() -> TurnSettings {
        TurnSettings {
            enabled: false,
            bind_ip: None,
            host: None,
            udp_port: 3478,
            tcp_port: 3478,
            tls_port: 5349,
            cert_file: None,
            key_file: None,
            max_allocations: 1000,
            allocations_per_session: 10,
            kbps_per_allocation: 20_000,
            total_kbps: 0,
            external_urls: Vec::new(),
            secret_file: None,
            credential_seconds: 600,
        }
    }
}

impl TurnSettings {
    /// Whether clients get TURN credentials.
    pub fn in_use(&self) -> bool {
        self.enabled || !self.external_urls.is_empty()
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
        if self.enabled && !self.external_urls.is_empty() {
            return Err(invalid(
                "turn.enabled",
                "either the embedded relay (enabled) or external_urls, not both".into(),
            ));
        }
        for (key, path) in [
            ("turn.secret_file", &self.secret_file),
            ("turn.cert_file", &self.cert_file),
            ("turn.key_file", &self.key_file),
        ] {
            if path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                return Err(invalid(key, "must not be empty".into()));
            }
        }
        if self.cert_file.is_some() != self.key_file.is_some() {
            return Err(invalid(
                "turn.cert_file",
                "cert_file and key_file go together".into(),
            ));
        }
        if let Some(host) = &self.host
            && (host.is_empty()
                || host.len() > 253
                || !host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':')))
        {
            return Err(invalid(
                "turn.host",
                format!("must be a host name or an address, not {host:?}"),
            ));
        }
        if !(60..=86_400).contains(&self.credential_seconds) {
            return Err(invalid(
                "turn.credential_seconds",
                "must be between 60 and 86400".into(),
            ));
        }
        for (key, value) in [
            ("turn.max_allocations", self.max_allocations),
            ("turn.allocations_per_session", self.allocations_per_session),
            ("turn.kbps_per_allocation", self.kbps_per_allocation),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be greater than 0".into()));
            }
        }
        Ok(())
    }
}
