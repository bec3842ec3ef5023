-- ingest: every accepted event, kept as received. The primary key drops duplicates by id;
-- content_hash tells a resend from an id reused for a different event.
CREATE TABLE events (
    id           UUID PRIMARY KEY,
    type         TEXT NOT NULL,
    player_ref   TEXT NOT NULL,
    player_id    UUID,
    occurred_at  BIGINT NOT NULL,
    received_at  BIGINT NOT NULL,
    source       TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    body         TEXT NOT NULL,
    outcome      TEXT NOT NULL
);
CREATE INDEX events_player ON events (player_id, occurred_at);

-- bus: events caused by changes, written in the same transaction; the relay publishes them.
CREATE TABLE outbox (
    id           UUID PRIMARY KEY,
    topic        TEXT NOT NULL,
    partition_key TEXT NOT NULL,
    payload      TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    published_at BIGINT
);
CREATE INDEX outbox_unpublished ON outbox (published_at, id);

-- bus: what each consumer has already applied, for effectively-once effects.
CREATE TABLE consumed_messages (
    consumer    TEXT NOT NULL,
    message_id  UUID NOT NULL,
    consumed_at BIGINT NOT NULL,
    PRIMARY KEY (consumer, message_id)
);
