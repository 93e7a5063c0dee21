// Package faults is the fault suite (`make test-faults`): the real veilig binary
// against real peers — PostgreSQL, OpenLDAP slapd, Postfix, Knot + Unbound — each
// made to fail while Veilig works, and what Veilig did with the messages it
// accepted counted: accepted, delivered, duplicated and lost (lost must be 0).
//
// The scenarios: PostgreSQL shut down immediately under a send load (the API
// answers 503 problem+json, RFC 9457, without driver detail; /readyz is 503;
// the same process recovers); slapd killed in the middle of a full directory
// sync (RFC 4511 paged search, RFC 2696: the sync fails and the directory stays
// as the previous sync left it); the recipient's MX refusing connections for a
// while (RFC 5321 §4.5.4.1: deferred, retried, delivered once); the validating
// resolver down (RFC 7672 §2.1: a DANE domain defers and never falls back to
// PKIX or plaintext); the SMS provider timing out while an external recipient
// asks for a one-time code (the viewer answers with its error page once the SMS
// client gives up, the organisation's daily SMS count is given back, and a new
// request succeeds once the provider answers); and kill -9 of one of two serve
// processes sharing PostgreSQL during a burst (the survivor serves on and the
// dead one's deliveries are rescued).
//
// The tests live in _test files; this package has no non-test code.
package faults
