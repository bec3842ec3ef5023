-- help desk response templates: reusable replies, one per name and language, with variables
-- from the player's profile and the ticket, rendered by MiniJinja (crates/helpdesk/src/templates.rs).
CREATE TABLE response_templates (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL,
    language    TEXT NOT NULL,
    body        TEXT NOT NULL,
    updated_by  TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (name, language)
);
