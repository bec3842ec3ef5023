-- help desk email: replies waiting to go out (and how their sending went), and inbound mail
-- that became no ticket (malformed, too large, an auto-reply, a loop, a bounce), kept for an
-- operator to look at: no message is dropped unseen.

-- One outgoing reply. message_id: the Message-ID it goes out with (also on its
-- ticket_messages row); in_reply_to and references_ids thread it in the player's mailbox.
-- state: pending, sent, failed (given up after its attempts).
CREATE TABLE ticket_mail_out (
    id              UUID PRIMARY KEY,
    ticket_id       UUID NOT NULL,
    to_address      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    in_reply_to     TEXT,
    references_ids  TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX ticket_mail_out_ticket ON ticket_mail_out (ticket_id, created_at);

-- Inbound mail set aside, with why. excerpt: the first 64 KiB of the raw message.
CREATE TABLE helpdesk_quarantine (
    id           UUID PRIMARY KEY,
    received_at  BIGINT NOT NULL,
    sender       TEXT NOT NULL,
    subject      TEXT NOT NULL,
    reason       TEXT NOT NULL,
    size         BIGINT NOT NULL,
    excerpt      TEXT NOT NULL
);
CREATE INDEX helpdesk_quarantine_received ON helpdesk_quarantine (received_at);
