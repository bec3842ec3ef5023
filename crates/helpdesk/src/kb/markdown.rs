//! Markdown as the knowledge base shows and searches it: HTML that is safe to put in a page
//! (and on the casino's website), and plain text for the full-text index and its snippets.
//!
//! Safe means an article cannot carry a script: raw HTML in the source (blocks and inline tags)
//! is dropped, never passed through, and a link or image whose address has a scheme other than
//! http, https, mailto or tel (`javascript:`, `data:`...) loses its address and keeps its text.
//! Everything else is escaped by pulldown-cmark's writer.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd, html};

fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS
}

/// The article's Markdown as HTML, with raw HTML dropped and unsafe addresses removed.
pub fn to_html(markdown: &str) -> String {
    // Links and images do not nest in themselves, so one flag each says whether the end tag
    // being met closes one that was dropped.
    let (mut in_dropped_link, mut in_dropped_image) = (false, false);
    let events = Parser::new_ext(markdown, options()).filter_map(|event| match event {
        Event::Html(_) | Event::InlineHtml(_) => None,
        Event::Start(Tag::HtmlBlock) | Event::End(TagEnd::HtmlBlock) => None,
        Event::Start(Tag::Link { ref dest_url, .. }) if !safe_address(dest_url) => {
            in_dropped_link = true;
            None
        }
        Event::End(TagEnd::Link) if in_dropped_link => {
            in_dropped_link = false;
            None
        }
        // An image whose source is refused shows its description as text instead.
        Event::Start(Tag::Image { ref dest_url, .. }) if !safe_address(dest_url) => {
            in_dropped_image = true;
            None
        }
        Event::End(TagEnd::Image) if in_dropped_image => {
            in_dropped_image = false;
            None
        }
        other => Some(other),
    });
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, events);
    out
}

/// Whether a link's address may be followed: no scheme (a path or an anchor), or one of http,
/// https, mailto and tel. Browsers ignore tabs, new lines and leading spaces inside a scheme
/// (`java&#9;script:`), so they are ignored here too before the scheme is read.
fn safe_address(dest: &CowStr) -> bool {
    let squeezed: String = dest.chars().filter(|c| !c.is_ascii_whitespace() && !c.is_control()).collect();
    let lower = squeezed.to_ascii_lowercase();
    match lower.find(':') {
        // A colon after a slash, '?' or '#' belongs to the path, not to a scheme.
        Some(colon) if !lower[..colon].contains(['/', '?', '#']) => {
            matches!(&lower[..colon], "http" | "https" | "mailto" | "tel")
        }
        _ => true,
    }
}

/// The article's text without its Markdown: what the full-text index reads and what search
/// snippets quote. Raw HTML is left out as it is from the page; control characters are removed,
/// since the search marks its hits with two of them.
pub fn to_plain(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    let push = |text: &str, out: &mut String| out.extend(text.chars().filter(|c| !c.is_control()));
    for event in Parser::new_ext(markdown, options()) {
        match event {
            Event::Text(t) | Event::Code(t) => push(&t, &mut out),
            Event::SoftBreak | Event::HardBreak => out.push(' '),
            Event::End(
                TagEnd::Paragraph
                | TagEnd::Heading(_)
                | TagEnd::Item
                | TagEnd::CodeBlock
                | TagEnd::TableCell
                | TagEnd::BlockQuote(_),
            ) => out.push('\n'),
            _ => {}
        }
    }
    // Whitespace runs become one space within a line and lines stay apart, so that snippets
    // read as sentences.
    out.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_becomes_html() {
        let html = to_html(
            "# Withdrawals\n\nThey take **two days**. See [limits](/faq/limits).\n\n| a | b |\n|---|---|\n| 1 | 2 |",
        );
        assert!(html.contains("<h1>Withdrawals</h1>"), "{html}");
        assert!(html.contains("<strong>two days</strong>"), "{html}");
        assert!(html.contains(r#"<a href="/faq/limits">limits</a>"#), "{html}");
        assert!(html.contains("<table>"), "{html}");
    }

    #[test]
    fn raw_html_is_dropped_never_passed_through() {
        let source = "Hello <script>alert(1)</script> there\n\n<div onclick=\"steal()\">block</div>\n\n<img src=x onerror=alert(2)>\n\n<iframe src=\"https://evil.example\"></iframe>\n\nText & <b>bold</b>.";
        let html = to_html(source);
        for bad in ["<script", "onclick", "onerror", "<iframe", "<div", "<img", "<b>"] {
            assert!(!html.contains(bad), "{bad} got through: {html}");
        }
        assert!(html.contains("Hello"), "{html}");
        assert!(html.contains("Text &amp;"), "{html}");
    }

    #[test]
    fn script_addresses_are_removed_and_their_text_kept() {
        for link in [
            "[click](javascript:alert(1))",
            "[click](JavaScript:alert(1))",
            "[click](java&#9;script:alert(1))",
            "[click]( javascript:alert(1))",
            "<javascript:alert(1)>",
            "[click](data:text/html;base64,PHNjcmlwdD4=)",
            "[click](vbscript:msgbox)",
        ] {
            let html = to_html(link);
            assert!(!html.contains("href"), "{link}: {html}");
            assert!(!html.contains("data:text"), "{link}: {html}");
        }
        let html = to_html("![a cat](javascript:alert(1)) and ![dog](https://example.com/dog.png)");
        assert!(!html.contains("javascript"), "{html}");
        assert!(html.contains("a cat"), "{html}");
        assert!(html.contains(r#"<img src="https://example.com/dog.png" alt="dog" />"#), "{html}");
        for ok in
            ["https://example.com/a?b=c:d", "mailto:help@example.com", "tel:+35699999999", "/faq/x", "#top", "faq/a:b"]
        {
            assert!(to_html(&format!("[x]({ok})")).contains("href"), "{ok}");
        }
    }

    #[test]
    fn plain_text_has_no_markup_and_no_control_characters() {
        let plain = to_plain(
            "# How to *withdraw*\n\nGo to **Cashier**,\nthen `Withdraw`.\u{2}\n\n<script>x()</script>\n\n- one\n- two",
        );
        assert_eq!(plain, "How to withdraw\nGo to Cashier, then Withdraw.\none\ntwo");
    }
}
