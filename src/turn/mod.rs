//! TURN for people whose network blocks direct UDP (SPEC §5.13, §6.5; issue 13).
//!
//! Credentials follow the TURN REST scheme that coturn's `use-auth-secret`
//! checks: the username is `<unix expiry>:<opaque id>` and the password
//! base64(HMAC-SHA1(secret, username)), so a TURN server that holds the same
//! secret accepts them until the expiry and never needs to ask us. One is
//! minted per media session, handed only to people in the circle (inside
//! `media_ready`), and renewed while the session lasts (`media_ice_servers`).
//!
//! The TURN server is either the embedded [`relay`] (`[turn] enabled`), which
//! also refuses a session's credentials the moment it ends, or an existing one
//! (`[turn] external_urls`, e.g. coturn), which honours them until they expire.

pub mod relay;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;

use crate::config::{TlsSettings, TurnSettings};
use crate::media::{IceServer, MediaConfig, OwnAddresses};
use relay::{Relay, RelaySettings};

/// Why TURN could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    #[error("TURN secret: {0}")]
    Secret(#[from] crate::auth::AuthError),
    #[error("TURN certificate: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("{0}")]
    Relay(#[from] relay::RelayError),
    #[error(
        "turn.host must be set: the relay's address is not known (set it, or [media] public_ip)"
    )]
    NoHost,
}

/// Seconds since the Unix epoch, as TURN REST usernames count them.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
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
    /// The embedded relay, when it serves these credentials.
    relay: Option<Arc<Relay>>,
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
    /// turning TURN on; starts the embedded relay when it is enabled. `None`
    /// when no TURN server is configured.
    pub async fn load(
        settings: &TurnSettings,
        tls: &TlsSettings,
        data_dir: &Path,
        media: &MediaConfig,
    ) -> Result<Option<TurnRest>, TurnError> {
        let path = settings
            .secret_file
            .clone()
            .unwrap_or_else(|| data_dir.join("turn-secret"));
        let secret = hex::encode(crate::auth::load_or_create_secret(&path)?).into_bytes();
        let lifetime = Duration::from_secs(u64::from(settings.credential_seconds));
        if settings.enabled {
            let relay = start_relay(settings, tls, media, secret.clone(), lifetime).await?;
            let mut rest = TurnRest::new(secret, relay.urls().to_vec(), lifetime);
            rest.relay = Some(Arc::new(relay));
            return Ok(Some(rest));
        }
        if settings.external_urls.is_empty() {
            return Ok(None);
        }
        Ok(Some(TurnRest::new(
            secret,
            settings.external_urls.clone(),
            lifetime,
        )))
    }

    pub fn new(secret: Vec<u8>, urls: Vec<String>, lifetime: Duration) -> TurnRest {
        TurnRest {
            secret,
            urls,
            lifetime,
            relay: None,
        }
    }

    /// A session ended (the person left, was removed or withdrew): the
    /// embedded relay refuses its credentials at once and ends its
    /// allocations. An external TURN server honours them until they expire.
    pub async fn revoke(&self, id: &str) {
        if let Some(relay) = &self.relay {
            relay.revoke(id).await;
        }
    }

    /// How many allocations the embedded relay holds for session `id` now.
    pub async fn allocations_of(&self, id: &str) -> usize {
        match &self.relay {
            Some(relay) => relay.allocations_of(id).await,
            None => 0,
        }
    }

    /// Stops the embedded relay, if there is one.
    pub async fn close(&self) {
        if let Some(relay) = &self.relay {
            relay.close().await;
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

/// Starts the embedded relay as `[turn]` describes it, relaying only to `media`'s sockets.
async fn start_relay(
    settings: &TurnSettings,
    tls: &TlsSettings,
    media: &MediaConfig,
    secret: Vec<u8>,
    lifetime: Duration,
) -> Result<Relay, TurnError> {
    let specific = |ip: Option<IpAddr>| ip.filter(|ip| !ip.is_unspecified());
    let host = settings
        .host
        .clone()
        .or_else(|| media.public_ip.map(|ip| ip.to_string()))
        .or_else(|| specific(settings.bind_ip).map(|ip| ip.to_string()))
        .ok_or(TurnError::NoHost)?;
    let bind_ip = settings
        .bind_ip
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    // What clients are told their relayed address is: never the unspecified
    // address, and loopback only when this machine has nothing else.
    let relayed_ip = specific(Some(bind_ip))
        .or_else(|| host.parse().ok())
        .or(media.public_ip)
        .or_else(first_interface_ipv4)
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    let cert = match (&settings.cert_file, &settings.key_file) {
        (Some(cert), Some(key)) => Some((cert, key)),
        _ => tls.cert_file.as_ref().zip(tls.key_file.as_ref()),
    };
    let tls = match cert {
        Some((cert, key)) if settings.tls_port != 0 => {
            let loaded = crate::tls::server_config(cert, key).await?;
            // The HTTPS configuration names HTTP in ALPN; TURN clients name none.
            let mut config = (*loaded.get_inner()).clone();
            config.alpn_protocols.clear();
            Some((settings.tls_port, Arc::new(config)))
        }
        _ => {
            if settings.tls_port != 0 {
                tracing::warn!("TURN over TLS is off: no certificate ([turn] cert_file or [tls])");
            }
            None
        }
    };
    let own = OwnAddresses::new(media);
    let peers: relay::Peers = Arc::new(move |addr: SocketAddr| own.contains(addr));
    let settings = RelaySettings {
        bind_ip,
        relayed_ip,
        host,
        udp_port: settings.udp_port,
        tcp_port: settings.tcp_port,
        tls,
        max_allocations: settings.max_allocations as usize,
        allocations_per_session: settings.allocations_per_session as usize,
        kbps_per_allocation: settings.kbps_per_allocation,
        total_kbps: settings.total_kbps,
        lifetime,
    };
    Ok(Relay::start(settings, secret, peers).await?)
}

/// This machine's first IPv4 address other than loopback.
fn first_interface_ipv4() -> Option<IpAddr> {
    if_addrs::get_if_addrs()
        .ok()?
        .into_iter()
        .map(|i| i.ip())
        .find(|ip| ip.is_ipv4() && !ip.is_loopback())
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
