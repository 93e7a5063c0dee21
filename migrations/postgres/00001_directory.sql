-- +goose Up
CREATE TABLE organisations (
    id          TEXT PRIMARY KEY,
    source_id   TEXT NOT NULL UNIQUE,
    source_dn   TEXT NOT NULL DEFAULT '',
    name        TEXT NOT NULL,
    oin         TEXT NOT NULL DEFAULT '',
    kvk         TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'removed')),
    sync_gen    BIGINT NOT NULL DEFAULT 0,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE domains (
    name            TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE
);
CREATE INDEX domains_organisation_idx ON domains (organisation_id);

CREATE TABLE people (
    id              TEXT PRIMARY KEY,
    source_id       TEXT NOT NULL UNIQUE,
    source_dn       TEXT NOT NULL DEFAULT '',
    organisation_id TEXT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    display_name    TEXT NOT NULL,
    mail            TEXT NOT NULL DEFAULT '',
    department      TEXT NOT NULL DEFAULT '',
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX people_organisation_idx ON people (organisation_id);
CREATE INDEX people_mail_idx ON people (mail);

-- One row; generation is bumped in every transaction that changes the directory,
-- so that every serve process can tell its in-memory index is stale.
CREATE TABLE directory_meta (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL
);
INSERT INTO directory_meta (id, generation) VALUES (1, 0);

CREATE TABLE sync_runs (
    id            BIGSERIAL PRIMARY KEY,
    kind          TEXT NOT NULL,
    source        TEXT NOT NULL DEFAULT '',
    started_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ,
    outcome       TEXT NOT NULL,
    error         TEXT NOT NULL DEFAULT '',
    organisations INTEGER NOT NULL DEFAULT 0,
    people        INTEGER NOT NULL DEFAULT 0,
    deleted       INTEGER NOT NULL DEFAULT 0,
    skipped       INTEGER NOT NULL DEFAULT 0,
    issues        TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX sync_runs_started_idx ON sync_runs (started_at);

-- Incremental sync position per source (RFC 4533 cookie, uSNChanged, modifyTimestamp).
CREATE TABLE sync_state (
    name       TEXT PRIMARY KEY,
    state      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE sync_state;
DROP TABLE sync_runs;
DROP TABLE directory_meta;
DROP TABLE people;
DROP TABLE domains;
DROP TABLE organisations;
