-- identity: operator attributes, two-factor authentication, single sign-on links, sign-in
-- throttling, and players' brand (which the access policies look at).

-- Who the operator is and what they serve. Lists are JSON text, like roles.
ALTER TABLE operators ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
ALTER TABLE operators ADD COLUMN email TEXT NOT NULL DEFAULT '';
ALTER TABLE operators ADD COLUMN brands TEXT NOT NULL DEFAULT '[]';
ALTER TABLE operators ADD COLUMN jurisdictions TEXT NOT NULL DEFAULT '[]';
ALTER TABLE operators ADD COLUMN team TEXT NOT NULL DEFAULT '';
ALTER TABLE operators ADD COLUMN updated_at BIGINT;
-- TOTP (RFC 6238): the base32 secret, set at enrolment and confirmed by a first valid code;
-- and the last time step accepted, so that a code is never accepted twice.
ALTER TABLE operators ADD COLUMN totp_secret TEXT;
ALTER TABLE operators ADD COLUMN totp_confirmed_at BIGINT;
ALTER TABLE operators ADD COLUMN totp_last_step BIGINT;
-- A secret being enrolled, until its first code confirms it (the confirmed one stays in force).
ALTER TABLE operators ADD COLUMN pending_totp_secret TEXT;
-- An operator created by single sign-on is linked to the provider's (issuer, subject) and has
-- no usable password (password_hash is empty).
ALTER TABLE operators ADD COLUMN oidc_issuer TEXT;
ALTER TABLE operators ADD COLUMN oidc_subject TEXT;
CREATE UNIQUE INDEX operators_oidc ON operators (oidc_issuer, oidc_subject);

-- One-time recovery codes for a lost authenticator; only a SHA-256 of each is kept.
CREATE TABLE operator_recovery_codes (
    operator_id UUID NOT NULL REFERENCES operators (id),
    code_hash   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    used_at     BIGINT,
    PRIMARY KEY (operator_id, code_hash)
);

-- Failed sign-ins per username, whether or not the username exists, so that lockout behaves
-- the same for both and tells a guesser nothing.
CREATE TABLE sign_in_throttle (
    username        TEXT PRIMARY KEY,
    failures        BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL,
    locked_until    BIGINT NOT NULL
);

-- The brand (site or skin) a player signed up with; support agents see players of their brands.
ALTER TABLE players ADD COLUMN brand TEXT NOT NULL DEFAULT 'main';
CREATE INDEX players_brand ON players (brand, id);

-- Manual adjustments waiting for a second officer (four eyes): the policies let one officer
-- adjust only up to a threshold; above it the request waits here until another approves.
CREATE TABLE adjustment_requests (
    id              UUID PRIMARY KEY,
    player_id       UUID NOT NULL REFERENCES players (id),
    -- the ledger reference the adjustment will carry once approved (its idempotency key)
    reference       TEXT NOT NULL UNIQUE,
    currency        TEXT NOT NULL,
    amount          BIGINT NOT NULL,
    reason          TEXT NOT NULL,
    allow_overdraft BOOLEAN NOT NULL,
    requested_by    TEXT NOT NULL,
    requested_at    BIGINT NOT NULL,
    -- pending, approved or rejected
    status          TEXT NOT NULL,
    decided_by      TEXT,
    decided_at      BIGINT,
    decision_reason TEXT,
    transaction_id  UUID
);
CREATE INDEX adjustment_requests_status ON adjustment_requests (status, requested_at);
