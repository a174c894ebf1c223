-- The program's library of circle outlines (an outline: a name and its steps,
-- each a kind and a prompt the keeper wrote). Plain SQL that SQLite and
-- Postgres both accept, like 0001. Names are unique: a keeper's `set_outline`
-- replaces the library's outline of the same name. No foreign key to rooms: a
-- room copies its outline into its settings, and the library outlives rooms.
CREATE TABLE outlines (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    steps TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
