-- SQLite half of the ledger's keys and references (the PostgreSQL half is
-- postgres/10001_ledger_keys_and_references.sql and must say the same).
--
-- Keys. Postings and status changes are only ever read by transaction, in the order they were
-- written (their ids are UUIDv7): keyed by (transaction_id, id), one index serves both reading
-- and uniqueness, where there were two to write per row. SQLite changes a primary key by
-- rebuilding the table.
--
-- References. The foreign keys stay: SQLite checks them in process, without the row locks that
-- made them costly on PostgreSQL (which checks a statement at a time instead). Both engines:
--   * a transaction or an account is never deleted or given another key;
--   * postings and status changes are never edited or deleted: the ledger only grows.

CREATE TABLE ledger_postings_rekeyed (
    id             UUID NOT NULL,
    transaction_id UUID NOT NULL REFERENCES ledger_transactions (id),
    account_code   TEXT NOT NULL REFERENCES ledger_accounts (code),
    phase          TEXT NOT NULL,
    debit          BIGINT NOT NULL,
    credit         BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (transaction_id, id)
);
INSERT INTO ledger_postings_rekeyed (id, transaction_id, account_code, phase, debit, credit, created_at)
    SELECT id, transaction_id, account_code, phase, debit, credit, created_at FROM ledger_postings;
DROP TABLE ledger_postings;
ALTER TABLE ledger_postings_rekeyed RENAME TO ledger_postings;
CREATE INDEX ledger_postings_account ON ledger_postings (account_code);
-- The holds still open are looked up by transaction among the few pending postings, not all of
-- them: a lookup planned while the table was small stays cheap as it grows.
CREATE INDEX ledger_postings_holds ON ledger_postings (transaction_id) WHERE phase = 'pending';

CREATE TABLE ledger_status_history_rekeyed (
    id             UUID NOT NULL,
    transaction_id UUID NOT NULL REFERENCES ledger_transactions (id),
    from_status    TEXT,
    to_status      TEXT NOT NULL,
    reason         TEXT,
    actor          TEXT NOT NULL,
    at             BIGINT NOT NULL,
    PRIMARY KEY (transaction_id, id)
);
INSERT INTO ledger_status_history_rekeyed (id, transaction_id, from_status, to_status, reason, actor, at)
    SELECT id, transaction_id, from_status, to_status, reason, actor, at FROM ledger_status_history;
DROP TABLE ledger_status_history;
ALTER TABLE ledger_status_history_rekeyed RENAME TO ledger_status_history;

CREATE TRIGGER ledger_postings_no_update BEFORE UPDATE ON ledger_postings
BEGIN
    SELECT RAISE(ABORT, 'ledger_postings keeps the ledger''s history: UPDATE is refused');
END;
CREATE TRIGGER ledger_postings_no_delete BEFORE DELETE ON ledger_postings
BEGIN
    SELECT RAISE(ABORT, 'ledger_postings keeps the ledger''s history: DELETE is refused');
END;
CREATE TRIGGER ledger_status_history_no_update BEFORE UPDATE ON ledger_status_history
BEGIN
    SELECT RAISE(ABORT, 'ledger_status_history keeps the ledger''s history: UPDATE is refused');
END;
CREATE TRIGGER ledger_status_history_no_delete BEFORE DELETE ON ledger_status_history
BEGIN
    SELECT RAISE(ABORT, 'ledger_status_history keeps the ledger''s history: DELETE is refused');
END;

CREATE TRIGGER ledger_transactions_no_delete BEFORE DELETE ON ledger_transactions
BEGIN
    SELECT RAISE(ABORT, 'ledger_transactions keeps the ledger''s history: DELETE is refused');
END;
CREATE TRIGGER ledger_transactions_same_key BEFORE UPDATE OF id ON ledger_transactions
WHEN NEW.id IS NOT OLD.id
BEGIN
    SELECT RAISE(ABORT, 'ledger_transactions keeps the ledger''s history: its key cannot change');
END;

CREATE TRIGGER ledger_accounts_no_delete BEFORE DELETE ON ledger_accounts
BEGIN
    SELECT RAISE(ABORT, 'ledger_accounts keeps the ledger''s history: DELETE is refused');
END;
CREATE TRIGGER ledger_accounts_same_key BEFORE UPDATE OF code ON ledger_accounts
WHEN NEW.code IS NOT OLD.code
BEGIN
    SELECT RAISE(ABORT, 'ledger_accounts keeps the ledger''s history: its key cannot change');
END;
