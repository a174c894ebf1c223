use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::*;
use crate::circle::{Party, Role};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test-secret";
const ISS: &str = "circlekeeper";
const AUD: &str = "circlekeeper-join";

fn keys() -> TokenKeys {
    TokenKeys::from_secret(SECRET, ISS, AUD).unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn mint_at(now_secs: u64, valid_secs: u64) -> (String, Claims) {
    keys()
        .mint(
            "room-a",
            3,
            Role::Participant,
            Some(Party::Harmed),
            "Alice Example",
            now_secs,
            valid_secs,
        )
        .unwrap()
}

fn fresh() -> (String, Claims) {
    mint_at(now(), 3600)
}

/// Claims of a valid token as JSON, to tamper with.
fn valid_claims_json() -> Value {
    serde_json::to_value(fresh().1).unwrap()
}

/// Signs arbitrary claims with the real secret and the given algorithm.
fn sign_json(alg: Algorithm, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(SECRET)).unwrap()
}

/// Signs raw header and payload text with HS256 and the real secret.
fn sign_raw(header: &str, payload: &str) -> String {
    let message = format!("{}.{}", b64(header), b64(payload));
    let sig = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(SECRET),
        Algorithm::HS256,
    )
    .unwrap();
    format!("{message}.{sig}")
}

fn b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

fn verify(token: &str) -> Result<Claims, AuthError> {
    keys().verify(token)
}

#[test]
fn round_trip() {
    let t = now();
    let (token, claims) = mint_at(t, 3600);
    assert_eq!(claims.iss, ISS);
    assert_eq!(claims.aud, AUD);
    assert_eq!(claims.sub, "seat-3");
    assert_eq!(claims.room, "room-a");
    assert_eq!((claims.iat, claims.nbf, claims.exp), (t, t, t + 3600));
    assert_eq!(claims.jti.len(), 32);
    assert!(claims.jti.bytes().all(|b| b.is_ascii_hexdigit()));

    let verified = verify(&token).unwrap();
    assert_eq!(verified, claims);

    let inv = verified.invitation();
    assert_eq!(inv.id, claims.jti);
    assert_eq!(inv.seat, 3);
    assert_eq!(inv.role, Role::Participant);
    assert_eq!(inv.party, Some(Party::Harmed));
    assert_eq!(inv.name, "Alice Example");
}

#[test]
fn keeper_without_party_round_trips() {
    let (token, claims) = keys()
        .mint("room-a", 0, Role::Keeper, None, "Kim", now(), 60)
        .unwrap();
    assert_eq!(verify(&token).unwrap(), claims);
    assert!(token.contains('.'));
}

#[test]
fn each_mint_has_a_new_jti() {
    let (_, a) = fresh();
    let (_, b) = fresh();
    assert_ne!(a.jti, b.jti);
}

#[test]
fn header_is_hs256_jwt() {
    let (token, _) = fresh();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::HS256);
    assert_eq!(header.typ.as_deref(), Some("JWT"));
}

#[test]
fn tampered_payload_is_bad_signature() {
    let (token, _) = fresh();
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = valid_claims_json();
    claims["role"] = json!("keeper");
    let forged = format!("{}.{}.{}", parts[0], b64(&claims.to_string()), parts[2]);
    assert!(matches!(verify(&forged), Err(AuthError::BadSignature)));
}

#[test]
fn tampered_signature_is_bad_signature() {
    let (token, _) = fresh();
    let (message, sig) = token.rsplit_once('.').unwrap();
    let mut raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
    raw[0] ^= 1;
    let forged = format!("{message}.{}", URL_SAFE_NO_PAD.encode(raw));
    assert!(matches!(verify(&forged), Err(AuthError::BadSignature)));
}

#[test]
fn other_secret_is_bad_signature() {
    let other = TokenKeys::from_secret(b"another secret of at least 32 bytes!", ISS, AUD).unwrap();
    let (token, _) = other
        .mint("room-a", 1, Role::Keeper, None, "K", now(), 60)
        .unwrap();
    // Its header names a key we do not have.
    assert!(matches!(verify(&token), Err(AuthError::UnknownKey)));
    // Naming our key instead, the signature is wrong.
    let mut header = jsonwebtoken::decode_header(&token).unwrap();
    header.kid = Some(keys().kid().to_owned());
    let claims = other.verify(&token).unwrap();
    let forged = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(b"another secret of at least 32 bytes!"),
    )
    .unwrap();
    assert!(matches!(verify(&forged), Err(AuthError::BadSignature)));
}

#[test]
fn alg_none_is_rejected() {
    let payload = b64(&valid_claims_json().to_string());
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64(&format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}"),
        ] {
            let err = verify(&token).unwrap_err();
            assert!(
                matches!(err, AuthError::WrongAlgorithm | AuthError::Malformed),
                "{alg}: {err:?}"
            );
        }
        // With the three parts present, it is specifically the algorithm.
        assert!(matches!(
            verify(&format!("{header}.{payload}.")),
            Err(AuthError::WrongAlgorithm)
        ));
    }
}

#[test]
fn other_hmac_algorithms_with_the_same_secret_are_rejected() {
    let claims = valid_claims_json();
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        let token = sign_json(alg, &claims);
        assert!(
            matches!(verify(&token), Err(AuthError::WrongAlgorithm)),
            "{alg:?}"
        );
    }
    // Sanity: the same claims signed HS256 pass.
    assert!(verify(&sign_json(Algorithm::HS256, &claims)).is_ok());
}

#[test]
fn asymmetric_algorithm_names_are_rejected() {
    let payload = valid_claims_json().to_string();
    for alg in ["RS256", "ES256", "EdDSA", "PS256", "hs256", ""] {
        let token = sign_raw(&format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#), &payload);
        assert!(
            matches!(verify(&token), Err(AuthError::WrongAlgorithm)),
            "{alg}"
        );
    }
    let token = sign_raw(r#"{"alg":null}"#, &payload);
    assert!(matches!(verify(&token), Err(AuthError::WrongAlgorithm)));
}

#[test]
fn odd_headers_are_rejected() {
    let payload = valid_claims_json().to_string();
    assert!(verify(&sign_raw(r#"{"alg":"HS256"}"#, &payload)).is_ok());
    for header in [
        r#"{"alg":"HS256","typ":"JWT","kid":"../../etc/passwd"}"#,
        r#"{"alg":"HS256","jku":"https://evil.example/keys"}"#,
        r#"{"alg":"HS256","crit":["exp"]}"#,
        r#"{"alg":"HS256","typ":"JWE"}"#,
        r#"{"alg":"HS256","alg":"HS256"}"#,
        r#"{"typ":"JWT"}"#,
        r#"[]"#,
        r#"not json"#,
    ] {
        assert!(
            matches!(
                verify(&sign_raw(header, &payload)),
                Err(AuthError::Malformed)
            ),
            "{header}"
        );
    }
}

#[test]
fn garbage_is_malformed() {
    let (token, _) = fresh();
    for bad in [
        "".to_string(),
        "abc".to_string(),
        "a.b".to_string(),
        "a.b.c.d".to_string(),
        format!("{token}.x"),
        format!("{token}="),
        "!!!.???.***".to_string(),
        "x".repeat(MAX_TOKEN_BYTES + 1),
    ] {
        let err = verify(&bad).unwrap_err();
        assert!(
            matches!(err, AuthError::Malformed | AuthError::BadSignature),
            "{err:?}"
        );
    }
    assert!(matches!(verify("a.b.c.d"), Err(AuthError::Malformed)));
    assert!(matches!(
        verify(&"x".repeat(MAX_TOKEN_BYTES + 1)),
        Err(AuthError::Malformed)
    ));
}

#[test]
fn wrong_issuer_and_audience() {
    let other_iss = TokenKeys::from_secret(SECRET, "someone-else", AUD).unwrap();
    let (token, _) = other_iss
        .mint("room-a", 1, Role::Keeper, None, "K", now(), 60)
        .unwrap();
    assert!(matches!(verify(&token), Err(AuthError::WrongIssuer)));

    let other_aud = TokenKeys::from_secret(SECRET, ISS, "admin-api").unwrap();
    let (token, _) = other_aud
        .mint("room-a", 1, Role::Keeper, None, "K", now(), 60)
        .unwrap();
    assert!(matches!(verify(&token), Err(AuthError::WrongAudience)));
}

#[test]
fn expired() {
    let (token, _) = mint_at(now() - 1000, 100);
    assert!(matches!(verify(&token), Err(AuthError::Expired)));
}

#[test]
fn expired_within_leeway_is_accepted() {
    let (token, _) = mint_at(now() - 100, 90);
    assert!(verify(&token).is_ok());
}

#[test]
fn not_yet_valid() {
    let (token, _) = mint_at(now() + 1000, 3600);
    assert!(matches!(verify(&token), Err(AuthError::NotYetValid)));
    let (token, _) = mint_at(now() + 10, 3600);
    assert!(verify(&token).is_ok(), "nbf within the 30 s leeway");
}

#[test]
fn missing_claims_are_rejected() {
    for claim in [
        "room", "jti", "seat", "role", "party", "name", "iat", "exp", "nbf", "iss", "aud", "sub",
    ] {
        let mut claims = valid_claims_json();
        claims.as_object_mut().unwrap().remove(claim).unwrap();
        let token = sign_json(Algorithm::HS256, &claims);
        assert!(
            matches!(verify(&token), Err(AuthError::InvalidClaims)),
            "without {claim}"
        );
    }
}

#[test]
fn wrongly_typed_claims_are_rejected() {
    let far = now() + 100_000;
    let cases: Vec<(&str, Value)> = vec![
        ("exp", json!(far.to_string())),
        ("exp", json!(far as f64 + 0.5)),
        ("exp", json!(null)),
        ("nbf", json!(now().to_string())),
        ("iat", json!("0")),
        ("seat", json!("3")),
        ("seat", json!(-1)),
        ("role", json!("admin")),
        ("role", json!(1)),
        ("party", json!("bystander")),
        ("aud", json!([AUD])),
        ("iss", json!([ISS])),
        ("room", json!(42)),
        ("name", json!(null)),
        ("jti", json!(7)),
    ];
    for (claim, value) in cases {
        let mut claims = valid_claims_json();
        claims[claim] = value.clone();
        let token = sign_json(Algorithm::HS256, &claims);
        assert!(
            matches!(verify(&token), Err(AuthError::InvalidClaims)),
            "{claim} = {value}"
        );
    }
}

#[test]
fn inconsistent_claims_are_rejected() {
    let cases: Vec<(&str, Value)> = vec![
        ("sub", json!("seat-4")),
        ("sub", json!("admin")),
        ("room", json!("")),
        ("jti", json!("")),
        ("jti", json!("not-hex-not-hex-not-hex-not-hex!")),
        ("nbf", json!(now() + 10)),
    ];
    for (claim, value) in cases {
        let mut claims = valid_claims_json();
        claims[claim] = value.clone();
        if claim == "nbf" {
            claims["exp"] = json!(now() + 5);
        }
        let token = sign_json(Algorithm::HS256, &claims);
        assert!(
            matches!(verify(&token), Err(AuthError::InvalidClaims)),
            "{claim} = {value}"
        );
    }
}

#[test]
fn unknown_extra_claim_is_rejected() {
    let mut claims = valid_claims_json();
    claims["admin"] = json!(true);
    let token = sign_json(Algorithm::HS256, &claims);
    assert!(matches!(verify(&token), Err(AuthError::InvalidClaims)));
}

#[test]
fn duplicate_claim_is_rejected() {
    let claims = valid_claims_json().to_string();
    let payload = format!(r#"{},"role":"keeper"}}"#, claims.trim_end_matches('}'));
    let token = sign_raw(r#"{"alg":"HS256","typ":"JWT"}"#, &payload);
    assert!(matches!(verify(&token), Err(AuthError::InvalidClaims)));
}

#[test]
fn weak_secret_is_refused() {
    assert!(matches!(
        TokenKeys::from_secret(b"short", ISS, AUD),
        Err(AuthError::WeakSecret)
    ));
    assert!(matches!(
        TokenKeys::from_secret(&[7u8; 31], ISS, AUD),
        Err(AuthError::WeakSecret)
    ));
    assert!(matches!(
        TokenKeys::from_secret(&[0u8; 64], ISS, AUD),
        Err(AuthError::WeakSecret)
    ));
    assert!(TokenKeys::from_secret(&(0u8..32).collect::<Vec<_>>(), ISS, AUD).is_ok());
}

#[test]
fn debug_output_hides_secrets_and_names() {
    let keys = keys();
    let text = format!("{keys:?}");
    assert!(!text.contains("test-secret"), "{text}");
    assert!(!text.contains(&hex::encode(SECRET)), "{text}");
    assert!(text.contains("redacted"));

    let (token, claims) = fresh();
    let text = format!("{claims:?}");
    assert!(!text.contains("Alice"), "{text}");
    assert!(!text.contains(&claims.jti), "{text}");
    assert!(text.contains("room-a"));

    for err in [
        verify(&token[..token.len() - 2]).unwrap_err(),
        verify("a.b.c").unwrap_err(),
    ] {
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(&token[..20]));
    }
}

#[test]
fn error_codes_are_stable() {
    assert_eq!(AuthError::Malformed.code(), "token_malformed");
    assert_eq!(AuthError::BadSignature.code(), "token_bad_signature");
    assert_eq!(AuthError::WrongAlgorithm.code(), "token_wrong_algorithm");
    assert_eq!(AuthError::UnknownKey.code(), "token_unknown_key");
    assert_eq!(AuthError::Expired.code(), "token_expired");
    assert_eq!(AuthError::NotYetValid.code(), "token_not_yet_valid");
    assert_eq!(AuthError::WrongIssuer.code(), "token_wrong_issuer");
    assert_eq!(AuthError::WrongAudience.code(), "token_wrong_audience");
    assert_eq!(AuthError::InvalidClaims.code(), "token_invalid_claims");
    assert_eq!(AuthError::WeakSecret.code(), "secret_weak");
    assert!(AuthError::Expired.is_token_rejection());
    assert!(!AuthError::WeakSecret.is_token_rejection());
}

#[test]
fn invitation_links() {
    assert_eq!(
        invitation_link("https://circles.example.org", "abc.def.ghi"),
        "https://circles.example.org/join#t=abc.def.ghi"
    );
    assert_eq!(
        invitation_link("http://127.0.0.1:8080/", "t"),
        "http://127.0.0.1:8080/join#t=t"
    );
    assert_eq!(
        invitation_link("https://h/base//", "t"),
        "https://h/base/join#t=t"
    );
    assert_eq!(
        invitation_link_in("https://h/", "a.b.c", Some("ar")),
        "https://h/join#t=a.b.c&lang=ar"
    );
    assert_eq!(
        invitation_link_in("https://h", "a.b.c", None),
        "https://h/join#t=a.b.c"
    );
}

#[test]
fn mint_refuses_empty_room_and_huge_names() {
    let k = keys();
    assert!(matches!(
        k.mint("", 1, Role::Keeper, None, "K", now(), 60),
        Err(AuthError::InvalidClaims)
    ));
    let huge = "n".repeat(MAX_TOKEN_BYTES);
    assert!(matches!(
        k.mint("r", 1, Role::Keeper, None, &huge, now(), 60),
        Err(AuthError::InvalidClaims)
    ));
}

const OTHER_SECRET: &[u8] = b"fedcba9876543210fedcba9876543210-old-secret";

fn header_of(token: &str) -> Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

#[test]
fn tokens_name_their_key() {
    let (token, _) = fresh();
    let header = header_of(&token);
    assert_eq!(header["kid"], keys().kid());
    assert_eq!(keys().kid(), key_id(SECRET));
    assert_eq!(keys().kid().len(), 16);
    assert_ne!(key_id(SECRET), key_id(OTHER_SECRET));
}

#[test]
fn a_retired_key_is_accepted_for_the_overlap_only() {
    let old = TokenKeys::from_secret(OTHER_SECRET, ISS, AUD).unwrap();
    let (token, claims) = old
        .mint("room-a", 1, Role::Keeper, None, "K", now(), 3600)
        .unwrap();
    let retired_at = 1_000_000;
    let rotated = keys()
        .with_retired(OTHER_SECRET, retired_at)
        .unwrap()
        .with_overlap(3600);
    assert_eq!(rotated.verify_at(&token, retired_at).unwrap(), claims);
    assert_eq!(
        rotated.verify_at(&token, retired_at + 3599).unwrap(),
        claims
    );
    assert!(matches!(
        rotated.verify_at(&token, retired_at + 3600),
        Err(AuthError::UnknownKey)
    ));
    // Without the old key at all, its kid is unknown.
    assert!(matches!(keys().verify(&token), Err(AuthError::UnknownKey)));
    // New tokens are signed by the current key only.
    let (new, _) = rotated
        .mint("room-a", 1, Role::Keeper, None, "K", now(), 60)
        .unwrap();
    assert_eq!(header_of(&new)["kid"], key_id(SECRET));
    assert!(matches!(old.verify(&new), Err(AuthError::UnknownKey)));
}

#[test]
fn an_unknown_kid_is_refused_and_a_kid_cannot_pick_another_key() {
    let payload = valid_claims_json().to_string();
    let unknown = sign_raw(r#"{"alg":"HS256","kid":"0123456789abcdef"}"#, &payload);
    assert!(matches!(verify(&unknown), Err(AuthError::UnknownKey)));
    // Signed by the real secret but naming the old key: the old key checks it.
    let rotated = keys().with_retired(OTHER_SECRET, now()).unwrap();
    let header = format!(r#"{{"alg":"HS256","kid":"{}"}}"#, key_id(OTHER_SECRET));
    assert!(matches!(
        rotated.verify(&sign_raw(&header, &payload)),
        Err(AuthError::BadSignature)
    ));
    // A token without kid (minted before key ids) is checked against every accepted key.
    assert!(
        rotated
            .verify(&sign_raw(r#"{"alg":"HS256"}"#, &payload))
            .is_ok()
    );
    for kid in ["", "0123456789ABCDEF", "0123", "0123456789abcdef0"] {
        let header = format!(r#"{{"alg":"HS256","kid":"{kid}"}}"#);
        assert!(
            matches!(
                verify(&sign_raw(&header, &payload)),
                Err(AuthError::Malformed)
            ),
            "{kid}"
        );
    }
    let header = r#"{"alg":"HS256","kid":7}"#;
    assert!(matches!(
        verify(&sign_raw(header, &payload)),
        Err(AuthError::Malformed)
    ));
}

#[cfg(unix)]
mod secret_file {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &std::path::Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_with_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/data/token-secret");

        let first = TokenKeys::load_or_create(&path, ISS, AUD).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim().len(), 64);
        assert_eq!(hex::decode(text.trim()).unwrap().len(), 32);

        let second = TokenKeys::load_or_create(&path, ISS, AUD).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            text,
            "the file is not rewritten"
        );
        let (token, claims) = first
            .mint("room-a", 1, Role::Keeper, None, "K", now(), 60)
            .unwrap();
        assert_eq!(second.verify(&token).unwrap(), claims);

        // A different file gives a different secret.
        let other = TokenKeys::load_or_create(&dir.path().join("other"), ISS, AUD).unwrap();
        assert!(matches!(other.verify(&token), Err(AuthError::UnknownKey)));
    }

    #[test]
    fn existing_secret_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        fs::write(&path, format!("  {}\n\n", hex::encode(SECRET))).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let loaded = TokenKeys::load_or_create(&path, ISS, AUD).unwrap();
        let (token, _) = fresh();
        assert!(loaded.verify(&token).is_ok());
    }

    #[test]
    fn bad_secret_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");

        fs::write(&path, "not hex at all").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(
            TokenKeys::load_or_create(&path, ISS, AUD),
            Err(AuthError::SecretFormat(_))
        ));

        fs::write(&path, "00112233").unwrap();
        assert!(matches!(
            TokenKeys::load_or_create(&path, ISS, AUD),
            Err(AuthError::WeakSecret)
        ));

        fs::write(&path, hex::encode(SECRET)).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = TokenKeys::load_or_create(&path, ISS, AUD).unwrap_err();
        assert!(matches!(err, AuthError::InsecureSecretFile(_)), "{err:?}");
        assert!(!err.to_string().contains(&hex::encode(SECRET)));

        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let retired = dir.path().join("secret.retired");
        for bad in [
            "zz 12",
            "00112233 12",
            &format!("{} soon", hex::encode(SECRET)),
        ] {
            fs::write(&retired, bad).unwrap();
            fs::set_permissions(&retired, fs::Permissions::from_mode(0o600)).unwrap();
            assert!(TokenKeys::load_or_create(&path, ISS, AUD).is_err(), "{bad}");
        }
        fs::write(&retired, format!("{} 12\n", hex::encode(SECRET))).unwrap();
        fs::set_permissions(&retired, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            TokenKeys::load_or_create(&path, ISS, AUD),
            Err(AuthError::InsecureSecretFile(_))
        ));

        let as_dir = dir.path().join("a-directory");
        fs::create_dir(&as_dir).unwrap();
        assert!(TokenKeys::load_or_create(&as_dir, ISS, AUD).is_err());
    }

    #[test]
    fn rotate_keeps_the_old_key_for_the_overlap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token-secret");
        let before = TokenKeys::load_or_create(&path, ISS, AUD).unwrap();
        let (old_token, claims) = before
            .mint("room-a", 1, Role::Keeper, None, "K", now(), 3600)
            .unwrap();

        let t = now();
        let rotation = TokenKeys::rotate(&path, t, 3600).unwrap();
        assert_eq!(rotation.retired_kid, before.kid());
        assert_ne!(rotation.new_kid, before.kid());
        assert_eq!(rotation.kept, vec![before.kid().to_owned()]);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("token-secret.retired")), 0o600);

        let after = TokenKeys::load_or_create(&path, ISS, AUD)
            .unwrap()
            .with_overlap(3600);
        assert_eq!(after.kid(), rotation.new_kid);
        assert_eq!(after.verify_at(&old_token, t + 10).unwrap(), claims);
        assert!(matches!(
            after.verify_at(&old_token, t + 3600),
            Err(AuthError::UnknownKey)
        ));
        let (new_token, _) = after
            .mint("room-a", 1, Role::Keeper, None, "K", now(), 3600)
            .unwrap();
        assert!(matches!(
            before.verify(&new_token),
            Err(AuthError::UnknownKey)
        ));

        // A second rotation past the overlap drops the first key for good.
        let second = TokenKeys::rotate(&path, t + 7200, 3600).unwrap();
        assert_eq!(second.kept, vec![rotation.new_kid.clone()]);
        let latest = TokenKeys::load_or_create(&path, ISS, AUD).unwrap();
        assert!(matches!(
            latest.verify(&old_token),
            Err(AuthError::UnknownKey)
        ));
        assert!(latest.verify_at(&new_token, t + 7300).is_ok());
    }
}
