-- +goose Up
-- Per-organisation message settings; a missing row means the defaults.
CREATE TABLE organisation_settings (
    organisation_id TEXT PRIMARY KEY REFERENCES organisations (id) ON DELETE CASCADE,
    self_copy       BOOLEAN NOT NULL DEFAULT TRUE,
    updated_at      TIMESTAMPTZ NOT NULL
);

-- One accepted message. Its content (headers and body, subject included) lives only
-- in the blob named by blob_key, never in the database. No foreign keys to users or
-- organisations: a message is a record that outlives directory changes.
CREATE TABLE messages (
    id                TEXT PRIMARY KEY,
    organisation_id   TEXT NOT NULL,
    sender_user_id    TEXT NOT NULL,
    sender_email      TEXT NOT NULL,
    idempotency_key   TEXT,
    request_hash      TEXT NOT NULL DEFAULT '',
    client_message_id TEXT NOT NULL DEFAULT '',
    message_id_header TEXT NOT NULL,
    blob_key          TEXT NOT NULL,
    size              BIGINT NOT NULL,
    dkim_signature    TEXT NOT NULL DEFAULT '',
    status            TEXT NOT NULL DEFAULT 'sending' CHECK (status IN ('sending', 'delivered', 'partial', 'failed')),
    created_at        TIMESTAMPTZ NOT NULL,
    expires_at        TIMESTAMPTZ,
    updated_at        TIMESTAMPTZ NOT NULL
);
-- Idempotency-Key: one message per sender and key (NULL keys never collide).
CREATE UNIQUE INDEX messages_idempotency_idx ON messages (sender_user_id, idempotency_key);
-- The sender's listing, newest first, keyset-paginated on (created_at, id).
CREATE INDEX messages_sender_idx ON messages (sender_user_id, created_at DESC, id DESC);
-- Not unique: a message submitted whole (message/rfc822) keeps its own Message-ID.
CREATE INDEX messages_message_id_idx ON messages (message_id_header);

-- One (message, recipient) delivery; its job in river_job is inserted in the same
-- transaction. blob_key is set only for notices, whose content is their own.
CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    message_id      TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    address         TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('to', 'cc', 'bcc', 'self-copy', 'notice')),
    route           TEXT NOT NULL,
    reason          TEXT NOT NULL DEFAULT '',
    domain          TEXT NOT NULL,
    organisation_id TEXT NOT NULL DEFAULT '',
    blob_key        TEXT NOT NULL DEFAULT '',
    size            BIGINT NOT NULL DEFAULT 0,
    status          TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'deferred', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    next_attempt_at TIMESTAMPTZ,
    delivered_at    TIMESTAMPTZ,
    suspicious      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX deliveries_message_idx ON deliveries (message_id, position);
-- Operations and the worker: what is pending, and since when.
CREATE INDEX deliveries_status_idx ON deliveries (status, next_attempt_at);

-- Evidence: one row per connection attempt of a delivery run (RFC 7672, RFC 8461).
CREATE TABLE delivery_attempts (
    id          BIGSERIAL PRIMARY KEY,
    delivery_id TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    run         INTEGER NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    mx          TEXT NOT NULL DEFAULT '',
    ip          TEXT NOT NULL DEFAULT '',
    policy      TEXT NOT NULL DEFAULT '',
    tls_version TEXT NOT NULL DEFAULT '',
    cipher      TEXT NOT NULL DEFAULT '',
    tlsa_match  TEXT NOT NULL DEFAULT '',
    code        INTEGER NOT NULL DEFAULT 0,
    enhanced    TEXT NOT NULL DEFAULT '',
    reply       TEXT NOT NULL DEFAULT '',
    error       TEXT NOT NULL DEFAULT '',
    outcome     TEXT NOT NULL CHECK (outcome IN ('delivered', 'temporary', 'permanent'))
);
CREATE INDEX delivery_attempts_delivery_idx ON delivery_attempts (delivery_id, id);

-- The orphan-blob sweeper looks blobs up by key.
CREATE INDEX messages_blob_key_idx ON messages (blob_key);
CREATE INDEX deliveries_blob_key_idx ON deliveries (blob_key);

-- +goose Down
DROP TABLE delivery_attempts;
DROP TABLE deliveries;
DROP TABLE messages;
DROP TABLE organisation_settings;
