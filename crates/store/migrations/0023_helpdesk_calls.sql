-- help desk phone: calls reported by the telephony system's webhook, each logged on a ticket
-- (crates/helpdesk/src/calls.rs).

-- One call. call_id: the provider's id. state: ringing, answered, ended, missed.
CREATE TABLE helpdesk_calls (
    id                UUID PRIMARY KEY,
    call_id           TEXT NOT NULL UNIQUE,
    ticket_id         UUID NOT NULL,
    player_id         UUID,
    caller_number     TEXT NOT NULL,
    direction         TEXT NOT NULL,
    state             TEXT NOT NULL,
    agent             TEXT,
    started_at        BIGINT,
    answered_at       BIGINT,
    ended_at          BIGINT,
    duration_seconds  BIGINT,
    recording_url     TEXT,
    created_at        BIGINT NOT NULL
);
CREATE INDEX helpdesk_calls_ticket ON helpdesk_calls (ticket_id, created_at);
CREATE INDEX helpdesk_calls_player ON helpdesk_calls (player_id, created_at);

-- Each event taken, once: a webhook delivered twice is logged once.
CREATE TABLE helpdesk_call_events (
    call_id      TEXT NOT NULL,
    event        TEXT NOT NULL,
    at           BIGINT NOT NULL,
    received_at  BIGINT NOT NULL,
    PRIMARY KEY (call_id, event)
);
