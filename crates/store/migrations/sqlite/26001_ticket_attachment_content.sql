ALTER TABLE ticket_attachments ADD COLUMN content BLOB NOT NULL DEFAULT x'';
