-- Postgres dialect of ../sqlite/0008_item_owners.sql: BIGINT where SQLite's INTEGER already holds 64 bits.
-- Issue 15: an agreement item may name the seat of the person who owns it,
-- so the follow-up can tell them (NULL: no owner by seat, only `who` in
-- words). Plain SQL that SQLite and Postgres both accept, like 0001.
ALTER TABLE agreement_items ADD COLUMN owner_seat BIGINT;
