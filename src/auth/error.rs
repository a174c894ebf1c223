//! Why a token or a secret was refused.

/// Everything that can go wrong with invitation tokens and the signing secret.
///
/// The `Display` text never contains the token, the secret or a claim value,
/// so these errors are safe to log. [`AuthError::code`] is the stable string
/// sent to clients.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Not three base64url parts, bad base64, not JSON, a header parameter we
    /// do not accept, or longer than [`crate::auth::MAX_TOKEN_BYTES`].
    #[error("the token is malformed")]
    Malformed,
    /// The signature does not match the header and claims.
    #[error("the token's signature is not valid")]
    BadSignature,
    /// The header names an algorithm other than HS256 (including `none`).
    #[error("the token uses an algorithm that is not accepted")]
    WrongAlgorithm,
    /// The header names a key this server does not have, or one retired
    /// longer ago than the configured overlap.
    #[error("the token was signed with a key that is not accepted")]
    UnknownKey,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by someone else")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
    /// A claim is missing, has the wrong type or value, or an unknown claim is present.
    #[error("the token's claims are missing, unknown or of the wrong type")]
    InvalidClaims,
    /// The signing secret is shorter than [`crate::auth::MIN_SECRET_BYTES`] or trivially guessable.
    #[error(
        "the token secret is too weak (it needs at least {} random bytes)",
        crate::auth::MIN_SECRET_BYTES
    )]
    WeakSecret,
    /// The secret file exists but does not hold a hex-encoded secret.
    #[error("the token secret file {0} does not contain a hex-encoded secret")]
    SecretFormat(String),
    /// The secret file can be read or written by group or others.
    #[error("the token secret file {0} is accessible by other users; run `chmod 600` on it")]
    InsecureSecretFile(String),
    /// Signing failed (should not happen with an HMAC key).
    #[error("the token could not be signed")]
    Signing,
    #[error("token secret file: {0}")]
    Io(#[from] std::io::Error),
}

impl AuthError {
    /// A stable snake_case code for the wire and for metrics.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Malformed => "token_malformed",
            AuthError::BadSignature => "token_bad_signature",
            AuthError::WrongAlgorithm => "token_wrong_algorithm",
            AuthError::UnknownKey => "token_unknown_key",
            AuthError::Expired => "token_expired",
            AuthError::NotYetValid => "token_not_yet_valid",
            AuthError::WrongIssuer => "token_wrong_issuer",
            AuthError::WrongAudience => "token_wrong_audience",
            AuthError::InvalidClaims => "token_invalid_claims",
            AuthError::WeakSecret => "secret_weak",
            AuthError::SecretFormat(_) => "secret_malformed",
            AuthError::InsecureSecretFile(_) => "secret_file_insecure",
            AuthError::Signing => "token_signing_failed",
            AuthError::Io(_) => "secret_io",
        }
    }

    /// True for the errors a client's token can cause (as opposed to server
    /// configuration problems with the secret).
    pub fn is_token_rejection(&self) -> bool {
        matches!(
            self,
            AuthError::Malformed
                | AuthError::BadSignature
                | AuthError::WrongAlgorithm
                | AuthError::UnknownKey
                | AuthError::Expired
                | AuthError::NotYetValid
                | AuthError::WrongIssuer
                | AuthError::WrongAudience
                | AuthError::InvalidClaims
        )
    }
}
