//! Telling datagrams on the shared port apart (RFC 7983) and reading the one STUN
//! attribute the router needs, without trusting anything in them.
//!
//! A hand-written parser rather than `rtc::stun::Message`: the router looks at every
//! datagram from an unknown address before any connection does, so this path must be
//! allocation-free and must not panic whatever arrives. Integrity is *not* checked
//! here: the connection checks it, and the router learns an address only from the
//! connection's success response (see [`is_binding_success`]).

/// What a datagram is, by its first byte (RFC 7983 §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// 0–3: STUN.
    Stun,
    /// 20–63: DTLS.
    Dtls,
    /// 128–191: RTP or RTCP.
    Rtp,
    /// Anything else, including an empty datagram (ZRTP, TURN channels: not ours).
    Other,
}

pub(crate) fn classify(datagram: &[u8]) -> Class {
    match datagram.first() {
        Some(0..=3) => Class::Stun,
        Some(20..=63) => Class::Dtls,
        Some(128..=191) => Class::Rtp,
        _ => Class::Other,
    }
}

const HEADER: usize = 20;
const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
const BINDING_REQUEST: [u8; 2] = [0x00, 0x01];
const BINDING_SUCCESS: [u8; 2] = [0x01, 0x01];
const ATTR_USERNAME: u16 = 0x0006;
/// RFC 8489 §14.3: USERNAME is at most 513 bytes.
const MAX_USERNAME: usize = 513;

/// The STUN header, if `datagram` is a well-formed STUN message of this type: the
/// attributes, exactly as long as the header says.
fn stun_body(datagram: &[u8], typ: [u8; 2]) -> Option<&[u8]> {
    let header = datagram.get(..HEADER)?;
    if header[..2] != typ || header[4..8] != MAGIC_COOKIE {
        return None;
    }
    let length = usize::from(u16::from_be_bytes([header[2], header[3]]));
    if length % 4 != 0 {
        return None;
    }
    datagram.get(HEADER..HEADER.checked_add(length)?)
}

/// The USERNAME of a STUN Binding Request (`<server ufrag>:<client ufrag>` in ICE),
/// or `None` if the datagram is not one or has none.
pub(crate) fn binding_request_username(datagram: &[u8]) -> Option<&str> {
    let mut rest = stun_body(datagram, BINDING_REQUEST)?;
    while rest.len() >= 4 {
        let typ = u16::from_be_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let value = rest.get(4..4 + len)?;
        if typ == ATTR_USERNAME {
            if len > MAX_USERNAME {
                return None;
            }
            return std::str::from_utf8(value).ok();
        }
        // Values are padded to four bytes; the padding may be missing at the end.
        let padded = 4 + len.next_multiple_of(4);
        rest = rest.get(padded..).unwrap_or_default();
    }
    None
}

/// The server's part of an ICE USERNAME: a connectivity check *to* us names our
/// ufrag first (RFC 8445 §7.2.2).
pub(crate) fn server_ufrag(username: &str) -> Option<&str> {
    let (ours, theirs) = username.split_once(':')?;
    (!ours.is_empty() && !theirs.is_empty()).then_some(ours)
}

/// Whether an outgoing datagram is a STUN Binding success response: a connection
/// sends one only for a request whose USERNAME and MESSAGE-INTEGRITY it accepted, so
/// its destination is a remote address of that connection.
pub(crate) fn is_binding_success(datagram: &[u8]) -> bool {
    stun_body(datagram, BINDING_SUCCESS).is_some()
}

/// Whether an outgoing datagram is a STUN Binding Request: an ICE-lite connection
/// sends one only as the triggered check of a request it accepted (it checks no
/// candidate of its own accord), so its destination is a remote address of that
/// connection too, and the answer to the check must find its way back.
pub(crate) fn is_binding_request(datagram: &[u8]) -> bool {
    stun_body(datagram, BINDING_REQUEST).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Binding Request with the given attributes (type, value), padded.
    fn request(attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (typ, value) in attrs {
            body.extend_from_slice(&typ.to_be_bytes());
            body.extend_from_slice(&(value.len() as u16).to_be_bytes());
            body.extend_from_slice(value);
            body.resize(body.len().next_multiple_of(4), 0);
        }
        let mut m = vec![0x00, 0x01];
        m.extend_from_slice(&(body.len() as u16).to_be_bytes());
        m.extend_from_slice(&MAGIC_COOKIE);
        m.extend_from_slice(&[7; 12]);
        m.extend_from_slice(&body);
        m
    }

    #[test]
    fn classifies_by_first_byte() {
        assert_eq!(classify(&[]), Class::Other);
        assert_eq!(classify(&[0]), Class::Stun);
        assert_eq!(classify(&[3]), Class::Stun);
        assert_eq!(classify(&[4]), Class::Other);
        assert_eq!(classify(&[20]), Class::Dtls);
        assert_eq!(classify(&[63]), Class::Dtls);
        assert_eq!(classify(&[64]), Class::Other);
        assert_eq!(classify(&[128]), Class::Rtp);
        assert_eq!(classify(&[191]), Class::Rtp);
        assert_eq!(classify(&[192]), Class::Other);
    }

    #[test]
    fn finds_username_after_other_attributes() {
        let m = request(&[(0x0024, &[0, 0, 0, 1]), (0x0006, b"srv1:cli")]);
        assert_eq!(binding_request_username(&m), Some("srv1:cli"));
        // Odd length: padded.
        let m = request(&[(0x8022, b"abc"), (0x0006, b"s:c")]);
        assert_eq!(binding_request_username(&m), Some("s:c"));
        assert_eq!(server_ufrag("s:c"), Some("s"));
    }

    #[test]
    fn rejects_what_is_not_a_binding_request_with_username() {
        let good = request(&[(0x0006, b"a:b")]);
        assert_eq!(binding_request_username(&request(&[])), None);
        let mut wrong_type = good.clone();
        wrong_type[1] = 0x11;
        assert_eq!(binding_request_username(&wrong_type), None);
        let mut no_cookie = good.clone();
        no_cookie[4] = 0;
        assert_eq!(binding_request_username(&no_cookie), None);
        // Header claims more than there is, and a truncated attribute.
        assert_eq!(binding_request_username(&good[..good.len() - 4]), None);
        let mut long_attr = good.clone();
        long_attr[HEADER + 3] = 200;
        assert_eq!(binding_request_username(&long_attr), None);
        let mut bad_utf8 = good.clone();
        bad_utf8[HEADER + 4] = 0xff;
        assert_eq!(binding_request_username(&bad_utf8), None);
        assert_eq!(server_ufrag("nocolon"), None);
        assert_eq!(server_ufrag(":c"), None);
        assert_eq!(server_ufrag("s:"), None);
    }

    #[test]
    fn success_response_is_recognised() {
        let mut m = request(&[]);
        assert!(!is_binding_success(&m));
        m[0] = 0x01;
        assert!(is_binding_success(&m));
        assert!(!is_binding_success(&m[..10]));
    }

    /// Every prefix and every single-byte corruption of a valid request, and random
    /// bytes: no panic, whatever the answer.
    #[test]
    fn never_panics() {
        let good = request(&[
            (0x0024, &[0, 0, 0, 1]),
            (0x0006, b"srv1:cli"),
            (0x0008, &[9; 20]),
        ]);
        for end in 0..=good.len() {
            let _ = binding_request_username(&good[..end]);
            let _ = is_binding_success(&good[..end]);
            let _ = classify(&good[..end]);
        }
        for i in 0..good.len() {
            for b in [0u8, 1, 3, 4, 0x7f, 0x80, 0xff] {
                let mut m = good.clone();
                m[i] = b;
                let _ = binding_request_username(&m);
            }
        }
        for _ in 0..2_000 {
            let len = rand::random_range(0..80);
            let mut m: Vec<u8> = (0..len).map(|_| rand::random()).collect();
            if m.len() >= 8 {
                m[..2].copy_from_slice(&BINDING_REQUEST);
                m[4..8].copy_from_slice(&MAGIC_COOKIE);
            }
            let _ = binding_request_username(&m);
        }
    }
}
