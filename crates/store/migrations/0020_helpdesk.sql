-- help desk: tickets, their messages and history, queues with their assignment rules, saved
-- views, and the counter that numbers tickets.

-- Named counters (the next ticket number); taken with UPDATE ... RETURNING inside the
-- transaction that uses the number, so two tickets never share one.
CREATE TABLE helpdesk_counters (
    name   TEXT PRIMARY KEY,
    value  BIGINT NOT NULL
);
INSERT INTO helpdesk_counters (name, value) VALUES ('ticket_number', 1000);

-- A queue (a team's inbox). members: JSON list of {agent, languages}; assignment: `manual` or
-- `round_robin` (among the members, those speaking the ticket's language first); next_member:
-- the round robin's cursor.
CREATE TABLE helpdesk_queues (
    queue_key    TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    members      TEXT NOT NULL,
    assignment   TEXT NOT NULL,
    next_member  BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

-- Routing: a new ticket goes to the queue of the first rule (by position) whose field
-- (`language`, `brand`, `vip_tier`, `channel`) equals its value; else to the default queue.
CREATE TABLE helpdesk_routing (
    id         UUID PRIMARY KEY,
    position   BIGINT NOT NULL,
    field      TEXT NOT NULL,
    value      TEXT NOT NULL,
    queue_key  TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- A ticket. pauses: JSON list of [from, until|null] (microseconds) while it waited on the
-- player, which the SLA clock stands still for. The SLA's due times are kept as computed at the
-- last change, for lists and filters; sla_state says which warnings and breaches fired.
-- Figures for the dashboards: first_response_at, solved_at, handling_micros (time spent
-- open, being worked), reopen_count.
CREATE TABLE tickets (
    id                    UUID PRIMARY KEY,
    number                BIGINT NOT NULL UNIQUE,
    subject               TEXT NOT NULL,
    player_id             UUID,
    requester             TEXT NOT NULL,
    channel               TEXT NOT NULL,
    priority              TEXT NOT NULL,
    status                TEXT NOT NULL,
    queue_key             TEXT NOT NULL,
    assignee              TEXT,
    tags                  TEXT NOT NULL,
    language              TEXT NOT NULL,
    brand                 TEXT NOT NULL,
    vip_tier              TEXT NOT NULL,
    merged_into           UUID,
    pauses                TEXT NOT NULL,
    first_response_due    BIGINT,
    resolution_due        BIGINT,
    sla_state             TEXT NOT NULL,
    first_response_at     BIGINT,
    solved_at             BIGINT,
    closed_at             BIGINT,
    status_since          BIGINT NOT NULL,
    handling_micros       BIGINT NOT NULL,
    reopen_count          BIGINT NOT NULL,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    version               BIGINT NOT NULL
);
CREATE INDEX tickets_queue ON tickets (queue_key, status, updated_at);
CREATE INDEX tickets_status ON tickets (status, updated_at);
CREATE INDEX tickets_assignee ON tickets (assignee, status);
CREATE INDEX tickets_player ON tickets (player_id, created_at);
CREATE INDEX tickets_resolution_due ON tickets (resolution_due);

-- What was said on a ticket: public replies (to the player), internal notes, the player's own
-- messages, call logs and chat transcripts. email_message_id: the Message-ID it was sent or
-- received with, which threads replies.
CREATE TABLE ticket_messages (
    id                UUID PRIMARY KEY,
    ticket_id         UUID NOT NULL,
    kind              TEXT NOT NULL,
    author            TEXT NOT NULL,
    body              TEXT NOT NULL,
    email_message_id  TEXT,
    created_at        BIGINT NOT NULL
);
CREATE INDEX ticket_messages_ticket ON ticket_messages (ticket_id, created_at);
CREATE INDEX ticket_messages_email ON ticket_messages (email_message_id);

-- A ticket's history: every change, who made it, from what to what.
CREATE TABLE ticket_changes (
    id         UUID PRIMARY KEY,
    ticket_id  UUID NOT NULL,
    actor      TEXT NOT NULL,
    what       TEXT NOT NULL,
    detail     TEXT NOT NULL,
    at         BIGINT NOT NULL
);
CREATE INDEX ticket_changes_ticket ON ticket_changes (ticket_id, at);

-- An agent's saved view of the queues: a name and the list's filter as a query string.
CREATE TABLE helpdesk_views (
    id          UUID PRIMARY KEY,
    owner       TEXT NOT NULL,
    name        TEXT NOT NULL,
    query       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (owner, name)
);
