#!/usr/bin/env bash
# make test: install what the tests need, start a throwaway PostgreSQL, run every
# Go test (OpenLDAP slapd instances are started per test by internal/testenv), and
# stop what was started, by PID.
#
# TEST_PACKAGES (default ./...) narrows the Go tests to one suite; then the
# add-ins' tests and lint are left out (make test-security, make test-faults).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_packages postgresql slapd ldap-utils knot knot-dnsutils unbound bind9-dnsutils postfix libnet-ssleay-perl swaks openssl chromium procps thunderbird zip
# Node.js for the add-ins (nodejs bundles npm; Debian's separate npm package only when it does not).
command -v node >/dev/null || ensure_packages nodejs
command -v npm >/dev/null || ensure_packages npm

tmp=$(mktemp -d /tmp/veilig-test.XXXXXX)
chmod 755 "$tmp"
PG_PID=
cleanup() {
	stop_pid "$PG_PID"
	rm -rf "$tmp"
}
trap cleanup EXIT

start_postgres "$tmp/pg"
export VEILIG_TEST_POSTGRES_URL=$PG_URL
# Browser screenshots of the end-to-end tests are kept here (gitignored).
export VEILIG_TEST_ARTIFACTS=${VEILIG_TEST_ARTIFACTS:-$PWD/data/test-artifacts}
mkdir -p "$VEILIG_TEST_ARTIFACTS"

PACKAGES=${TEST_PACKAGES:-./...}
if [ "$PACKAGES" = ./... ]; then
	log "add-ins: npm ci, node --test"
	(cd addin && npm ci --no-audit --no-fund --loglevel=error && npm test)
	log "lint (gofmt, go vet, staticcheck)"
	make --no-print-directory lint
fi
log "go test $PACKAGES"
# shellcheck disable=SC2086 # PACKAGES may name several patterns
go test -count=1 -timeout 25m "$@" $PACKAGES
if [ "$PACKAGES" = ./... ]; then
	log "govulncheck (offline database from golang.org/x/vulndb)"
	scripts/govulncheck.sh
fi
