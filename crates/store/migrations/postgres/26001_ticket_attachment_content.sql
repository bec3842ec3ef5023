ALTER TABLE ticket_attachments ADD COLUMN content BYTEA NOT NULL;
