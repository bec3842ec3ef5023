-- The payments monitor: how each deposit or withdrawal is paid, and the payments changed since
-- a moment (the live feed reads them in order of their last change).
ALTER TABLE ledger_transactions ADD COLUMN method TEXT;
CREATE INDEX ledger_transactions_payments_changed ON ledger_transactions (updated_at)
    WHERE kind IN ('deposit', 'withdrawal');
