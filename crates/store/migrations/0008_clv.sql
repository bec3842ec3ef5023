-- models: churn risk and lifetime value (BG/NBD and Gamma-Gamma, crates/clv), refitted on a
-- schedule and on demand. Every fit is kept with its diagnostics; each player's latest
-- predictions are profile facts that the rule language (and so segments) reads.

CREATE TABLE clv_fits (
    id              UUID PRIMARY KEY,
    fitted_at       BIGINT NOT NULL,        -- microseconds since the epoch
    trigger         TEXT NOT NULL,          -- 'schedule', 'operator' or 'cli'
    requested_by    TEXT NOT NULL,
    status          TEXT NOT NULL,          -- 'succeeded' or 'failed'
    error           TEXT,
    currency        TEXT NOT NULL,          -- the currency the model is fitted in (amounts converted with reference rates)
    players         BIGINT NOT NULL,        -- players in the fit
    report_json     TEXT NOT NULL           -- parameters, log-likelihoods, convergence, calibration/holdout comparison
);
-- "the latest fit" (the scheduler and the diagnostics page)
CREATE INDEX clv_fits_fitted ON clv_fits (fitted_at, id);

-- One row per player, replaced by every successful fit (a failed fit leaves the last good
-- predictions in place). Estimates, never ledger amounts.
CREATE TABLE player_predictions (
    player_id        UUID PRIMARY KEY REFERENCES players (id),
    fit_id           UUID NOT NULL REFERENCES clv_fits (id),
    p_active         DOUBLE PRECISION NOT NULL,  -- 0..1
    active_percent   BIGINT NOT NULL,            -- floor(p_active * 100), for the rule language
    expected_30d     DOUBLE PRECISION NOT NULL,  -- expected deposits in the next 30 days
    expected_90d     DOUBLE PRECISION NOT NULL,
    predicted_value  BIGINT NOT NULL,            -- predicted lifetime value, integer minor units of the PLAYER's currency
    churn_risk       TEXT NOT NULL,              -- 'low', 'medium' or 'high'
    scored_at        BIGINT NOT NULL,
    -- days with a completed deposit up to the fit; 0 = never deposited (the documented defaults apply)
    deposit_days     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX player_predictions_fit ON player_predictions (fit_id);
