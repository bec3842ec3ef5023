-- PostgreSQL half of the ledger's keys and references (the SQLite half is
-- sqlite/10001_ledger_keys_and_references.sql and must say the same).
--
-- Keys. Postings and status changes are only ever read by transaction, in the order they were
-- written (their ids are UUIDv7): keyed by (transaction_id, id), one index serves both reading
-- and uniqueness, where there were two to write per row.
--
-- References. A foreign key checks each new row on its own: a query and a row lock per posting,
-- and on the house and clearing accounts, which every transaction touches, a lock shared by
-- every concurrent writer. For a ledger written a thousand postings per statement that cost
-- more than writing the postings. The same promise is kept here with one anti-join per
-- statement:
--   * every posting names a transaction and an account that exist, and every status change a
--     transaction that exists (checked after each INSERT, over all its rows at once);
--   * a transaction or an account is never deleted, truncated or given another key, so what
--     a posting names stays there (a foreign key locks the row it names for the same reason);
--   * postings and status changes are never edited or deleted: the ledger only grows.

ALTER TABLE ledger_postings DROP CONSTRAINT ledger_postings_pkey, ADD PRIMARY KEY (transaction_id, id);
DROP INDEX ledger_postings_transaction;
-- The holds still open are looked up by transaction among the few pending postings, not all of
-- them: a lookup planned while the table was small stays cheap as it grows.
CREATE INDEX ledger_postings_holds ON ledger_postings (transaction_id) WHERE phase = 'pending';
ALTER TABLE ledger_status_history DROP CONSTRAINT ledger_status_history_pkey, ADD PRIMARY KEY (transaction_id, id);
DROP INDEX ledger_status_history_transaction;

ALTER TABLE ledger_postings DROP CONSTRAINT ledger_postings_transaction_id_fkey;
ALTER TABLE ledger_postings DROP CONSTRAINT ledger_postings_account_code_fkey;
ALTER TABLE ledger_status_history DROP CONSTRAINT ledger_status_history_transaction_id_fkey;

CREATE FUNCTION ledger_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% keeps the ledger''s history: % is refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;

CREATE FUNCTION ledger_refuse_new_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% keeps the ledger''s history: its key cannot change', TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;

-- Each check is planned again on every statement (EXECUTE), from the tables as they are then:
-- a plan cached while the ledger was nearly empty would scan whole tables once it has grown.
-- Each name is looked up once: a transaction has two postings or more, the house accounts many.
CREATE FUNCTION ledger_rows_name_transactions() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing TEXT;
BEGIN
    EXECUTE 'SELECT n.id::TEXT FROM (SELECT DISTINCT transaction_id AS id FROM new_rows) n
             WHERE NOT EXISTS (SELECT 1 FROM ledger_transactions t WHERE t.id = n.id) LIMIT 1' INTO missing;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION '%: no ledger transaction %', TG_TABLE_NAME, missing
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION ledger_postings_name_accounts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing TEXT;
BEGIN
    EXECUTE 'SELECT n.code FROM (SELECT DISTINCT account_code AS code FROM new_rows) n
             WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts a WHERE a.code = n.code) LIMIT 1' INTO missing;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'ledger_postings: no ledger account %', missing
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER ledger_postings_name_transactions AFTER INSERT ON ledger_postings
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_rows_name_transactions();
CREATE TRIGGER ledger_postings_name_accounts AFTER INSERT ON ledger_postings
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_postings_name_accounts();
CREATE TRIGGER ledger_status_history_name_transactions AFTER INSERT ON ledger_status_history
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_rows_name_transactions();

CREATE TRIGGER ledger_postings_no_update BEFORE UPDATE ON ledger_postings
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse();
CREATE TRIGGER ledger_postings_no_delete BEFORE DELETE ON ledger_postings
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse();
CREATE TRIGGER ledger_postings_no_truncate BEFORE TRUNCATE ON ledger_postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse();
CREATE TRIGGER ledger_status_history_no_update BEFORE UPDATE ON ledger_status_history
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse();
CREATE TRIGGER ledger_status_history_no_delete BEFORE DELETE ON ledger_status_history
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse();
CREATE TRIGGER ledger_status_history_no_truncate BEFORE TRUNCATE ON ledger_status_history
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse();

CREATE TRIGGER ledger_transactions_no_delete BEFORE DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse();
CREATE TRIGGER ledger_transactions_no_truncate BEFORE TRUNCATE ON ledger_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse();
-- UPDATE OF fires only when the statement sets the key, so a status change costs nothing.
CREATE TRIGGER ledger_transactions_same_key BEFORE UPDATE OF id ON ledger_transactions
    FOR EACH ROW WHEN (NEW.id IS DISTINCT FROM OLD.id) EXECUTE FUNCTION ledger_refuse_new_key();

CREATE TRIGGER ledger_accounts_no_delete BEFORE DELETE ON ledger_accounts
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse();
CREATE TRIGGER ledger_accounts_no_truncate BEFORE TRUNCATE ON ledger_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse();
CREATE TRIGGER ledger_accounts_same_key BEFORE UPDATE OF code ON ledger_accounts
    FOR EACH ROW WHEN (NEW.code IS DISTINCT FROM OLD.code) EXECUTE FUNCTION ledger_refuse_new_key();
