-- segments: definitions in the rule language with every version kept, the current members,
-- and the size over time.
CREATE TABLE segments (
    id             UUID PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    description    TEXT NOT NULL,
    -- the current version's condition, as text (canonical) and JSON
    version        BIGINT NOT NULL,
    condition_text TEXT NOT NULL,
    condition_json TEXT NOT NULL,
    -- active or archived (an archived segment keeps its history but has no members)
    status         TEXT NOT NULL,
    -- an A/B split of the members (JSON: salt and weighted groups), or NULL
    split_json     TEXT,
    member_count   BIGINT NOT NULL DEFAULT 0,
    evaluated_at   BIGINT,
    created_at     BIGINT NOT NULL,
    created_by     TEXT NOT NULL,
    updated_at     BIGINT NOT NULL,
    updated_by     TEXT NOT NULL
);

CREATE TABLE segment_versions (
    segment_id     UUID NOT NULL REFERENCES segments (id),
    version        BIGINT NOT NULL,
    condition_text TEXT NOT NULL,
    condition_json TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    created_by     TEXT NOT NULL,
    PRIMARY KEY (segment_id, version)
);

CREATE TABLE segment_members (
    segment_id UUID NOT NULL REFERENCES segments (id),
    player_id  UUID NOT NULL REFERENCES players (id),
    -- when the player entered (microseconds)
    since      BIGINT NOT NULL,
    PRIMARY KEY (segment_id, player_id)
);
-- "which segments is this player in"
CREATE INDEX segment_members_player ON segment_members (player_id, segment_id);

CREATE TABLE segment_sizes (
    segment_id UUID NOT NULL REFERENCES segments (id),
    at         BIGINT NOT NULL,
    members    BIGINT NOT NULL,
    PRIMARY KEY (segment_id, at)
);
