//! Turning what someone typed, or a ticket's text, into a full-text query each engine's index
//! understands, and its snippets into HTML.
//!
//! Neither engine is handed the text as written: FTS5's query syntax fails on a stray quote or
//! a bare `-`, and the two engines' syntaxes differ. Instead the words (runs of letters and
//! digits, lower-cased) are taken out here, and each engine gets the same query built from
//! them: every word matched as a word start, all of them (a search box) or any (suggestions).

/// The search marks the start and end of each hit in a snippet with these; [`super::markdown`]
/// removes control characters from the indexed text, so only the search can put them there.
pub const HIT_START: char = '\u{2}';
pub const HIT_END: char = '\u{3}';

/// More words than this in one query are ignored: a pasted page should not become a query of
/// thousands of terms.
const MAX_TERMS: usize = 16;
/// Longer "words" (a pasted token, a hash) are cut, since nothing in an article matches them.
const MAX_TERM_CHARS: usize = 40;
/// Suggestions match this many first letters of each word: with no stemmer that knows the
/// ticket's language, "withdrawal" then still finds "withdraw" and "deposited" finds "deposits".
const SUGGESTION_STEM_CHARS: usize = 7;

/// How a query's words combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// Every word must be there (a search box).
    All,
    /// Any word may be, more of them ranking higher (suggestions).
    Any,
}

/// The words of a query, each matched as a word start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    pub words: Vec<String>,
    pub combine: Combine,
}

/// The words of `text`: runs of letters and digits, lower-cased, in order, each once.
pub fn words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        let word: String = word.to_lowercase().chars().take(MAX_TERM_CHARS).collect();
        if !out.contains(&word) {
            out.push(word);
        }
    }
    out
}

impl Terms {
    /// A search box's query: all its words.
    pub fn all(text: &str) -> Terms {
        Terms { words: words(text).into_iter().take(MAX_TERMS).collect(), combine: Combine::All }
    }

    /// A ticket's text as a query for suggestions: its meaningful words (no stop words, no
    /// greetings, no numbers, nothing shorter than three letters), each cut to its first
    /// letters, any of them.
    pub fn meaningful(text: &str) -> Terms {
        let mut stems: Vec<String> = Vec::new();
        for word in words(text) {
            if word.chars().count() < 3 || word.chars().all(|c| c.is_numeric()) || STOP_WORDS.contains(&word.as_str()) {
                continue;
            }
            let stem: String = word.chars().take(SUGGESTION_STEM_CHARS).collect();
            if !stems.contains(&stem) {
                stems.push(stem);
            }
            if stems.len() == MAX_TERMS {
                break;
            }
        }
        Terms { words: stems, combine: Combine::Any }
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The query in FTS5's syntax: `"withdraw"* "bonus"*`, or with `OR` between the words.
    /// Each word is quoted (its own quotes doubled), so no word is read as an operator.
    pub fn fts5(&self) -> String {
        let joiner = match self.combine {
            Combine::All => " ",
            Combine::Any => " OR ",
        };
        self.words.iter().map(|w| format!("\"{}\"*", w.replace('"', "\"\""))).collect::<Vec<_>>().join(joiner)
    }

    /// The query for PostgreSQL's `to_tsquery('simple', ...)`: `'withdraw':* & 'bonus':*`, or
    /// with `|`. Each word is quoted (its own quotes doubled) so none is read as an operator.
    pub fn tsquery(&self) -> String {
        let joiner = match self.combine {
            Combine::All => " & ",
            Combine::Any => " | ",
        };
        self.words
            .iter()
            .map(|w| format!("'{}':*", w.replace('\\', "\\\\").replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(joiner)
    }
}

/// A snippet from the database as HTML: its text escaped, its hits in `<mark>`.
pub fn snippet_html(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 32);
    let mut open = false;
    for c in raw.chars() {
        match c {
            HIT_START if !open => {
                out.push_str("<mark>");
                open = true;
            }
            HIT_END if open => {
                out.push_str("</mark>");
                open = false;
            }
            HIT_START | HIT_END => {}
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    if open {
        out.push_str("</mark>");
    }
    out
}

/// Words that say nothing about what a ticket is about, in the languages the casino serves
/// most, with the greetings and courtesies players write.
const STOP_WORDS: &[&str] = &[
    // English
    "about", "after", "again", "all", "also", "and", "any", "are", "because", "been", "before", "but", "can", "cannot",
    "could", "dear", "did", "does", "done", "for", "from", "get", "got", "had", "has", "have", "hello", "help", "her",
    "here", "hey", "him", "his", "how", "into", "its", "just", "know", "like", "more", "much", "not", "now", "off",
    "only", "our", "out", "please", "regards", "she", "should", "some", "still", "than", "thank", "thanks", "that",
    "the", "their", "them", "then", "there", "these", "they", "this", "those", "till", "today", "too", "until", "very",
    "want", "was", "wants", "were", "what", "when", "where", "which", "while", "who", "why", "will", "with", "would",
    "yes", "yet", "you", "your", "yours", "hi", "asap", "why", "since", // German
    "aber", "auch", "auf", "aus", "bei", "bin", "bis", "bitte", "dank", "danke", "das", "dass", "dem", "den", "der",
    "des", "die", "doch", "ein", "eine", "einen", "einer", "für", "grüße", "gruß", "habe", "haben", "hallo", "hat",
    "ich", "ihr", "ihre", "ist", "kann", "mein", "meine", "meinen", "mich", "mir", "mit", "nach", "nicht", "noch",
    "nur", "oder", "schon", "sehr", "sie", "sind", "und", "uns", "von", "war", "warum", "was", "wie", "wir", "wird",
    "zum", "zur", // French
    "avec", "bonjour", "cette", "dans", "des", "est", "les", "merci", "mes", "mon", "pas", "pour", "que", "qui", "sur",
    "une", "vous", "votre", // Spanish, Italian, Portuguese
    "como", "con", "del", "el", "esta", "gracias", "hola", "las", "los", "mi", "muy", "para", "pero", "por", "que",
    "una", "ciao", "che", "della", "grazie", "non", "per", "sono", "obrigado", "olá", "uma", "não",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lower_cased_letters_and_digits_each_once() {
        assert_eq!(
            words("Withdrawal -pending- \"since\" 3 days?! withdrawal"),
            ["withdrawal", "pending", "since", "3", "days"]
        );
        assert_eq!(words("Auszahlung über 500€"), ["auszahlung", "über", "500"]);
        assert!(words("  --- \" ' * ").is_empty());
    }

    #[test]
    fn queries_cannot_carry_operators() {
        let t = Terms::all("bonus OR -wager\" NEAR(x) 'it''s'");
        assert_eq!(t.fts5(), r#""bonus"* "or"* "wager"* "near"* "x"* "it"* "s"*"#);
        assert_eq!(t.tsquery(), "'bonus':* & 'or':* & 'wager':* & 'near':* & 'x':* & 'it':* & 's':*");
        assert_eq!(Terms::all("a b").combine, Combine::All);
    }

    #[test]
    fn a_ticket_keeps_its_meaningful_words_cut_to_their_stems() {
        let t = Terms::meaningful("Hello, my withdrawal is pending since 3 days. Please help! Thanks, Ann");
        assert_eq!(t.words, ["withdra", "pending", "days", "ann"]);
        assert_eq!(t.fts5(), r#""withdra"* OR "pending"* OR "days"* OR "ann"*"#);
        assert_eq!(t.tsquery(), "'withdra':* | 'pending':* | 'days':* | 'ann':*");
        assert!(Terms::meaningful("Hi! Thanks, and you?").is_empty());
        assert_eq!(Terms::meaningful(&"word ".repeat(100)).words, ["word"]);
        let many: String = (0..100).map(|i| format!("term{i:03}x ")).collect();
        assert_eq!(Terms::meaningful(&many).words.len(), MAX_TERMS);
    }

    #[test]
    fn snippets_are_escaped_with_their_hits_marked() {
        let raw = format!("Use <b>{HIT_START}Cashier{HIT_END}</b> & wait{HIT_END}");
        assert_eq!(snippet_html(&raw), "Use &lt;b&gt;<mark>Cashier</mark>&lt;/b&gt; &amp; wait");
        assert_eq!(snippet_html(&format!("{HIT_START}open")), "<mark>open</mark>");
    }
}
