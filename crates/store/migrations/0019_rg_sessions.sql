-- ops module: the player's sessions as the session-time limits count them, from the platform's
-- session.started and session.ended events (an end without a start is kept as a session that
-- began at its end, the platform's duration aside: only what is known is counted).
CREATE TABLE rg_sessions (
    player_id   UUID NOT NULL,
    session_id  TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    ended_at    BIGINT,
    PRIMARY KEY (player_id, session_id)
);
CREATE INDEX rg_sessions_player ON rg_sessions (player_id, started_at);
