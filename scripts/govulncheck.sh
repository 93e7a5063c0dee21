#!/usr/bin/env bash
# govulncheck.sh: scan Veilig for known vulnerabilities in called code, offline.
#
# vuln.go.dev is not reachable from the build machines (only the Go module
# proxy is), so the vulnerability database is built locally from the
# golang.org/x/vulndb module: its data/osv holds every Go OSV entry, and its
# cmd/indexdb writes the v1 database layout (index/db.json, index/modules.json,
# index/vulns.json, ID/*.json) that `govulncheck -db file://…` reads. The
# built database is cached per vulndb version. Bump VULNDB_VERSION to pick up
# newer advisories (any version the proxy serves).
#
# Exit status: 0 when no vulnerability affects called code; govulncheck's own
# status 3 when one does (imported-but-uncalled ones are listed, not failed); anything else when the scan could not run — the
# script never passes without having scanned.
set -euo pipefail
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3} # as the Makefile; see docs/decisions.md

VULN_VERSION="${VULN_VERSION:-v1.9.0}"
VULNDB_VERSION="${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}"
GO="${GO:-go}"
cd "$(dirname "$0")/.."

cache="${VULNDB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/veilig/vulndb}/${VULNDB_VERSION}"
if [ ! -s "$cache/index/db.json" ]; then
	echo "govulncheck.sh: building the vulnerability database from golang.org/x/vulndb@${VULNDB_VERSION}" >&2
	src="$(GOFLAGS=-mod=mod "$GO" mod download -json "golang.org/x/vulndb@${VULNDB_VERSION}" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
	if [ -z "$src" ] || [ ! -d "$src/data/osv" ]; then
		echo "govulncheck.sh: FAIL: golang.org/x/vulndb@${VULNDB_VERSION} has no data/osv (module download failed?)" >&2
		exit 2
	fi
	mkdir -p "${cache%/*}"
	tmp="$(mktemp -d "${cache%/*}/tmp.XXXXXX")"
	trap 'rm -rf "$tmp"' EXIT
	"$GO" run "golang.org/x/vulndb/cmd/indexdb@${VULNDB_VERSION}" -vulns "$src/data/osv" -out "$tmp/db"
	if [ ! -s "$tmp/db/index/db.json" ] || [ ! -s "$tmp/db/index/modules.json" ]; then
		echo "govulncheck.sh: FAIL: indexdb wrote no v1 index" >&2
		exit 2
	fi
	rm -rf "$cache"
	mv "$tmp/db" "$cache"
fi
echo "govulncheck.sh: database $(cat "$cache/index/db.json") from vulndb ${VULNDB_VERSION}" >&2


# Installed rather than `go run` so that its exit status (3) reaches the caller.
bindir="${cache%/*}/bin-${VULN_VERSION}-$("$GO" env GOVERSION)"
[ -x "$bindir/govulncheck" ] || GOBIN="$bindir" "$GO" install "golang.org/x/vuln/cmd/govulncheck@${VULN_VERSION}"
exec "$bindir/govulncheck" -db "file://${cache}" "${@:-./...}"
