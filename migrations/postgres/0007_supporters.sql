-- Postgres dialect of ../sqlite/0007_supporters.sql: BIGINT where SQLite's INTEGER already holds 64 bits.
-- SPEC §2 and §3.1.7: a supporter's invitation may name the seat of the person
-- they support (NULL: no link). Plain SQL that SQLite and Postgres both
-- accept, like 0001.
ALTER TABLE invitations ADD COLUMN supports_seat BIGINT;
