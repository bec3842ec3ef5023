//! Reading a transaction log from CSV text (the caller reads the file): three columns,
//! `customer id, date, amount`, an optional header row, dates as `YYYY-MM-DD`, amounts as
//! integer minor units (1250 for 12.50). Fields may be wrapped in double quotes but may not
//! contain commas or quotes: customer ids, dates and whole numbers never need them, so this
//! stays a split on commas rather than a CSV dialect.

use chrono::NaiveDate;

use crate::{ClvError, Transaction};

/// Parse the whole text; the first error names its line (counting from 1).
pub fn parse_transactions(text: &str) -> Result<Vec<Transaction>, ClvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut seen_content = false;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let err = |message: String| ClvError::Csv { line, message };
        if raw.trim().is_empty() {
            continue;
        }
        let first = !seen_content;
        seen_content = true;
        let fields = raw.split(',').map(unquote).collect::<Result<Vec<&str>, String>>().map_err(err)?;
        if fields.len() != 3 {
            return Err(err(format!("expected 3 columns (customer id, date, amount), found {}", fields.len())));
        }
        let date = match NaiveDate::parse_from_str(fields[1], "%Y-%m-%d") {
            Ok(date) => date,
            // A first line whose date column has no digit at all is the header.
            Err(_) if first && !fields[1].chars().any(|c| c.is_ascii_digit()) => continue,
            Err(_) => return Err(err(format!("date '{}' is not a date of the form YYYY-MM-DD", fields[1]))),
        };
        let customer = fields[0];
        if customer.is_empty() {
            return Err(err("the customer id is empty".into()));
        }
        let amount: i64 = fields[2].parse().map_err(|_| {
            err(format!("amount '{}' is not a whole number of minor units (write 1250 for 12.50)", fields[2]))
        })?;
        if amount < 0 {
            return Err(err(format!("amount {amount} is negative; the log holds deposits only")));
        }
        out.push(Transaction { customer: customer.to_string(), date, amount });
    }
    if out.is_empty() {
        return Err(ClvError::EmptyLog { context: " (no data rows in the CSV)" });
    }
    Ok(out)
}

/// Trim a field and remove one pair of surrounding double quotes.
fn unquote(field: &str) -> Result<&str, String> {
    let field = field.trim();
    let inner = match field.strip_prefix('"').and_then(|f| f.strip_suffix('"')) {
        Some(inner) if field.len() >= 2 => inner.trim(),
        _ => field,
    };
    if inner.contains('"') {
        return Err(format!("field {field} has a quote inside; quoted commas and quotes are not supported"));
    }
    Ok(inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_log_with_a_header_quotes_and_blank_lines() {
        let text = "\u{feff}customer_id,date,amount\r\n\"p-1\", 2024-01-05 ,1250\r\n\r\np-2,2024-02-29,0\n";
        let log = parse_transactions(text).unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log[0], Transaction { customer: "p-1".into(), date: "2024-01-05".parse().unwrap(), amount: 1250 });
        assert_eq!(log[1].amount, 0);
        // No header is fine too.
        assert_eq!(parse_transactions("p-1,2024-01-05,1").unwrap().len(), 1);
    }

    #[test]
    fn errors_name_the_line_and_say_what_to_fix() {
        let cases = [
            ("id,date,amount\np,2024-01-05,12.50\n", 2, "whole number of minor units"),
            ("p,2024-01-05,10\np,05/01/2024,10\n", 2, "YYYY-MM-DD"),
            ("p,2024-01-05,10\n\np,2024-01-06\n", 3, "expected 3 columns"),
            ("p,2024-01-05,-10\n", 1, "negative"),
            ("\"a,b\",2024-01-05,10\n", 1, "not supported"),
            ("p\"q,2024-01-05,10\n", 1, "quote inside"),
            (",2024-01-05,10\n", 1, "customer id is empty"),
            ("p,2024-02-30,10\n", 1, "YYYY-MM-DD"),
        ];
        for (text, line, words) in cases {
            match parse_transactions(text) {
                Err(e @ ClvError::Csv { .. }) => {
                    let message = e.to_string();
                    assert!(message.starts_with(&format!("line {line}:")), "{text:?}: {message}");
                    assert!(message.contains(words), "{text:?}: {message}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
        assert!(matches!(parse_transactions("id,date,amount\n"), Err(ClvError::EmptyLog { .. })));
        assert!(matches!(parse_transactions(""), Err(ClvError::EmptyLog { .. })));
    }
}
