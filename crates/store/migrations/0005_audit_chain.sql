-- auth: the audit log becomes an append-only hash chain with signed Merkle checkpoints
-- (crates/auth/src/audit/mod.rs explains the design, canonical.rs the hashed encoding).
--
-- There are no installations yet, so audit_log (created in 0004_access.sql) is dropped and
-- created anew rather than altered: its rows had no sequence numbers or hashes to carry over.
--
-- The triggers that make these tables append-only differ in syntax per engine; they are in
-- sqlite/5001_audit_chain_guards.sql and postgres/5001_audit_chain_guards.sql, which run right
-- after this file (crates/store/src/db.rs, `migrator`).
DROP TABLE audit_log;

CREATE TABLE audit_log (
    -- 1, 2, 3 ... without gaps: the place in the chain; leaf seq - 1 of the Merkle tree
    seq          BIGINT PRIMARY KEY,
    id           UUID NOT NULL UNIQUE,
    at           BIGINT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    target_type  TEXT NOT NULL,
    target_id    TEXT NOT NULL,
    -- where the change came from, when it came over the network
    ip           TEXT,
    user_agent   TEXT,
    -- the target before and after (JSON text, hashed exactly as stored), and why
    before_state TEXT,
    after_state  TEXT,
    reason       TEXT,
    details      TEXT NOT NULL,
    -- lowercase hex SHA-256: the previous record's hash (64 zeros for seq 1), and
    -- SHA-256(prev_hash || canonical encoding of this row)
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);
CREATE INDEX audit_log_target ON audit_log (target_type, target_id, seq);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
-- time ranges (exports, listings by date, the purge cut-off)
CREATE INDEX audit_log_at ON audit_log (at);

-- The end of the chain: the last seq and its hash. Appends lock this one row (SELECT ... FOR
-- UPDATE on PostgreSQL), which is what keeps concurrent transactions from forking the chain.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Signed tree heads: Ed25519 over "pitboss-audit-checkpoint v1\n<size>\n<root>\n<head>\n<at>"
-- (crates/auth/src/audit/checkpoint.rs); head_hash is the hash of record seq = tree_size.
-- The frontier (hex roots of the perfect subtrees, comma-separated) is not signed; it is
-- checked against the signed root wherever it is used.
CREATE TABLE audit_checkpoints (
    tree_size  BIGINT PRIMARY KEY,
    root_hash  TEXT NOT NULL,
    head_hash  TEXT NOT NULL,
    at         BIGINT NOT NULL,
    public_key TEXT NOT NULL,
    signature  TEXT NOT NULL,
    frontier   TEXT NOT NULL
);

-- Purge anchors: records 1..seq were purged; hash is record seq's hash, the prev_hash of the
-- first record kept. Only written at a checkpoint's size (see the guard triggers).
CREATE TABLE audit_anchor (
    seq  BIGINT PRIMARY KEY,
    hash TEXT NOT NULL,
    at   BIGINT NOT NULL
);
