// Package e2e holds end-to-end tests of the veilig binary (issue 3 §9): the test
// builds the real binary, prepares a PostgreSQL database with `veilig migrate`,
// `veilig directory import` and `veilig user add`, and runs `veilig serve` as a
// child process against the mail-transport lab of internal/testenv — Knot serving
// DNSSEC-signed zones behind a validating Unbound (RFC 4033–4035), Postfix as
// every recipient MX over STARTTLS (RFC 3207) verified with DANE (RFC 7672) or
// PKIX (RFC 5280) — then drives it as clients do: the HTTP API, the SMTP
// submission gateway (RFC 6409) with swaks and Python's smtplib, and kill -9
// during a burst of submissions (at-least-once delivery, RFC 5321 §6.1).
//
// There is no non-test code here; the tests are in the _test.go files.
package e2e
