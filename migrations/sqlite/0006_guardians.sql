-- SPEC §2 and §3.1.6: a minor's invitation names their guardian's seat (NULL:
-- not a minor), and a consent given by a guardian on a minor's behalf names
-- the guardian's invitation (NULL: the person's own answer). Plain SQL that
-- SQLite and Postgres both accept, like 0001.
ALTER TABLE invitations ADD COLUMN guardian_seat INTEGER;
ALTER TABLE consent_events ADD COLUMN given_by TEXT;
