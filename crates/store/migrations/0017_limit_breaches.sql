-- ops module: platform events that went through although a limit, a lock, a break or the
-- account's status should have stopped them; accepted (the money moved) and flagged here.
CREATE TABLE limit_breaches (
    id           UUID PRIMARY KEY,
    event_id     UUID NOT NULL UNIQUE,
    player_id    UUID NOT NULL,
    activity     TEXT NOT NULL,
    code         TEXT NOT NULL,
    reason       TEXT NOT NULL,
    occurred_at  BIGINT NOT NULL,
    recorded_at  BIGINT NOT NULL
);
CREATE INDEX limit_breaches_player ON limit_breaches (player_id, occurred_at);
