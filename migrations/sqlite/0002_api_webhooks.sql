-- The program API (SPEC §6.2) and its webhooks. Plain SQL that SQLite and
-- Postgres both accept, like 0001.

-- What the API knows about a room beyond its settings: when it is scheduled
-- to start. No foreign key: the API deletes this row with the room, and
-- retention reads it to date a room's last activity.
CREATE TABLE api_rooms (
    room_id TEXT PRIMARY KEY,
    starts_at BIGINT,
    created_at BIGINT NOT NULL
);

-- Webhook events waiting to be delivered, written in the same transaction as
-- the journal entry that caused them, so none is lost across a receiver
-- outage or a restart. The body is stored as sent (it is what is signed); it
-- holds invitation ids and party labels, never names or anything said. No
-- foreign key: an event outlives the deletion of its room until delivered.
-- (room_id, seq, ord) is the journal entry that caused it: delivery order.
CREATE TABLE webhook_outbox (
    id TEXT PRIMARY KEY,
    room_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    ord BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    body TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    failed_at BIGINT
);
CREATE INDEX webhook_outbox_order ON webhook_outbox (failed_at, created_at, room_id, seq, ord);

-- Whether appends write outbox rows: set by the server at start from
-- `[webhooks] url`, so a server without webhooks keeps no events.
CREATE TABLE webhook_settings (
    id BIGINT PRIMARY KEY,
    enabled BOOLEAN NOT NULL
);
