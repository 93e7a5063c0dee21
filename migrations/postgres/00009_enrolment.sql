-- +goose Up
-- Where an organisation came from: the LDAP/LDIF directory, or self-enrolment
-- through the API. Directory syncs only ever add, change or remove organisations
-- of origin 'directory'; enrolled ones are managed by their own administrators.
ALTER TABLE organisations ADD COLUMN origin TEXT NOT NULL DEFAULT 'directory'
    CHECK (origin IN ('directory', 'enrolment'));

-- A partner's self-enrolment (issue 6). The status token is shown once and kept
-- as a SHA-256 hash. Abandoned enrolments expire at expires_at.
CREATE TABLE enrolments (
    id                TEXT PRIMARY KEY,
    status            TEXT NOT NULL CHECK (status IN ('pending', 'verified', 'approved', 'rejected', 'expired')),
    organisation_name TEXT NOT NULL,
    kvk               TEXT NOT NULL DEFAULT '',
    oin               TEXT NOT NULL DEFAULT '',
    admin_name        TEXT NOT NULL,
    admin_email       TEXT NOT NULL,
    admin_phone       TEXT NOT NULL,
    token_hash        TEXT NOT NULL UNIQUE,
    client_hash       TEXT NOT NULL DEFAULT '',
    organisation_id   TEXT REFERENCES organisations (id),
    decided_by        TEXT NOT NULL DEFAULT '',
    decision_reason   TEXT NOT NULL DEFAULT '',
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    expires_at        TIMESTAMPTZ NOT NULL,
    decided_at        TIMESTAMPTZ
);
CREATE INDEX enrolments_status_idx ON enrolments (status, created_at);
CREATE INDEX enrolments_expires_idx ON enrolments (expires_at);

-- The domains an enrolment claims, each with its DNS challenge
-- (TXT at _veilig-challenge.<domain>) and when it was found.
CREATE TABLE enrolment_domains (
    enrolment_id TEXT NOT NULL REFERENCES enrolments (id) ON DELETE CASCADE,
    domain       TEXT NOT NULL,
    challenge    TEXT NOT NULL,
    verified_at  TIMESTAMPTZ,
    PRIMARY KEY (enrolment_id, domain)
);
CREATE INDEX enrolment_domains_domain_idx ON enrolment_domains (domain);

-- The latest mail-standards report per domain (enrolment or monitoring), JSON.
CREATE TABLE domain_reports (
    domain     TEXT PRIMARY KEY,
    status     TEXT NOT NULL CHECK (status IN ('pass', 'info', 'warning', 'fail', 'error')),
    report     TEXT NOT NULL,
    checked_at TIMESTAMPTZ NOT NULL
);

-- The transport policy an admitted domain is pinned to, for the delivery route:
-- 'dane' (TLSA under DNSSEC), 'mta-sts' (enforce policy) or 'pkix' (only the
-- listed MX hosts, PKIX-valid). A suspended pin defers every delivery to the
-- domain until monitoring sees it fixed.
CREATE TABLE transport_pins (
    domain          TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    policy          TEXT NOT NULL CHECK (policy IN ('dane', 'mta-sts', 'pkix')),
    mx_hosts        TEXT NOT NULL DEFAULT '[]',
    state           TEXT NOT NULL DEFAULT 'trusted' CHECK (state IN ('trusted', 'suspended')),
    reason          TEXT NOT NULL DEFAULT '',
    next_check_at   TIMESTAMPTZ NOT NULL,
    checked_at      TIMESTAMPTZ,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX transport_pins_next_idx ON transport_pins (next_check_at);
CREATE INDEX transport_pins_org_idx ON transport_pins (organisation_id);

-- What monitoring saw happen to a community domain, for operators.
CREATE TABLE monitor_events (
    id              BIGSERIAL PRIMARY KEY,
    domain          TEXT NOT NULL,
    organisation_id TEXT NOT NULL DEFAULT '',
    kind            TEXT NOT NULL CHECK (kind IN ('suspended', 'recovered', 'degraded', 'check-error', 'conflict')),
    detail          TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX monitor_events_created_idx ON monitor_events (created_at);

-- API keys of machine clients: shown once, stored as a SHA-256 hash, scoped to
-- one organisation, revocable.
CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    secret_hash     TEXT NOT NULL UNIQUE,
    scopes          TEXT NOT NULL,
    created_by      TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL,
    last_used_at    TIMESTAMPTZ,
    revoked_at      TIMESTAMPTZ
);
CREATE INDEX api_keys_organisation_idx ON api_keys (organisation_id);

-- One-time invitations to set a password (new senders, an enrolled
-- organisation's first administrator), stored as SHA-256 hashes.
CREATE TABLE invitations (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX invitations_user_idx ON invitations (user_id);

ALTER TABLE organisation_settings ADD COLUMN email_code_allowed BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE organisation_settings DROP COLUMN email_code_allowed;
DROP TABLE invitations;
DROP TABLE api_keys;
DROP TABLE monitor_events;
DROP TABLE transport_pins;
DROP TABLE domain_reports;
DROP TABLE enrolment_domains;
DROP TABLE enrolments;
ALTER TABLE organisations DROP COLUMN origin;
