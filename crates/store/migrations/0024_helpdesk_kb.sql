-- help desk knowledge base: articles in Markdown, one per slug and language, and every version
-- of each (crates/helpdesk/src/kb.rs). Editing adds a version; the public and the agents' answers
-- read the published one until a newer version is published. The full-text index differs per
-- engine: postgres/24001_kb_search.sql and sqlite/24001_kb_search.sql.

-- An article. state: `draft` (never shown), `published` (published_version is what the FAQ
-- shows), `archived` (taken down; publishing again puts its latest version up).
-- latest_version: the newest version, which is the draft being worked on when it is newer than
-- published_version; it is also the counter a new version takes its number from.
CREATE TABLE kb_articles (
    id                 UUID PRIMARY KEY,
    slug               TEXT NOT NULL,
    language           TEXT NOT NULL,
    state              TEXT NOT NULL,
    latest_version     BIGINT NOT NULL,
    published_version  BIGINT,
    created_by         TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    updated_by         TEXT NOT NULL,
    updated_at         BIGINT NOT NULL,
    published_at       BIGINT,
    UNIQUE (slug, language)
);
CREATE INDEX kb_articles_state ON kb_articles (state, updated_at);

-- Every version of an article, never changed once written but for the time it was first
-- published. plain: the body as text with the Markdown taken off, computed when the version is
-- written, which is what the search indexes and quotes in its snippets.
CREATE TABLE kb_versions (
    article_id    UUID NOT NULL REFERENCES kb_articles (id),
    version       BIGINT NOT NULL,
    title         TEXT NOT NULL,
    category      TEXT NOT NULL,
    body          TEXT NOT NULL,
    plain         TEXT NOT NULL,
    author        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    published_at  BIGINT,
    PRIMARY KEY (article_id, version)
);
