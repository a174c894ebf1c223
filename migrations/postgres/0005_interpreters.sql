-- SPEC §2 links between people: the seats an interpreter's invitation
-- interprets for, as a JSON array of seat numbers (NULL: no link). Plain SQL
-- that SQLite and Postgres both accept, like 0001.
ALTER TABLE invitations ADD COLUMN interprets_for TEXT;
