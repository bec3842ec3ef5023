-- Durable timers: work due at an instant ("this player's segments change at T"), read by a
-- scheduler that sleeps until the earliest one, instead of a periodic sweep over everything.
-- One timer per (kind, key): setting it again moves it.
CREATE TABLE timers (
    kind       TEXT NOT NULL,
    key        TEXT NOT NULL,
    -- microseconds since the Unix epoch
    due_at     BIGINT NOT NULL,
    set_at     BIGINT NOT NULL,
    -- failed firings in a row (the timer is pushed back a little more after each)
    attempts   BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    PRIMARY KEY (kind, key)
);
CREATE INDEX timers_due ON timers (kind, due_at);
