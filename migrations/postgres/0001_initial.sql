-- Circle Keeper store (SPEC §4, §7). Plain SQL that SQLite and Postgres both
-- accept: integers are BIGINT (u32 seats and u64 milliseconds do not fit a
-- Postgres INTEGER), enums are their serde snake_case names, JSON is TEXT.
-- Record tables carry (seq, ord): the journal entry that caused the row and
-- its place among that entry's records, so order survives equal timestamps.
-- Nothing said in a circle (audio, video, chat, answers) has a column here.

CREATE TABLE rooms (
    id TEXT PRIMARY KEY,
    settings TEXT NOT NULL,
    phase TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE invitations (
    id TEXT PRIMARY KEY,
    room_id TEXT NOT NULL REFERENCES rooms (id),
    seat BIGINT NOT NULL,
    role TEXT NOT NULL,
    party TEXT,
    name TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX invitations_by_room ON invitations (room_id, seat, id);

-- No foreign key: a revocation must be recordable even for an invitation
-- the store never saw (minted elsewhere), and it is checked by jti alone.
CREATE TABLE revocations (
    invitation_id TEXT PRIMARY KEY,
    room_id TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX revocations_by_room ON revocations (room_id);

CREATE TABLE journal (
    room_id TEXT NOT NULL REFERENCES rooms (id),
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    input TEXT NOT NULL,
    PRIMARY KEY (room_id, seq)
);

CREATE TABLE consent_events (
    room_id TEXT NOT NULL REFERENCES rooms (id),
    seq BIGINT NOT NULL,
    ord BIGINT NOT NULL,
    invitation_id TEXT NOT NULL,
    item TEXT NOT NULL,
    version TEXT NOT NULL,
    decision TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (room_id, seq, ord)
);

CREATE TABLE attendance (
    room_id TEXT NOT NULL REFERENCES rooms (id),
    seq BIGINT NOT NULL,
    ord BIGINT NOT NULL,
    invitation_id TEXT NOT NULL,
    event TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (room_id, seq, ord)
);

CREATE TABLE phase_changes (
    room_id TEXT NOT NULL REFERENCES rooms (id),
    seq BIGINT NOT NULL,
    ord BIGINT NOT NULL,
    phase TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (room_id, seq, ord)
);

CREATE TABLE rounds (
    room_id TEXT NOT NULL REFERENCES rooms (id),
    round BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    PRIMARY KEY (room_id, round)
);

CREATE TABLE round_marks (
    room_id TEXT NOT NULL REFERENCES rooms (id),
    seq BIGINT NOT NULL,
    ord BIGINT NOT NULL,
    round BIGINT NOT NULL,
    invitation_id TEXT NOT NULL,
    mark TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (room_id, seq, ord),
    FOREIGN KEY (room_id, round) REFERENCES rounds (room_id, round)
);

-- One row per draft and one per finalisation: the history of the text.
CREATE TABLE agreements (
    room_id TEXT NOT NULL REFERENCES rooms (id),
    seq BIGINT NOT NULL,
    ord BIGINT NOT NULL,
    version BIGINT NOT NULL,
    items TEXT NOT NULL,
    text TEXT NOT NULL,
    hash TEXT NOT NULL,
    is_final BOOLEAN NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (room_id, seq, ord)
);

CREATE TABLE acknowledgements (
    room_id TEXT NOT NULL REFERENCES rooms (id),
    seq BIGINT NOT NULL,
    ord BIGINT NOT NULL,
    invitation_id TEXT NOT NULL,
    hash TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (room_id, seq, ord)
);
