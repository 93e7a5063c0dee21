-- +goose Up
-- When a recipient domain was last seen with DANE (RFC 7672) or an MTA-STS
-- enforce policy (RFC 8461). A domain that had either and now has neither is a
-- possible downgrade: its deliveries are deferred and flagged, not sent with PKIX.
CREATE TABLE transport_history (
    domain          TEXT PRIMARY KEY,
    dane_seen_at    TIMESTAMPTZ,
    mta_sts_seen_at TIMESTAMPTZ,
    updated_at      TIMESTAMPTZ NOT NULL
);

-- Cached MTA-STS policies (RFC 8461 §5.1): the policy text as fetched, the id of
-- the TXT record it belongs to, valid until expires_at (fetched_at + max_age).
CREATE TABLE mta_sts_policies (
    domain     TEXT PRIMARY KEY,
    policy_id  TEXT NOT NULL,
    policy     TEXT NOT NULL,
    fetched_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE mta_sts_policies;
DROP TABLE transport_history;
