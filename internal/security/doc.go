// Package security is Veilig's standing security suite (issue 7 §2, run by
// `make test-security` and `make test`). It holds tests only: each case
// attacks the real router — in process over the real auth service on SQLite
// and PostgreSQL, or the real `veilig serve` binary — and asserts the exact
// status and that nothing was changed or sent (database rows, outbox jobs,
// SMS and e-mail captured by the fake providers).
//
// The cases follow OWASP ASVS 4.0.3 at level 2: V3 (session management:
// tokens), V4 (access control: IDOR across organisations, mass assignment),
// V5 (validation: header injection, oversized and nested JSON, content types,
// file names with traversal, bidi and control characters), V7 (no secrets or
// content in logs), V8 (data protection: the plaintext canary search in the
// database, logs and temporary files), V11 (business logic: OTP brute force,
// SMS pumping and enrolment spam limits), V14 (HTTP security headers) and
// V14.2 (dependencies: scripts/govulncheck.sh). The JWT attack set follows
// RFC 8725 (JSON Web Token Best Current Practices): §2.1/§3.1 algorithm
// confusion ("none", HS256 keyed with the public key), §3.8–§3.9 issuer and
// audience, §3.11 explicit typing (typ at+jwt, RFC 9068 §2.1), and key
// selection only from our own key ring (no jku/jwk/x5u, RFC 7515 §4.1).
package security
