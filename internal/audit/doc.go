// Package audit is Veilig's tamper-evident audit trail (issue 7): who did what,
// when (UTC), on which object — the logging that NTA 7516 §6.4.2 and NEN 7513
// ask of systems that exchange confidential (health and government)
// information.
//
// Events are appended to one linear hash chain. Every event's canonical form
// (see Canonical: the JSON object with fixed members in a fixed order, no
// insignificant whitespace, detail keys sorted — close to the JSON
// Canonicalization Scheme of RFC 8785, but produced by encoding/json, which also
// escapes U+2028 and U+2029) is hashed with SHA-256 into payload_hash, and
// hash = SHA-256(prev_hash || payload_hash) over the raw 32-byte digests, with
// 32 zero bytes before the first event. Appends hold the chain head (the one
// audit_head row: SELECT … FOR UPDATE on PostgreSQL, the write lock on SQLite),
// so several serve processes share one chain. Every Config.CheckpointEvery
// events, and on Checkpoint (called hourly by Run), the head (seq, hash) is
// signed with Ed25519 (RFC 8032); Verify recomputes every payload hash and link
// and checks every signature, so a deleted, edited or re-hashed event, or a
// tail removed after a checkpoint, is reported.
//
// Retention: Purge clears the payload columns (detail, actor, object id) of
// events older than their organisation's retention (organisation_settings.
// audit_retention_days, default six years) and keeps seq and the hashes, so the
// chain still verifies; Verify skips the payload check of purged events only.
//
// Export writes JSON lines or syslog lines (RFC 5424, facility 13 "log audit",
// one event per line as with the non-transparent framing of RFC 6587) for a
// SIEM. No event carries a secret, code, token, password or message content:
// Record drops secret-looking detail keys and bounds every value.
package audit
