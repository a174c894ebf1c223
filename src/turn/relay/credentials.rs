//! Which TURN REST credentials the embedded relay accepts, and the key it
//! checks their MESSAGE-INTEGRITY with.
//!
//! A credential (`<unix expiry>:<session id>`) is accepted while it is
//! unexpired and its session has not been revoked. Past its expiry it still
//! serves the client address that used it in time, as coturn does: the expiry
//! bounds when an allocation may start, not how long a present person's
//! allocation lives. Revoking the session (the person left, was removed or
//! withdrew) refuses every credential of it at once.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use turn::auth::{AuthHandler, generate_auth_key};

use super::metrics::Refusal;

/// Why a credential was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Malformed,
    Expired,
    Revoked,
}

pub struct Credentials {
    secret: Vec<u8>,
    lifetime: Duration,
    now: fn() -> u64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Revoked session ids, until the last credential minted for them expires.
    revoked: HashMap<String, u64>,
    /// (client address, username) pairs accepted before the username expired.
    held: HashSet<(SocketAddr, String)>,
}

impl Credentials {
    pub fn new(secret: Vec<u8>, lifetime: Duration, now: fn() -> u64) -> Self {
        Credentials {
            secret,
            lifetime,
            now,
            state: Mutex::new(State::default()),
        }
    }

    /// The session id a username names, if it has the REST form.
    pub fn session_of(username: &str) -> Option<&str> {
        let (expiry, id) = username.split_once(':')?;
        (expiry.parse::<u64>().is_ok() && !id.is_empty()).then_some(id)
    }

    /// The password of `username` if it may be used from `from` now.
    pub fn check(&self, username: &str, from: SocketAddr) -> Result<String, Refused> {
        let (expiry, id) = username.split_once(':').ok_or(Refused::Malformed)?;
        let expiry: u64 = expiry.parse().map_err(|_| Refused::Malformed)?;
        if id.is_empty() || username.len() > 128 {
            return Err(Refused::Malformed);
        }
        let now = (self.now)();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.revoked.contains_key(id) {
            return Err(Refused::Revoked);
        }
        let key = (from, username.to_owned());
        if expiry >= now {
            state.held.insert(key);
        } else if !state.held.contains(&key) {
            return Err(Refused::Expired);
        }
        Ok(crate::turn::password(&self.secret, username))
    }

    /// Refuses every credential of `session` from now on.
    pub fn revoke(&self, session: &str) {
        let now = (self.now)();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // No credential of it can be valid after the latest one minted expires.
        state.revoked.retain(|_, until| *until >= now);
        state
            .revoked
            .insert(session.to_owned(), now + self.lifetime.as_secs());
        state
            .held
            .retain(|(_, username)| Credentials::session_of(username) != Some(session));
    }

    /// An allocation ended: its client address no longer holds the username.
    pub fn released(&self, from: SocketAddr, username: &str) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.held.remove(&(from, username.to_owned()));
    }

    #[cfg(test)]
    fn held(&self) -> usize {
        self.state.lock().map(|s| s.held.len()).unwrap_or(0)
    }
}

impl AuthHandler for Credentials {
    fn auth_handle(
        &self,
        username: &str,
        realm: &str,
        src_addr: SocketAddr,
    ) -> Result<Vec<u8>, turn::Error> {
        match self.check(username, src_addr) {
            Ok(password) => Ok(generate_auth_key(username, realm, &password)),
            Err(why) => {
                Refusal::Credential.count();
                Err(turn::Error::Other(format!("credential refused: {why:?}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        /// Each test runs on its own thread: its own simulated clock.
        static NOW: Cell<u64> = const { Cell::new(1_800_000_000) };
    }

    fn clock() -> u64 {
        NOW.with(Cell::get)
    }

    fn credentials() -> Credentials {
        Credentials::new(b"s3cret".to_vec(), Duration::from_secs(600), clock)
    }

    const A: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 1);
    const B: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 2);

    #[test]
    fn an_unexpired_credential_has_the_rest_password() {
        let c = credentials();
        assert_eq!(
            c.check("1800000000:abc", A).as_deref(),
            Ok("RV6If/ONLhIFCRt1FUd760l2eM0=")
        );
    }

    #[test]
    fn an_expired_credential_serves_only_the_address_that_used_it_in_time() {
        let c = credentials();
        assert_eq!(c.check("1799999999:abc", A), Err(Refused::Expired));
        // Used in time from A (expiry == now is in time)...
        assert!(c.check("1800000000:abc", A).is_ok());
        NOW.with(|now| now.set(1_800_000_500));
        // ...it keeps A's allocation alive past its expiry, but starts nothing from B.
        assert!(c.check("1800000000:abc", A).is_ok());
        assert_eq!(c.check("1800000000:abc", B), Err(Refused::Expired));
        // Once A's allocation ends, A is refused too.
        c.released(A, "1800000000:abc");
        assert_eq!(c.held(), 0);
        assert_eq!(c.check("1800000000:abc", A), Err(Refused::Expired));
    }

    #[test]
    fn revoking_a_session_refuses_all_its_credentials_at_once() {
        let c = credentials();
        assert!(c.check("1800000300:abc", A).is_ok());
        assert!(c.check("1800000300:other", B).is_ok());
        c.revoke("abc");
        assert_eq!(c.check("1800000300:abc", A), Err(Refused::Revoked));
        assert_eq!(c.check("1800000600:abc", B), Err(Refused::Revoked));
        assert!(c.check("1800000300:other", B).is_ok(), "others keep theirs");
        assert_eq!(c.held(), 1);
    }

    #[test]
    fn malformed_usernames_are_refused() {
        let c = credentials();
        for name in ["", "abc", ":abc", "1800000000:", "x:abc"] {
            assert_eq!(c.check(name, A), Err(Refused::Malformed), "{name:?}");
        }
    }
}
