-- +goose Up
-- The audit trail (issue 7; NTA 7516 §6.4.2, NEN 7513): append-only events,
-- hash-chained. payload_hash = SHA-256(canonical event), hash = SHA-256(prev_hash
-- || payload_hash), all hex. seq is assigned by the appender while it holds the
-- chain head (audit_head, locked FOR UPDATE; on SQLite the write lock), so the chain is linear across
-- processes. Purge (retention) clears the payload columns and sets purged_at,
-- keeping seq and the hashes so that the chain still verifies.
CREATE TABLE audit_events (
    seq                BIGINT PRIMARY KEY,
    at                 DATETIME NOT NULL,
    action             TEXT NOT NULL,
    outcome            TEXT NOT NULL DEFAULT '',
    actor_user_id      TEXT,
    actor_api_key_id   TEXT,
    actor_organisation TEXT,
    actor_role         TEXT,
    actor_ip           TEXT,
    actor_user_agent   TEXT,
    object_type        TEXT NOT NULL DEFAULT '',
    object_id          TEXT,
    message_id         TEXT,
    organisation_id    TEXT NOT NULL DEFAULT '',
    detail             TEXT,
    payload_hash       TEXT NOT NULL,
    prev_hash          TEXT NOT NULL,
    hash               TEXT NOT NULL,
    purged_at          DATETIME
);
CREATE INDEX audit_events_org_idx ON audit_events (organisation_id, seq);
CREATE INDEX audit_events_object_idx ON audit_events (object_type, object_id);
CREATE INDEX audit_events_message_idx ON audit_events (message_id);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_user_id, seq);
CREATE INDEX audit_events_at_idx ON audit_events (at);

-- The chain head: one row, locked by every append.
CREATE TABLE audit_head (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    seq            BIGINT NOT NULL,
    hash           TEXT NOT NULL,
    checkpoint_seq BIGINT NOT NULL
);
INSERT INTO audit_head (id, seq, hash, checkpoint_seq)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', 0);

-- Signed checkpoints: Ed25519 over (seq, hash, signed_at); key_id names the key.
CREATE TABLE audit_checkpoints (
    seq       BIGINT PRIMARY KEY,
    hash      TEXT NOT NULL,
    signed_at DATETIME NOT NULL,
    key_id    TEXT NOT NULL,
    signature TEXT NOT NULL
);

-- Audit retention per organisation in days; NULL = the default (6 years).
ALTER TABLE organisation_settings ADD COLUMN audit_retention_days INTEGER;

-- +goose Down
ALTER TABLE organisation_settings DROP COLUMN audit_retention_days;
DROP TABLE audit_checkpoints;
DROP TABLE audit_head;
DROP TABLE audit_events;
