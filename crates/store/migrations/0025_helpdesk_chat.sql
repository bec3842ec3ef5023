-- help desk live chat (crates/helpdesk/src/chat.rs): a chat is a ticket of the chat channel
-- (its transcript is the ticket's thread); this row keeps what only a live conversation has.
-- token_digest: SHA-256 of the widget's token. state: waiting, active, ended.
CREATE TABLE helpdesk_chats (
    id              UUID PRIMARY KEY,
    ticket_id       UUID NOT NULL UNIQUE,
    player_id       UUID,
    visitor         TEXT NOT NULL,
    token_digest    TEXT NOT NULL,
    agent           TEXT,
    state           TEXT NOT NULL,
    started_at      BIGINT NOT NULL,
    ended_at        BIGINT,
    player_read_at  BIGINT,
    agent_read_at   BIGINT
);
CREATE INDEX helpdesk_chats_state ON helpdesk_chats (state, started_at);
