-- players module: the master player profile, its tags, and the activity aggregates.
-- Portable subset: ids are UUID (a blob on SQLite), instants are BIGINT microseconds since the
-- Unix epoch, dates are ISO 'YYYY-MM-DD' text.

CREATE TABLE players (
    id              UUID PRIMARY KEY,
    external_id     TEXT NOT NULL UNIQUE,
    email           TEXT,
    phone           TEXT,
    first_name      TEXT,
    last_name       TEXT,
    search_name     TEXT,
    birth_date      TEXT,
    gender          TEXT,
    country         TEXT NOT NULL,
    language        TEXT,
    currency        TEXT NOT NULL,
    registered_at   BIGINT NOT NULL,
    traffic_source  TEXT,
    affiliate_id    TEXT,
    campaign        TEXT,
    consent_email   BOOLEAN NOT NULL DEFAULT FALSE,
    consent_sms     BOOLEAN NOT NULL DEFAULT FALSE,
    consent_push    BOOLEAN NOT NULL DEFAULT FALSE,
    consent_messenger BOOLEAN NOT NULL DEFAULT FALSE,
    status          TEXT NOT NULL DEFAULT 'active',
    kyc_status      TEXT NOT NULL DEFAULT 'none',
    vip_tier        TEXT NOT NULL DEFAULT 'none',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    version         BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX players_email ON players (email);
CREATE INDEX players_phone ON players (phone);
CREATE INDEX players_search_name ON players (search_name);
CREATE INDEX players_registered ON players (registered_at, id);
CREATE INDEX players_country ON players (country, id);

CREATE TABLE player_tags (
    player_id UUID NOT NULL REFERENCES players (id),
    tag       TEXT NOT NULL,
    PRIMARY KEY (player_id, tag)
);
CREATE INDEX player_tags_tag ON player_tags (tag, player_id);

-- Lifetime aggregates, updated in the same transaction as the event that changes them.
CREATE TABLE player_stats (
    player_id           UUID PRIMARY KEY REFERENCES players (id),
    sessions_count      BIGINT NOT NULL DEFAULT 0,
    last_session_at     BIGINT,
    deposit_count       BIGINT NOT NULL DEFAULT 0,
    deposit_sum         BIGINT NOT NULL DEFAULT 0,
    first_deposit_at    BIGINT,
    last_deposit_at     BIGINT,
    withdrawal_count    BIGINT NOT NULL DEFAULT 0,
    withdrawal_sum      BIGINT NOT NULL DEFAULT 0,
    last_withdrawal_at  BIGINT,
    rounds_count        BIGINT NOT NULL DEFAULT 0,
    stake_sum           BIGINT NOT NULL DEFAULT 0,
    win_sum             BIGINT NOT NULL DEFAULT 0,
    bonus_granted_sum   BIGINT NOT NULL DEFAULT 0,
    bonus_converted_sum BIGINT NOT NULL DEFAULT 0,
    last_activity_at    BIGINT,
    updated_at          BIGINT NOT NULL
);

-- Per-day buckets (day = days since the epoch, UTC): trailing 7/30/90-day figures are sums of
-- the last N buckets, so they stay right as time passes without rewriting anything.
CREATE TABLE player_daily (
    player_id        UUID NOT NULL REFERENCES players (id),
    day              BIGINT NOT NULL,
    sessions_count   BIGINT NOT NULL DEFAULT 0,
    deposit_count    BIGINT NOT NULL DEFAULT 0,
    deposit_sum      BIGINT NOT NULL DEFAULT 0,
    withdrawal_count BIGINT NOT NULL DEFAULT 0,
    withdrawal_sum   BIGINT NOT NULL DEFAULT 0,
    rounds_count     BIGINT NOT NULL DEFAULT 0,
    stake_sum        BIGINT NOT NULL DEFAULT 0,
    win_sum          BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (player_id, day)
);
