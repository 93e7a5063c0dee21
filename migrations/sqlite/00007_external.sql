-- +goose Up
-- Envelope encryption (issue 4): every message's content is sealed with its own
-- random data key (AES-256-GCM, internal/seal); the key is stored only wrapped by
-- a master key of the key ring, named by id and version. Deleting the row
-- crypto-shreds the content; the ciphertext is purged afterwards.
CREATE TABLE data_keys (
    message_id     TEXT PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    master_key_id  TEXT NOT NULL,
    master_version INTEGER NOT NULL,
    wrapped        BLOB NOT NULL,
    created_at     DATETIME NOT NULL,
    rewrapped_at   DATETIME
);
CREATE INDEX data_keys_master_idx ON data_keys (master_key_id, master_version);

-- revoked_at: the sender withdrew the message; purged_at: its data key is
-- destroyed and its content deleted (only status and evidence remain).
-- reply_to: the external recipient (delivery id) a reply came from.
ALTER TABLE messages ADD COLUMN sender_name TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN revoked_at DATETIME;
ALTER TABLE messages ADD COLUMN purged_at DATETIME;
ALTER TABLE messages ADD COLUMN reply_to TEXT NOT NULL DEFAULT '';
CREATE INDEX messages_expiry_idx ON messages (expires_at) WHERE purged_at IS NULL;

ALTER TABLE organisation_settings ADD COLUMN show_subject BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE organisation_settings ADD COLUMN expiry_days INTEGER NOT NULL DEFAULT 0;
ALTER TABLE organisation_settings ADD COLUMN notify_first_open BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE organisation_settings ADD COLUMN sms_daily_cap INTEGER NOT NULL DEFAULT -1;

-- One external recipient of a message (its delivery is the notification e-mail).
-- The link token (and a reminder's fresh one) is stored only as its SHA-256; the phone number only sealed with
-- the message's data key (phone_masked is what people are shown).
CREATE TABLE external_recipients (
    delivery_id           TEXT PRIMARY KEY REFERENCES deliveries (id) ON DELETE CASCADE,
    message_id            TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    token_hash            BLOB NOT NULL UNIQUE,
    reminder_token_hash   BLOB,
    phone_sealed          BLOB,
    phone_masked          TEXT NOT NULL,
    sms_status            TEXT NOT NULL DEFAULT '',
    notified_at           DATETIME,
    code_sent_at          DATETIME,
    opened_at             DATETIME,
    downloaded_at         DATETIME,
    replied_at            DATETIME,
    reminded_at           DATETIME,
    new_link_requested_at DATETIME,
    created_at            DATETIME NOT NULL
);
CREATE INDEX external_recipients_message_idx ON external_recipients (message_id);
CREATE INDEX external_recipients_reminder_idx ON external_recipients (reminder_token_hash);

-- Viewer sessions: the link token is exchanged for a session whose token (kept
-- only hashed) lives in an HttpOnly cookie; verified_at is set by a valid code.
CREATE TABLE viewer_sessions (
    token_hash   BLOB PRIMARY KEY,
    delivery_id  TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    created_at   DATETIME NOT NULL,
    last_seen_at DATETIME NOT NULL,
    expires_at   DATETIME NOT NULL,
    code_sent_at DATETIME,
    verified_at  DATETIME
);
CREATE INDEX viewer_sessions_expiry_idx ON viewer_sessions (expires_at);

-- SMS sent per organisation and day (Europe/Amsterdam), for the daily spend cap.
CREATE TABLE sms_spend (
    organisation_id TEXT NOT NULL,
    day             TEXT NOT NULL,
    sent            INTEGER NOT NULL,
    PRIMARY KEY (organisation_id, day)
);

-- +goose Down
DROP TABLE sms_spend;
DROP TABLE viewer_sessions;
DROP TABLE external_recipients;
ALTER TABLE organisation_settings DROP COLUMN sms_daily_cap;
ALTER TABLE organisation_settings DROP COLUMN notify_first_open;
ALTER TABLE organisation_settings DROP COLUMN expiry_days;
ALTER TABLE organisation_settings DROP COLUMN show_subject;
DROP INDEX messages_expiry_idx;
ALTER TABLE messages DROP COLUMN reply_to;
ALTER TABLE messages DROP COLUMN purged_at;
ALTER TABLE messages DROP COLUMN revoked_at;
ALTER TABLE messages DROP COLUMN sender_name;
DROP TABLE data_keys;
