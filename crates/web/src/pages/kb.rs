//! The knowledge base in the UI: the list with its search box, filters and pages; an article's
//! page with what the FAQ shows, its versions and (for the help desk's managers) the editor of
//! its draft with Save draft, Publish and Archive; the form for a new article; and the fragment
//! on a ticket's page that suggests articles from the ticket's words.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use pitboss_auth::policy::Action;
use pitboss_helpdesk::kb::{self, Article, ArticleHit, ArticleState, ArticleVersion, Audience, Draft, NewArticle};
use serde::Deserialize;
use uuid::Uuid;

use super::form::FormData;
use super::tickets::can;
use super::{Done, Shell, at, render, render_status, status_of};
use crate::guard::Authenticated;
use crate::routes::kb::{ArticleQuery, archive_article, create_article, publish_article, save_article, suggest_for};
use crate::{AppState, Problem};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/kb", get(list).post(create))
        .route("/kb/new", get(new_form))
        .route("/kb/{id}", get(page).post(save))
        .route("/kb/{id}/publish", post(publish))
        .route("/kb/{id}/archive", post(archive))
        .route("/tickets/{id}/suggestions", get(suggestions))
}

/// Articles on one page of the list.
const PAGE: u32 = 25;

/// The list's filters as the browser sends them: text, so that a stray value shows an error
/// on the page instead of a bare rejection.
#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    state: String,
    offset: Option<String>,
}

#[derive(Template)]
#[template(path = "kb.html")]
struct KbList {
    shell: Shell,
    q: String,
    language: String,
    category: String,
    states: Vec<(&'static str, bool)>,
    items: Vec<(ArticleHit, String)>,
    previous: Option<String>,
    next: Option<String>,
    can_manage: bool,
    error: Option<String>,
}

/// The list's query string for the page at `offset`.
fn page_query(q: &ListQuery, offset: u32) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [("q", &q.q), ("language", &q.language), ("category", &q.category), ("state", &q.state)] {
        if !v.trim().is_empty() {
            out.append_pair(k, v);
        }
    }
    out.append_pair("offset", &offset.to_string());
    out.finish()
}

async fn list(State(s): State<AppState>, auth: Authenticated, Query(q): Query<ListQuery>) -> Response {
    let offset = q.offset.as_deref().and_then(|o| o.trim().parse::<u32>().ok()).unwrap_or(0);
    let query = ArticleQuery {
        q: Some(q.q.clone()),
        language: Some(q.language.clone()),
        category: Some(q.category.clone()),
        state: Some(q.state.clone()),
        limit: Some(PAGE),
        offset: Some(offset),
    };
    let found = match query.filter() {
        Ok(filter) => kb::list(&s.db, &filter, Audience::Agents).await.map_err(Problem::from),
        Err(p) => Err(p),
    };
    let (items, next, error) = match found {
        Ok(page) => (page.items, page.next_offset, None),
        Err(p) => (Vec::new(), None, Some(p)),
    };
    let status = error.as_ref().map_or(StatusCode::OK, status_of);
    let list = KbList {
        shell: Shell::new(&s, &auth, "/tickets"),
        states: ArticleState::ALL.iter().map(|st| (st.as_str(), st.as_str() == q.state)).collect(),
        items: items.into_iter().map(|a| (a.clone(), at(a.updated_at))).collect(),
        previous: (offset > 0).then(|| page_query(&q, offset.saturating_sub(PAGE))),
        next: next.map(|n| page_query(&q, n)),
        can_manage: can(&s, &auth, Action::HelpdeskManage),
        error: error.map(|p| p.detail),
        q: q.q,
        language: q.language,
        category: q.category,
    };
    render_status(status, &list)
}

#[derive(Template)]
#[template(path = "kb_new.html")]
struct KbNew {
    shell: Shell,
    slug: String,
    language: String,
    category: String,
    title: String,
    body: String,
    error: Option<String>,
}

fn new_page(s: &AppState, auth: &Authenticated, a: NewArticle, error: Option<Problem>) -> Response {
    let status = error.as_ref().map_or(StatusCode::OK, status_of);
    let page = KbNew {
        shell: Shell::new(s, auth, "/tickets"),
        slug: a.slug,
        language: a.language,
        category: a.category,
        title: a.title,
        body: a.body,
        error: error.map(|p| p.detail),
    };
    render_status(status, &page)
}

async fn new_form(State(s): State<AppState>, auth: Authenticated) -> Response {
    let empty = NewArticle {
        slug: String::new(),
        language: "en".into(),
        category: String::new(),
        title: String::new(),
        body: String::new(),
    };
    new_page(&s, &auth, empty, None)
}

async fn create(State(s): State<AppState>, auth: Authenticated, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let text = |f: &str| form.get(f).unwrap_or_default().to_string();
    let new = NewArticle {
        slug: text("slug"),
        language: text("language"),
        category: text("category"),
        title: text("title"),
        body: text("body"),
    };
    match create_article(&s, &auth.caller, &new).await {
        Ok(a) => Redirect::to(&format!("/kb/{}?done=Draft%20saved%3A%20publish%20it%20when%20it%20is%20ready", a.id))
            .into_response(),
        Err(p) => new_page(&s, &auth, new, Some(p)),
    }
}

#[derive(Template)]
#[template(path = "kb_article.html")]
struct KbArticle {
    shell: Shell,
    article: Article,
    published: Option<(ArticleVersion, String)>,
    draft: Option<(ArticleVersion, String)>,
    /// Each version with when it was written and when it was first published.
    versions: Vec<(i64, String, String, String, String, String)>,
    /// The editor's contents: the draft, else the published text, or what was sent back.
    title: String,
    category: String,
    body: String,
    can_manage: bool,
    error: Option<String>,
}

/// What the editor holds: a version's text, or a refused save's.
struct Editor {
    title: String,
    category: String,
    body: String,
}

async fn show(
    s: &AppState,
    auth: &Authenticated,
    id: Uuid,
    notice: Option<String>,
    sent: Option<Editor>,
    error: Option<Problem>,
) -> Response {
    let article = match kb::get(&s.db, id).await {
        Ok(a) => a,
        Err(e) => {
            let p = Problem::from(e);
            return super::message(status_of(&p), "Knowledge base", p.detail, "/kb", "Back to the knowledge base");
        }
    };
    let editor = sent.unwrap_or_else(|| {
        let current = article.draft.as_ref().or(article.published.as_ref());
        Editor {
            title: current.map(|v| v.title.clone()).unwrap_or_default(),
            category: current.map(|v| v.category.clone()).unwrap_or_default(),
            body: current.map(|v| v.body.clone()).unwrap_or_default(),
        }
    });
    let status = error.as_ref().map_or(StatusCode::OK, status_of);
    let dated = |v: &ArticleVersion| (v.clone(), at(v.created_at));
    let page = KbArticle {
        shell: Shell::new(s, auth, "/tickets").notice(notice),
        published: article.published.as_ref().map(dated),
        draft: article.draft.as_ref().map(dated),
        versions: article
            .versions
            .iter()
            .map(|v| {
                let published = v.published_at.map(at).unwrap_or_default();
                (v.version, v.title.clone(), v.category.clone(), v.author.clone(), at(v.created_at), published)
            })
            .collect(),
        title: editor.title,
        category: editor.category,
        body: editor.body,
        can_manage: can(s, auth, Action::HelpdeskManage),
        error: error.map(|p| p.detail),
        article,
    };
    render_status(status, &page)
}

async fn page(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<Uuid>,
    Query(done): Query<Done>,
) -> Response {
    show(&s, &auth, id, done.done, None, None).await
}

async fn save(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let text = |f: &str| form.get(f).unwrap_or_default().to_string();
    let draft = Draft {
        title: text("title"),
        category: text("category"),
        body: text("body"),
        base_version: form.get("base_version").and_then(|v| v.trim().parse().ok()),
    };
    match save_article(&s, &auth.caller, id, &draft).await {
        Ok(a) => Redirect::to(&format!(
            "/kb/{id}?done=Draft%20saved%20as%20version%20{}%3A%20the%20FAQ%20shows%20it%20once%20it%20is%20published",
            a.latest_version
        ))
        .into_response(),
        Err(p) => {
            let sent = Editor { title: draft.title, category: draft.category, body: draft.body };
            show(&s, &auth, id, None, Some(sent), Some(p)).await
        }
    }
}

async fn publish(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let version = form.get("version").and_then(|v| v.trim().parse().ok());
    match publish_article(&s, &auth.caller, id, version).await {
        Ok(a) => Redirect::to(&format!(
            "/kb/{id}?done=Version%20{}%20published",
            a.published_version.unwrap_or(a.latest_version)
        ))
        .into_response(),
        Err(p) => show(&s, &auth, id, None, None, Some(p)).await,
    }
}

async fn archive(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>) -> Response {
    match archive_article(&s, &auth.caller, id).await {
        Ok(_) => {
            Redirect::to(&format!("/kb/{id}?done=Archived%3A%20the%20FAQ%20no%20longer%20shows%20it")).into_response()
        }
        Err(p) => show(&s, &auth, id, None, None, Some(p)).await,
    }
}

/// The suggestions on a ticket's page, loaded with it.
#[derive(Template)]
#[template(path = "kb_suggestions.html")]
struct Suggestions {
    items: Vec<ArticleHit>,
    error: Option<String>,
}

async fn suggestions(State(s): State<AppState>, auth: Authenticated, Path(id): Path<Uuid>) -> Response {
    let fragment = match suggest_for(&s, &auth.caller, id, 5).await {
        Ok(items) => Suggestions { items, error: None },
        Err(p) => Suggestions { items: Vec::new(), error: Some(p.detail) },
    };
    render(&fragment)
}
