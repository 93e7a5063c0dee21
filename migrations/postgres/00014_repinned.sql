-- +goose Up
-- An operator re-pinning a partner domain after confirming a change of its
-- mail set-up (new MX hosts, another transport policy) is a monitor event.
ALTER TABLE monitor_events DROP CONSTRAINT monitor_events_kind_check;
ALTER TABLE monitor_events ADD CONSTRAINT monitor_events_kind_check
    CHECK (kind IN ('suspended', 'recovered', 'degraded', 'check-error', 'conflict', 'repinned'));

-- +goose Down
DELETE FROM monitor_events WHERE kind = 'repinned';
ALTER TABLE monitor_events DROP CONSTRAINT monitor_events_kind_check;
ALTER TABLE monitor_events ADD CONSTRAINT monitor_events_kind_check
    CHECK (kind IN ('suspended', 'recovered', 'degraded', 'check-error', 'conflict'));
