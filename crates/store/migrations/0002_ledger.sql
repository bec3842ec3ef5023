-- payments module: the double-entry ledger.

-- tracks_balance: the account's posted/pending columns are kept in step with its postings
-- (player accounts, which are checked against overdraft). House and clearing accounts are
-- never checked, so their balance is summed from postings on demand and no hot row is written.
CREATE TABLE ledger_accounts (
    code            TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    player_id       UUID,
    currency        TEXT NOT NULL,
    tracks_balance  BOOLEAN NOT NULL,
    posted_debits   BIGINT NOT NULL DEFAULT 0,
    posted_credits  BIGINT NOT NULL DEFAULT 0,
    pending_debits  BIGINT NOT NULL DEFAULT 0,
    pending_credits BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX ledger_accounts_player ON ledger_accounts (player_id);

-- (kind, reference) is the platform's idempotency key; request_hash tells a replay from a reuse.
CREATE TABLE ledger_transactions (
    id           UUID PRIMARY KEY,
    kind         TEXT NOT NULL,
    reference    TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    player_id    UUID,
    currency     TEXT NOT NULL,
    amount       BIGINT NOT NULL,
    status       TEXT NOT NULL,
    held         BOOLEAN NOT NULL DEFAULT FALSE,
    description  TEXT,
    occurred_at  BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    UNIQUE (kind, reference)
);
CREATE INDEX ledger_transactions_player ON ledger_transactions (player_id, created_at);
CREATE INDEX ledger_transactions_status ON ledger_transactions (status, created_at);

-- Append-only. phase 'pending' rows are holds; a hold is released by a row with negated amounts.
CREATE TABLE ledger_postings (
    id             UUID PRIMARY KEY,
    transaction_id UUID NOT NULL REFERENCES ledger_transactions (id),
    account_code   TEXT NOT NULL REFERENCES ledger_accounts (code),
    phase          TEXT NOT NULL,
    debit          BIGINT NOT NULL,
    credit         BIGINT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX ledger_postings_account ON ledger_postings (account_code);
CREATE INDEX ledger_postings_transaction ON ledger_postings (transaction_id);

CREATE TABLE ledger_status_history (
    id             UUID PRIMARY KEY,
    transaction_id UUID NOT NULL REFERENCES ledger_transactions (id),
    from_status    TEXT,
    to_status      TEXT NOT NULL,
    reason         TEXT,
    actor          TEXT NOT NULL,
    at             BIGINT NOT NULL
);
CREATE INDEX ledger_status_history_transaction ON ledger_status_history (transaction_id, at);
