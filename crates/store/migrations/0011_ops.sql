-- ops module: account locks, and responsible-gambling breaks (time-outs and self-exclusions).
-- A lock closes a player's account wholly or in part until it is lifted or expires; rows are
-- never deleted; lifting records who, when and why.
CREATE TABLE player_locks (
    id          UUID PRIMARY KEY,
    player_id   UUID NOT NULL REFERENCES players (id),
    scope       TEXT NOT NULL,     -- all, deposits, withdrawals, gameplay, bonuses
    reason      TEXT NOT NULL,
    origin      TEXT NOT NULL,     -- operator, or the module that set it (kyc, aml, ...)
    set_by      TEXT NOT NULL,
    set_at      BIGINT NOT NULL,   -- microseconds since the epoch
    expires_at  BIGINT,
    lifted_at   BIGINT,
    lifted_by   TEXT,
    lift_reason TEXT
);
CREATE INDEX player_locks_player ON player_locks (player_id, set_at);

-- Time-outs and self-exclusions: never lifted, they end at ends_at (never, when it is NULL).
CREATE TABLE rg_exclusions (
    id           UUID PRIMARY KEY,
    player_id    UUID NOT NULL REFERENCES players (id),
    kind         TEXT NOT NULL,     -- timeout, self_exclusion
    jurisdiction TEXT NOT NULL,     -- the profile it was taken under, e.g. ukgc
    starts_at    BIGINT NOT NULL,
    ends_at      BIGINT,
    reason       TEXT,
    requested_by TEXT NOT NULL
);
CREATE INDEX rg_exclusions_player ON rg_exclusions (player_id, starts_at);
