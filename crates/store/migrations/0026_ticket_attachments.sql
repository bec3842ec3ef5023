-- help desk attachments (crates/helpdesk/src/attachments.rs): files that came with a player's
-- email or that agents added, kept with their SHA-256. The bytes' column is each engine's own
-- (postgres/26001, sqlite/26001).
CREATE TABLE ticket_attachments (
    id            UUID PRIMARY KEY,
    ticket_id     UUID NOT NULL,
    message_id    UUID,
    name          TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size          BIGINT NOT NULL,
    sha256        TEXT NOT NULL,
    added_by      TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX ticket_attachments_ticket ON ticket_attachments (ticket_id, created_at);
