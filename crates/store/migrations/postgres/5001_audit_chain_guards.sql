-- PostgreSQL half of the audit chain's guards (0005_audit_chain.sql has the tables; the
-- SQLite half is sqlite/5001_audit_chain_guards.sql and must say the same).
-- Someone who can run DDL can drop or disable these; the hash chain and the signed checkpoints
-- are what reveal that. These stop everything else, whatever connects to the database.
-- TRUNCATE fires no row triggers, so each table refuses it with a statement trigger.

CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;

-- audit_log: deletion only by a purge, of records at or below the last anchor and more than
-- five years (5 x 366 days = 158112000000000 microseconds) old by the database's clock.
CREATE FUNCTION audit_log_guard_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.seq <= COALESCE((SELECT MAX(seq) FROM audit_anchor), 0)
       AND OLD.at < (EXTRACT(EPOCH FROM now()) * 1000000)::BIGINT - 158112000000000 THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: only records below a purge anchor and older than five years may be deleted (seq %)', OLD.seq
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;

-- audit_log: a record must extend the head (the chain cannot fork or gain a gap).
CREATE FUNCTION audit_log_guard_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head_seq  BIGINT;
    head_hash TEXT;
BEGIN
    SELECT seq, hash INTO head_seq, head_hash FROM audit_head WHERE id = 1;
    IF NEW.seq IS DISTINCT FROM head_seq + 1 OR NEW.prev_hash IS DISTINCT FROM head_hash THEN
        RAISE EXCEPTION 'audit_log: a record must follow the head of the chain (seq = head seq + 1, prev_hash = head hash)'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;

-- audit_head: moves one step at a time, to the record just appended.
CREATE FUNCTION audit_head_guard_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id IS DISTINCT FROM OLD.id
       OR NEW.seq IS DISTINCT FROM OLD.seq + 1
       OR NOT EXISTS (SELECT 1 FROM audit_log WHERE seq = NEW.seq AND hash = NEW.hash) THEN
        RAISE EXCEPTION 'audit_head only moves to the record just appended'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;

-- audit_anchor: an anchor must rest on a checkpoint and name the stored hash of its record,
-- above every earlier anchor.
CREATE FUNCTION audit_anchor_guard_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.seq <= COALESCE((SELECT MAX(seq) FROM audit_anchor), 0)
       OR NOT EXISTS (SELECT 1 FROM audit_checkpoints WHERE tree_size = NEW.seq)
       OR NOT EXISTS (SELECT 1 FROM audit_log WHERE seq = NEW.seq AND hash = NEW.hash) THEN
        RAISE EXCEPTION 'audit_anchor: an anchor must be at a checkpoint, name its record''s hash, and lie above the last anchor'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_log_guard_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_guard_delete();
CREATE TRIGGER audit_log_guard_insert BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_guard_insert();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();

CREATE TRIGGER audit_head_guard_update BEFORE UPDATE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_head_guard_update();
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();

CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();

CREATE TRIGGER audit_anchor_guard_insert BEFORE INSERT ON audit_anchor
    FOR EACH ROW EXECUTE FUNCTION audit_anchor_guard_insert();
CREATE TRIGGER audit_anchor_no_update BEFORE UPDATE ON audit_anchor
    FOR EACH ROW EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_anchor_no_delete BEFORE DELETE ON audit_anchor
    FOR EACH ROW EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_anchor_no_truncate BEFORE TRUNCATE ON audit_anchor
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
