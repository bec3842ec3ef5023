-- ops module: account locks. A lock closes a player's account wholly or in part until it is
-- lifted or expires. Rows are never deleted; lifting records who, when and why.
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
