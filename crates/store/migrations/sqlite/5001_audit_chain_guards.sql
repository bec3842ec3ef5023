-- SQLite half of the audit chain's guards (0005_audit_chain.sql has the tables; the
-- PostgreSQL half is postgres/5001_audit_chain_guards.sql and must say the same).
-- Someone who can run DDL can drop these; the hash chain and the signed checkpoints are what
-- reveal that. These stop everything else, whatever connects to the database.

-- audit_log: no edits.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE is refused');
END;

-- audit_log: deletion only by a purge, of records at or below the last anchor and more than
-- five years (5 x 366 days = 158112000000000 microseconds) old by the database's clock.
CREATE TRIGGER audit_log_guard_delete BEFORE DELETE ON audit_log
WHEN OLD.seq > COALESCE((SELECT MAX(seq) FROM audit_anchor), 0)
  OR OLD.at >= CAST(strftime('%s', 'now') AS INTEGER) * 1000000 - 158112000000000
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: only records below a purge anchor and older than five years may be deleted');
END;

-- audit_log: a record must extend the head (the chain cannot fork or gain a gap).
CREATE TRIGGER audit_log_guard_insert BEFORE INSERT ON audit_log
WHEN NEW.seq IS NOT (SELECT seq + 1 FROM audit_head WHERE id = 1)
  OR NEW.prev_hash IS NOT (SELECT hash FROM audit_head WHERE id = 1)
BEGIN
    SELECT RAISE(ABORT, 'audit_log: a record must follow the head of the chain (seq = head seq + 1, prev_hash = head hash)');
END;

-- audit_head: moves one step at a time, to the record just appended; never deleted.
CREATE TRIGGER audit_head_guard_update BEFORE UPDATE ON audit_head
WHEN NEW.id IS NOT OLD.id
  OR NEW.seq IS NOT OLD.seq + 1
  OR NOT EXISTS (SELECT 1 FROM audit_log WHERE seq = NEW.seq AND hash = NEW.hash)
BEGIN
    SELECT RAISE(ABORT, 'audit_head only moves to the record just appended');
END;
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
BEGIN
    SELECT RAISE(ABORT, 'audit_head cannot be deleted');
END;

-- audit_checkpoints: append-only.
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit_checkpoints is append-only: UPDATE is refused');
END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit_checkpoints is append-only: DELETE is refused');
END;

-- audit_anchor: append-only, and an anchor must rest on a checkpoint and name the stored hash
-- of its record, above every earlier anchor.
CREATE TRIGGER audit_anchor_no_update BEFORE UPDATE ON audit_anchor
BEGIN
    SELECT RAISE(ABORT, 'audit_anchor is append-only: UPDATE is refused');
END;
CREATE TRIGGER audit_anchor_no_delete BEFORE DELETE ON audit_anchor
BEGIN
    SELECT RAISE(ABORT, 'audit_anchor is append-only: DELETE is refused');
END;
CREATE TRIGGER audit_anchor_guard_insert BEFORE INSERT ON audit_anchor
WHEN NEW.seq <= COALESCE((SELECT MAX(seq) FROM audit_anchor), 0)
  OR NOT EXISTS (SELECT 1 FROM audit_checkpoints WHERE tree_size = NEW.seq)
  OR NOT EXISTS (SELECT 1 FROM audit_log WHERE seq = NEW.seq AND hash = NEW.hash)
BEGIN
    SELECT RAISE(ABORT, 'audit_anchor: an anchor must be at a checkpoint, name its record''s hash, and lie above the last anchor');
END;
