-- Issue 15 (SPEC §2 "Case"): a program's matter, grouping its rooms — the
-- preparation meetings and the joint meeting. A case holds only a title,
-- written by the program like a room's (no names of the people in it).
-- Plain SQL that SQLite and Postgres both accept, like 0001.
CREATE TABLE cases (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- The case a room belongs to, beside its schedule: what the API knows about
-- a room beyond its settings. No foreign key, like the rest of api_rooms: a
-- case is deleted only when no room names it (the API checks in the same
-- transaction).
ALTER TABLE api_rooms ADD COLUMN case_id TEXT;
CREATE INDEX api_rooms_case ON api_rooms (case_id);
