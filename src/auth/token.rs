//! Minting and verifying invitation tokens (HS256 only).

use std::fmt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::Deserialize;

use super::{AuthError, Claims, secret};
use crate::circle::{Party, Role};

/// Longer tokens are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
const LEEWAY_SECS: u64 = 30;

/// The only algorithm accepted, and the one we sign with.
const ALGORITHM: Algorithm = Algorithm::HS256;

/// The signing secret with the expected issuer and audience.
///
/// `Debug` never prints the secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKeys")
            .field("algorithm", &ALGORITHM)
            .field("secret", &"<redacted>")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
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

        Ok(TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }

    /// Reads the secret from `path`, or creates it (32 random bytes, hex,
    /// file mode 0600, parent dir created) when missing.
    ///
    /// An existing file that group or others can access is refused.
    pub fn load_or_create(
        path: &Path,
        issuer: &str,
        audience: &str,
    ) -> Result<TokenKeys, AuthError> {
        let secret = secret::load_or_create(path)?;
        TokenKeys::from_secret(&secret, issuer, audience)
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
        let token = jsonwebtoken::encode(&Header::new(ALGORITHM), &claims, &self.encoding)
            .map_err(|_| AuthError::Signing)?;
        if token.len() > MAX_TOKEN_BYTES {
            // verify() would refuse it; most likely an absurdly long name.
            return Err(AuthError::InvalidClaims);
        }
        Ok((token, claims))
    }

    /// Verifies the signature (HS256 only: `none` and every other algorithm
    /// are rejected), `iss`, `aud`, `exp` and `nbf` (30 s leeway), and that
    /// every claim is present with the right type and no unknown claim is.
    ///
    /// Revocation (by `jti`) and room membership are the caller's business.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed);
        }
        check_header(token)?;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| map_error(e.kind()))?;
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

/// The JOSE header we accept: `alg` (exactly `HS256`) and optionally `typ: "JWT"`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictHeader {
    alg: String,
    typ: Option<String>,
}

/// Checks the header ourselves before the library sees it, so that `none`,
/// `HS384`, unknown header parameters (`kid`, `jku`, `crit`...) and
/// duplicate keys are refused with a precise error.
fn check_header(token: &str) -> Result<(), AuthError> {
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
    match header.typ.as_deref() {
        None | Some("JWT") => Ok(()),
        Some(_) => Err(AuthError::Malformed),
    }
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
