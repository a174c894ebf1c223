-- SPEC §6.6: nodes and room ownership, the same in both dialects. A node renews
-- its lease (`lease_until`, milliseconds since the epoch by its own clock); a
-- room is owned by one node at a time, and every journal append checks the
-- owner's `epoch` in its own transaction, so a node that lost a room can never
-- write to it. A takeover raises the epoch. No foreign key: the room's deletion
-- removes its row, and a node's row outlives the node. A duty (webhook delivery,
-- retention, the follow-up sweep) is done by one node at a time, the one whose
-- claim on it is live.
CREATE TABLE nodes (
    id TEXT PRIMARY KEY,
    public_url TEXT NOT NULL,
    lease_until BIGINT NOT NULL
);

CREATE TABLE room_owners (
    room_id TEXT PRIMARY KEY,
    node_id TEXT NOT NULL,
    epoch BIGINT NOT NULL
);
CREATE INDEX room_owners_by_node ON room_owners (node_id);

CREATE TABLE duties (
    name TEXT PRIMARY KEY,
    node_id TEXT NOT NULL,
    until_ms BIGINT NOT NULL
);

-- The owner of a running room reads the invitations other nodes issued or
-- revoked lately (a program's API call may reach any node).
CREATE INDEX invitations_by_issue ON invitations (issued_at);
CREATE INDEX invitations_by_revocation ON invitations (revoked_at);
