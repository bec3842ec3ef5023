-- ops module: the withdrawal approval queue. One row per withdrawal the platform asked for,
-- from the moment its rules were applied: approved at once, or waiting for one officer or two.
-- reasons: a JSON list of why it waits (empty when approved at once).
-- amount_eur: the value in euro cents at the reference rate; NULL when no rate is known.
CREATE TABLE withdrawal_reviews (
    transaction_id   UUID PRIMARY KEY,
    player_id        UUID NOT NULL,
    currency         TEXT NOT NULL,
    amount           BIGINT NOT NULL,
    amount_eur       BIGINT,
    vip              BOOLEAN NOT NULL,
    reasons          TEXT NOT NULL,
    needs_second     BOOLEAN NOT NULL,
    state            TEXT NOT NULL,
    first_by         TEXT,
    first_at         BIGINT,
    first_note       TEXT,
    decided_by       TEXT,
    decided_at       BIGINT,
    decision_reason  TEXT,
    requested_at     BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
-- The queue: open reviews, VIP players first, then the longest waiting.
CREATE INDEX withdrawal_reviews_queue ON withdrawal_reviews (state, vip, requested_at);
CREATE INDEX withdrawal_reviews_player ON withdrawal_reviews (player_id, requested_at);
