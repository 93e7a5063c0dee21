-- +goose Up
-- DKIM signing keys (RFC 6376), per sending organisation. The selector is
-- "veilig" + the year and month of creation; the public key is published as
-- <selector>._domainkey.<domain> under each of the organisation's domains. At most
-- one key per organisation and algorithm is active: the unique index is what
-- lets processes creating a key at the same time agree on one.
CREATE TABLE dkim_keys (
    organisation_id TEXT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    selector        TEXT NOT NULL,
    algorithm       TEXT NOT NULL CHECK (algorithm IN ('rsa', 'ed25519')),
    private_key     BYTEA NOT NULL, -- PKCS #8, DER
    public_key      BYTEA NOT NULL, -- the p= tag's bytes: SubjectPublicKeyInfo DER for rsa
    created_at      TIMESTAMPTZ NOT NULL,
    active          BOOLEAN NOT NULL DEFAULT TRUE,
    PRIMARY KEY (organisation_id, selector)
);
CREATE UNIQUE INDEX dkim_keys_active_idx ON dkim_keys (organisation_id, algorithm) WHERE active;

-- +goose Down
DROP TABLE dkim_keys;
