//! Splitting a condition's text into tokens, each with the byte span it came from.

use crate::ast::Span;
use crate::error::RuleError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    /// A number as written (digits with an optional fraction), kept as text so that money keeps
    /// its exact minor units.
    Number(String),
    Str(String),
    /// A duration such as `14d` or `2w`, in days.
    Days(i64),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Tok {
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Number(n) => format!("the number {n}"),
            Tok::Str(s) => format!("the text \"{s}\""),
            Tok::Days(d) => format!("the duration {d}d"),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::LBracket => "`[`".into(),
            Tok::RBracket => "`]`".into(),
            Tok::Comma => "`,`".into(),
            Tok::Eq => "`==`".into(),
            Tok::Ne => "`!=`".into(),
            Tok::Lt => "`<`".into(),
            Tok::Le => "`<=`".into(),
            Tok::Gt => "`>`".into(),
            Tok::Ge => "`>=`".into(),
        }
    }
}

/// The tokens of `text`, or the first character that cannot start one.
pub fn lex(text: &str) -> Result<Vec<(Tok, Span)>, RuleError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let single = |t: Tok| Some((t, 1));
        let two = |next: u8, both: Tok, one: Option<Tok>| {
            if bytes.get(i + 1) == Some(&next) { Some((both, 2)) } else { one.map(|t| (t, 1)) }
        };
        let punct = match c {
            b'(' => single(Tok::LParen),
            b')' => single(Tok::RParen),
            b'[' => single(Tok::LBracket),
            b']' => single(Tok::RBracket),
            b',' => single(Tok::Comma),
            b'=' => two(b'=', Tok::Eq, Some(Tok::Eq)),
            b'!' => two(b'=', Tok::Ne, None),
            b'<' => two(b'=', Tok::Le, Some(Tok::Lt)),
            b'>' => two(b'=', Tok::Ge, Some(Tok::Gt)),
            _ => None,
        };
        if let Some((tok, len)) = punct {
            out.push((tok, Span::new(start, start + len)));
            i += len;
            continue;
        }
        if c == b'"' {
            i += 1;
            let mut s = String::new();
            loop {
                match text[i..].chars().next() {
                    None => return Err(RuleError::at(Span::new(start, i), "this text has no closing `\"`")),
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some('\\') if text[i + 1..].starts_with('"') || text[i + 1..].starts_with('\\') => {
                        s.push(text.as_bytes()[i + 1] as char);
                        i += 2;
                    }
                    Some(ch) => {
                        s.push(ch);
                        i += ch.len_utf8();
                    }
                }
            }
            out.push((Tok::Str(s), Span::new(start, i)));
            continue;
        }
        let negative = c == b'-' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
        if c.is_ascii_digit() || negative {
            if negative {
                i += 1;
            }
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.' || bytes[i] == b'_') {
                i += 1;
            }
            let number: String = text[start..i].chars().filter(|c| *c != '_').collect();
            // A unit glued to the number makes it a duration: `14d`, `2w`.
            let unit_end = (i..bytes.len()).find(|&j| !bytes[j].is_ascii_alphabetic()).unwrap_or(bytes.len());
            if unit_end > i {
                let unit = &text[i..unit_end];
                let span = Span::new(start, unit_end);
                let days_per = match unit {
                    "d" => 1,
                    "w" => 7,
                    _ => {
                        return Err(RuleError::at(
                            span,
                            format!("`{unit}` is not a unit of time here: write days (`14d`) or weeks (`2w`)"),
                        ));
                    }
                };
                let n: i64 = number.parse().map_err(|_| {
                    RuleError::at(span, "a duration is a whole number of days or weeks, like `30d` or `2w`")
                })?;
                out.push((Tok::Days(n.saturating_mul(days_per)), span));
                i = unit_end;
            } else {
                out.push((Tok::Number(number), Span::new(start, i)));
            }
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'.') {
                i += 1;
            }
            out.push((Tok::Ident(text[start..i].to_string()), Span::new(start, i)));
            continue;
        }
        let ch = text[i..].chars().next().unwrap_or('?');
        return Err(RuleError::at(Span::new(start, start + ch.len_utf8()), format!("`{ch}` has no meaning here")));
    }
    Ok(out)
}
