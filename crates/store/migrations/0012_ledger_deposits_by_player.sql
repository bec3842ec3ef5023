-- payments module: a player's deposits over a window (deposit limits, deposit caps) are read
-- through this index of deposits alone, not by walking every round the player played.
CREATE INDEX ledger_transactions_player_deposits ON ledger_transactions (player_id, occurred_at) WHERE kind = 'deposit';
