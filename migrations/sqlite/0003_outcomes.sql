-- Outcomes (issue 8): post-session feedback and agreement follow-up. Plain
-- SQL that SQLite and Postgres both accept, like 0001 and 0002.

-- One row per answer set (or decline): the room and the party label, never
-- an invitation id, seat, name or time. `slot` is a random number, not a
-- counter: in SQLite an INTEGER PRIMARY KEY is the row's storage key, so
-- rows are kept in random order and their order tells nobody who answered
-- first. `answers` is JSON {"question_id": 1..5}; `comment` is free text the
-- person chose to give.
CREATE TABLE feedback_answers (
    slot INTEGER PRIMARY KEY,
    room_id TEXT NOT NULL REFERENCES rooms (id),
    party TEXT,
    declined BOOLEAN NOT NULL,
    answers TEXT NOT NULL,
    comment TEXT
);
CREATE INDEX feedback_answers_by_room ON feedback_answers (room_id);

-- Who has answered or declined, so nobody is asked (or counted) twice. No
-- link to the answer row, no time; a random `slot` again, for the same reason.
CREATE TABLE feedback_given (
    slot INTEGER PRIMARY KEY,
    room_id TEXT NOT NULL REFERENCES rooms (id),
    invitation_id TEXT NOT NULL,
    UNIQUE (room_id, invitation_id)
);

-- The follow-up of each item of a room's final agreement: seeded `open`
-- when the agreement is finalised (in the same transaction), then changed
-- through the API. `*_notified`: each webhook goes out at most once per item.
CREATE TABLE agreement_items (
    room_id TEXT NOT NULL REFERENCES rooms (id),
    idx BIGINT NOT NULL,
    version BIGINT NOT NULL,
    hash TEXT NOT NULL,
    what TEXT NOT NULL,
    who TEXT NOT NULL,
    by_when TEXT NOT NULL,
    due TEXT,
    status TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    completed_notified BOOLEAN NOT NULL,
    missed_notified BOOLEAN NOT NULL,
    PRIMARY KEY (room_id, idx)
);
CREATE INDEX agreement_items_open_due ON agreement_items (status, missed_notified, due);
