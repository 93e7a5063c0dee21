-- +goose Up
CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE,
    password_hash   TEXT NOT NULL DEFAULT '',
    role            TEXT NOT NULL CHECK (role IN ('sender', 'org-admin', 'operator')),
    organisation_id TEXT REFERENCES organisations (id),
    status          TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at      DATETIME NOT NULL,
    updated_at      DATETIME NOT NULL
);
CREATE INDEX users_organisation_idx ON users (organisation_id);

-- Ed25519 keys that sign access tokens (RFC 8037). The newest unexpired key signs;
-- every key still within its verify window is published in the JWKS.
CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    private_key BLOB NOT NULL,
    public_key  BLOB NOT NULL,
    created_at  DATETIME NOT NULL,
    sign_until  DATETIME NOT NULL,
    verify_until DATETIME NOT NULL
);

-- Rotating single-use refresh tokens, stored as SHA-256 hashes. Reuse of a spent
-- token revokes its whole family.
CREATE TABLE refresh_tokens (
    id         TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at DATETIME NOT NULL,
    expires_at DATETIME NOT NULL,
    used_at    DATETIME,
    revoked_at DATETIME
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

-- +goose Down
DROP TABLE refresh_tokens;
DROP TABLE signing_keys;
DROP TABLE users;
