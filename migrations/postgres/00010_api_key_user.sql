-- +goose Up
-- The sender an API key acts as (issue 6): a machine client sends as one
-- person of its organisation. Nullable only because SQLite cannot add a NOT NULL
-- column with a foreign key; every key the application creates has one, and a
-- key without one is refused.
ALTER TABLE api_keys ADD COLUMN user_id TEXT REFERENCES users (id) ON DELETE CASCADE;
CREATE INDEX api_keys_user_idx ON api_keys (user_id);

-- +goose Down
DROP INDEX api_keys_user_idx;
ALTER TABLE api_keys DROP COLUMN user_id;
