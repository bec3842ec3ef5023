-- PostgreSQL half of the knowledge base's full-text index (0024_helpdesk_kb.sql has the
-- articles; the SQLite half is sqlite/24001_kb_search.sql and holds the same columns).
-- One row per version that can be searched: an article's published version and its latest
-- (the two may be one), kept in step by crates/helpdesk/src/kb.rs with the same statements on
-- both engines. The 'simple' configuration lower-cases without stemming or stop words, since
-- articles come in many languages; the title weighs more (A) than the body (B).
CREATE TABLE kb_search (
    article_id  UUID NOT NULL,
    version     BIGINT NOT NULL,
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    document    tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', title), 'A') || setweight(to_tsvector('simple', body), 'B')
    ) STORED,
    PRIMARY KEY (article_id, version)
);
CREATE INDEX kb_search_document ON kb_search USING GIN (document);
