//! A `WHERE` clause built from optional filters, with its bind values in order: for searches
//! whose filters are each present or not, so that their text and their binds never disagree.

use crate::Arg;

/// Filters that must all hold, and the values their placeholders stand for.
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    clauses: Vec<String>,
    pub args: Vec<Arg>,
}

impl Conditions {
    pub fn new() -> Conditions {
        Conditions::default()
    }

    /// Adds a bind value and returns its placeholder (`$3`), for a clause that uses it.
    pub fn arg(&mut self, value: Arg) -> String {
        self.args.push(value);
        format!("${}", self.args.len())
    }

    /// Adds a clause that must hold.
    pub fn and(&mut self, clause: impl Into<String>) {
        self.clauses.push(clause.into());
    }

    /// Adds `{column} {op} $n` for `value`.
    pub fn compare(&mut self, column: &str, op: &str, value: Arg) {
        let mark = self.arg(value);
        self.and(format!("{column} {op} {mark}"));
    }

    /// `WHERE a AND b ...`, or nothing when no filter was given.
    pub fn where_sql(&self) -> String {
        if self.clauses.is_empty() { String::new() } else { format!("WHERE {}", self.clauses.join(" AND ")) }
    }

    /// The `WHERE` clause with one more clause that only this statement (one part of a
    /// `UNION`, say) adds; its values are bound with the rest.
    pub fn where_sql_and(&self, extra: &str) -> String {
        match self.clauses.is_empty() {
            true => format!("WHERE {extra}"),
            false => format!("{} AND {extra}", self.where_sql()),
        }
    }
}

/// Binds each [`Arg`] of `$args` (an iterator of `&Arg`) onto the query `$q`, in order.
#[macro_export]
macro_rules! bind_args {
    ($q:ident, $args:expr) => {
        for arg in $args {
            $q = match arg {
                $crate::Arg::Int(v) => $q.bind(*v),
                $crate::Arg::OptInt(v) => $q.bind(*v),
                $crate::Arg::Text(v) => $q.bind(v.as_str()),
                $crate::Arg::OptText(v) => $q.bind(v.as_deref()),
                $crate::Arg::Id(v) => $q.bind(*v),
                $crate::Arg::OptId(v) => $q.bind(*v),
                $crate::Arg::Bool(v) => $q.bind(*v),
            };
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_binds_in_order() {
        let mut c = Conditions::new();
        assert_eq!(c.where_sql(), "");
        c.compare("kind", "=", Arg::Text("deposit".into()));
        let a = c.arg(Arg::Int(5));
        let b = c.arg(Arg::Int(9));
        c.and(format!("amount BETWEEN {a} AND {b}"));
        assert_eq!(c.where_sql(), "WHERE kind = $1 AND amount BETWEEN $2 AND $3");
        assert_eq!(c.where_sql_and("brand = $4"), "WHERE kind = $1 AND amount BETWEEN $2 AND $3 AND brand = $4");
        assert_eq!(Conditions::new().where_sql_and("brand = $1"), "WHERE brand = $1");
        assert_eq!(c.args, vec![Arg::Text("deposit".into()), Arg::Int(5), Arg::Int(9)]);
    }
}
