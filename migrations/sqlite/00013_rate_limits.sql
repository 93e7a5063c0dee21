-- +goose Up
-- Rate-limit counters shared by every serve process on this database (issue 7,
-- horizontal scale; package internal/ratelimit). One row per limited key (an
-- account, a client address, an account and client): attempts counted in the
-- window that began at window_start, the earliest time the next attempt is
-- admitted (backoff), and when the row may be swept. Times are Unix
-- milliseconds, so that one statement serves both dialects.
CREATE TABLE rate_limits (
    key          TEXT    PRIMARY KEY,
    window_start BIGINT  NOT NULL,
    count        INTEGER NOT NULL,
    not_before   BIGINT  NOT NULL DEFAULT 0,
    expires_at   BIGINT  NOT NULL
);
CREATE INDEX rate_limits_expires_at ON rate_limits (expires_at);

-- +goose Down
DROP TABLE rate_limits;
