//! The knowledge base in the API: articles listed and searched, written, published and
//! archived (reading is `ticket.read`, the rest `helpdesk.manage`; every change audited in its
//! transaction), the articles suggested for a ticket, and the public FAQ the casino's website
//! reads without a key: published articles only, as Markdown and as safe HTML.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use pitboss_auth::policy::Action;
use pitboss_auth::{Caller, audit};
use pitboss_helpdesk::kb::{
    self, Article, ArticleFilter, ArticleHit, ArticlePage, ArticleState, Audience, Draft, NewArticle, PublishedArticle,
    Saved,
};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::extract::{Json, Path, Query};
use crate::guard::Authenticated;
use crate::routes::tickets::authorized_ticket;
use crate::{AppState, Problem};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/kb/articles", get(list).post(create))
        .route("/kb/articles/{id}", get(fetch).put(save))
        .route("/kb/articles/{id}/publish", post(publish))
        .route("/kb/articles/{id}/archive", post(archive))
        .route("/tickets/{id}/suggestions", get(suggestions))
        .route("/faq", get(faq))
        .route("/faq/{slug}", get(faq_article))
}

/// Which articles to list, for agents.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ArticleQuery {
    /// Words to search for, each as a word start, all of them; best matches first, with a
    /// snippet. Without words: the latest changed first.
    pub q: Option<String>,
    /// ISO 639-1 code.
    pub language: Option<String>,
    pub category: Option<String>,
    /// `draft`, `published` or `archived`; default drafts and published articles.
    pub state: Option<String>,
    /// 1 to 100, default 20.
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

fn blank(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string)
}

impl ArticleQuery {
    pub(crate) fn filter(&self) -> Result<ArticleFilter, Problem> {
        let state = blank(&self.state)
            .map(|s| s.parse::<ArticleState>().map_err(|e| Problem::validation("state", format!("state: {e}"))))
            .transpose()?;
        Ok(ArticleFilter {
            q: blank(&self.q),
            language: blank(&self.language),
            category: blank(&self.category),
            state,
            limit: self.limit.unwrap_or(20),
            offset: self.offset.unwrap_or(0),
        })
    }
}

/// Knowledge base articles for agents: drafts and published ones (or one state), searched by
/// words with each engine's full-text index when `q` is given.
#[utoipa::path(get, path = "/api/v1/kb/articles", tag = "helpdesk", params(ArticleQuery),
    responses((status = 200, body = ArticlePage), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn list(
    State(s): State<AppState>,
    _auth: Authenticated,
    Query(q): Query<ArticleQuery>,
) -> Result<axum::Json<ArticlePage>, Problem> {
    Ok(axum::Json(kb::list(&s.db, &q.filter()?, Audience::Agents).await?))
}

/// Write a new article. Its first version is a draft: nothing is on the FAQ until it is
/// published.
#[utoipa::path(post, path = "/api/v1/kb/articles", tag = "helpdesk", request_body = NewArticle,
    responses((status = 201, body = Article), (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn create(
    State(s): State<AppState>,
    auth: Authenticated,
    Json(new): Json<NewArticle>,
) -> Result<(StatusCode, axum::Json<Article>), Problem> {
    Ok((StatusCode::CREATED, axum::Json(create_article(&s, &auth.caller, &new).await?)))
}

/// One article with what the FAQ shows, the draft being worked on, and every version.
#[utoipa::path(get, path = "/api/v1/kb/articles/{id}", tag = "helpdesk", params(("id" = Uuid, Path)),
    responses((status = 200, body = Article), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn fetch(
    State(s): State<AppState>,
    _auth: Authenticated,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Article>, Problem> {
    Ok(axum::Json(kb::get(&s.db, id).await?))
}

/// Save a new draft version of an article. The FAQ keeps showing the published version until
/// this one is published. With `base_version`, a save on top of someone else's newer version
/// is refused (409).
#[utoipa::path(put, path = "/api/v1/kb/articles/{id}", tag = "helpdesk", params(("id" = Uuid, Path)), request_body = Draft,
    responses((status = 200, body = Article), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn save(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
    Json(draft): Json<Draft>,
) -> Result<axum::Json<Article>, Problem> {
    Ok(axum::Json(save_article(&s, &auth.caller, id, &draft).await?))
}

/// Which version to publish.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PublishQuery {
    /// The version the editor checked: refused (409) unless it is still the latest.
    pub version: Option<i64>,
}

/// Publish the article's latest version: the FAQ and suggestions show it from now on.
#[utoipa::path(post, path = "/api/v1/kb/articles/{id}/publish", tag = "helpdesk", params(("id" = Uuid, Path), PublishQuery),
    responses((status = 200, body = Article), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn publish(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
    Query(q): Query<PublishQuery>,
) -> Result<axum::Json<Article>, Problem> {
    Ok(axum::Json(publish_article(&s, &auth.caller, id, q.version).await?))
}

/// Archive (unpublish) an article: it leaves the FAQ and the suggestions; publishing it again
/// puts its latest version back.
#[utoipa::path(post, path = "/api/v1/kb/articles/{id}/archive", tag = "helpdesk", params(("id" = Uuid, Path)),
    responses((status = 200, body = Article), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn archive(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Article>, Problem> {
    Ok(axum::Json(archive_article(&s, &auth.caller, id).await?))
}

pub(crate) async fn create_article(s: &AppState, caller: &Caller, new: &NewArticle) -> Result<Article, Problem> {
    let mut tx = s.db.begin().await?;
    let saved = kb::create(&mut tx, new, &caller.actor(), Utc::now()).await?;
    audited(s, caller, tx, "kb.article_save", &saved).await
}

pub(crate) async fn save_article(s: &AppState, caller: &Caller, id: Uuid, draft: &Draft) -> Result<Article, Problem> {
    let mut tx = s.db.begin().await?;
    let saved = kb::save_draft(&mut tx, id, draft, &caller.actor(), Utc::now()).await?;
    audited(s, caller, tx, "kb.article_save", &saved).await
}

pub(crate) async fn publish_article(
    s: &AppState,
    caller: &Caller,
    id: Uuid,
    version: Option<i64>,
) -> Result<Article, Problem> {
    let mut tx = s.db.begin().await?;
    let saved = kb::publish(&mut tx, id, version, &caller.actor(), Utc::now()).await?;
    audited(s, caller, tx, "kb.article_publish", &saved).await
}

pub(crate) async fn archive_article(s: &AppState, caller: &Caller, id: Uuid) -> Result<Article, Problem> {
    let mut tx = s.db.begin().await?;
    let saved = kb::archive(&mut tx, id, &caller.actor(), Utc::now()).await?;
    audited(s, caller, tx, "kb.article_archive", &saved).await
}

/// Writes the change's audit record in its transaction, commits, and reads the article back.
async fn audited(
    s: &AppState,
    caller: &Caller,
    mut tx: pitboss_store::Tx,
    action: &str,
    saved: &Saved,
) -> Result<Article, Problem> {
    let record = caller.audit(action, "kb_article", saved.id).details(json!({
        "slug": saved.slug,
        "language": saved.language,
        "version": saved.version,
        "state": saved.state,
    }));
    audit::record(&mut tx, &record).await?;
    tx.commit().await?;
    Ok(kb::get(&s.db, saved.id).await?)
}

/// How many suggestions.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestionQuery {
    /// 1 to 20, default 5.
    pub limit: Option<u32>,
}

/// Published articles that may answer a ticket, found from the meaningful words of its subject
/// and first message, in the ticket's language (else English), best first.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/suggestions", tag = "helpdesk", params(("id" = Uuid, Path), SuggestionQuery),
    responses((status = 200, body = Vec<ArticleHit>), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn suggestions(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
    Query(q): Query<SuggestionQuery>,
) -> Result<axum::Json<Vec<ArticleHit>>, Problem> {
    Ok(axum::Json(suggest_for(&s, &auth.caller, id, q.limit.unwrap_or(5)).await?))
}

pub(crate) async fn suggest_for(
    s: &AppState,
    caller: &Caller,
    ticket: Uuid,
    limit: u32,
) -> Result<Vec<ArticleHit>, Problem> {
    let ticket = authorized_ticket(s, caller, Action::TicketRead, ticket).await?;
    Ok(kb::suggest_for(&s.db, &ticket, limit).await?)
}

/// Which FAQ articles.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FaqQuery {
    /// Words to search for, each as a word start, all of them; best matches first, with a
    /// snippet. Without words: by category, then title.
    pub q: Option<String>,
    /// ISO 639-1 code; default every language.
    pub language: Option<String>,
    pub category: Option<String>,
    /// 1 to 100, default 20.
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// The FAQ may be cached by the website and the browsers for a minute: a newly published
/// article shows within a minute, and a busy website does not search on every visit.
fn cached(body: impl IntoResponse) -> Response {
    let mut res = body.into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
    res
}

/// The public FAQ for the casino's website, no key needed: published articles only, searched by
/// words when `q` is given.
#[utoipa::path(get, path = "/api/v1/faq", tag = "faq", params(FaqQuery),
    responses((status = 200, body = ArticlePage), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(()))]
pub async fn faq(State(s): State<AppState>, Query(q): Query<FaqQuery>) -> Result<Response, Problem> {
    let filter = ArticleFilter {
        q: blank(&q.q),
        language: blank(&q.language),
        category: blank(&q.category),
        state: None,
        limit: q.limit.unwrap_or(20),
        offset: q.offset.unwrap_or(0),
    };
    Ok(cached(axum::Json(kb::list(&s.db, &filter, Audience::Public).await?)))
}

/// In which language.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FaqLanguage {
    /// ISO 639-1 code: the article in that language, else in English. Without it: English,
    /// else any language the article has.
    pub language: Option<String>,
}

/// One published FAQ article by its slug, as Markdown and as HTML safe to put in a page (raw
/// HTML and script links are removed). No key needed.
#[utoipa::path(get, path = "/api/v1/faq/{slug}", tag = "faq", params(("slug" = String, Path), FaqLanguage),
    responses((status = 200, body = PublishedArticle), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(()))]
pub async fn faq_article(
    State(s): State<AppState>,
    Path(slug): Path<String>,
    Query(q): Query<FaqLanguage>,
) -> Result<Response, Problem> {
    Ok(cached(axum::Json(kb::published(&s.db, &slug, q.language.as_deref()).await?)))
}
