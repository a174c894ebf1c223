//! The wire format of `/ws` (docs/protocol.md): parsing client frames
//! strictly, and the server's own control messages.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::circle::{Command, EndReason, Notice};
use crate::media::IceCandidateInit;

/// The protocol version a client names in `hello`.
pub const PROTOCOL_VERSION: u32 = 1;

/// Every `type` a client may send after `hello`.
pub const COMMAND_TYPES: &[&str] = &[
    "consent",
    "consent_for",
    "leave",
    "withdraw_consent",
    "pass",
    "pass_without_speaking",
    "done_interpreting",
    "raise_hand",
    "lower_hand",
    "request_pause",
    "unmute",
    "ready",
    "chat",
    "acknowledge",
    "step_out",
    "step_back",
    "admit",
    "deny",
    "lock",
    "unlock",
    "open_room",
    "start_session",
    "pause",
    "resume",
    "close_room",
    "end_session_for",
    "end_session_of",
    "set_mode",
    "start_round",
    "end_round",
    "give_piece",
    "take_piece",
    "reorder_seats",
    "grant_floor",
    "revoke_floor",
    "set_turn_timer",
    "set_keeper_speaks_out_of_turn",
    "open_caucus",
    "close_caucus",
    "mute",
    "remove",
    "draft_agreement",
    "finalize_agreement",
    "set_outline",
    "next_step",
    "set_values",
];

/// Every media `type` a client may send once in the circle.
pub const MEDIA_TYPES: &[&str] = &["media_offer", "media_answer", "media_candidate"];

/// The WebRTC negotiation of one person's peer connection (docs/protocol.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum MediaMsg {
    MediaOffer { sdp: String },
    MediaAnswer { sdp: String },
    MediaCandidate { candidate: IceCandidateInit },
}

#[derive(Debug, PartialEq)]
pub enum ClientMsg {
    Hello {
        v: u32,
        token: String,
    },
    Command {
        command: Command,
        reference: Option<u64>,
    },
    Media {
        msg: MediaMsg,
        reference: Option<u64>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Hello {
    #[serde(rename = "type")]
    _type: String,
    v: u32,
    token: String,
}

/// Why a frame could not be read. Nothing is changed by a bad frame.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum WireError {
    #[error("not valid JSON: {0}")]
    Malformed(String),
    #[error("duplicate key `{0}`")]
    DuplicateKey(String),
    #[error("a message is a JSON object with a string `type`")]
    NotAnObject,
    #[error("`ref` must be a non-negative integer")]
    BadReference,
    #[error("unknown message type `{0}`")]
    UnknownType(String),
    #[error("{0}")]
    UnknownField(String),
    #[error("{0}")]
    BadFields(String),
}

impl WireError {
    pub fn code(&self) -> &'static str {
        match self {
            WireError::Malformed(_) | WireError::NotAnObject | WireError::BadReference => {
                "bad_message"
            }
            WireError::DuplicateKey(_) => "duplicate_key",
            WireError::UnknownType(_) => "unknown_type",
            WireError::UnknownField(_) => "unknown_field",
            WireError::BadFields(_) => "bad_fields",
        }
    }
}

/// Reads one client frame. Duplicate keys, unknown types and unknown
/// fields are errors (SPEC §5.5); the `ref` a client chose comes back in
/// the answer.
pub fn parse_client(text: &str) -> Result<ClientMsg, WireError> {
    let mut value = parse_unique(text)?;
    let object = value.as_object_mut().ok_or(WireError::NotAnObject)?;
    let reference = match object.remove("ref") {
        None => None,
        Some(Value::Number(n)) => Some(n.as_u64().ok_or(WireError::BadReference)?),
        Some(_) => return Err(WireError::BadReference),
    };
    let kind = match value.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        _ => return Err(WireError::NotAnObject),
    };
    if kind == "hello" {
        let hello = Hello::deserialize(value).map_err(field_error)?;
        return Ok(ClientMsg::Hello {
            v: hello.v,
            token: hello.token,
        });
    }
    if MEDIA_TYPES.contains(&kind) {
        let msg = MediaMsg::deserialize(&value).map_err(field_error)?;
        reject_unknown_fields(&value, &msg)?;
        return Ok(ClientMsg::Media { msg, reference });
    }
    if !COMMAND_TYPES.contains(&kind) {
        return Err(WireError::UnknownType(kind.to_owned()));
    }
    let command = Command::deserialize(&value).map_err(field_error)?;
    reject_unknown_fields(&value, &command)?;
    Ok(ClientMsg::Command { command, reference })
}

/// The frame as a JSON value, read once; a repeated key anywhere is an error
/// (`serde_json::Value` alone would keep the last one).
fn parse_unique(text: &str) -> Result<Value, WireError> {
    let mut reader = serde_json::Deserializer::from_str(text);
    UniqueKeys
        .deserialize(&mut reader)
        .and_then(|value| reader.end().map(|()| value))
        .map_err(|e| {
            let message = e.to_string();
            match message.strip_prefix("duplicate key `") {
                Some(rest) => {
                    WireError::DuplicateKey(rest.split('`').next().unwrap_or("").to_owned())
                }
                None => WireError::Malformed(message),
            }
        })
}

/// serde ignores extra fields on unit variants of a tagged enum
/// (`{"type": "pass", "from": 3}` would pass), so compare with the fields the
/// command really has.
fn reject_unknown_fields(value: &Value, command: &impl Serialize) -> Result<(), WireError> {
    let known = serde_json::to_value(command).map_err(|e| WireError::BadFields(e.to_string()))?;
    let (Some(given), Some(known)) = (value.as_object(), known.as_object()) else {
        return Err(WireError::NotAnObject);
    };
    match given.keys().find(|key| !known.contains_key(*key)) {
        Some(key) => Err(WireError::UnknownField(format!("unknown field `{key}`"))),
        None => Ok(()),
    }
}

fn field_error(e: serde_json::Error) -> WireError {
    let message = e.to_string();
    if message.starts_with("unknown field") {
        WireError::UnknownField(message)
    } else {
        WireError::BadFields(message)
    }
}

/// Reads any JSON value as `serde_json::Value` does, but fails on the first
/// object with a repeated key.
struct UniqueKeys;

impl<'de> DeserializeSeed<'de> for UniqueKeys {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(UniqueKeys)
    }
}

impl<'de> Visitor<'de> for UniqueKeys {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
            }
            let value = map.next_value_seed(UniqueKeys)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(UniqueKeys)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::from(n))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::from(n))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        // JSON has no NaN or infinity, so this is always a number.
        Ok(serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// The server's messages that are not room notices.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Control<'a> {
    /// The command with this `ref` was accepted.
    Ok {
        #[serde(rename = "ref")]
        reference: u64,
    },
    /// A frame or command was refused; nothing changed.
    Error {
        code: &'a str,
        message: &'a str,
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<u64>,
    },
    /// At `hello`: another node runs the room; say `hello` again at this
    /// node's `/ws` (SPEC §6.6).
    Redirect { url: &'a str },
    /// The session is over; the socket closes next. `feedback`: the
    /// questionnaire, for a person the room offers it to (issue 8).
    Ended {
        reason: EndReason,
        #[serde(skip_serializing_if = "Option::is_none")]
        feedback: Option<FeedbackOffer<'a>>,
        /// The room's support contacts (SPEC §3.5.5); absent when it has none.
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        support: &'a [crate::circle::SupportContact],
        /// The final agreement this person acknowledged, to keep; absent otherwise.
        #[serde(skip_serializing_if = "Option::is_none")]
        agreement: Option<crate::circle::AgreementCopy>,
        /// For a keeper: who came, the rounds, the agreement's state.
        #[serde(skip_serializing_if = "Option::is_none")]
        summary: Option<Box<crate::circle::KeeperSummary>>,
    },
    /// Someone you hear is speaking (from the audio-level header, ≤ 5 a second).
    Speaking {
        person: crate::circle::PersonId,
        level_dbov: u8,
        voice: bool,
    },
}

/// The questionnaire offered in `ended`: answered with `POST /feedback`.
#[derive(Debug, Serialize)]
pub struct FeedbackOffer<'a> {
    pub questions: &'a [crate::circle::Question],
    pub free_text: bool,
    /// Every question is answered 1..=scale.
    pub scale: u8,
}

pub fn control_json(control: &Control) -> String {
    // Serializing these plain enums cannot fail; an empty object is a safe fallback.
    serde_json::to_string(control).unwrap_or_else(|_| "{}".to_owned())
}

pub fn notice_json(notice: &Notice) -> String {
    serde_json::to_string(notice).unwrap_or_else(|_| "{}".to_owned())
}

pub fn error_json(code: &str, message: &str, reference: Option<u64>) -> String {
    control_json(&Control::Error {
        code,
        message,
        reference,
    })
}
