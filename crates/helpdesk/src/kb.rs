//! The knowledge base: articles in Markdown, one per slug and language, in categories, with
//! every version kept.
//!
//! Editing an article saves a new draft version; the published version stays what the casino's
//! website (the public FAQ) and the agents' suggestions show until the draft is published.
//! Archiving takes an article down; publishing it again puts its latest version up.
//!
//! Search uses each engine's own full-text index over the `kb_search` table (PostgreSQL: a
//! `tsvector` with a GIN index, ranked by `ts_rank`, quoted by `ts_headline`; SQLite: an FTS5
//! table, ranked by `bm25`, quoted by `snippet`), which holds each article's published version
//! and its latest one, kept in step here in the transaction of every change. The public
//! searches published versions only; agents search drafts too. Suggestions for a ticket look
//! for the meaningful words of its subject and first message, any of them. The queries live in
//! `kb/listing.rs`, the words they are built from in [`search`].
//!
//! Markdown is shown as HTML with raw HTML dropped and script addresses removed ([`markdown`]),
//! so an article can never carry a script onto a page.

mod listing;
pub mod markdown;
pub mod search;

pub use listing::{list, suggest, suggest_for};

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use pitboss_core::new_id;
use pitboss_core::time::{from_micros, to_micros};
use pitboss_store::{Db, Tx, db, exec, sqlx, tx};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::HelpdeskError;

/// The language suggestions, the FAQ and response templates fall back to when there is nothing
/// in the one asked for.
pub const FALLBACK_LANGUAGE: &str = "en";
/// Largest article body, in bytes of Markdown.
pub const MAX_BODY_BYTES: usize = 100 * 1024;
pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_CATEGORY_CHARS: usize = 80;
pub const MAX_SLUG_CHARS: usize = 100;
/// Longest search text, in characters.
pub const MAX_QUERY_CHARS: usize = 500;
/// Most articles on one page of a list.
pub const MAX_PAGE: u32 = 100;
/// Most suggestions for one ticket.
pub const MAX_SUGGESTIONS: u32 = 20;

/// Where an article stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ArticleState {
    /// Never published: only agents see it.
    Draft,
    /// Its published version is on the FAQ.
    Published,
    /// Taken down: only agents see it, and publishing it puts it up again.
    Archived,
}

impl ArticleState {
    pub const ALL: [ArticleState; 3] = [ArticleState::Draft, ArticleState::Published, ArticleState::Archived];

    pub fn as_str(&self) -> &'static str {
        match self {
            ArticleState::Draft => "draft",
            ArticleState::Published => "published",
            ArticleState::Archived => "archived",
        }
    }
}

impl fmt::Display for ArticleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ArticleState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ArticleState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("'{s}' is not a state: draft, published or archived"))
    }
}

/// A new article: its first version is a draft.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewArticle {
    /// Its address on the FAQ: lower-case letters, digits and single hyphens, e.g. `withdrawal-times`.
    #[schema(example = "withdrawal-times")]
    pub slug: String,
    /// ISO 639-1 code, e.g. `en`; the same slug may exist once per language.
    #[schema(example = "en")]
    pub language: String,
    #[schema(example = "Payments")]
    pub category: String,
    #[schema(example = "How long does a withdrawal take?")]
    pub title: String,
    /// Markdown; raw HTML in it is dropped when it is shown.
    pub body: String,
}

/// A new draft version of an article.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct Draft {
    pub category: String,
    pub title: String,
    /// Markdown; raw HTML in it is dropped when it is shown.
    pub body: String,
    /// The latest version the writer started from: the save is refused (409) if someone saved
    /// a newer one since. Left out, the save goes on top of whatever is latest.
    #[serde(default)]
    pub base_version: Option<i64>,
}

/// What a change did, for its audit record and its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub id: Uuid,
    pub slug: String,
    pub language: String,
    pub state: ArticleState,
    /// The version written or published.
    pub version: i64,
}

/// One version of an article, with its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ArticleVersion {
    pub version: i64,
    pub title: String,
    pub category: String,
    /// Markdown as written.
    pub body: String,
    /// The body as HTML, raw HTML dropped and script addresses removed: safe to put in a page.
    pub body_html: String,
    pub author: String,
    pub created_at: DateTime<Utc>,
    /// When this version was first published, if it ever was.
    pub published_at: Option<DateTime<Utc>>,
}

/// One version in an article's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct VersionSummary {
    pub version: i64,
    pub title: String,
    pub category: String,
    pub author: String,
    pub created_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
}

/// An article as agents and editors see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Article {
    pub id: Uuid,
    pub slug: String,
    pub language: String,
    pub state: ArticleState,
    pub latest_version: i64,
    /// The version last published (still on the FAQ only while the state is `published`).
    pub published_version: Option<i64>,
    /// What the FAQ shows now: only while the article is published.
    pub published: Option<ArticleVersion>,
    /// The latest version when the FAQ does not show it: a draft being worked on, or the text
    /// of an archived article that publishing would put up.
    pub draft: Option<ArticleVersion>,
    /// Every version, newest first.
    pub versions: Vec<VersionSummary>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
}

/// A published article as the casino's website gets it: no drafts, no names of staff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PublishedArticle {
    pub slug: String,
    pub language: String,
    pub category: String,
    pub title: String,
    /// Markdown as written.
    pub body: String,
    /// The body as HTML, raw HTML dropped and script addresses removed: safe to put in a page.
    pub body_html: String,
    pub version: i64,
    pub published_at: DateTime<Utc>,
}

/// An article in a list or a search's results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ArticleHit {
    pub id: Uuid,
    pub slug: String,
    pub language: String,
    pub state: ArticleState,
    /// The version listed: the published one for the public, else the version that matched
    /// (for agents, the latest unless only the published one matched).
    pub version: i64,
    pub title: String,
    pub category: String,
    pub updated_at: DateTime<Utc>,
    /// For a search: the passage that matched best, as HTML (its text escaped, the words found
    /// in `<mark>`).
    pub snippet: Option<String>,
}

/// A page of articles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ArticlePage {
    pub items: Vec<ArticleHit>,
    /// The offset of the next page, when there is one.
    pub next_offset: Option<u32>,
}

/// Who is reading: what they may see of the knowledge base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The casino's website: published versions of published articles only.
    Public,
    /// Agents and editors: drafts too, and archived articles when they ask for them.
    Agents,
}

/// Which articles to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleFilter {
    /// Words to search for; every one must be found (as a word start), best matches first.
    /// Without any, the public's list goes by category and title, the agents' by last change.
    pub q: Option<String>,
    pub language: Option<String>,
    pub category: Option<String>,
    /// For agents: one state; without it drafts and published articles. The public always
    /// gets published articles.
    pub state: Option<ArticleState>,
    /// 1 to [`MAX_PAGE`].
    pub limit: u32,
    pub offset: u32,
}

impl Default for ArticleFilter {
    fn default() -> Self {
        ArticleFilter { q: None, language: None, category: None, state: None, limit: 20, offset: 0 }
    }
}

// ---------------------------------------------------------------------------------------------
// Validation

/// The ISO 639-1 codes.
const LANGUAGES: &[&str] = &[
    "aa", "ab", "ae", "af", "ak", "am", "an", "ar", "as", "av", "ay", "az", "ba", "be", "bg", "bi", "bm", "bn", "bo",
    "br", "bs", "ca", "ce", "ch", "co", "cr", "cs", "cu", "cv", "cy", "da", "de", "dv", "dz", "ee", "el", "en", "eo",
    "es", "et", "eu", "fa", "ff", "fi", "fj", "fo", "fr", "fy", "ga", "gd", "gl", "gn", "gu", "gv", "ha", "he", "hi",
    "ho", "hr", "ht", "hu", "hy", "hz", "ia", "id", "ie", "ig", "ii", "ik", "io", "is", "it", "iu", "ja", "jv", "ka",
    "kg", "ki", "kj", "kk", "kl", "km", "kn", "ko", "kr", "ks", "ku", "kv", "kw", "ky", "la", "lb", "lg", "li", "ln",
    "lo", "lt", "lu", "lv", "mg", "mh", "mi", "mk", "ml", "mn", "mr", "ms", "mt", "my", "na", "nb", "nd", "ne", "ng",
    "nl", "nn", "no", "nr", "nv", "ny", "oc", "oj", "om", "or", "os", "pa", "pi", "pl", "ps", "pt", "qu", "rm", "rn",
    "ro", "ru", "rw", "sa", "sc", "sd", "se", "sg", "si", "sk", "sl", "sm", "sn", "so", "sq", "sr", "ss", "st", "su",
    "sv", "sw", "ta", "te", "tg", "th", "ti", "tk", "tl", "tn", "to", "tr", "ts", "tt", "tw", "ty", "ug", "uk", "ur",
    "uz", "ve", "vi", "vo", "wa", "wo", "xh", "yi", "yo", "za", "zh", "zu",
];

/// A language as given, trimmed and lower-cased, if it is an ISO 639-1 code.
pub fn language(given: &str) -> Result<String, HelpdeskError> {
    let code = given.trim().to_ascii_lowercase();
    if LANGUAGES.contains(&code.as_str()) {
        Ok(code)
    } else {
        Err(HelpdeskError::invalid("language", format!("'{}' is not an ISO 639-1 code such as en or de", given.trim())))
    }
}

/// A slug as given, trimmed, if it is lower-case letters and digits in groups joined by single
/// hyphens, 1 to [`MAX_SLUG_CHARS`] long.
pub fn slug(given: &str) -> Result<String, HelpdeskError> {
    let s = given.trim();
    let ok = (1..=MAX_SLUG_CHARS).contains(&s.len())
        && s.split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    if ok {
        Ok(s.to_string())
    } else {
        Err(HelpdeskError::invalid(
            "slug",
            format!(
                "1 to {MAX_SLUG_CHARS} lower-case letters and digits, words joined by single hyphens, such as withdrawal-times"
            ),
        ))
    }
}

/// A one-line text (a title, a category): trimmed, 1 to `max` characters, no control characters.
fn line(field: &'static str, given: &str, max: usize) -> Result<String, HelpdeskError> {
    let s = given.trim();
    if s.is_empty() || s.chars().count() > max {
        return Err(HelpdeskError::invalid(field, format!("1 to {max} characters")));
    }
    if s.chars().any(char::is_control) {
        return Err(HelpdeskError::invalid(field, "one line, without control characters"));
    }
    Ok(s.to_string())
}

fn body(given: &str) -> Result<(), HelpdeskError> {
    if given.trim().is_empty() {
        return Err(HelpdeskError::invalid("body", "the article has no text"));
    }
    if given.len() > MAX_BODY_BYTES {
        return Err(HelpdeskError::invalid(
            "body",
            format!(
                "{} KB is too long: an article holds at most {} KB of Markdown",
                given.len() / 1024,
                MAX_BODY_BYTES / 1024
            ),
        ));
    }
    Ok(())
}

/// A checked version's text: title, category, body.
#[derive(Debug)]
struct Text {
    title: String,
    category: String,
    body: String,
}

fn checked_text(title: &str, category: &str, body_md: &str) -> Result<Text, HelpdeskError> {
    let title = line("title", title, MAX_TITLE_CHARS)?;
    let category = line("category", category, MAX_CATEGORY_CHARS)?;
    body(body_md)?;
    Ok(Text { title, category, body: body_md.to_string() })
}

// ---------------------------------------------------------------------------------------------
// Changes

/// Creates an article whose first version is a draft. The slug is taken once per language.
pub async fn create(tx: &mut Tx, new: &NewArticle, by: &str, now: DateTime<Utc>) -> Result<Saved, HelpdeskError> {
    let slug = slug(&new.slug)?;
    let language = language(&new.language)?;
    let text = checked_text(&new.title, &new.category, &new.body)?;
    let (id, at) = (new_id(), to_micros(now));
    // ON CONFLICT rather than a look first: of two editors creating the same slug at once,
    // one gets the article and the other this answer, never a database error.
    let created: Option<Uuid> = tx!(tx, |c| sqlx::query_scalar(
        "INSERT INTO kb_articles (id, slug, language, state, latest_version, published_version, created_by, \
         created_at, updated_by, updated_at, published_at) VALUES ($1, $2, $3, 'draft', 1, NULL, $4, $5, $4, $5, NULL) \
         ON CONFLICT (slug, language) DO NOTHING RETURNING id"
    )
    .bind(id)
    .bind(&slug)
    .bind(&language)
    .bind(by)
    .bind(at)
    .fetch_optional(c)
    .await)?;
    if created.is_none() {
        return Err(HelpdeskError::Conflict(format!(
            "there is already an article '{slug}' in {language}: edit it, or choose another slug"
        )));
    }
    insert_version(tx, id, 1, &text, by, at).await?;
    reindex(tx, id).await?;
    Ok(Saved { id, slug, language, state: ArticleState::Draft, version: 1 })
}

/// Saves a new draft version of an article; what the FAQ shows does not change.
pub async fn save_draft(
    tx: &mut Tx,
    id: Uuid,
    draft: &Draft,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Saved, HelpdeskError> {
    let text = checked_text(&draft.title, &draft.category, &draft.body)?;
    let at = to_micros(now);
    // The number comes from the article's row, whose update also checks the writer's base: of
    // two saves at once, each gets its own number, and a stale one is refused.
    let mut sql = "UPDATE kb_articles SET latest_version = latest_version + 1, updated_by = $2, updated_at = $3 \
                   WHERE id = $1"
        .to_string();
    if draft.base_version.is_some() {
        sql.push_str(" AND latest_version = $4");
    }
    sql.push_str(" RETURNING latest_version, slug, language, state");
    let row: Option<(i64, String, String, String)> = tx!(tx, |c| {
        let mut q = sqlx::query_as(&sql).bind(id).bind(by).bind(at);
        if let Some(base) = draft.base_version {
            q = q.bind(base);
        }
        q.fetch_optional(c).await
    })?;
    let Some((version, slug, language, state)) = row else {
        let current = head(tx, id).await?;
        return Err(HelpdeskError::Conflict(format!(
            "version {} of this article was saved since you opened version {}: reload it and make your change again",
            current.latest_version,
            draft.base_version.unwrap_or_default()
        )));
    };
    insert_version(tx, id, version, &text, by, at).await?;
    reindex(tx, id).await?;
    Ok(Saved { id, slug, language, state: parse_state(&state)?, version })
}

/// Publishes the latest version: the FAQ shows it from now on. `version`, when given, must be
/// the latest, so that an editor never publishes a draft they have not seen.
pub async fn publish(
    tx: &mut Tx,
    id: Uuid,
    version: Option<i64>,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Saved, HelpdeskError> {
    let current = head(tx, id).await?;
    let latest = current.latest_version;
    if let Some(v) = version.filter(|v| *v != latest) {
        return Err(HelpdeskError::Conflict(format!(
            "version {v} is not the latest: version {latest} was saved since; reload the article and check it first"
        )));
    }
    if current.state == ArticleState::Published && current.published_version == Some(latest) {
        return Err(HelpdeskError::Refused(format!(
            "version {latest} is already published; save a new draft to publish a change"
        )));
    }
    let at = to_micros(now);
    let changed = exec!(
        tx,
        "UPDATE kb_articles SET state = 'published', published_version = latest_version, published_at = $2, \
         updated_by = $3, updated_at = $2 WHERE id = $1 AND latest_version = $4",
        id,
        at,
        by,
        latest
    )?;
    if changed == 0 {
        return Err(HelpdeskError::Conflict(
            "a new draft was saved while publishing; reload the article and check it first".into(),
        ));
    }
    exec!(
        tx,
        "UPDATE kb_versions SET published_at = $3 WHERE article_id = $1 AND version = $2 AND published_at IS NULL",
        id,
        latest,
        at
    )?;
    reindex(tx, id).await?;
    Ok(Saved { id, slug: current.slug, language: current.language, state: ArticleState::Published, version: latest })
}

/// Takes an article down (unpublishes it): the FAQ and suggestions no longer show it.
pub async fn archive(tx: &mut Tx, id: Uuid, by: &str, now: DateTime<Utc>) -> Result<Saved, HelpdeskError> {
    let changed = exec!(
        tx,
        "UPDATE kb_articles SET state = 'archived', updated_by = $2, updated_at = $3 WHERE id = $1 AND state <> 'archived'",
        id,
        by,
        to_micros(now)
    )?;
    let current = head(tx, id).await?;
    if changed == 0 {
        return Err(HelpdeskError::Refused("the article is already archived".into()));
    }
    // The searchable versions (published and latest) are the same as before: no reindexing.
    Ok(Saved {
        id,
        slug: current.slug,
        language: current.language,
        state: ArticleState::Archived,
        version: current.published_version.unwrap_or(current.latest_version),
    })
}

async fn insert_version(
    tx: &mut Tx,
    id: Uuid,
    version: i64,
    text: &Text,
    by: &str,
    at: i64,
) -> Result<(), HelpdeskError> {
    exec!(
        tx,
        "INSERT INTO kb_versions (article_id, version, title, category, body, plain, author, created_at, published_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)",
        id,
        version,
        &text.title,
        &text.category,
        &text.body,
        markdown::to_plain(&text.body),
        by,
        at
    )?;
    Ok(())
}

/// Puts the article's searchable versions (its published one and its latest) in the full-text
/// index and takes out the others. The same statements serve both engines' `kb_search`.
async fn reindex(tx: &mut Tx, id: Uuid) -> Result<(), HelpdeskError> {
    exec!(tx, "DELETE FROM kb_search WHERE article_id = $1", id)?;
    exec!(
        tx,
        "INSERT INTO kb_search (article_id, version, title, body) \
         SELECT v.article_id, v.version, v.title, v.plain FROM kb_versions v JOIN kb_articles a ON a.id = v.article_id \
         WHERE a.id = $1 AND (v.version = a.latest_version OR v.version = a.published_version)",
        id
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reading

/// The article's own row.
struct Head {
    id: Uuid,
    slug: String,
    language: String,
    state: ArticleState,
    latest_version: i64,
    published_version: Option<i64>,
    created_by: String,
    created_at: i64,
    updated_by: String,
    updated_at: i64,
    published_at: Option<i64>,
}

type HeadRow = (Uuid, String, String, String, i64, Option<i64>, String, i64, String, i64, Option<i64>);

const HEAD_COLUMNS: &str = "id, slug, language, state, latest_version, published_version, created_by, created_at, \
                            updated_by, updated_at, published_at";

pub(crate) fn parse_state(s: &str) -> Result<ArticleState, HelpdeskError> {
    s.parse().map_err(|e: String| HelpdeskError::Store(pitboss_store::StoreError::Config(format!("kb_articles: {e}"))))
}

fn from_head(r: HeadRow) -> Result<Head, HelpdeskError> {
    Ok(Head {
        id: r.0,
        slug: r.1,
        language: r.2,
        state: parse_state(&r.3)?,
        latest_version: r.4,
        published_version: r.5,
        created_by: r.6,
        created_at: r.7,
        updated_by: r.8,
        updated_at: r.9,
        published_at: r.10,
    })
}

async fn head(tx: &mut Tx, id: Uuid) -> Result<Head, HelpdeskError> {
    let sql = format!("SELECT {HEAD_COLUMNS} FROM kb_articles WHERE id = $1");
    let row: Option<HeadRow> = tx!(tx, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?;
    row.map(from_head).transpose()?.ok_or_else(|| HelpdeskError::ArticleNotFound(format!("with id {id}")))
}

type VersionRow = (i64, String, String, String, String, i64, Option<i64>);

fn from_version((version, title, category, body, author, at, published): VersionRow) -> ArticleVersion {
    ArticleVersion {
        version,
        title,
        category,
        body_html: markdown::to_html(&body),
        body,
        author,
        created_at: from_micros(at),
        published_at: published.map(from_micros),
    }
}

/// An article with its published version, its draft and its history.
pub async fn get(db: &Db, id: Uuid) -> Result<Article, HelpdeskError> {
    let sql = format!("SELECT {HEAD_COLUMNS} FROM kb_articles WHERE id = $1");
    let row: Option<HeadRow> = db!(db, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?;
    let head =
        row.map(from_head).transpose()?.ok_or_else(|| HelpdeskError::ArticleNotFound(format!("with id {id}")))?;
    complete(db, head).await
}

/// An article by its slug and language (agents: whatever its state).
pub async fn find(db: &Db, slug_given: &str, language_given: &str) -> Result<Article, HelpdeskError> {
    let (slug, language) = (slug(slug_given)?, language(language_given)?);
    let sql = format!("SELECT {HEAD_COLUMNS} FROM kb_articles WHERE slug = $1 AND language = $2");
    let row: Option<HeadRow> = db!(db, |c| sqlx::query_as(&sql).bind(&slug).bind(&language).fetch_optional(c).await)?;
    let head = row
        .map(from_head)
        .transpose()?
        .ok_or_else(|| HelpdeskError::ArticleNotFound(format!("'{slug}' in {language}")))?;
    complete(db, head).await
}

async fn complete(db: &Db, h: Head) -> Result<Article, HelpdeskError> {
    type SummaryRow = (i64, String, String, String, i64, Option<i64>);
    let summaries: Vec<SummaryRow> = db!(db, |c| sqlx::query_as(
        "SELECT version, title, category, author, created_at, published_at FROM kb_versions WHERE article_id = $1 \
         ORDER BY version DESC LIMIT 1000"
    )
    .bind(h.id)
    .fetch_all(c)
    .await)?;
    let live = (h.state == ArticleState::Published).then_some(h.published_version).flatten();
    let draft = Some(h.latest_version).filter(|v| Some(*v) != live);
    let texts: Vec<VersionRow> = db!(db, |c| sqlx::query_as(
        "SELECT version, title, category, body, author, created_at, published_at FROM kb_versions \
         WHERE article_id = $1 AND (version = $2 OR version = $3)"
    )
    .bind(h.id)
    .bind(live.unwrap_or(-1))
    .bind(draft.unwrap_or(-1))
    .fetch_all(c)
    .await)?;
    let mut texts: Vec<ArticleVersion> = texts.into_iter().map(from_version).collect();
    let mut take = |v: Option<i64>| v.and_then(|v| texts.iter().position(|t| t.version == v).map(|i| texts.remove(i)));
    let (published, draft) = (take(live), take(draft));
    Ok(Article {
        id: h.id,
        slug: h.slug,
        language: h.language,
        state: h.state,
        latest_version: h.latest_version,
        published_version: h.published_version,
        published,
        draft,
        versions: summaries
            .into_iter()
            .map(|(version, title, category, author, at, published)| VersionSummary {
                version,
                title,
                category,
                author,
                created_at: from_micros(at),
                published_at: published.map(from_micros),
            })
            .collect(),
        created_by: h.created_by,
        created_at: from_micros(h.created_at),
        updated_by: h.updated_by,
        updated_at: from_micros(h.updated_at),
        published_at: h.published_at.map(from_micros),
    })
}

/// The published article `slug` for the casino's website: in `language` when given, else in
/// English; without a language, in English, else in any language it has.
pub async fn published(
    db: &Db,
    slug_given: &str,
    language_given: Option<&str>,
) -> Result<PublishedArticle, HelpdeskError> {
    let slug = slug(slug_given)?;
    let wanted = language_given.map(str::trim).filter(|l| !l.is_empty()).map(language).transpose()?;
    let mut sql = "SELECT a.slug, a.language, v.category, v.title, v.body, v.version, a.published_at \
                   FROM kb_articles a JOIN kb_versions v ON v.article_id = a.id AND v.version = a.published_version \
                   WHERE a.slug = $1 AND a.state = 'published'"
        .to_string();
    if wanted.is_some() {
        sql.push_str(" AND a.language IN ($2, $3)");
    }
    sql.push_str(
        " ORDER BY CASE WHEN a.language = $2 THEN 0 WHEN a.language = $3 THEN 1 ELSE 2 END, a.language LIMIT 1",
    );
    let first_choice = wanted.clone().unwrap_or_else(|| FALLBACK_LANGUAGE.to_string());
    type Row = (String, String, String, String, String, i64, Option<i64>);
    let row: Option<Row> = db!(db, |c| sqlx::query_as(&sql)
        .bind(&slug)
        .bind(&first_choice)
        .bind(FALLBACK_LANGUAGE)
        .fetch_optional(c)
        .await)?;
    let Some((slug, language, category, title, body, version, published_at)) = row else {
        let what = match wanted {
            Some(l) => format!("'{slug}' published in {l} or {FALLBACK_LANGUAGE}"),
            None => format!("'{slug}' published"),
        };
        return Err(HelpdeskError::ArticleNotFound(what));
    };
    Ok(PublishedArticle {
        slug,
        language,
        category,
        title,
        body_html: markdown::to_html(&body),
        body,
        version,
        published_at: from_micros(published_at.unwrap_or_default()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_languages_and_texts_are_checked_with_their_reasons() {
        assert_eq!(slug(" withdrawal-times ").unwrap(), "withdrawal-times");
        for bad in ["", "Withdrawal", "two--hyphens", "-start", "end-", "space here", "über", "a_b"] {
            let e = slug(bad).unwrap_err().to_string();
            assert!(e.starts_with("slug: "), "{bad}: {e}");
        }
        assert!(slug(&"a".repeat(MAX_SLUG_CHARS + 1)).is_err());
        assert_eq!(language(" DE ").unwrap(), "de");
        assert_eq!(language("xx").unwrap_err().to_string(), "language: 'xx' is not an ISO 639-1 code such as en or de");
        assert!(language("eng").is_err());
        assert_eq!(LANGUAGES.len(), 183);
        assert!(LANGUAGES.windows(2).all(|w| w[0] < w[1]), "sorted, each once");
        assert!(checked_text("", "Payments", "x").unwrap_err().to_string().starts_with("title: "));
        assert!(checked_text("T", "a\nb", "x").unwrap_err().to_string().starts_with("category: "));
        assert!(checked_text("T", "C", " \n ").unwrap_err().to_string().starts_with("body: "));
        let long = "x".repeat(MAX_BODY_BYTES + 1);
        assert_eq!(
            checked_text("T", "C", &long).unwrap_err().to_string(),
            "body: 100 KB is too long: an article holds at most 100 KB of Markdown"
        );
        assert!(checked_text("T", "C", &"x".repeat(MAX_BODY_BYTES)).is_ok());
    }

    #[test]
    fn states_read_as_they_are_written() {
        for s in ArticleState::ALL {
            assert_eq!(s.as_str().parse::<ArticleState>().unwrap(), s);
        }
        assert!("deleted".parse::<ArticleState>().is_err());
    }
}
