-- +goose Up
-- An operator re-pinning a partner domain after confirming a change of its
-- mail set-up (new MX hosts, another transport policy) is a monitor event.
-- SQLite cannot alter a CHECK constraint: the table is rebuilt.
CREATE TABLE monitor_events_new (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    domain          TEXT NOT NULL,
    organisation_id TEXT NOT NULL DEFAULT '',
    kind            TEXT NOT NULL CHECK (kind IN ('suspended', 'recovered', 'degraded', 'check-error', 'conflict', 'repinned')),
    detail          TEXT NOT NULL DEFAULT '',
    created_at      DATETIME NOT NULL
);
INSERT INTO monitor_events_new (id, domain, organisation_id, kind, detail, created_at)
    SELECT id, domain, organisation_id, kind, detail, created_at FROM monitor_events;
-- Keep the AUTOINCREMENT counter: ids are never handed out twice.
DELETE FROM sqlite_sequence WHERE name = 'monitor_events_new';
INSERT INTO sqlite_sequence (name, seq) SELECT 'monitor_events_new', seq FROM sqlite_sequence WHERE name = 'monitor_events';
DROP TABLE monitor_events;
ALTER TABLE monitor_events_new RENAME TO monitor_events;
CREATE INDEX monitor_events_created_idx ON monitor_events (created_at);

-- +goose Down
CREATE TABLE monitor_events_old (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    domain          TEXT NOT NULL,
    organisation_id TEXT NOT NULL DEFAULT '',
    kind            TEXT NOT NULL CHECK (kind IN ('suspended', 'recovered', 'degraded', 'check-error', 'conflict')),
    detail          TEXT NOT NULL DEFAULT '',
    created_at      DATETIME NOT NULL
);
INSERT INTO monitor_events_old (id, domain, organisation_id, kind, detail, created_at)
    SELECT id, domain, organisation_id, kind, detail, created_at FROM monitor_events WHERE kind != 'repinned';
DELETE FROM sqlite_sequence WHERE name = 'monitor_events_old';
INSERT INTO sqlite_sequence (name, seq) SELECT 'monitor_events_old', seq FROM sqlite_sequence WHERE name = 'monitor_events';
DROP TABLE monitor_events;
ALTER TABLE monitor_events_old RENAME TO monitor_events;
CREATE INDEX monitor_events_created_idx ON monitor_events (created_at);
