-- Issue 15: an agreement item may name the seat of the person who owns it,
-- so the follow-up can tell them (NULL: no owner by seat, only `who` in
-- words). Plain SQL that SQLite and Postgres both accept, like 0001.
ALTER TABLE agreement_items ADD COLUMN owner_seat INTEGER;
