-- +goose Up
-- A worker that sends several recipients of one message at one domain in one
-- SMTP transaction (RFC 5321 §3.3: one MAIL, several RCPT) claims their
-- deliveries here first, so no other worker sends to them meanwhile. A claim
-- ends when the outcomes are recorded, when the outbox job holding it (job_id
-- in river_job) is no longer running (its process died and River rescued it),
-- or at "until" at the latest; the delivery's own job then takes it over.
CREATE TABLE delivery_claims (
    delivery_id TEXT PRIMARY KEY REFERENCES deliveries (id) ON DELETE CASCADE,
    job_id      BIGINT NOT NULL DEFAULT 0,
    until       TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE delivery_claims;
