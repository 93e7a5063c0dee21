#!/usr/bin/env bash
# External-route figures of issue 4 §10, written as one section of
# docs/benchmarks.md (make bench runs this after scripts/bench-send.sh; it also
# runs alone and then replaces only its own section):
#
#   1. seal and open throughput (MB/s) of internal/seal's streaming AES-256-GCM
#      (NewWriter/NewReader, 64 KiB segments, one 64 MiB object) from `go test
#      -bench`, side by side with `openssl speed -evp aes-256-gcm -bytes 65536`
#      (and -decrypt) in the same run, taking turns, best of ROUNDS each;
#      target: at least half of OpenSSL's rate;
#   2. submit → notification: one message to 100 external recipients (each with
#      its own NL mobile number) and a 100 KB attachment, from the start of the
#      request to the capture of the 100th notification e-mail, several runs;
#   3. the viewer's message page (GET /v/: decrypt, MIME parse, sanitise, render)
#      under load with verified sessions, p50/p90/p99 and throughput, next to
#      GET /healthz on the same server as the HTTP baseline.
#
# veilig serve runs on a throwaway PostgreSQL (lib.sh) with VEILIG_DEV_MAILBOX=1:
# every e-mail and SMS is captured in memory and listed at /dev/mailbox.json with
# its capture time. The dev mailbox stands in for the MTA and the SMS provider,
# so figure 2 is Veilig's own work (accept, compose, DKIM, seal, queue, 100
# deliveries), not a network's. Everything listens on 127.0.0.1 and is stopped
# by PID on exit.
#
# Knobs (environment):
#   BENCH_EXT_BENCHTIME (1s; go test -benchtime) BENCH_EXT_OPENSSL_SECONDS (3)
#   BENCH_EXT_ROUNDS (3; Go and OpenSSL take turns, the best round counts)
#   BENCH_EXT_RCPTS (100) BENCH_EXT_SIZE (102400) BENCH_EXT_RUNS (5)
#   BENCH_EXT_SESSIONS (20) BENCH_EXT_CONCURRENCY (8) BENCH_EXT_DURATION (15s)
#   BENCH_EXT_BIN (a veilig binary to use; default: build one from this tree)
#   BENCH_OUT (docs/benchmarks.md) BENCH_KEEP (0)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib.sh

BENCHTIME=${BENCH_EXT_BENCHTIME:-1s}
SSL_SECONDS=${BENCH_EXT_OPENSSL_SECONDS:-3}
ROUNDS=${BENCH_EXT_ROUNDS:-3}
RCPTS=${BENCH_EXT_RCPTS:-100}
SIZE=${BENCH_EXT_SIZE:-102400}
RUNS=${BENCH_EXT_RUNS:-5}
SESSIONS=${BENCH_EXT_SESSIONS:-20}
CONC=${BENCH_EXT_CONCURRENCY:-8}
DURATION=${BENCH_EXT_DURATION:-15s}
OUT=${BENCH_OUT:-docs/benchmarks.md}
KEEP=${BENCH_KEEP:-0}

DOMAIN=gemeente.test
SENDER=afzender@$DOMAIN
NOTIFY_DOMAIN=extern.example
VIEWER_DOMAIN=lezer.example
CLK_TCK=$(getconf CLK_TCK)
BEGIN_MARK='<!-- bench-external:start -->'
END_MARK='<!-- bench-external:end -->'
REPLY_FORM='action="/v/reply"'

READY_LIMIT_S=60
GOBENCH_LIMIT=10m

PG_PID='' SERVE_PID=''
tmp=

stop_all() {
	stop_pid "$SERVE_PID"
	stop_pid "$PG_PID"
	SERVE_PID='' PG_PID=''
}

cleanup() {
	stop_all
	if [ "$KEEP" = 1 ] && [ -n "$tmp" ]; then
		log "kept $tmp (BENCH_KEEP=1)"
	elif [ -n "$tmp" ]; then
		rm -rf "$tmp"
	fi
}





prepare() {
	ensure_packages postgresql openssl curl jq
	tmp=$(mktemp -d /tmp/veilig-bench-external.XXXXXX)
	chmod 711 "$tmp"
	mkdir -m 700 "$tmp/secret" "$tmp/out"
	BIN=${BENCH_EXT_BIN:-}
	if [ -z "$BIN" ]; then
		log "building veilig"
		go build -trimpath -o "$tmp/veilig" .
		BIN=$tmp/veilig
	fi
	log "work dir $tmp; veilig is $BIN; building loadgen"
	go build -o "$tmp/loadgen" ./scripts/loadgen
	LG=$tmp/loadgen
}

# --- figure 1: crypto throughput ---------------------------------------------

# ssl_rate ARGS...: OpenSSL's rate in MB/s (10^6 bytes/s, as go test reports).
# -elapsed makes it wall-clock like go test (OpenSSL's default is user CPU
# time, which would ignore the other work on a shared machine); -mr prints
# "+F:n:cipher:bytes-per-second".
ssl_rate() {
	openssl speed -elapsed -mr -seconds "$SSL_SECONDS" -bytes 65536 "$@" -evp aes-256-gcm 2>/dev/null |
		awk -F: '$1 == "+F" { printf "%.1f", $4 / 1e6; found = 1 } END { exit !found }'
}

# go_rate NAME: the best MB/s of benchmark NAME over the rounds.
go_rate() { go_best "$1" MB/s max; }

# go_allocs NAME: allocs/op (per 64 MiB object, or per 64 KiB seal), the highest seen.
go_allocs() { go_best "$1" allocs/op max; }

# go_best NAME UNIT: the highest value of UNIT on the lines of benchmark NAME.
go_best() {
	awk -v n="Benchmark$1" -v u="$2" '$1 ~ "^" n "(-[0-9]+)?$" {
		for (i = 1; i < NF; i++) if ($(i + 1) == u && (!seen || $i + 0 > best)) { best = $i + 0; seen = 1 }
	} END { if (seen) print best }' "$tmp/out/gobench.txt"
}

# best_of FILE: the highest number in FILE, one a line.
best_of() { sort -g "$1" | tail -n 1; }

# phase_crypto runs before any service is started. The machine is shared, so
# Go and OpenSSL take turns, ROUNDS times, and each side's best round counts:
# contention only ever slows a round down.
phase_crypto() {
	local r
	go test -c -o "$tmp/seal.test" ./internal/seal
	GOBENCH_CMD="go test -run '^\$' -bench 'StreamSeal64MiB|StreamOpen64MiB|GCM64KiB' -benchmem -benchtime $BENCHTIME ./internal/seal/"
	SSL_ENC_CMD="openssl speed -elapsed -mr -seconds $SSL_SECONDS -bytes 65536 -evp aes-256-gcm"
	SSL_DEC_CMD="openssl speed -elapsed -mr -seconds $SSL_SECONDS -bytes 65536 -decrypt -evp aes-256-gcm"
	: >"$tmp/out/gobench.txt"
	: >"$tmp/out/ssl-enc.txt"
	: >"$tmp/out/ssl-dec.txt"
	for ((r = 1; r <= ROUNDS; r++)); do
		log "round $r of $ROUNDS: $GOBENCH_CMD; $SSL_ENC_CMD (and -decrypt)"
		(cd internal/seal && "$tmp/seal.test" -test.run '^$' -test.bench 'StreamSeal64MiB|StreamOpen64MiB|GCM64KiB' \
			-test.benchmem -test.benchtime "$BENCHTIME" -test.timeout "$GOBENCH_LIMIT") >>"$tmp/out/gobench.txt" 2>&1 ||
			{ cat "$tmp/out/gobench.txt" >&2; return 1; }
		ssl_rate >>"$tmp/out/ssl-enc.txt"
		echo >>"$tmp/out/ssl-enc.txt"
		ssl_rate -decrypt >>"$tmp/out/ssl-dec.txt"
		echo >>"$tmp/out/ssl-dec.txt"
	done
	SSL_ENC=$(best_of "$tmp/out/ssl-enc.txt") SSL_DEC=$(best_of "$tmp/out/ssl-dec.txt")
	SSL_ENC_ALL=$(paste -sd/ "$tmp/out/ssl-enc.txt") SSL_DEC_ALL=$(paste -sd/ "$tmp/out/ssl-dec.txt")
	SSL_VERSION=$(openssl version | awk '{print $2}')
	GO_SEAL=$(go_rate StreamSeal64MiB) GO_OPEN=$(go_rate StreamOpen64MiB) GO_GCM=$(go_rate GCM64KiB)
	GO_SEAL_ALLOCS=$(go_allocs StreamSeal64MiB) GO_OPEN_ALLOCS=$(go_allocs StreamOpen64MiB) GO_GCM_ALLOCS=$(go_allocs GCM64KiB)
	[ -n "$GO_SEAL" ] && [ -n "$GO_OPEN" ] && [ -n "$GO_GCM" ] && [ -n "$SSL_ENC" ] && [ -n "$SSL_DEC" ] ||
		{ log "cannot parse the benchmark output"; cat "$tmp/out/gobench.txt" >&2; return 1; }
	log "best of $ROUNDS: seal $GO_SEAL MB/s, open $GO_OPEN MB/s (bare GCM $GO_GCM MB/s); OpenSSL $SSL_ENC / $SSL_DEC MB/s"
}

# --- veilig on PostgreSQL with the dev mailbox -------------------------------

community_ldif() {
	cat <<LDIF
dn: dc=veilig,dc=test
objectClass: top
objectClass: dcObject
objectClass: organization
dc: veilig
o: Veilig bench community

dn: o=Gemeente Bench,dc=veilig,dc=test
objectClass: top
objectClass: organization
objectClass: domainRelatedObject
o: Gemeente Bench
associatedDomain: $DOMAIN
description: Sending organisation of the external-route benchmark

dn: cn=Bench Afzender,o=Gemeente Bench,dc=veilig,dc=test
objectClass: top
objectClass: person
objectClass: organizationalPerson
objectClass: inetOrgPerson
cn: Bench Afzender
sn: Afzender
displayName: Bench Afzender
mail: $SENDER
LDIF
}

# VARS: the environment of every veilig command. The loopback proxy is trusted
# so that the viewer walk can give each recipient its own X-Forwarded-For
# address (the SMS limit per client address would otherwise stop at 10).
set_vars() {
	VARS=(VEILIG_DATABASE_URL="$PG_BASE/external?sslmode=disable" VEILIG_DATA_DIR="$tmp/data"
		VEILIG_LOG_FORMAT=text VEILIG_ACCESS_TOKEN_TTL=1h VEILIG_SMTP_HOSTNAME=veilig.test
		VEILIG_DEV_MAILBOX=1 VEILIG_TRUSTED_PROXIES=127.0.0.1/32)
}

prepare_db() {
	psql "$PG_URL" -qXc "CREATE DATABASE external" >/dev/null
	install -d -m 700 "$tmp/data"
	community_ldif >"$tmp/community.ldif"
	(umask 077 && head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$tmp/secret/pw")
	{
		env "${VARS[@]}" "$BIN" migrate
		env "${VARS[@]}" "$BIN" directory import --ldif "$tmp/community.ldif"
		env "${VARS[@]}" "$BIN" user add --email "$SENDER" --role sender --password-stdin <"$tmp/secret/pw"
	} >"$tmp/out/prepare.log" 2>&1 || { cat "$tmp/out/prepare.log" >&2; return 1; }
}

ready() { curl -sf --max-time 2 "$API/readyz" >/dev/null 2>&1; }

start_serve() {
	local port
	port=$(free_port)
	API=http://127.0.0.1:$port
	env "${VARS[@]}" VEILIG_HTTP_ADDR="127.0.0.1:$port" VEILIG_PUBLIC_URL="$API" "$BIN" serve \
		>>"$tmp/out/serve.log" 2>&1 &
	SERVE_PID=$!
	wait_until "$READY_LIMIT_S" "veilig serve" ready || { tail -n 20 "$tmp/out/serve.log" >&2; return 1; }
	log "veilig serve on $API (pid $SERVE_PID), dev mailbox on"
}

fetch_token() (
	umask 077
	jq -cn --arg u "$SENDER" --arg p "$(head -n 1 "$tmp/secret/pw")" '{grant_type: "password", username: $u, password: $p}' |
		curl -sf --max-time 10 -H 'Content-Type: application/json' --data-binary @- "$API/api/v1/auth/token" |
		jq -r '.access_token // empty' >"$tmp/secret/token"
	[ -s "$tmp/secret/token" ] || { log "could not obtain an access token"; return 1; }
)

# notify OUT ARGS...: loadgen -mode notify against the running serve.
notify() {
	local out=$1
	shift
	"$LG" -mode notify -url "$API" -token-file "$tmp/secret/token" -json -timeout 120s -wait 300s "$@" >"$out"
}

# --- figure 2: submit → notification -----------------------------------------

phase_notify() {
	log "notify warm-up: one message to 5 external recipients"
	notify "$tmp/out/notify-warmup.json" -n 1 -rcpts 5 -size "$SIZE" -rcpt-domain "warm.$NOTIFY_DOMAIN"
	NOTIFY_CMD="loadgen -mode notify -url \$API -token-file TOKEN -json -n $RUNS -rcpts $RCPTS -size $SIZE -rcpt-domain $NOTIFY_DOMAIN"
	log "submit → notification: $RUNS runs of one message to $RCPTS external recipients, ${SIZE}-byte attachment"
	local v0 p0
	v0=$(tree_ticks "$SERVE_PID") p0=$(tree_ticks "$PG_PID")
	notify "$tmp/out/notify.json" -n "$RUNS" -rcpts "$RCPTS" -size "$SIZE" -rcpt-domain "$NOTIFY_DOMAIN"
	NOTIFY_VEILIG_CPU=$(cpu_s "$v0" "$(tree_ticks "$SERVE_PID")")
	NOTIFY_PG_CPU=$(cpu_s "$p0" "$(tree_ticks "$PG_PID")")
	log "$(cat "$tmp/out/notify.json")"
}

# --- figure 3: the viewer page under load ------------------------------------

# page OUT ARGS...: loadgen -mode page at -c CONC for DURATION after a 2 s warm-up.
page() {
	local out=$1
	shift
	"$LG" -mode page -url "$API" -json -c "$CONC" -duration "$DURATION" -warmup 2s "$@" >"$out"
}

phase_viewer() {
	log "viewer: one message to $SESSIONS external recipients, then $SESSIONS verified sessions"
	notify "$tmp/out/viewer-notify.json" -n 1 -rcpts "$SESSIONS" -size "$SIZE" -rcpt-domain "$VIEWER_DOMAIN"
	"$LG" -mode viewer-login -url "$API" -json -rcpts "$SESSIONS" -rcpt-domain "$VIEWER_DOMAIN" -xff \
		-timeout 30s -wait 60s -sessions-file "$tmp/secret/sessions" >"$tmp/out/viewer-login.json"
	log "$(cat "$tmp/out/viewer-login.json")"
	HEALTHZ_CMD="loadgen -mode page -url \$API -json -c $CONC -duration $DURATION -warmup 2s -path /healthz"
	log "baseline: GET /healthz, -c $CONC for $DURATION"
	page "$tmp/out/healthz.json" -path /healthz
	log "$(cat "$tmp/out/healthz.json")"
	VIEWER_CMD="loadgen -mode page -url \$API -json -c $CONC -duration $DURATION -warmup 2s -path /v/ -sessions-file SESSIONS -expect '$REPLY_FORM'"
	log "viewer page: GET /v/ with $SESSIONS sessions, -c $CONC for $DURATION"
	"$LG" -mode histogram -url "$API" -save "$tmp/out/before.prom"
	local v0 p0
	v0=$(tree_ticks "$SERVE_PID") p0=$(tree_ticks "$PG_PID")
	page "$tmp/out/viewer.json" -path /v/ -sessions-file "$tmp/secret/sessions" -expect "$REPLY_FORM"
	VIEWER_VEILIG_CPU=$(cpu_s "$v0" "$(tree_ticks "$SERVE_PID")")
	VIEWER_PG_CPU=$(cpu_s "$p0" "$(tree_ticks "$PG_PID")")
	"$LG" -mode histogram -url "$API" -route /v/ -before "$tmp/out/before.prom" -json >"$tmp/out/viewer-server.json" ||
		echo '{"p50_ms":null,"p99_ms":null}' >"$tmp/out/viewer-server.json"
	log "$(cat "$tmp/out/viewer.json")"
	log "server-side: $(cat "$tmp/out/viewer-server.json")"
}

# --- report ------------------------------------------------------------------

machine() {
	CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	CPU_FLAGS=$(awk -F': ' '/^flags/ { print $2; exit }' /proc/cpuinfo | tr ' ' '\n' |
		grep -Ex 'aes|pclmulqdq|avx2|vaes|vpclmulqdq|avx512f' | tr '\n' ' ' | sed 's/ $//')
	MEM_GB=$(awk '/^MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
	OS_NAME=$(. /etc/os-release && echo "$PRETTY_NAME")
	COMMIT=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
	if [ -n "$(GIT_OPTIONAL_LOCKS=0 git status --porcelain --untracked-files=no 2>/dev/null | head -n 1)" ]; then
		COMMIT="$COMMIT (with uncommitted changes)"
	fi
}


s_of() { fnum "$1 / 1000" 2; }

figures() {
	local o=$tmp/out
	SEAL_RATIO=$(fnum "$GO_SEAL / $SSL_ENC")
	OPEN_RATIO=$(fnum "$GO_OPEN / $SSL_DEC")
	GCM_RATIO=$(fnum "$GO_GCM / $SSL_ENC")
	NOTIFY_MEDIAN=$(s_of "$(jget "$o/notify.json" median_ms)")
	NOTIFY_MAX=$(s_of "$(jget "$o/notify.json" max_ms)")
	ACCEPT_MEDIAN=$(s_of "$(jget "$o/notify.json" median_accept_ms)")
	NOTIFY_ALL=$(jq -r '[.runs[] | (.last_ms / 1000 * 100 | round / 100 | tostring) + " s"] | join(", ")' "$o/notify.json")
	NOTIFY_OK=$(jq -r --argjson n "$RCPTS" '[.runs[] | select(.notified >= $n)] | length' "$o/notify.json")
	NOTIFY_CPU_PER=$(fnum "$NOTIFY_VEILIG_CPU / $RUNS" 2)
	NOTIFY_PG_PER=$(fnum "$NOTIFY_PG_CPU / $RUNS" 2)
	VIEWER_OK=$(($(jget "$o/viewer.json" requests) - $(jget "$o/viewer.json" errors)))
	VIEWER_CPU_MS=$(fnum "$VIEWER_VEILIG_CPU * 1000 / ($VIEWER_OK > 0 ? $VIEWER_OK : 1)" 2)
	VIEWER_PG_MS=$(fnum "$VIEWER_PG_CPU * 1000 / ($VIEWER_OK > 0 ? $VIEWER_OK : 1)" 2)
}

figure_table() {
	local o=$tmp/out
	echo '| figure | measured | target | result |'
	echo '|---|---|---|---|'
	row "seal throughput: internal/seal stream (64 MiB object, 64 KiB segments) vs \`openssl speed -evp aes-256-gcm -bytes 65536\`, best of $ROUNDS rounds each" \
		"${GO_SEAL} vs ${SSL_ENC} MB/s = **${SEAL_RATIO}×** (${GO_SEAL_ALLOCS} allocs per object)" "≥ 0.5×" "$(verdict "$SEAL_RATIO >= 0.5")"
	row "open throughput: internal/seal stream vs \`openssl speed … -decrypt\`" \
		"${GO_OPEN} vs ${SSL_DEC} MB/s = **${OPEN_RATIO}×** (${GO_OPEN_ALLOCS} allocs per object)" "≥ 0.5×" "$(verdict "$OPEN_RATIO >= 0.5")"
	row "submit → ${RCPTS}th notification, one message to $RCPTS external recipients + ${SIZE}-byte attachment ($RUNS runs; dev mailbox as MTA)" \
		"**median ${NOTIFY_MEDIAN} s, max ${NOTIFY_MAX} s** (runs: $NOTIFY_ALL; $NOTIFY_OK of $RUNS complete)" "none set (issue 4)" info
	row "viewer message page GET /v/ under load ($SESSIONS verified sessions, c=$CONC, $DURATION), client-side" \
		"**p99 $(jget "$o/viewer.json" p99_ms) ms** (p50 $(jget "$o/viewer.json" p50_ms), p90 $(jget "$o/viewer.json" p90_ms) ms; $(jget "$o/viewer.json" throughput_rps) pages/s; $(jget "$o/viewer.json" errors) errors)" \
		"none set (issue 4)" info
	row "baseline GET /healthz on the same server (c=$CONC, $DURATION)" \
		"p99 $(jget "$o/healthz.json" p99_ms) ms (p50 $(jget "$o/healthz.json" p50_ms) ms; $(jget "$o/healthz.json" throughput_rps) req/s)" "—" info
	row "viewer page server-side p50 / p99 (/metrics, route /v/)" \
		"$(jget "$o/viewer-server.json" p50_ms) / $(jget "$o/viewer-server.json" p99_ms) ms" "—" info
	row "bare AES-256-GCM seal of one 64 KiB buffer: Go (crypto/cipher) vs OpenSSL" \
		"${GO_GCM} vs ${SSL_ENC} MB/s = ${GCM_RATIO}× (${GO_GCM_ALLOCS} allocs)" "—" info
	row "accept (202) of the $RCPTS-recipient message, median" "${ACCEPT_MEDIAN} s" "—" info
	row "CPU per $RCPTS-recipient run: veilig serve / PostgreSQL" "${NOTIFY_CPU_PER} / ${NOTIFY_PG_PER} s" "—" info
	row "CPU per viewer page: veilig serve / PostgreSQL" "${VIEWER_CPU_MS} / ${VIEWER_PG_MS} ms" "—" info
	row "walking $SESSIONS recipients from link to verified session (sequential)" \
		"$(jget "$o/viewer-login.json" duration_s) s" "—" info
}

section() {
	local o=$tmp/out f
	machine
	figures
	cat <<MD
$BEGIN_MARK
## External route (issue 4)

Generated by \`scripts/bench-external.sh\` (the last step of \`make bench\`); do not edit by hand, re-run it.

- **Date:** $(date -u '+%Y-%m-%d %H:%M UTC')
- **Commit:** $COMMIT
- **Command:** \`BENCH_EXT_BENCHTIME=$BENCHTIME BENCH_EXT_ROUNDS=$ROUNDS BENCH_EXT_OPENSSL_SECONDS=$SSL_SECONDS BENCH_EXT_RCPTS=$RCPTS BENCH_EXT_SIZE=$SIZE BENCH_EXT_RUNS=$RUNS BENCH_EXT_SESSIONS=$SESSIONS BENCH_EXT_CONCURRENCY=$CONC BENCH_EXT_DURATION=$DURATION scripts/bench-external.sh\`
- **Machine:** $(nproc) CPUs ($CPU_MODEL; $CPU_FLAGS), $MEM_GB GB RAM, $OS_NAME, Linux $(uname -r); load average (1/5/15 min) at start $LOAD_START, after the crypto figures $LOAD_CRYPTO, at the end $LOAD_END (above ~0.5 at the start means other work was already competing for the CPUs)
- **Software:** $(go version | awk '{print $3}'), OpenSSL $SSL_VERSION, PostgreSQL $PG_VERSION (fsync=off, throwaway cluster)
- **veilig serve:** defaults (VEILIG_DELIVERY_WORKERS=10, self-copy on) plus \`VEILIG_DEV_MAILBOX=1\` and \`VEILIG_TRUSTED_PROXIES=127.0.0.1/32\`

The dev mailbox stands in for the MTA and the SMS provider: figure 2 is Veilig's own work (accept, compose,
DKIM, seal, queue and $RCPTS deliveries), without DNS, TLS or a remote MTA. Load generator, server and
PostgreSQL share the machine's CPUs, so rates are floors and latencies ceilings for a real deployment.

$(figure_table)

### How each figure was taken

- **Seal/open throughput:** run first, before any service was started; the test binary is built once,
  then Go and OpenSSL take turns $ROUNDS times and each figure is the best of its rounds (on a shared machine
  contention only slows a round down; OpenSSL's rounds: $SSL_ENC_ALL MB/s encrypt, $SSL_DEC_ALL MB/s decrypt; every Go
  round is in the output at the end). \`$GOBENCH_CMD\`: BenchmarkStreamSeal64MiB writes one 64 MiB object (random bytes, one Write) through
  \`seal.NewWriter\` into a counting discard writer; BenchmarkStreamOpen64MiB reads the sealed object back
  through \`seal.NewReader\` into one reused 64 KiB buffer. Both include the per-object HKDF key derivation and
  header; allocs/op are per 64 MiB object (none per segment). BenchmarkGCM64KiB is one bare
  \`cipher.AEAD.Seal\` of a 64 KiB buffer in place, the unit OpenSSL measures. Then \`$SSL_ENC_CMD\` and
  \`$SSL_DEC_CMD\`; their \`+F\` lines give bytes per second. \`-elapsed\` makes OpenSSL count wall-clock
  time, as \`go test\` does (its default, user CPU time, would not see the other work on a shared machine).
  MB/s is 10^6 bytes per second on both sides. Both use AES-NI and carry-less multiplication (PCLMULQDQ/VPCLMULQDQ).
- **Submit → notification:** \`veilig serve\` on a fresh PostgreSQL database holding one organisation
  (\`$DOMAIN\`) and its sender (\`veilig user add --role sender\`, token from \`POST /api/v1/auth/token\`).
  One unmeasured warm-up message to 5 external recipients, then \`$NOTIFY_CMD\`: each run posts ONE
  \`POST /api/v1/messages\` (multipart/form-data) to extNNN@runK-NONCE.$NOTIFY_DOMAIN, with \`phones\` mapping each
  to its own number +3161234NNNN, and one attachment of $SIZE incompressible bytes, then polls
  \`GET /dev/mailbox.json?to=@runK-NONCE.$NOTIFY_DOMAIN\` every 100 ms until all $RCPTS notifications are captured.
  The figure is the capture time the dev mailbox stamped on the last of them minus the moment the request
  was started (the same machine's wall clock), so the polling interval does not add to it. Runs follow one
  another; the sender's self-copy is delivered too but not waited for.
- **Viewer page:** one more message to $SESSIONS external recipients at $VIEWER_DOMAIN; then
  \`loadgen -mode viewer-login\` walks each recipient as a browser would, one after the other: \`GET /v/<token>\`
  from the notification (sets the session cookie), \`GET /v/\` (form token), \`POST /v/code\`, the code from
  the SMS the dev mailbox captured, \`POST /v/verify\`, and \`GET /v/\`, which must show the message. One code per
  recipient; each recipient gets its own X-Forwarded-For address in 198.18.0.0/15 (RFC 2544) so the limit of
  10 SMS per client address and hour counts them apart, as it would behind a reverse proxy. Then
  \`$HEALTHZ_CMD\` as the HTTP baseline, and \`$VIEWER_CMD\`: the $SESSIONS
  cookies round robin, each answer counted only if it is 200 and holds the reply form (the message page, not a
  code step). Each GET /v/ checks the session, unwraps the message's data key, decrypts and parses the MIME
  message, sanitises and renders it. Latencies are client-side; the server-side row interpolates
  \`veilig_http_request_duration_seconds{route="/v/"}\` from /metrics before and after the run.
- **CPU:** utime+stime of the process and its live children, each with its reaped children, from /proc/PID/stat
  before and after (PostgreSQL: postmaster and backends).

### Raw results

\`\`\`json
MD
	for f in notify viewer-notify viewer-login healthz viewer viewer-server; do
		printf '{"run":"%s","data":%s}\n' "$f" "$(jq -c . "$o/$f.json")"
	done
	printf '{"run":"crypto","go_seal_mbps":%s,"go_open_mbps":%s,"go_gcm64k_mbps":%s,"openssl_enc_mbps":%s,"openssl_dec_mbps":%s,"go_seal_allocs":%s,"go_open_allocs":%s}\n' \
		"$GO_SEAL" "$GO_OPEN" "$GO_GCM" "$SSL_ENC" "$SSL_DEC" "$GO_SEAL_ALLOCS" "$GO_OPEN_ALLOCS"
	cat <<MD
\`\`\`

\`go test\` output:

\`\`\`
$(cat "$o/gobench.txt")
\`\`\`
$END_MARK
MD
}

# write_section replaces this script's section of $OUT (or appends it).
write_section() {
	local new=$tmp/out/section.md
	section >"$new"
	replace_section "$OUT" "$BEGIN_MARK" "$END_MARK" "$new"
	log "wrote the external-route section of $OUT"
}

main() {
	LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	prepare
	phase_crypto
	LOAD_CRYPTO=$(cut -d' ' -f1-3 /proc/loadavg)
	start_postgres "$tmp/pg"
	PG_VERSION=$("$(pg_bindir)/postgres" --version | awk '{print $3}')
	PG_BASE=${PG_URL%%/postgres\?*}
	set_vars
	prepare_db
	start_serve
	fetch_token
	phase_notify
	phase_viewer
	LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
	log "stopping services"
	stop_all
	write_section
	figure_table >&2
}

# Sourcing the script (to reuse its functions by hand) defines the functions only.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	main "$@"
fi
