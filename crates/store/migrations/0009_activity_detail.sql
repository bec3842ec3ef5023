ALTER TABLE player_daily ADD COLUMN bonus_granted_sum   BIGINT NOT NULL DEFAULT 0;
ALTER TABLE player_daily ADD COLUMN bonus_converted_sum BIGINT NOT NULL DEFAULT 0;
ALTER TABLE player_daily ADD COLUMN bonus_forfeited_sum BIGINT NOT NULL DEFAULT 0;
ALTER TABLE player_stats ADD COLUMN bonus_forfeited_sum BIGINT NOT NULL DEFAULT 0;
-- one row per player and game category played: lifetime figures and when last played
CREATE TABLE player_categories (
    player_id     UUID NOT NULL REFERENCES players (id),
    category      TEXT NOT NULL,
    rounds_count  BIGINT NOT NULL DEFAULT 0,
    stake_sum     BIGINT NOT NULL DEFAULT 0,
    first_played  BIGINT NOT NULL,   -- microseconds since the epoch
    last_played   BIGINT NOT NULL,
    PRIMARY KEY (player_id, category)
);
CREATE INDEX player_categories_category ON player_categories (category, last_played);
