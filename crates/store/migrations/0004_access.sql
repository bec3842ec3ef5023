-- auth: API keys for machine clients (only a SHA-256 of the secret is kept), operators,
-- and the audit log of every change an operator or client makes.
-- Lists (scopes, roles) and audit details are JSON text; instants are BIGINT microseconds.
CREATE TABLE api_keys (
    id           UUID PRIMARY KEY,
    name         TEXT NOT NULL,
    -- the public part of the key (`pbk_<prefix>_...`), shown in lists to tell keys apart
    prefix       TEXT NOT NULL,
    -- the UNIQUE index is the one lookup authentication makes on every request
    secret_hash  TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    -- updated at most once a minute per key and process, so it is accurate to the minute
    last_used_at BIGINT
);
-- The audit log names a key's actor by its name, so at any instant only one live key may hold
-- it; a revoked key's name can be reused by its replacement.
CREATE UNIQUE INDEX api_keys_live_name ON api_keys (name) WHERE revoked_at IS NULL;

CREATE TABLE operators (
    id            UUID PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    roles         TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    disabled_at   BIGINT
);

CREATE TABLE audit_log (
    id          UUID PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    details     TEXT NOT NULL
);
CREATE INDEX audit_log_target ON audit_log (target_type, target_id, at);
-- the unfiltered listing, newest first
CREATE INDEX audit_log_at ON audit_log (at, id);
