//! The webhook outbox (SPEC §5.9, §6.2): events written in the same
//! transaction as the journal entry whose records caused them, and read back
//! by the dispatcher (`crate::webhooks`) until each is delivered. An event
//! names people by invitation id and party label only: never a name, never
//! anything said.

use rand::RngCore;
use serde_json::{Map, Value, json};
use sqlx::AnyConnection;
use sqlx::Row;

use super::statement::Statement;
use super::{Store, StoreError, enum_name, from_db, ts_to_db};
use crate::circle::{AttendanceEvent, ConsentDecision, Phase, Record, Timestamp};

/// One event waiting for delivery.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxRow {
    /// The event's id (`evt_…`), also in the body and the `Circlekeeper-Event-Id` header.
    pub id: String,
    pub room_id: String,
    /// The exact JSON sent (and signed).
    pub body: String,
    /// Failed deliveries so far.
    pub attempts: u32,
    /// Not before this time (backoff).
    pub next_attempt_at: Timestamp,
    /// Set when the dispatcher gave up; such rows are kept, not sent again.
    pub failed_at: Option<Timestamp>,
}

/// `2026-11-05T14:03:07.123Z`: the times of the API, the CSV export and webhooks.
pub fn rfc3339(t: Timestamp) -> String {
    let nanos = i128::from(t.0).saturating_mul(1_000_000);
    match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(dt) => {
            let (y, mo, d) = (dt.year(), u8::from(dt.month()), dt.day());
            let (h, mi, s, ms) = (dt.hour(), dt.minute(), dt.second(), dt.millisecond());
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
        }
        Err(_) => "9999-12-31T23:59:59.999Z".to_owned(),
    }
}

/// An event before it has an id and a party label.
pub(super) struct Pending {
    kind: &'static str,
    invitation_id: Option<String>,
    data: Map<String, Value>,
}

fn pending(kind: &'static str, invitation_id: Option<&str>, data: Value) -> Pending {
    let data = match data {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    Pending {
        kind,
        invitation_id: invitation_id.map(str::to_owned),
        data,
    }
}

/// The webhook events one journal entry's records make. Consent answers of
/// one person to one version are one event.
pub(super) fn events_of(records: &[Record]) -> Result<Vec<Pending>, StoreError> {
    let mut events: Vec<Pending> = Vec::new();
    for record in records {
        match record {
            Record::PhaseChanged { phase: Phase::Open } => {
                events.push(pending("room.opened", None, json!({})));
            }
            Record::PhaseChanged {
                phase: Phase::Closed,
            } => events.push(pending("room.closed", None, json!({}))),
            Record::Attendance {
                invitation_id,
                event,
            } => {
                let (kind, reason) = match event {
                    AttendanceEvent::Admitted => ("person.admitted", None),
                    AttendanceEvent::Removed => ("person.removed", None),
                    // Told as `invitation.revoked`, written by the revocation itself.
                    AttendanceEvent::Revoked => continue,
                    AttendanceEvent::Left => ("person.left", Some("left")),
                    AttendanceEvent::Away => ("person.left", Some("away")),
                    AttendanceEvent::Dismissed => ("person.left", Some("dismissed")),
                    AttendanceEvent::Withdrew => ("person.left", Some("withdrew")),
                    _ => continue,
                };
                let data = match reason {
                    Some(reason) => json!({ "reason": reason }),
                    None => json!({}),
                };
                events.push(pending(kind, Some(invitation_id), data));
            }
            Record::Consent {
                invitation_id,
                item,
                version,
                decision,
                given_by,
            } => {
                let kind = match decision {
                    ConsentDecision::Withdrawn => "consent.withdrawn",
                    _ => "consent.recorded",
                };
                let answer =
                    json!({ "item": item, "decision": enum_name(decision, "consent decision")? });
                let same = events.last_mut().filter(|e| {
                    e.kind == kind
                        && e.invitation_id.as_deref() == Some(invitation_id.as_str())
                        && e.data.get("version").and_then(Value::as_str) == Some(version.as_str())
                        && e.data.get("given_by").and_then(Value::as_str) == given_by.as_deref()
                });
                match same
                    .and_then(|e| e.data.get_mut("answers"))
                    .and_then(Value::as_array_mut)
                {
                    Some(answers) => answers.push(answer),
                    None => {
                        let mut data = json!({ "version": version, "answers": [answer] });
                        // A guardian's answer for a minor names the guardian's invitation.
                        if let Some(by) = given_by {
                            data["given_by"] = json!(by);
                        }
                        events.push(pending(kind, Some(invitation_id), data));
                    }
                }
            }
            Record::Acknowledged {
                invitation_id,
                hash,
            } => events.push(pending(
                "agreement.acknowledged",
                Some(invitation_id),
                json!({ "hash": hash }),
            )),
            _ => {}
        }
    }
    Ok(events)
}

fn new_event_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    format!("evt_{}", hex::encode(bytes))
}

/// Inserts one event of the journal entry in `j` (`$1` the room), when
/// webhooks are enabled: the setting is read inside the statement.
macro_rules! event_insert {
    ($body:literal) => {
        concat!(
            "INSERT INTO webhook_outbox (id, room_id, seq, ord, created_at, body, attempts, next_attempt_at) \
             SELECT $2, $1, j.seq, $3, $4, ",
            $body,
            ", 0, $4 FROM j WHERE EXISTS (SELECT 1 FROM webhook_settings WHERE id = 1 AND enabled)"
        )
    };
}

/// The body is `$5`, the person's party as JSON, then `$7`: the party is read
/// inside the statement, from the invitation `$6`.
const PERSON_EVENT_SQLITE: &str = event_insert!(
    "$5 || json_quote((SELECT party FROM invitations WHERE id = $6 AND room_id = $1)) || $7"
);
const PERSON_EVENT_POSTGRES: &str = event_insert!(
    "$5 || COALESCE(to_json((SELECT party FROM invitations WHERE id = $6 AND room_id = $1))::text, 'null') || $7"
);
const ROOM_EVENT: &str = event_insert!("$5");

/// The envelope every receiver verifies, in the API's order; `data` last, so
/// that a person's party can follow it.
#[derive(serde::Serialize)]
struct Envelope<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    room_id: &'a str,
    at: String,
    data: &'a Value,
}

fn envelope(
    id: &str,
    kind: &str,
    room_id: &str,
    at: Timestamp,
    data: &Value,
) -> Result<String, StoreError> {
    let envelope = Envelope {
        id,
        kind,
        room_id,
        at: rfc3339(at),
        data,
    };
    Ok(serde_json::to_string(&envelope)?)
}

/// The statements that write `events` (`events_of` an entry's records), for
/// the journal entry in `j`. Each writes nothing when webhooks are off.
pub(super) fn event_statements(
    room_id: &str,
    at: Timestamp,
    events: Vec<Pending>,
    sqlite: bool,
) -> Result<Vec<Statement>, StoreError> {
    let at_db = ts_to_db(at)?;
    let mut statements = Vec::new();
    for (ord, event) in events.into_iter().enumerate() {
        let ord = i64::try_from(ord).map_err(|_| StoreError::OutOfRange("event count"))?;
        let id = new_event_id();
        let mut data = event.data;
        if let Some(invitation_id) = &event.invitation_id {
            data.insert("invitation_id".into(), json!(invitation_id));
        }
        let body = envelope(&id, event.kind, room_id, at, &Value::Object(data))?;
        let columns = |sql| {
            Statement::new(sql)
                .text(room_id)
                .text(id.as_str())
                .int(ord)
                .int(at_db)
        };
        statements.push(match event.invitation_id {
            None => columns(ROOM_EVENT).text(body),
            Some(invitation_id) => {
                // `…"data":{…}}` becomes `…"data":{…,"party":` + the party + `}}`.
                let head = body
                    .strip_suffix("}}")
                    .ok_or(StoreError::OutOfRange("event body"))?;
                columns(if sqlite {
                    PERSON_EVENT_SQLITE
                } else {
                    PERSON_EVENT_POSTGRES
                })
                .text(format!("{head},\"party\":"))
                .text(invitation_id)
                .text("}}")
            }
        });
    }
    Ok(statements)
}

/// Inside a transaction: one event that no journal entry caused (the API
/// or a sweep), after the room's latest entry, when webhooks are enabled.
pub(super) async fn enqueue_event(
    conn: &mut AnyConnection,
    room_id: &str,
    at: Timestamp,
    kind: &str,
    data: Value,
) -> Result<(), StoreError> {
    if !webhooks_enabled(conn).await? {
        return Ok(());
    }
    let seq: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM journal WHERE room_id = $1")
            .bind(room_id)
            .fetch_one(&mut *conn)
            .await?;
    let ord: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(ord), -1) + 1 FROM webhook_outbox WHERE room_id = $1 AND seq = $2",
    )
    .bind(room_id)
    .bind(seq)
    .fetch_one(&mut *conn)
    .await?;
    insert_event(conn, room_id, (seq, ord), at, kind, data).await
}

/// 1 when webhooks are enabled, else 0.
pub(super) const WEBHOOKS_ENABLED: &str =
    "SELECT COUNT(*) FROM webhook_settings WHERE id = 1 AND enabled";

pub(super) async fn webhooks_enabled(conn: &mut AnyConnection) -> Result<bool, StoreError> {
    // `AND enabled` reads a boolean in both dialects (SQLite stores 0 or 1).
    let enabled: i64 = sqlx::query_scalar(WEBHOOKS_ENABLED)
        .fetch_one(&mut *conn)
        .await?;
    Ok(enabled > 0)
}

/// Writes one event, in the envelope every receiver verifies, due at once.
/// `(seq, ord)` places it in the room's delivery order.
async fn insert_event(
    conn: &mut AnyConnection,
    room_id: &str,
    (seq, ord): (i64, i64),
    at: Timestamp,
    kind: &str,
    data: Value,
) -> Result<(), StoreError> {
    let id = new_event_id();
    let at_db = ts_to_db(at)?;
    let body = envelope(&id, kind, room_id, at, &data)?;
    sqlx::query(
        "INSERT INTO webhook_outbox (id, room_id, seq, ord, created_at, body, attempts, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7)",
    )
    .bind(&id)
    .bind(room_id)
    .bind(seq)
    .bind(ord)
    .bind(at_db)
    .bind(body)
    .bind(at_db)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The columns `outbox_row` reads.
macro_rules! outbox_select {
    ($rest:literal) => {
        concat!(
            "SELECT id, room_id, body, attempts, next_attempt_at, failed_at FROM webhook_outbox ",
            $rest
        )
    };
}

fn outbox_row(r: &sqlx::any::AnyRow) -> Result<OutboxRow, StoreError> {
    let failed_at: Option<i64> = r.try_get("failed_at")?;
    Ok(OutboxRow {
        id: r.try_get("id")?,
        room_id: r.try_get("room_id")?,
        body: r.try_get("body")?,
        attempts: u32::try_from(from_db(r.try_get("attempts")?, "attempts")?).unwrap_or(u32::MAX),
        next_attempt_at: Timestamp(from_db(r.try_get("next_attempt_at")?, "next attempt")?),
        failed_at: failed_at
            .map(|v| from_db(v, "failed at").map(Timestamp))
            .transpose()?,
    })
}

impl Store {
    /// Whether appends write webhook events from now on (the server sets
    /// it from `[webhooks] url` at start).
    pub async fn set_webhooks_enabled(&self, enabled: bool) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO webhook_settings (id, enabled) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET enabled = excluded.enabled",
        )
        .bind(enabled)
        .execute(&self.writer)
        .await?;
        self.memo.set_webhooks(enabled);
        Ok(())
    }

    /// The oldest event not yet delivered nor given up: events go out in the
    /// order they happened, one at a time.
    pub async fn outbox_head(&self) -> Result<Option<OutboxRow>, StoreError> {
        let sql = outbox_select!(
            "WHERE failed_at IS NULL ORDER BY created_at, room_id, seq, ord LIMIT 1"
        );
        let row = sqlx::query(sql).fetch_optional(&self.pool).await?;
        row.as_ref().map(outbox_row).transpose()
    }

    /// Every event still in the outbox (pending and given up), in order.
    pub async fn outbox(&self) -> Result<Vec<OutboxRow>, StoreError> {
        let sql = outbox_select!("ORDER BY created_at, room_id, seq, ord");
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter().map(outbox_row).collect()
    }

    /// The receiver took the event: it leaves the outbox.
    pub async fn outbox_delivered(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM webhook_outbox WHERE id = $1")
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// A failed attempt: try again at `next`, or give up (`give_up`) and keep
    /// the row for the operator. `error` is a short cause (no body, no secret).
    pub async fn outbox_failed(
        &self,
        id: &str,
        now: Timestamp,
        next: Timestamp,
        give_up: bool,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2, \
             failed_at = $3 WHERE id = $4",
        )
        .bind(ts_to_db(next)?)
        .bind(error)
        .bind(if give_up { Some(ts_to_db(now)?) } else { None })
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}
