//! Minting and verifying invitation tokens (HS256 only), with key ids:
//! every token names the key that signed it (`kid`), and the keys replaced
//! by `circlekeeper keys rotate` are accepted for a configured overlap.

use std::fmt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{AuthError, Claims, secret};
use crate::circle::{Party, Role};

/// Longer tokens are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// Clock skew tolerated on `exp` and `nbf`, in seconds (docs/decisions.md:
/// a phone whose clock is a little ahead or behind still gets in).
pub const LEEWAY_SECS: u64 = 30;

/// How long a replaced key stays accepted unless configured otherwise
/// (`auth.key_overlap_days`, 30 days: as long as a new invitation is valid).
pub const DEFAULT_OVERLAP_SECS: u64 = 30 * 86_400;

/// Length of a key id: 16 lowercase hex digits.
const KID_LEN: usize = 16;

/// The only algorithm accepted, and the one we sign with.
const ALGORITHM: Algorithm = Algorithm::HS256;

/// One key that verifies tokens.
#[derive(Clone)]
struct VerifyingKey {
    /// The key id tokens name in their header.
    kid: String,
    decoding: DecodingKey,
    /// When it was replaced (seconds since the epoch); `None` for the current key.
    retired_at: Option<u64>,
}

/// The signing key with the keys it replaced, and the expected issuer and
/// audience.
///
/// `Debug` never prints a secret.
#[derive(Clone)]
pub struct TokenKeys {
    /// Signs every new token.
    encoding: EncodingKey,
    /// The id of the signing key, put in every new token's header.
    kid: String,
    /// The current key first, then the retired ones.
    keys: Vec<VerifyingKey>,
    /// How long a retired key is still accepted, in seconds.
    overlap_secs: u64,
    validation: Validation,
    issuer: String,
    audience: String,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|k| k.kid.as_str()).collect();
        f.debug_struct("TokenKeys")
            .field("algorithm", &ALGORITHM)
            .field("secret", &"<redacted>")
            .field("kids", &kids)
            .field("overlap_secs", &self.overlap_secs)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

/// The id of a key: the first 8 bytes of SHA-256 over a label and the secret,
/// in hex. Public (it is in every token); it reveals nothing of the secret.
pub fn key_id(secret: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(b"circlekeeper token key id\0")
        .chain_update(secret)
        .finalize();
    hex::encode(&digest[..KID_LEN / 2])
}

/// What `circlekeeper keys rotate` did.
#[derive(Debug)]
pub struct Rotation {
    /// The id of the new signing key.
    pub new_kid: String,
    /// The id of the key it replaced, accepted for the overlap.
    pub retired_kid: String,
    /// Ids of the retired keys still kept (including `retired_kid`).
    pub kept: Vec<String>,
}

impl TokenKeys {
    /// Keys from a raw secret of at least [`super::MIN_SECRET_BYTES`] bytes.
    pub fn from_secret(
        secret: &[u8],
        issuer: &str,
        audience: &str,
    ) -> Result<TokenKeys, AuthError> {
        secret::check_strength(secret)?;

        let mut validation = Validation::new(ALGORITHM);
        // Explicit allow-list: exactly one algorithm.
        validation.algorithms = vec![ALGORITHM];
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        // List every registered claim we check, so a wrongly typed one is a
        // rejection and not silently "absent".
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.leeway = LEEWAY_SECS;
        validation.reject_tokens_expiring_in_less_than = 0;

        let kid = key_id(secret);
        Ok(TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            keys: vec![VerifyingKey {
                kid: kid.clone(),
                decoding: DecodingKey::from_secret(secret),
                retired_at: None,
            }],
            kid,
            overlap_secs: DEFAULT_OVERLAP_SECS,
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }

    /// Also accepts tokens signed by `secret`, a key replaced at `retired_at`
    /// (seconds since the epoch), for the overlap.
    pub fn with_retired(mut self, secret: &[u8], retired_at: u64) -> Result<TokenKeys, AuthError> {
        secret::check_strength(secret)?;
        let kid = key_id(secret);
        if self.keys.iter().all(|k| k.kid != kid) {
            self.keys.push(VerifyingKey {
                kid,
                decoding: DecodingKey::from_secret(secret),
                retired_at: Some(retired_at),
            });
        }
        Ok(self)
    }

    /// How long retired keys stay accepted (`auth.key_overlap_days`).
    pub fn with_overlap(mut self, overlap_secs: u64) -> TokenKeys {
        self.overlap_secs = overlap_secs;
        self
    }

    /// Reads the secret from `path`, or creates it (32 random bytes, hex,
    /// file mode 0600, parent dir created) when missing, with the retired
    /// keys of `{path}.retired` when that file exists.
    ///
    /// An existing file that group or others can access is refused.
    pub fn load_or_create(
        path: &Path,
        issuer: &str,
        audience: &str,
    ) -> Result<TokenKeys, AuthError> {
        let secret = secret::load_or_create(path)?;
        let mut keys = TokenKeys::from_secret(&secret, issuer, audience)?;
        for retired in secret::read_retired(path)? {
            keys = keys.with_retired(&retired.secret, retired.retired_at)?;
        }
        Ok(keys)
    }

    /// Replaces the secret at `path` with a new one (`circlekeeper keys
    /// rotate`). The old key is kept in `{path}.retired` and accepted for
    /// `overlap_secs` after `now_secs`; retired keys past their overlap are
    /// dropped. A running server reads the files when it starts.
    pub fn rotate(path: &Path, now_secs: u64, overlap_secs: u64) -> Result<Rotation, AuthError> {
        let old = secret::load_or_create(path)?;
        let new = secret::rotate(path, now_secs, overlap_secs)?;
        let kept = secret::read_retired(path)?
            .iter()
            .map(|r| key_id(&r.secret))
            .collect();
        Ok(Rotation {
            new_kid: key_id(&new),
            retired_kid: key_id(&old),
            kept,
        })
    }

    /// The id of the key new tokens are signed with.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Mints an invitation token: new random jti (128-bit, hex),
    /// `sub = "seat-{seat}"`, `iat = nbf = now_secs`, `exp = now_secs + valid_secs`.
    ///
    /// The token is a credential: hand it to the person, never to a log.
    #[allow(clippy::too_many_arguments)]
    pub fn mint(
        &self,
        room: &str,
        seat: u32,
        role: Role,
        party: Option<Party>,
        name: &str,
        now_secs: u64,
        valid_secs: u64,
    ) -> Result<(String, Claims), AuthError> {
        if room.is_empty() {
            return Err(AuthError::InvalidClaims);
        }
        let mut jti = [0u8; 16];
        rand::rng().fill_bytes(&mut jti);
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: Claims::subject_for(seat),
            room: room.to_owned(),
            seat,
            role,
            party,
            name: name.to_owned(),
            exp: now_secs.saturating_add(valid_secs),
            nbf: now_secs,
            iat: now_secs,
            jti: hex::encode(jti),
        };
        let mut header = Header::new(ALGORITHM);
        header.kid = Some(self.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|_| AuthError::Signing)?;
        if token.len() > MAX_TOKEN_BYTES {
            // verify() would refuse it; most likely an absurdly long name.
            return Err(AuthError::InvalidClaims);
        }
        Ok((token, claims))
    }

    /// Verifies the signature (HS256 only: `none` and every other algorithm
    /// are rejected) with the key the header names (`kid`: the current key,
    /// or a retired one within its overlap), `iss`, `aud`, `exp` and `nbf`
    /// (30 s leeway), and that every claim is present with the right type and
    /// no unknown claim is. A token without `kid` (minted before key ids
    /// existed) is checked against every accepted key.
    ///
    /// Whether the store holds this invitation, unchanged and unrevoked, is
    /// the caller's business (`crate::invitations::check_token`).
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let now_secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.verify_at(token, now_secs)
    }

    /// [`verify`](TokenKeys::verify), with the time a retired key's overlap
    /// is measured against given (`exp` and `nbf` use the system clock).
    pub fn verify_at(&self, token: &str, now_secs: u64) -> Result<Claims, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed);
        }
        let kid = check_header(token)?;
        let accepted = self.keys.iter().filter(|k| {
            k.retired_at
                .is_none_or(|at| at.saturating_add(self.overlap_secs) > now_secs)
        });
        let data = match kid {
            Some(kid) => {
                let key = accepted
                    .into_iter()
                    .find(|k| k.kid == kid)
                    .ok_or(AuthError::UnknownKey)?;
                jsonwebtoken::decode::<Claims>(token, &key.decoding, &self.validation)
                    .map_err(|e| map_error(e.kind()))?
            }
            None => {
                let mut result = Err(AuthError::BadSignature);
                for key in accepted {
                    result = jsonwebtoken::decode::<Claims>(token, &key.decoding, &self.validation)
                        .map_err(|e| map_error(e.kind()));
                    if !matches!(result, Err(AuthError::BadSignature)) {
                        break;
                    }
                }
                result?
            }
        };
        let claims = data.claims;
        if claims.sub != Claims::subject_for(claims.seat)
            || claims.room.is_empty()
            || !is_jti(&claims.jti)
            || claims.nbf > claims.exp
        {
            return Err(AuthError::InvalidClaims);
        }
        Ok(claims)
    }
}

/// The JOSE header we accept: `alg` (exactly `HS256`), optionally
/// `typ: "JWT"` and a key id of ours (16 lowercase hex digits).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictHeader {
    alg: String,
    typ: Option<String>,
    kid: Option<String>,
}

/// Checks the header ourselves before the library sees it, so that `none`,
/// `HS384`, unknown header parameters (`jku`, `crit`...), a `kid` that is
/// not one of our key ids' shape and duplicate keys are refused with a
/// precise error. Returns the key id.
fn check_header(token: &str) -> Result<Option<String>, AuthError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed);
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| AuthError::Malformed)?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed)?;
    match value.get("alg") {
        Some(serde_json::Value::String(alg)) if alg == "HS256" => {}
        Some(_) => return Err(AuthError::WrongAlgorithm),
        None => return Err(AuthError::Malformed),
    }
    let header: StrictHeader = serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed)?;
    if header.alg != "HS256" {
        return Err(AuthError::WrongAlgorithm);
    }
    if !matches!(header.typ.as_deref(), None | Some("JWT")) {
        return Err(AuthError::Malformed);
    }
    match header.kid {
        Some(kid) if !is_kid(&kid) => Err(AuthError::Malformed),
        kid => Ok(kid),
    }
}

fn is_kid(kid: &str) -> bool {
    kid.len() == KID_LEN && kid.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_jti(jti: &str) -> bool {
    jti.len() == 32 && jti.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn map_error(kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::InvalidAlgorithmName => AuthError::WrongAlgorithm,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        // The header was checked before, and the signature is verified before
        // the claims are parsed: a JSON error here is about the claims.
        ErrorKind::MissingRequiredClaim(_)
        | ErrorKind::InvalidClaimFormat(_)
        | ErrorKind::InvalidSubject
        | ErrorKind::Json(_) => AuthError::InvalidClaims,
        _ => AuthError::Malformed,
    }
}
