//! Lists and full-text searches of the knowledge base, on each engine's own index, and the
//! articles suggested for a ticket.
//!
//! The index is the `kb_search` table (see the module above for what it holds). PostgreSQL
//! matches its `tsvector` with `to_tsquery('simple', ...)`, ranks by `ts_rank` and quotes by
//! `ts_headline`; SQLite matches the FTS5 table, ranks by `bm25` and quotes by `snippet`. Both
//! get the same query built from the words by [`super::search::Terms`].

use pitboss_store::{Arg, Conditions, Db, Engine, bind_args, db, sqlx};
use uuid::Uuid;

use super::search::{HIT_END, HIT_START, Terms, snippet_html};
use super::{
    ArticleFilter, ArticleHit, ArticlePage, ArticleState, Audience, FALLBACK_LANGUAGE, MAX_PAGE, MAX_QUERY_CHARS,
    MAX_SUGGESTIONS, language, parse_state,
};
use crate::error::HelpdeskError;
use crate::tickets::{self, Ticket};
use pitboss_core::time::from_micros;

type HitRow = (Uuid, String, String, String, i64, String, String, i64, Option<String>);

fn from_hit(r: HitRow) -> Result<ArticleHit, HelpdeskError> {
    Ok(ArticleHit {
        id: r.0,
        slug: r.1,
        language: r.2,
        state: parse_state(&r.3)?,
        version: r.4,
        title: r.5,
        category: r.6,
        updated_at: from_micros(r.7),
        snippet: r.8.as_deref().map(snippet_html),
    })
}

/// Articles as `audience` may see them: a search when the filter has words, else a list.
pub async fn list(db: &Db, filter: &ArticleFilter, audience: Audience) -> Result<ArticlePage, HelpdeskError> {
    if !(1..=MAX_PAGE).contains(&filter.limit) {
        return Err(HelpdeskError::invalid("limit", format!("between 1 and {MAX_PAGE}")));
    }
    let q = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if q.is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS) {
        return Err(HelpdeskError::invalid("q", format!("at most {MAX_QUERY_CHARS} characters")));
    }
    let language = filter.language.as_deref().map(str::trim).filter(|l| !l.is_empty()).map(language).transpose()?;
    let category = filter.category.as_deref().map(str::trim).filter(|c| !c.is_empty());
    let scope = Scope { audience, state: filter.state, language: language.as_deref(), category };
    // One more than asked for says whether there is a next page, without counting them all.
    let (limit, offset) = (filter.limit + 1, filter.offset);
    let mut items = match q {
        None => listed(db, &scope, limit, offset).await?,
        Some(q) => {
            let terms = Terms::all(q);
            if terms.is_empty() { Vec::new() } else { matched(db, &terms, &scope, limit, offset).await? }
        }
    };
    let next_offset = (items.len() > filter.limit as usize).then(|| filter.offset + filter.limit);
    items.truncate(filter.limit as usize);
    Ok(ArticlePage { items, next_offset })
}

/// The published articles that best match a ticket's text (its subject and first message):
/// any of its meaningful words, in the ticket's language, else in English.
pub async fn suggest(db: &Db, text: &str, language: &str, limit: u32) -> Result<Vec<ArticleHit>, HelpdeskError> {
    let terms = Terms::meaningful(text);
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    let limit = limit.clamp(1, MAX_SUGGESTIONS);
    // A ticket's language may carry a region (`pt-BR`); articles are kept per language.
    let primary: String = language.split(['-', '_']).next().unwrap_or_default().trim().to_ascii_lowercase();
    let mut tried = Vec::new();
    for lang in [primary.as_str(), FALLBACK_LANGUAGE] {
        if lang.is_empty() || tried.contains(&lang) {
            continue;
        }
        tried.push(lang);
        let scope = Scope { audience: Audience::Public, state: None, language: Some(lang), category: None };
        let found = matched(db, &terms, &scope, limit, 0).await?;
        if !found.is_empty() {
            return Ok(found);
        }
    }
    Ok(Vec::new())
}

/// How much of a ticket's first message suggestions read: its opening says what it is about,
/// and a long mail (a forwarded thread, a pasted log) should not cost more.
const SUGGESTION_TEXT_CHARS: usize = 4_000;

/// Suggestions for a ticket, from its subject and its first message.
pub async fn suggest_for(db: &Db, ticket: &Ticket, limit: u32) -> Result<Vec<ArticleHit>, HelpdeskError> {
    let first: String = tickets::first_message(db, ticket.id)
        .await?
        .map(|body| body.chars().take(SUGGESTION_TEXT_CHARS).collect())
        .unwrap_or_default();
    suggest(db, &format!("{}\n{first}", ticket.subject), &ticket.language, limit).await
}

/// What a list or search may show.
struct Scope<'a> {
    audience: Audience,
    state: Option<ArticleState>,
    language: Option<&'a str>,
    category: Option<&'a str>,
}

impl Scope<'_> {
    /// The filters on the article (`a`) and the listed version (`v`).
    fn conditions(&self, c: &mut Conditions) {
        match (self.audience, self.state) {
            (Audience::Public, _) => c.and("a.state = 'published'"),
            (Audience::Agents, Some(state)) => c.compare("a.state", "=", Arg::Text(state.as_str().into())),
            (Audience::Agents, None) => c.and("a.state IN ('draft', 'published')"),
        }
        if let Some(language) = self.language {
            c.compare("a.language", "=", Arg::Text(language.into()));
        }
        if let Some(category) = self.category {
            c.compare("v.category", "=", Arg::Text(category.into()));
        }
    }

    /// Which version of an article a search may match: the public only the published one,
    /// agents the latest too (a draft is what they are working on).
    fn searchable(&self, version: &str) -> String {
        match self.audience {
            Audience::Public => format!("{version} = a.published_version"),
            Audience::Agents => format!("({version} = a.latest_version OR {version} = a.published_version)"),
        }
    }
}

const HIT_COLUMNS: &str = "a.id, a.slug, a.language, a.state, v.version, v.title, v.category, a.updated_at";

/// Articles without a search: the public's by category and title, the agents' latest change first.
async fn listed(db: &Db, scope: &Scope<'_>, limit: u32, offset: u32) -> Result<Vec<ArticleHit>, HelpdeskError> {
    let (version, order) = match scope.audience {
        Audience::Public => ("a.published_version", "v.category, v.title, a.id"),
        Audience::Agents => ("a.latest_version", "a.updated_at DESC, a.id"),
    };
    let mut c = Conditions::new();
    scope.conditions(&mut c);
    let (l, o) = (c.arg(Arg::Int(limit.into())), c.arg(Arg::Int(offset.into())));
    let sql = format!(
        "SELECT {HIT_COLUMNS}, CAST(NULL AS TEXT) FROM kb_articles a \
         JOIN kb_versions v ON v.article_id = a.id AND v.version = {version} {} ORDER BY {order} LIMIT {l} OFFSET {o}",
        c.where_sql()
    );
    fetch_hits(db, &sql, &c).await
}

/// A full-text search with each engine's index, best first, each article once (an agent's
/// search may match both its published version and its draft: the better match stands).
async fn matched(
    db: &Db,
    terms: &Terms,
    scope: &Scope<'_>,
    limit: u32,
    offset: u32,
) -> Result<Vec<ArticleHit>, HelpdeskError> {
    let mut c = Conditions::new();
    let sql = match db.engine() {
        Engine::Sqlite => {
            let query = c.arg(Arg::Text(terms.fts5()));
            scope.conditions(&mut c);
            c.and(scope.searchable("m.version"));
            let (l, o) = (c.arg(Arg::Int(limit.into())), c.arg(Arg::Int(offset.into())));
            // bm25 is lower for better matches; the title counts four times the body. The
            // snippet is taken here because FTS5 can only quote within the MATCH query.
            format!(
                "SELECT id, slug, language, state, version, title, category, updated_at, snippet FROM ( \
                   SELECT {HIT_COLUMNS}, m.snippet, m.score, \
                          ROW_NUMBER() OVER (PARTITION BY a.id ORDER BY m.score, v.version DESC) AS nth \
                   FROM (SELECT article_id, version, bm25(kb_search, 0.0, 0.0, 4.0, 1.0) AS score, \
                                snippet(kb_search, 3, char({start}), char({end}), '…', 24) AS snippet \
                         FROM kb_search WHERE kb_search MATCH {query}) m \
                   JOIN kb_articles a ON a.id = m.article_id \
                   JOIN kb_versions v ON v.article_id = m.article_id AND v.version = m.version {where_sql} \
                 ) ranked WHERE nth = 1 ORDER BY score, title, id LIMIT {l} OFFSET {o}",
                start = HIT_START as u32,
                end = HIT_END as u32,
                where_sql = c.where_sql(),
            )
        }
        Engine::Postgres => {
            let query = c.arg(Arg::Text(terms.tsquery()));
            let options = c.arg(Arg::Text(format!(
                "StartSel={HIT_START}, StopSel={HIT_END}, MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter=\" … \""
            )));
            scope.conditions(&mut c);
            c.and(scope.searchable("s.version"));
            c.and(format!("s.document @@ to_tsquery('simple', {query})"));
            let (l, o) = (c.arg(Arg::Int(limit.into())), c.arg(Arg::Int(offset.into())));
            // ts_rank's normalisation 1 divides by the document's length's logarithm, so a long
            // article does not win by length alone; the title weighs A, the body B. The
            // headline, the costly part, is made for the page's rows only.
            format!(
                "SELECT p.id, p.slug, p.language, p.state, p.version, p.title, p.category, p.updated_at, \
                        ts_headline('simple', s.body, to_tsquery('simple', {query}), {options}) \
                 FROM ( \
                   SELECT * FROM ( \
                     SELECT {HIT_COLUMNS}, ts_rank(s.document, to_tsquery('simple', {query}), 1) AS score, \
                            ROW_NUMBER() OVER (PARTITION BY a.id \
                                ORDER BY ts_rank(s.document, to_tsquery('simple', {query}), 1) DESC, v.version DESC) AS nth \
                     FROM kb_search s \
                     JOIN kb_articles a ON a.id = s.article_id \
                     JOIN kb_versions v ON v.article_id = s.article_id AND v.version = s.version {where_sql} \
                   ) ranked WHERE nth = 1 ORDER BY score DESC, title, id LIMIT {l} OFFSET {o} \
                 ) p JOIN kb_search s ON s.article_id = p.id AND s.version = p.version \
                 ORDER BY p.score DESC, p.title, p.id",
                where_sql = c.where_sql(),
            )
        }
    };
    fetch_hits(db, &sql, &c).await
}

async fn fetch_hits(db: &Db, sql: &str, c: &Conditions) -> Result<Vec<ArticleHit>, HelpdeskError> {
    let rows: Vec<HitRow> = db!(db, |conn| {
        let mut q = sqlx::query_as(sql);
        bind_args!(q, &c.args);
        q.fetch_all(conn).await
    })?;
    rows.into_iter().map(from_hit).collect()
}
