//! What can go wrong, said so that the person reading it knows what to change.

/// Every error of this crate. None of them is a panic: bad input and models that cannot be
/// fitted come back here.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClvError {
    /// Too few customers to estimate the model's parameters with any confidence.
    #[error(
        "{model}: {got} customers usable for fitting, at least {needed} needed; \
         use a longer transaction history (or a shorter holdout period)"
    )]
    TooFewCustomers { model: &'static str, needed: usize, got: usize },
    /// The BG/NBD dropout process cannot be estimated from customers who never came back.
    #[error(
        "BG/NBD: none of the {customers} customers made a repeat transaction, so there is nothing to \
         learn dropout from; use a longer transaction history"
    )]
    NoRepeatTransactions { customers: usize },
    /// A model parameter or setting outside its domain.
    #[error("invalid {name} = {value}: {reason}")]
    InvalidParameter { name: &'static str, value: f64, reason: &'static str },
    /// A per-customer summary that cannot come from a transaction log.
    #[error("invalid customer history (x = {frequency}, t_x = {recency}, T = {age}): {reason}")]
    InvalidHistory { frequency: u32, recency: f64, age: f64, reason: &'static str },
    /// A line of a CSV transaction log that does not parse; `line` counts from 1.
    #[error("line {line}: {message}")]
    Csv { line: usize, message: String },
    /// A transaction that the summaries cannot use.
    #[error("transaction of customer '{customer}' on {date}: {reason}")]
    InvalidTransaction { customer: String, date: chrono::NaiveDate, reason: &'static str },
    /// No transaction at all (or none before the cut-off).
    #[error("the transaction log has no transactions{context}")]
    EmptyLog { context: &'static str },
    /// A calibration/holdout split that does not fit the log.
    #[error("calibration/holdout split: {0}")]
    InvalidSplit(String),
    /// The hypergeometric series did not converge within its term budget.
    #[error(
        "the hypergeometric series 2F1({a}, {b}; {c}; {z}) did not converge after {terms} terms; \
         the prediction horizon is too long for this customer's age (shorten it)"
    )]
    Hypergeometric { a: f64, b: f64, c: f64, z: f64, terms: usize },
    /// The fitted Gamma-Gamma model has no finite mean spend (q <= 1).
    #[error(
        "Gamma-Gamma q = {q} <= 1: the population's mean transaction value is infinite, so customers \
         without repeat transactions cannot be valued; check the amounts for outliers"
    )]
    NoFiniteMeanValue { q: f64 },
    /// The optimiser itself failed (not merely stopped early: that is reported as convergence info).
    #[error("{model}: the optimiser failed: {message}")]
    Optimiser { model: &'static str, message: String },
}
