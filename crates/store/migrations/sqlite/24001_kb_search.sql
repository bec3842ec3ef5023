-- SQLite half of the knowledge base's full-text index (0024_helpdesk_kb.sql has the articles;
-- the PostgreSQL half is postgres/24001_kb_search.sql and holds the same columns).
-- One row per version that can be searched: an article's published version and its latest
-- (the two may be one), kept in step by crates/helpdesk/src/kb.rs with the same statements on
-- both engines. unicode61 folds case and diacritics without stemming, as PostgreSQL's 'simple'
-- configuration does not stem either; the prefix indexes serve searches for word starts.
CREATE VIRTUAL TABLE kb_search USING fts5(
    article_id UNINDEXED,
    version UNINDEXED,
    title,
    body,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);
