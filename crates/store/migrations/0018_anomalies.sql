-- ops module: anomaly rules, the alerts they raise, and the identifiers accounts share.

-- A rule: which events it judges, its condition in the rule language (over the player's facts
-- and the event's: `recent.deposits >= 5`), the window its `recent.*` facts count over, what an
-- alert weighs, and whether it alerts (`live`), only records its hits (`shadow`) or rests
-- (`off`). `rule_key` is stable: the shipped rules are installed by it, once. events: a JSON list.
CREATE TABLE anomaly_rules (
    id              UUID PRIMARY KEY,
    rule_key        TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL UNIQUE,
    description     TEXT NOT NULL,
    events          TEXT NOT NULL,
    condition_text  TEXT NOT NULL,
    window_minutes  BIGINT NOT NULL,
    dedup_minutes   BIGINT NOT NULL,
    severity        TEXT NOT NULL,
    mode            TEXT NOT NULL,
    version         BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    updated_by      TEXT NOT NULL
);

-- An alert: one rule's hits on one player, deduplicated while it is unresolved and its last
-- hit is within the rule's dedup window. evidence: JSON of the latest hit (the event, the
-- facts it read, the condition's trace). A shadow rule's hits are kept as alerts in state
-- `shadow`, which nobody is told about.
CREATE TABLE alerts (
    id               UUID PRIMARY KEY,
    rule_id          UUID NOT NULL,
    rule_name        TEXT NOT NULL,
    rule_version     BIGINT NOT NULL,
    player_id        UUID NOT NULL,
    severity         TEXT NOT NULL,
    state            TEXT NOT NULL,
    hits             BIGINT NOT NULL,
    evidence         TEXT NOT NULL,
    first_hit_at     BIGINT NOT NULL,
    last_hit_at      BIGINT NOT NULL,
    assignee         TEXT,
    acknowledged_by  TEXT,
    acknowledged_at  BIGINT,
    resolved_by      TEXT,
    resolved_at      BIGINT,
    outcome          TEXT,
    resolution       TEXT,
    raised_at        BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX alerts_state ON alerts (state, updated_at);
CREATE INDEX alerts_player ON alerts (player_id, raised_at);
CREATE INDEX alerts_rule_player ON alerts (rule_id, player_id, state);
CREATE INDEX alerts_changed ON alerts (updated_at);

-- Each event a rule hit, once: the idempotency of the hits and the alert's history.
CREATE TABLE alert_hits (
    rule_id      UUID NOT NULL,
    event_id     UUID NOT NULL,
    alert_id     UUID NOT NULL,
    occurred_at  BIGINT NOT NULL,
    PRIMARY KEY (rule_id, event_id)
);
CREATE INDEX alert_hits_alert ON alert_hits (alert_id, occurred_at);

-- Devices, IP addresses and payment instruments each player was seen with, as SHA-256 of the
-- value (the rules only need to know who shares one, not what it is).
CREATE TABLE player_identifiers (
    kind        TEXT NOT NULL,
    value_hash  TEXT NOT NULL,
    player_id   UUID NOT NULL,
    first_seen  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    PRIMARY KEY (kind, value_hash, player_id)
);

-- Who is told of which alerts: by email or webhook, from a severity up, for some rules or all
-- (rules: a JSON list of rule keys, empty for all). A webhook's secret signs its deliveries.
CREATE TABLE alert_subscriptions (
    id            UUID PRIMARY KEY,
    owner         TEXT NOT NULL,
    channel       TEXT NOT NULL,
    target        TEXT NOT NULL,
    secret        TEXT,
    min_severity  TEXT NOT NULL,
    rules         TEXT NOT NULL,
    active        BOOLEAN NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- Each alert's delivery to each subscription: `pending` while it is being tried (a failed try
-- sets a retry timer, kind `alerts.delivery`), `delivered`, or `failed` after the last try.
CREATE TABLE alert_deliveries (
    alert_id         UUID NOT NULL,
    subscription_id  UUID NOT NULL,
    state            TEXT NOT NULL,
    attempts         BIGINT NOT NULL,
    last_error       TEXT,
    delivered_at     BIGINT,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (alert_id, subscription_id)
);
CREATE INDEX alert_deliveries_subscription ON alert_deliveries (subscription_id, updated_at);
