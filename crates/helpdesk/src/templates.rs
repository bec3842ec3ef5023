//! Response templates: reusable replies, one per name and language, with variables from the
//! player's profile and the ticket (`{{ player.first_name }}`, `{{ player.balance }}`,
//! `{{ player.last_deposit }}`, `{{ ticket.number }}`...), rendered by MiniJinja.
//!
//! A template is checked when it is saved, by rendering it against sample variables with
//! undefined names refused, so a misspelt variable is caught by the person writing it and not
//! by a player reading "Dear ,". The agent sees the rendered text before sending it, and can
//! still edit it: a template fills the reply, it does not send it.

use chrono::{DateTime, Utc};
use minijinja::{Environment, UndefinedBehavior};
use pitboss_core::new_id;
use pitboss_core::time::{from_micros, to_micros};
use pitboss_store::{Db, Tx, db, exec, sqlx, tx};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::HelpdeskError;

/// The language a template falls back to when there is none in the ticket's: the help desk's one.
pub use crate::kb::FALLBACK_LANGUAGE;

/// Longest template body, in characters.
pub const MAX_BODY_CHARS: usize = 20_000;

/// One template in one language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ResponseTemplate {
    pub id: Uuid,
    /// What agents pick it by, e.g. `withdrawal-delay`; the same name in several languages.
    pub name: String,
    /// ISO 639-1 code, e.g. `en`.
    pub language: String,
    /// The text with its variables, e.g. `Hello {{ player.first_name }}`.
    pub body: String,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

/// What a template may say about the player. Money is already formatted with its currency.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PlayerVariables {
    pub first_name: String,
    pub last_name: String,
    /// First and last name, or the address the ticket came from when the name is unknown.
    pub name: String,
    pub email: String,
    pub vip_tier: String,
    /// The cash balance that can be spent now, e.g. `120.50 EUR`.
    pub balance: String,
    /// The last completed deposit, e.g. `50.00 EUR on 2026-12-01`, or `none`.
    pub last_deposit: String,
}

/// What a template may say about the ticket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TicketVariables {
    pub number: i64,
    pub subject: String,
    pub status: String,
}

/// Everything a template can use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Variables {
    pub player: PlayerVariables,
    pub ticket: TicketVariables,
    /// The agent writing, as they are known to players.
    pub agent: String,
}

impl Variables {
    /// Stand-ins used to check a template when it is saved.
    pub fn sample() -> Variables {
        Variables {
            player: PlayerVariables {
                first_name: "Alex".into(),
                last_name: "Example".into(),
                name: "Alex Example".into(),
                email: "alex@example.com".into(),
                vip_tier: "gold".into(),
                balance: "120.50 EUR".into(),
                last_deposit: "50.00 EUR on 2026-12-01".into(),
            },
            ticket: TicketVariables { number: 1042, subject: "My withdrawal".into(), status: "open".into() },
            agent: "Sam".into(),
        }
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // A name the variables do not have is an error, never an empty gap in a reply.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // A loop written by mistake ends with an error instead of holding a worker.
    env.set_fuel(Some(50_000));
    env
}

/// The template's text with the variables filled in.
pub fn render(body: &str, vars: &Variables) -> Result<String, HelpdeskError> {
    environment().render_str(body, vars).map_err(|e| HelpdeskError::invalid("body", explain(&e)))
}

/// A template error as its writer needs it: what is wrong, and on which line.
fn explain(e: &minijinja::Error) -> String {
    let what = e.detail().map(str::to_string).unwrap_or_else(|| e.kind().to_string());
    match e.line() {
        Some(line) => format!("line {line}: {what}"),
        None => what,
    }
}

fn check(name: &str, language: &str, body: &str) -> Result<(), HelpdeskError> {
    let name_ok = (1..=80).contains(&name.chars().count())
        && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '));
    if !name_ok {
        return Err(HelpdeskError::invalid("name", "1 to 80 letters, digits, spaces, '-', '_' or '.'"));
    }
    if language.len() != 2 || !language.chars().all(|c| c.is_ascii_lowercase()) {
        return Err(HelpdeskError::invalid("language", "a two-letter ISO 639-1 code such as en"));
    }
    if body.trim().is_empty() || body.chars().count() > MAX_BODY_CHARS {
        return Err(HelpdeskError::invalid("body", format!("1 to {MAX_BODY_CHARS} characters")));
    }
    render(body, &Variables::sample()).map(|_| ())
}

/// Saves the template `name` in `language`, replacing the one there was.
pub async fn save(
    tx: &mut Tx,
    name: &str,
    language: &str,
    body: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<ResponseTemplate, HelpdeskError> {
    let (name, language) = (name.trim(), language.trim().to_ascii_lowercase());
    check(name, &language, body)?;
    let id = new_id();
    let (id,): (Uuid,) = tx!(tx, |c| sqlx::query_as(
        "INSERT INTO response_templates (id, name, language, body, updated_by, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name, language) DO UPDATE SET \
         body = excluded.body, updated_by = excluded.updated_by, updated_at = excluded.updated_at RETURNING id"
    )
    .bind(id)
    .bind(name)
    .bind(&language)
    .bind(body)
    .bind(by)
    .bind(to_micros(now))
    .fetch_one(c)
    .await)?;
    Ok(ResponseTemplate { id, name: name.into(), language, body: body.into(), updated_by: by.into(), updated_at: now })
}

/// Removes a template; false when there was none.
pub async fn delete(tx: &mut Tx, id: Uuid) -> Result<Option<ResponseTemplate>, HelpdeskError> {
    let found = one(tx, id).await?;
    if found.is_some() {
        exec!(tx, "DELETE FROM response_templates WHERE id = $1", id)?;
    }
    Ok(found)
}

type Row = (Uuid, String, String, String, String, i64);

fn from_row((id, name, language, body, updated_by, at): Row) -> ResponseTemplate {
    ResponseTemplate { id, name, language, body, updated_by, updated_at: from_micros(at) }
}

const COLUMNS: &str = "id, name, language, body, updated_by, updated_at";

async fn one(tx: &mut Tx, id: Uuid) -> Result<Option<ResponseTemplate>, HelpdeskError> {
    let sql = format!("SELECT {COLUMNS} FROM response_templates WHERE id = $1");
    let row: Option<Row> = tx!(tx, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?;
    Ok(row.map(from_row))
}

/// Every template, by name then language.
pub async fn list(db: &Db) -> Result<Vec<ResponseTemplate>, HelpdeskError> {
    let sql = format!("SELECT {COLUMNS} FROM response_templates ORDER BY name, language");
    let rows: Vec<Row> = db!(db, |c| sqlx::query_as(&sql).fetch_all(c).await)?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// The templates' names, each once, in order: what an agent picks from.
pub async fn names(db: &Db) -> Result<Vec<String>, HelpdeskError> {
    Ok(db!(db, |c| sqlx::query_scalar("SELECT DISTINCT name FROM response_templates ORDER BY name")
        .fetch_all(c)
        .await)?)
}

/// The template `name` in `language`, else in [`FALLBACK_LANGUAGE`], else in any language.
pub async fn pick(db: &Db, name: &str, language: &str) -> Result<ResponseTemplate, HelpdeskError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM response_templates WHERE name = $1 \
         ORDER BY CASE WHEN language = $2 THEN 0 WHEN language = $3 THEN 1 ELSE 2 END, language LIMIT 1"
    );
    let row: Option<Row> =
        db!(db, |c| sqlx::query_as(&sql).bind(name).bind(language).bind(FALLBACK_LANGUAGE).fetch_optional(c).await)?;
    row.map(from_row).ok_or_else(|| HelpdeskError::invalid("template", format!("there is no template called '{name}'")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_fill_the_text() {
        let text = render(
            "Hello {{ player.first_name }}, ticket #{{ ticket.number }}: your balance is {{ player.balance }}.",
            &Variables::sample(),
        )
        .unwrap();
        assert_eq!(text, "Hello Alex, ticket #1042: your balance is 120.50 EUR.");
    }

    #[test]
    fn a_misspelt_variable_is_refused_with_its_line() {
        let err = check("greeting", "en", "Hello\n{{ player.frist_name }}").unwrap_err().to_string();
        assert!(err.starts_with("body: line 2"), "{err}");
    }

    #[test]
    fn broken_syntax_names_and_languages_are_refused() {
        assert!(check("greeting", "en", "Hello {{ player.first_name").is_err());
        assert!(check("", "en", "Hello").is_err());
        assert!(check("greeting", "english", "Hello").is_err());
        assert!(check("greeting", "en", "  ").is_err());
        assert!(check("greeting", "en", "{% for i in range(100000) %}{{ i }}{% endfor %}").is_err());
        assert!(check("greeting", "en", "Hello {{ player.name }}").is_ok());
    }

    #[test]
    fn text_is_not_html_escaped() {
        let mut vars = Variables::sample();
        vars.ticket.subject = "Fish & <chips>".into();
        assert_eq!(render("{{ ticket.subject }}", &vars).unwrap(), "Fish & <chips>");
    }
}
