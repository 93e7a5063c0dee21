-- +goose Up
-- One-time codes for the external viewer (NIST SP 800-63B §5.1.3 out-of-band,
-- OWASP ASVS 5.0 6.5/6.6), managed by internal/otp. A subject is an opaque
-- recipient id (one recipient of one message); it has no foreign key yet.
--
-- otp_subjects is the per-recipient state and the row every Issue locks, so that
-- concurrent requests agree on the issue limit: failures counts wrong codes since
-- the last success or unlock; at the limit locked_at is set and only Unlock (the
-- sender) clears it.
CREATE TABLE otp_subjects (
    subject        TEXT PRIMARY KEY,
    failures       INTEGER NOT NULL DEFAULT 0,
    locked_at      TIMESTAMPTZ,
    last_issued_at TIMESTAMPTZ
);

-- otp_codes holds each issued code as HMAC-SHA-256(server secret, subject, code),
-- never the code itself. A code is live while used_at and superseded_at are NULL,
-- expires_at has not passed and failures (wrong tries against it) is under the
-- limit. Single use is a conditional UPDATE ... WHERE used_at IS NULL. Rows stay
-- for the issue-limit window (they are counted) and are pruned by later Issues.
CREATE TABLE otp_codes (
    id            BIGSERIAL PRIMARY KEY,
    subject       TEXT NOT NULL REFERENCES otp_subjects (subject) ON DELETE CASCADE,
    code_hash     BYTEA NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    used_at       TIMESTAMPTZ,
    superseded_at TIMESTAMPTZ,
    failures      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX otp_codes_subject_idx ON otp_codes (subject, id);

-- +goose Down
DROP TABLE otp_codes;
DROP TABLE otp_subjects;
