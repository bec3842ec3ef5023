-- ops module: responsible-gambling limits. A row is one change of one limit (player, kind,
-- period, who imposed it); the limit in force at a time is the latest change already in effect.
-- A player's increase or removal takes effect after the jurisdiction's cooling-off; a decrease,
-- and any operator's change, at once. Rows are never deleted: a change still waiting that a
-- later one replaces is marked cancelled.
CREATE TABLE rg_limits (
    id           UUID PRIMARY KEY,
    player_id    UUID NOT NULL REFERENCES players (id),
    kind         TEXT NOT NULL,     -- deposit
    period       TEXT NOT NULL,     -- day, week, month
    origin       TEXT NOT NULL,     -- player, operator
    amount       BIGINT,            -- minor units of currency; NULL removes the limit
    currency     TEXT NOT NULL,
    reason       TEXT,
    requested_by TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    effective_at BIGINT NOT NULL,
    cancelled_at BIGINT
);
CREATE INDEX rg_limits_player ON rg_limits (player_id, kind, period, origin, effective_at);
