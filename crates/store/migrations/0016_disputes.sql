-- payments module: disputes on transactions (a chargeback, a stuck payment, a wrong balance),
-- with notes, until resolved by a reversal, a manual credit or debit, or a decision that the
-- transaction stands. A dispute resolved by an adjustment that needs a second officer waits
-- (state 'awaiting_approval') with its adjustment request.
CREATE TABLE disputes (
    id                  UUID PRIMARY KEY,
    transaction_id      UUID NOT NULL,
    player_id           UUID NOT NULL,
    kind                TEXT NOT NULL,
    state               TEXT NOT NULL,
    reason              TEXT NOT NULL,
    opened_by           TEXT NOT NULL,
    opened_at           BIGINT NOT NULL,
    resolution          TEXT,
    resolution_reason   TEXT,
    resolved_by         TEXT,
    resolved_at         BIGINT,
    adjustment_request  UUID,
    adjustment_id       UUID,
    updated_at          BIGINT NOT NULL
);
-- One unresolved dispute per transaction.
CREATE UNIQUE INDEX disputes_one_open ON disputes (transaction_id) WHERE state <> 'resolved';
CREATE INDEX disputes_state ON disputes (state, opened_at);
CREATE INDEX disputes_player ON disputes (player_id, opened_at);
CREATE INDEX disputes_request ON disputes (adjustment_request);

CREATE TABLE dispute_notes (
    id          UUID PRIMARY KEY,
    dispute_id  UUID NOT NULL REFERENCES disputes (id),
    author      TEXT NOT NULL,
    body        TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX dispute_notes_dispute ON dispute_notes (dispute_id, at);
