#!/usr/bin/env bash
# Mail-standards check figures of issue 6 §7, printed as a Markdown table on
# stdout (progress on stderr):
#
#   1. time to check one domain with 2 MX hosts (every test: MX, DNSSEC, SPF,
#      DMARC, DKIM, STARTTLS + DANE per MX, MTA-STS, TLS-RPT, NTA 7516);
#   2. checks per minute across N domains (default 1,000), C at a time;
#   3. the same N domains fetched, C at a time, by the standard tools: one kdig
#      asking the validating resolver every question the check asks, openssl
#      s_client -starttls smtp to each MX host (PKIX-verified) and curl fetching
#      the MTA-STS policy. The tools only fetch: they parse and rate nothing, so
#      their rate is an upper bound for a shell-script checker.
#
# The lab is the Go tests' own (internal/testenv, started by BenchmarkCheckDomain
# in internal/mailcheck/bench_test.go): Knot serving bulk.test signed (ECDSA
# P-256, NSEC3) with 3 × N domains (one set per figure, so every figure starts
# with the domain records out of Unbound's cache), Unbound validating it, two
# Postfix MX hosts on 127.0.0.2/.3 (TLS ≥ 1.2, DANE-EE 3 1 1 + rollover TLSA),
# an HTTPS MTA-STS policy server. Needs root (Postfix) and Debian's postfix,
# knot, knot-dnsutils, unbound, openssl and curl (installed when missing).
#
# Knobs (environment):
#   BENCH_MAILCHECK_DOMAINS (1000) BENCH_MAILCHECK_CONCURRENCY (32)
#   BENCH_MAILCHECK_ONE_TIME (3s: go test -benchtime of figure 1)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib.sh

DOMAINS=${BENCH_MAILCHECK_DOMAINS:-1000}
CONC=${BENCH_MAILCHECK_CONCURRENCY:-32}
ONE_TIME=${BENCH_MAILCHECK_ONE_TIME:-3s}
tmp=

cleanup() { [ -z "$tmp" ] || rm -rf "$tmp"; }

# bench PATTERN BENCHTIME runs the compiled benchmark (CI=1: a missing tool
# fails it instead of skipping), appending its output to $tmp/bench.txt.
bench() {
	log "go test -bench '$1' -benchtime $2 (VEILIG_BENCH_DOMAINS=$DOMAINS VEILIG_BENCH_CONCURRENCY=$CONC)"
	(cd internal/mailcheck && CI=1 VEILIG_BENCH_DOMAINS=$DOMAINS VEILIG_BENCH_CONCURRENCY=$CONC \
		"$tmp/mailcheck.test" -test.run '^$' -test.bench "$1" -test.benchtime "$2" -test.timeout 60m) |
		tee -a "$tmp/bench.txt" >&2
}

# metric NAME UNIT prints the value before UNIT on the benchmark line NAME.
metric() {
	awk -v name="$1" -v unit="$2" '
		index($1, "BenchmarkCheckDomain/" name) == 1 { for (i = 3; i <= NF; i++) if ($i == unit) { print $(i - 1); exit } }
	' "$tmp/bench.txt"
}

table() {
	local one vrate vms trate tms
	one=$(metric one-domain-2mx ms/check)
	vrate=$(metric "veilig-$DOMAINS-domains-c$CONC" checks/min)
	vms=$(metric "veilig-$DOMAINS-domains-c$CONC" ms/check)
	trate=$(metric "kdig+openssl-$DOMAINS-domains-c$CONC" checks/min)
	tms=$(metric "kdig+openssl-$DOMAINS-domains-c$CONC" ms/check)
	if [ -z "$one" ] || [ -z "$vrate" ] || [ -z "$trate" ]; then
		log "a figure is missing; see above"
		return 1
	fi
	echo "- **Command:** \`BENCH_MAILCHECK_DOMAINS=$DOMAINS BENCH_MAILCHECK_CONCURRENCY=$CONC BENCH_MAILCHECK_ONE_TIME=$ONE_TIME scripts/bench-mailcheck.sh\`"
	echo "- **Machine:** $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), load average at start $LOAD_START, at the end $LOAD_END"
	echo
	echo '| figure | Veilig mail check | kdig + openssl s_client + curl (fetch only) |'
	echo '|---|---|---|'
	printf '| one domain, 2 MX hosts, every test | **%s ms** per check | — |\n' "$(fnum "$one" 1)"
	printf '| %s domains, %s at a time | **%s checks/min** (%s ms per check) | %s domains/min (%s ms per domain) |\n' \
		"$DOMAINS" "$CONC" "$(fnum "$vrate" 0)" "$(fnum "$vms" 1)" "$(fnum "$trate" 0)" "$(fnum "$tms" 1)"
	printf '| ratio | **%s×** the tools'"'"' rate | 1× |\n' "$(fnum "$vrate / $trate" 1)"
}

main() {
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	ensure_packages postfix knot knot-dnsutils unbound openssl curl
	[ "$(id -u)" -eq 0 ] || { log "bench-mailcheck.sh needs root (Postfix's master)"; return 1; }
	tmp=$(mktemp -d /tmp/veilig-bench-mailcheck.XXXXXX)
	log "building the mailcheck test binary"
	go test -c -o "$tmp/mailcheck.test" ./internal/mailcheck
	LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
	bench 'BenchmarkCheckDomain/one-domain' "$ONE_TIME"
	bench 'BenchmarkCheckDomain/(veilig|kdig)' 1x
	LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
	table
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	main "$@"
fi
