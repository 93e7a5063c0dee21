#!/usr/bin/env bash
# make bench-load: load and soak of issue 7 §4, written as one section of
# docs/benchmarks.md (between its markers; the rest of the file is kept).
#
#   1. a generated community (scripts/gencommunity: BENCH_LOAD_ORGS organisations,
#      BENCH_LOAD_PEOPLE people) imported with `veilig directory import --ldif`
#      into a throwaway PostgreSQL (lib.sh start_postgres);
#   2. `veilig serve` with VEILIG_DEV_MAILBOX=1: the outbox runs as in
#      production, but every delivery, notification and SMS is captured in
#      memory (the last 500 items, at most 128 MiB) instead of leaving the machine;
#   3. a mixed open-model load with vegeta (github.com/tsenart/vegeta/v12 v12.13.0,
#      installed with `go install`, not a dependency of the module): autocomplete
#      (GET /api/v1/directory/search), resolve (POST /api/v1/recipients/resolve),
#      submit (POST /api/v1/messages, BENCH_LOAD_SIZE bytes, internal and external
#      recipients with phones) and viewer reads (GET /v/ with verified viewer
#      sessions), one vegeta attack per endpoint at its share of the total rate,
#      at each rate of BENCH_LOAD_STEPS for BENCH_LOAD_STEP_DURATION; per step and
#      endpoint: throughput, p50/p99, errors; the outbox lag of every accepted
#      message (loadgen -mode lag: GET /api/v1/messages/{id}, delivered_at minus
#      created_at); RSS of veilig serve sampled every BENCH_LOAD_RSS_EVERY s;
#   4. a soak below the knee for BENCH_SOAK in back-to-back windows of
#      BENCH_LOAD_WINDOW: errors and p99 per window, RSS over time (first, last,
#      max, least-squares slope per 10 min) and the outbox lag at the end.
#
# No thresholds: the machine may be shared, so the report states figures, and
# the knee it names is a heuristic (see KNEE_* below). Everything listens on
# 127.0.0.1 in a mktemp dir and is stopped by PID on exit.
#
# Knobs (environment):
#   BENCH_LOAD_ORGS (14000) BENCH_LOAD_PEOPLE (500000) BENCH_LOAD_SEED (1)
#   BENCH_LOAD_STEPS ("50 100 200 400"; total req/s) BENCH_LOAD_STEP_DURATION (30s)
#   BENCH_LOAD_MIX ("search=50 resolve=20 submit=10 viewer=20"; percent of the total)
#   BENCH_SOAK (30m) BENCH_LOAD_SOAK_RATE (default: 3/4 of the last step below the knee)
#   BENCH_LOAD_WINDOW (60s) BENCH_LOAD_SIZE (102400) BENCH_LOAD_SESSIONS (20)
#   BENCH_LOAD_RSS_EVERY (10; seconds) BENCH_LOAD_LAG_WAIT (300s)
#   BENCH_LOAD_BIN (a veilig binary to use; default: build one from this tree)
#   BENCH_OUT (docs/benchmarks.md) BENCH_KEEP (0; 1 keeps the work dir)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib.sh

ORGS=${BENCH_LOAD_ORGS:-14000}
PEOPLE=${BENCH_LOAD_PEOPLE:-500000}
SEED=${BENCH_LOAD_SEED:-1}
STEPS=${BENCH_LOAD_STEPS:-50 100 200 400}
STEP_DURATION=${BENCH_LOAD_STEP_DURATION:-30s}
MIX=${BENCH_LOAD_MIX:-search=50 resolve=20 submit=10 viewer=20}
SOAK=${BENCH_SOAK:-30m}
SOAK_RATE=${BENCH_LOAD_SOAK_RATE:-}
WINDOW=${BENCH_LOAD_WINDOW:-60s}
SIZE=${BENCH_LOAD_SIZE:-102400}
SESSIONS=${BENCH_LOAD_SESSIONS:-20}
RSS_EVERY=${BENCH_LOAD_RSS_EVERY:-10}
LAG_WAIT=${BENCH_LOAD_LAG_WAIT:-300s}
OUT=${BENCH_OUT:-docs/benchmarks.md}
KEEP=${BENCH_KEEP:-0}

VEGETA_MOD=github.com/tsenart/vegeta/v12
VEGETA_VERSION=v12.13.0
ENDPOINTS=(search resolve submit viewer)
EXT_DOMAIN=extern.example
VIEWER_DOMAIN=lezer.example
REPLY_FORM='action="/v/reply"'
BEGIN_MARK='<!-- bench-load: begin -->'
END_MARK='<!-- bench-load: end -->'
FULL_ORGS=14000 FULL_PEOPLE=500000 FULL_SOAK_S=1800

# The knee heuristic: the first step with any error, less than KNEE_THROUGHPUT
# of the offered rate achieved, messages still sending LAG_WAIT after the step,
# or a worst endpoint p99 above KNEE_P99_FACTOR times the first step's.
KNEE_THROUGHPUT=0.95
KNEE_P99_FACTOR=5

# Bounds on every wait.
READY_LIMIT_S=900
ATTACK_TIMEOUT=30s
MAX_WORKERS=512
RESOLVE_BODIES=50
SUBMIT_BODIES=8

PG_PID='' SERVE_PID='' RSS_PID='' SUMMARY_PID=''
ATTACK_T0=0 ATTACK_T1=0
VEGETA_PIDS=()
tmp=

stop_attacks() {
	local p
	for p in "${VEGETA_PIDS[@]}"; do stop_pid "$p"; done
	VEGETA_PIDS=()
}

stop_all() {
	stop_attacks
	stop_pid "$SUMMARY_PID"
	stop_pid "$RSS_PID"
	stop_pid "$SERVE_PID"
	stop_pid "$PG_PID"
	SUMMARY_PID='' RSS_PID='' SERVE_PID='' PG_PID=''
}

cleanup() {
	stop_all
	if [ "$KEEP" = 1 ] && [ -n "$tmp" ]; then
		log "kept $tmp (BENCH_KEEP=1)"
	elif [ -n "$tmp" ]; then
		rm -rf "$tmp"
	fi
}

# dur_s DURATION prints whole seconds of 90, 90s, 30m or 2h.
dur_s() {
	local d=$1
	case $d in
	*h) echo $((${d%h} * 3600)) ;;
	*m) echo $((${d%m} * 60)) ;;
	*s) echo $((${d%s})) ;;
	*) echo $((d)) ;;
	esac
}

# --- preparation ---------------------------------------------------------------

prepare() {
	ensure_packages postgresql curl jq
	tmp=$(mktemp -d /tmp/veilig-bench-load.XXXXXX)
	chmod 711 "$tmp"
	mkdir -m 700 "$tmp/secret" "$tmp/out" "$tmp/bodies" "$tmp/runs"
	BIN=${BENCH_LOAD_BIN:-}
	if [ -z "$BIN" ]; then
		log "building veilig"
		go build -trimpath -o "$tmp/veilig" .
		BIN=$tmp/veilig
	fi
	log "work dir $tmp; veilig is $BIN; building loadgen, gencommunity and vegeta $VEGETA_VERSION"
	go build -o "$tmp/loadgen" ./scripts/loadgen
	go build -o "$tmp/gencommunity" ./scripts/gencommunity
	GOBIN=$tmp/bin go install "$VEGETA_MOD@$VEGETA_VERSION"
	LG=$tmp/loadgen VEGETA=$tmp/bin/vegeta
	STEP_S=$(dur_s "$STEP_DURATION") SOAK_S=$(dur_s "$SOAK") WINDOW_S=$(dur_s "$WINDOW")
	parse_mix
}

# parse_mix fills PCT[endpoint] from BENCH_LOAD_MIX and checks it sums to 100.
declare -A PCT
parse_mix() {
	local kv e sum=0
	for e in "${ENDPOINTS[@]}"; do PCT[$e]=0; done
	for kv in $MIX; do
		e=${kv%%=*}
		[ -n "${PCT[$e]+set}" ] || { log "BENCH_LOAD_MIX: unknown endpoint $e (known: ${ENDPOINTS[*]})"; return 1; }
		PCT[$e]=$((${kv#*=}))
		sum=$((sum + PCT[$e]))
	done
	[ "$sum" -eq 100 ] || { log "BENCH_LOAD_MIX must add up to 100, not $sum"; return 1; }
}

generate() {
	LDIF=$tmp/community.ldif
	log "generating $ORGS organisations and $PEOPLE people"
	"$tmp/gencommunity" -orgs "$ORGS" -people "$PEOPLE" -seed "$SEED" -out "$LDIF" 2>"$tmp/out/gen.log"
	LDIF_MB=$(fnum "$(stat -c %s "$LDIF") / 1048576" 1)
	# Plain-text mail values only (gencommunity writes ASCII addresses).
	sed -n 's/^mail: //p' "$LDIF" >"$tmp/mails"
	SENDER=$(head -n 1 "$tmp/mails")
	local n
	n=$(wc -l <"$tmp/mails")
	[ "$n" -ge 2 ] || { log "the community needs at least 2 people with mail"; return 1; }
	# Internal recipients: up to 500 addresses spread over the whole directory.
	awk -v n="$n" -v s="$SENDER" 'NR > 1 && $0 != s && (NR % int(n / 500 + 1)) == 0' "$tmp/mails" >"$tmp/internal"
	[ -s "$tmp/internal" ] || sed -n '2,$p' "$tmp/mails" >"$tmp/internal"
	"$LG" -mode prefixes -ldif "$LDIF" -prefixes 2000 -seed "$SEED" >"$tmp/prefixes"
	log "LDIF ${LDIF_MB} MB; sender $SENDER; $(wc -l <"$tmp/internal") internal recipients; $(wc -l <"$tmp/prefixes") prefixes"
}

set_vars() {
	VARS=(VEILIG_DATABASE_URL="$PG_BASE/veilig_load?sslmode=disable" VEILIG_DATA_DIR="$tmp/data"
		VEILIG_LOG_FORMAT=text VEILIG_ACCESS_TOKEN_TTL=1h VEILIG_SMTP_HOSTNAME=veilig.test
		VEILIG_DEV_MAILBOX=1 VEILIG_TRUSTED_PROXIES=127.0.0.1/32
		VEILIG_VIEWER_IDLE_TIMEOUT=2h VEILIG_VIEWER_ABSOLUTE_TIMEOUT=48h)
}

prepare_db() {
	psql "$PG_URL" -qXc "CREATE DATABASE veilig_load" >/dev/null
	install -d -m 700 "$tmp/data"
	(umask 077 && head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$tmp/secret/pw")
	env "${VARS[@]}" "$BIN" migrate >"$tmp/out/prepare.log" 2>&1 || { cat "$tmp/out/prepare.log" >&2; return 1; }
	log "veilig directory import --ldif ($PEOPLE people)"
	local t0=$EPOCHREALTIME
	env "${VARS[@]}" "$BIN" directory import --ldif "$LDIF" >>"$tmp/out/prepare.log" 2>&1 ||
		{ tail -n 20 "$tmp/out/prepare.log" >&2; return 1; }
	IMPORT_S=$(elapsed "$t0" "$EPOCHREALTIME")
	env "${VARS[@]}" "$BIN" user add --email "$SENDER" --role sender --password-stdin <"$tmp/secret/pw" \
		>>"$tmp/out/prepare.log" 2>&1 || { tail -n 20 "$tmp/out/prepare.log" >&2; return 1; }
	log "imported in ${IMPORT_S} s"
}

ready() { curl -sf --max-time 2 "$API/readyz" >/dev/null 2>&1; }

start_serve() {
	local port t0=$EPOCHREALTIME
	port=$(free_port)
	API=http://127.0.0.1:$port
	env "${VARS[@]}" VEILIG_HTTP_ADDR="127.0.0.1:$port" VEILIG_PUBLIC_URL="$API" "$BIN" serve \
		>>"$tmp/out/serve.log" 2>&1 &
	SERVE_PID=$!
	wait_until "$READY_LIMIT_S" "veilig serve" ready || { tail -n 20 "$tmp/out/serve.log" >&2; return 1; }
	READY_S=$(elapsed "$t0" "$EPOCHREALTIME")
	log "veilig serve on $API (pid $SERVE_PID), ready in ${READY_S} s"
}

# sample_rss appends "epoch-seconds VmRSS-kB" every RSS_EVERY seconds.
sample_rss() {
	local kb
	while kill -0 "$SERVE_PID" 2>/dev/null; do
		kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$SERVE_PID/status" 2>/dev/null || true)
		[ -n "$kb" ] && echo "$EPOCHSECONDS $kb" >>"$tmp/out/rss.txt"
		sleep "$RSS_EVERY"
	done
}

start_rss() {
	: >"$tmp/out/rss.txt"
	sample_rss &
	RSS_PID=$!
}

fetch_token() (
	umask 077
	jq -cn --arg u "$SENDER" --arg p "$(head -n 1 "$tmp/secret/pw")" '{grant_type: "password", username: $u, password: $p}' |
		curl -sf --max-time 10 -H 'Content-Type: application/json' --data-binary @- "$API/api/v1/auth/token" |
		jq -r '.access_token // empty' >"$tmp/secret/token.new"
	[ -s "$tmp/secret/token.new" ] || { log "could not obtain an access token"; return 1; }
	mv "$tmp/secret/token.new" "$tmp/secret/token"
)

# viewer_sessions: one message to SESSIONS external recipients, then a verified
# viewer session for each (loadgen -mode viewer-login, as bench-external.sh).
viewer_sessions() {
	log "viewer: one message to $SESSIONS external recipients, then $SESSIONS verified sessions"
	"$LG" -mode notify -url "$API" -token-file "$tmp/secret/token" -json -timeout 120s -wait 300s \
		-n 1 -rcpts "$SESSIONS" -size "$SIZE" -rcpt-domain "$VIEWER_DOMAIN" >"$tmp/out/viewer-notify.json"
	"$LG" -mode viewer-login -url "$API" -json -rcpts "$SESSIONS" -rcpt-domain "$VIEWER_DOMAIN" -xff \
		-timeout 30s -wait 120s -sessions-file "$tmp/secret/sessions" >"$tmp/out/viewer-login.json"
}

# --- request bodies and vegeta targets -----------------------------------------

# pick N FILE prints N random lines of FILE.
pick() { shuf -n "$1" "$2"; }

resolve_bodies() {
	local i
	for ((i = 1; i <= RESOLVE_BODIES; i++)); do
		{ pick 4 "$tmp/internal"; echo "iemand$i@$EXT_DOMAIN"; } | jq -Rsc '{addresses: split("\n") | map(select(. != ""))}' \
			>"$tmp/bodies/resolve-$i.json"
	done
}

# submit_body I writes multipart body I: two internal recipients, two external
# ones with their own phone numbers, and SIZE random bytes as an attachment.
submit_body() {
	local i=$1 b draft
	b=bench-load-$i-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
	draft=$(pick 2 "$tmp/internal" | jq -Rsc --arg e1 "lezer$i.a@$EXT_DOMAIN" --arg e2 "lezer$i.b@$EXT_DOMAIN" --arg p1 "+316123$((40000 + i * 2))" --arg p2 "+316123$((40001 + i * 2))" \
		'{to: ((split("\n") | map(select(. != ""))) + [$e1, $e2]), subject: "bench-load", text: "Generated by scripts/bench-load.sh.", phones: {($e1): $p1, ($e2): $p2}}')
	{
		printf -- '--%s\r\nContent-Disposition: form-data; name="message"\r\nContent-Type: application/json\r\n\r\n%s\r\n' "$b" "$draft"
		printf -- '--%s\r\nContent-Disposition: form-data; name="attachment"; filename="bench-load.bin"\r\nContent-Type: application/octet-stream\r\n\r\n' "$b"
		head -c "$SIZE" /dev/urandom
		printf -- '\r\n--%s--\r\n' "$b"
	} >"$tmp/bodies/submit-$i.bin"
	echo "$b" >"$tmp/bodies/submit-$i.boundary"
}

make_bodies() {
	local i
	resolve_bodies
	for ((i = 1; i <= SUBMIT_BODIES; i++)); do submit_body "$i"; done
}

# make_templates writes one vegeta JSON target file per endpoint, once; the
# bearer token is a placeholder that write_targets fills in.
make_templates() {
	local i d=$tmp/templates tok=@TOKEN@
	mkdir -p "$d"
	jq -Rc --arg api "$API" --arg a "Bearer $tok" 'select(. != "") |
		{method: "GET", url: ($api + "/api/v1/directory/search?limit=10&q=" + @uri "\(.)"), header: {Authorization: [$a]}}' \
		"$tmp/prefixes" >"$d/search.targets"
	for ((i = 1; i <= RESOLVE_BODIES; i++)); do
		jq -c --arg api "$API" --arg a "Bearer $tok" --arg b "$(base64 -w0 "$tmp/bodies/resolve-$i.json")" -n \
			'{method: "POST", url: ($api + "/api/v1/recipients/resolve"), body: $b, header: {Authorization: [$a], "Content-Type": ["application/json"]}}'
	done >"$d/resolve.targets"
	for ((i = 1; i <= SUBMIT_BODIES; i++)); do
		base64 -w0 "$tmp/bodies/submit-$i.bin" | jq -Rc --arg api "$API" --arg a "Bearer $tok" \
			--arg ct "multipart/form-data; boundary=$(cat "$tmp/bodies/submit-$i.boundary")" \
			'{method: "POST", url: ($api + "/api/v1/messages"), body: ., header: {Authorization: [$a], "Content-Type": [$ct]}}'
	done >"$d/submit.targets"
}

# write_targets fills the current token into the templates (mode 0600: the
# files carry it); the viewer targets carry the session cookies instead.
write_targets() (
	umask 077
	local tok e d=$tmp/secret
	tok=$(cat "$d/token")
	[[ $tok =~ ^[A-Za-z0-9._-]+$ ]] || { log "unexpected characters in the access token"; return 1; }
	for e in search resolve submit; do
		sed "s/@TOKEN@/$tok/" "$tmp/templates/$e.targets" >"$d/$e.targets"
	done
	jq -Rc --arg api "$API" 'select(. != "") | {method: "GET", url: ($api + "/v/"), header: {Cookie: [.]}}' \
		"$d/sessions" >"$d/viewer.targets"
)

# --- attacks -------------------------------------------------------------------

# rate_of TOTAL ENDPOINT prints vegeta's -rate for the endpoint's share, exact
# for any percentage ("N/100s" is N/100 requests per second, evenly paced).
rate_of() { echo "$(($1 * PCT[$2]))/100s"; }

# attack DIR TOTAL SECONDS: every endpoint at its share, concurrently; results
# in DIR/ENDPOINT.bin.
attack() {
	local dir=$1 total=$2 secs=$3 e redirects
	mkdir -p "$dir"
	fetch_token
	write_targets
	VEGETA_PIDS=()
	ATTACK_T0=$EPOCHSECONDS
	for e in "${ENDPOINTS[@]}"; do
		[ "$((total * PCT[$e]))" -gt 0 ] || continue
		# A viewer redirect means a lost session: count it as an error.
		redirects=10
		[ "$e" = viewer ] && redirects=0
		"$VEGETA" attack -format=json -targets="$tmp/secret/$e.targets" -rate="$(rate_of "$total" "$e")" \
			-duration="${secs}s" -timeout="$ATTACK_TIMEOUT" -max-workers="$MAX_WORKERS" -redirects="$redirects" \
			-output="$dir/$e.bin" 2>>"$tmp/out/vegeta.log" &
		VEGETA_PIDS+=($!)
	done
	local p rc=0
	for p in "${VEGETA_PIDS[@]}"; do wait "$p" || rc=$?; done
	ATTACK_T1=$EPOCHSECONDS
	VEGETA_PIDS=()
	[ "$rc" -eq 0 ] || { log "vegeta failed (exit $rc)"; tail -n 5 "$tmp/out/vegeta.log" >&2; return 1; }
}

# summarise DIR TOTAL SECONDS writes DIR/summary.json: per endpoint, vegeta's
# report plus the checks vegeta cannot make (the viewer answer must be the
# message page; a submit must be 202 with a message id, collected in DIR/ids).
summarise() {
	local dir=$1 total=$2 secs=$3 e bad
	: >"$dir/ids"
	for e in "${ENDPOINTS[@]}"; do
		[ -f "$dir/$e.bin" ] || continue
		bad=0
		case $e in
		viewer)
			bad=$("$VEGETA" encode -to=json "$dir/$e.bin" | jq -r --arg f "$REPLY_FORM" \
				'select(.code == 200) | .body | @base64d | contains($f) | not | select(.)' | wc -l)
			;;
		submit)
			"$VEGETA" encode -to=json "$dir/$e.bin" | jq -r 'select(.code == 202) | .body | @base64d | fromjson | .id // empty' >>"$dir/ids"
			;;
		esac
		"$VEGETA" report -type=json "$dir/$e.bin" | jq -c --arg e "$e" --argjson bad "$bad" \
			--argjson offered "$(fnum "$total * ${PCT[$e]} / 100" 2)" '{
				endpoint: $e, offered_rps: $offered, requests: .requests,
				throughput_rps: ((.throughput * 100 | round) / 100),
				p50_ms: ((.latencies["50th"] / 1e4 | round) / 100), p99_ms: ((.latencies["99th"] / 1e4 | round) / 100),
				max_ms: ((.latencies.max / 1e4 | round) / 100),
				errors: ((.requests - (.requests * .success | round)) + $bad), wrong_page: $bad,
				status_codes: .status_codes, first_errors: (.errors[:3])}'
		rm -f "$dir/$e.bin"
	done | jq -s -c . >"$dir/summary.json"
}

# lag DIR: the outbox lag of the messages accepted in DIR.
lag() {
	"$LG" -mode lag -url "$API" -token-file "$tmp/secret/token" -ids-file "$1/ids" -wait "$LAG_WAIT" \
		-c 4 -timeout 30s -json >"$1/lag.json"
}

# rss_between T0 T1 prints {"max_mb":…, "last_mb":…} of the samples in [T0, T1].
rss_between() {
	awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b { if ($2 > m) m = $2; l = $2; n++ }
		END { printf "{\"samples\":%d,\"max_mb\":%.1f,\"last_mb\":%.1f}\n", n, m / 1024, l / 1024 }' "$tmp/out/rss.txt"
}

# --- steps ---------------------------------------------------------------------

run_steps() {
	local total dir t0
	: >"$tmp/out/steps.jsonl"
	for total in $STEPS; do
		dir=$tmp/runs/step-$total
		log "step: $total req/s for ${STEP_S} s ($MIX)"
		attack "$dir" "$total" "$STEP_S"
		t0=$ATTACK_T0
		local t1=$ATTACK_T1
		summarise "$dir" "$total" "$STEP_S"
		log "step $total: outbox lag of $(wc -l <"$dir/ids") messages (waits up to $LAG_WAIT)"
		lag "$dir"
		jq -c --argjson total "$total" --argjson rss "$(rss_between "$t0" "$t1")" --slurpfile lag "$dir/lag.json" \
			'{offered_rps: $total, endpoints: ., lag: $lag[0], rss: $rss}' "$dir/summary.json" >>"$tmp/out/steps.jsonl"
		tail -n 1 "$tmp/out/steps.jsonl" | jq -c '[.offered_rps, (.endpoints[] | [.endpoint, .throughput_rps, .p99_ms, .errors]), .lag.lag_p99_ms, .rss.max_mb]' >&2
	done
}

# find_knee sets KNEE (the first step past the heuristic, or none) and the
# soak rate: BENCH_LOAD_SOAK_RATE, else 3/4 of the last step below the knee.
find_knee() {
	KNEE=$(jq -rs --argjson tp "$KNEE_THROUGHPUT" --argjson f "$KNEE_P99_FACTOR" '
		def worst: [.endpoints[].p99_ms] | max;
		(.[0] | worst) as $base
		| [.[] | select(([.endpoints[].errors] | add) > 0
			or ([.endpoints[].throughput_rps] | add) < $tp * .offered_rps
			or .lag.sending_at_end > 0
			or worst > $f * $base) | .offered_rps] | first // "none"' "$tmp/out/steps.jsonl")
	local below
	below=$(jq -rs --arg k "$KNEE" '[.[] | select($k == "none" or .offered_rps < ($k | tonumber)) | .offered_rps] | last // empty' "$tmp/out/steps.jsonl")
	if [ -n "$SOAK_RATE" ]; then
		SOAK_RATE_WHY="set by BENCH_LOAD_SOAK_RATE"
	elif [ -n "$below" ]; then
		SOAK_RATE=$(((below * 3 + 3) / 4))
		SOAK_RATE_WHY="3/4 of $below req/s, the last step below the knee"
	else
		SOAK_RATE=$((($(awk '{print $1; exit}' <<<"$STEPS") + 1) / 2))
		SOAK_RATE_WHY="half the first step: every step was past the knee"
	fi
	log "knee (heuristic): $KNEE; soak at $SOAK_RATE req/s ($SOAK_RATE_WHY)"
}

# --- soak ----------------------------------------------------------------------

run_soak() {
	local w=0 dir left secs
	: >"$tmp/out/soak.jsonl"
	: >"$tmp/out/soak-ids"
	SOAK_T0=$EPOCHSECONDS
	log "soak: $SOAK_RATE req/s for ${SOAK_S} s in windows of ${WINDOW_S} s"
	# Each window is summarised in the background while the next one runs, so
	# the load pauses only for the token and the target files.
	while left=$((SOAK_T0 + SOAK_S - EPOCHSECONDS)) && [ "$left" -gt 0 ]; do
		w=$((w + 1))
		secs=$((left < WINDOW_S ? left : WINDOW_S))
		dir=$tmp/runs/soak-$w
		attack "$dir" "$SOAK_RATE" "$secs"
		wait_summary
		soak_window "$dir" "$w" "$ATTACK_T0" "$ATTACK_T1" &
		SUMMARY_PID=$!
	done
	wait_summary
	SOAK_T1=$EPOCHSECONDS
	log "soak: outbox lag of $(wc -l <"$tmp/out/soak-ids") messages"
	mkdir -p "$tmp/runs/soak"
	cp "$tmp/out/soak-ids" "$tmp/runs/soak/ids"
	fetch_token
	lag "$tmp/runs/soak"
	cp "$tmp/runs/soak/lag.json" "$tmp/out/soak-lag.json"
	soak_rss
}

# soak_window DIR W T0 T1 appends window W's line to soak.jsonl.
soak_window() {
	local dir=$1 w=$2 t0=$3 t1=$4
	summarise "$dir" "$SOAK_RATE" "$((t1 - t0))"
	cat "$dir/ids" >>"$tmp/out/soak-ids"
	jq -c --argjson w "$w" --argjson t "$((t0 - SOAK_T0))" --argjson d "$((t1 - t0))" --argjson rss "$(rss_between "$t0" "$t1")" '{
		window: $w, start_s: $t, duration_s: $d, requests: ([.[].requests] | add), errors: ([.[].errors] | add),
		worst_p99_ms: ([.[].p99_ms] | max), p99_ms: (map({(.endpoint): .p99_ms}) | add), rss: $rss}' \
		"$dir/summary.json" >>"$tmp/out/soak.jsonl"
	rm -rf "$dir"
}

wait_summary() {
	[ -n "$SUMMARY_PID" ] || return 0
	wait "$SUMMARY_PID" || { SUMMARY_PID=''; log "summarising a soak window failed"; return 1; }
	SUMMARY_PID=''
}

# soak_rss: first, last and max RSS of the soak, and the least-squares slope in
# MB per 10 min over the whole soak and over its second half.
soak_rss() {
	local mid=$(((SOAK_T0 + SOAK_T1) / 2))
	SOAK_RSS=$(awk -v a="$SOAK_T0" -v b="$SOAK_T1" -v m="$mid" '
		function slope(n, sx, sy, sxx, sxy) { return n > 1 && n * sxx - sx * sx > 0 ? (n * sxy - sx * sy) / (n * sxx - sx * sx) : 0 }
		$1 >= a && $1 <= b {
			x = $1 - a; y = $2 / 1024
			if (!n) f = y
			if (y > mx) mx = y
			l = y; n++; sx += x; sy += y; sxx += x * x; sxy += x * y
			if ($1 >= m) { n2++; sx2 += x; sy2 += y; sxx2 += x * x; sxy2 += x * y }
		}
		END { printf "{\"samples\":%d,\"first_mb\":%.1f,\"last_mb\":%.1f,\"max_mb\":%.1f,\"slope_mb_per_10min\":%.2f,\"slope_second_half_mb_per_10min\":%.2f}\n",
			n, f, l, mx, slope(n, sx, sy, sxx, sxy) * 600, slope(n2, sx2, sy2, sxx2, sxy2) * 600 }' "$tmp/out/rss.txt")
	log "soak RSS: $SOAK_RSS"
}

# --- report --------------------------------------------------------------------

machine() {
	CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	MEM_GB=$(awk '/^MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
	OS_NAME=$(. /etc/os-release && echo "$PRETTY_NAME")
	COMMIT=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
	if [ -n "$(GIT_OPTIONAL_LOCKS=0 git status --porcelain --untracked-files=no 2>/dev/null | head -n 1)" ]; then
		COMMIT="$COMMIT (with uncommitted changes)"
	fi
}

knee_text() {
	if [ "$KNEE" = none ]; then echo "not reached up to $(awk '{ print $NF }' <<<"$STEPS") req/s"; else echo "$KNEE req/s"; fi
}

# run_label says whether this was the configuration of the issue.
run_label() {
	if [ "$ORGS" -ge "$FULL_ORGS" ] && [ "$PEOPLE" -ge "$FULL_PEOPLE" ] && [ "$SOAK_S" -ge "$FULL_SOAK_S" ]; then
		echo "**Full run**: the directory and soak length issue 7 asks for."
	else
		echo "**Small run**: a reduced configuration that proves the script end to end; these are NOT the issue's figures (those need $FULL_ORGS organisations, $FULL_PEOPLE people and a 30-minute soak: \`make bench-load\` with the defaults)."
	fi
}

step_table() {
	echo '| offered req/s | endpoint | offered | achieved req/s | p50 ms | p99 ms | max ms | errors |'
	echo '|---|---|---|---|---|---|---|---|'
	jq -r '.offered_rps as $t | .endpoints[] |
		"| \($t) | \(.endpoint) | \(.offered_rps) | \(.throughput_rps) | \(.p50_ms) | \(.p99_ms) | \(.max_ms) | \(.errors)\(if .wrong_page > 0 then " (\(.wrong_page) not the message page)" else "" end) |"' \
		"$tmp/out/steps.jsonl"
	echo
	echo '| offered req/s | achieved req/s (all) | errors (all) | messages accepted | outbox lag p50 / p99 / max ms | still sending after the wait | RSS max / last MB |'
	echo '|---|---|---|---|---|---|---|'
	jq -r '"| \(.offered_rps) | \([.endpoints[].throughput_rps] | add * 100 | round / 100) | \([.endpoints[].errors] | add) | \(.lag.messages) | \(.lag.lag_p50_ms | round) / \(.lag.lag_p99_ms | round) / \(.lag.lag_max_ms | round) | \(.lag.sending_at_end) of \(.lag.messages) (\(.lag.sending_at_first_poll) right after the step) | \(.rss.max_mb) / \(.rss.last_mb) |"' \
		"$tmp/out/steps.jsonl"
}

soak_table() {
	echo '| window | start s | load s | requests | errors | worst p99 ms | p99 ms per endpoint | RSS max / last MB |'
	echo '|---|---|---|---|---|---|---|---|'
	jq -r '"| \(.window) | \(.start_s) | \(.duration_s) | \(.requests) | \(.errors) | \(.worst_p99_ms) | \(.p99_ms | to_entries | map("\(.key) \(.value)") | join(", ")) | \(.rss.max_mb) / \(.rss.last_mb) |"' \
		"$tmp/out/soak.jsonl"
}

section() {
	local o=$tmp/out
	machine
	local soak_req soak_err
	soak_req=$(jq -s '[.[].requests] | add // 0' "$o/soak.jsonl")
	soak_err=$(jq -s '[.[].errors] | add // 0' "$o/soak.jsonl")
	cat <<MD
$BEGIN_MARK
## Load and soak (issue 7)

Generated by \`scripts/bench-load.sh\` (\`make bench-load\`); do not edit by hand, re-run it.

$(run_label)

- **Date:** $(date -u '+%Y-%m-%d %H:%M UTC')
- **Commit:** $COMMIT
- **Command:** \`BENCH_LOAD_ORGS=$ORGS BENCH_LOAD_PEOPLE=$PEOPLE BENCH_LOAD_SEED=$SEED BENCH_LOAD_STEPS="$STEPS" BENCH_LOAD_STEP_DURATION=$STEP_DURATION BENCH_LOAD_MIX="$MIX" BENCH_SOAK=$SOAK BENCH_LOAD_WINDOW=$WINDOW BENCH_LOAD_SIZE=$SIZE BENCH_LOAD_SESSIONS=$SESSIONS scripts/bench-load.sh\`
- **Machine:** $(nproc) CPUs ($CPU_MODEL), $MEM_GB GB RAM, $OS_NAME, Linux $(uname -r); load average (1/5/15 min) at the start $LOAD_START, at the end $LOAD_END (the machine may be shared: above ~0.5 at the start means other work competed for the CPUs)
- **Software:** $(go version | awk '{print $3}'), PostgreSQL $PG_VERSION (fsync=off, throwaway cluster), vegeta $VEGETA_VERSION
- **Data:** gencommunity seed $SEED, $ORGS organisations and $PEOPLE people (${LDIF_MB} MB LDIF), \`veilig directory import --ldif\` in ${IMPORT_S} s; \`veilig serve\` ready in ${READY_S} s
- **veilig serve:** defaults (VEILIG_DELIVERY_WORKERS=10, VEILIG_MEMORY_LIMIT_MB=320, self-copy on) plus \`VEILIG_DEV_MAILBOX=1\`, \`VEILIG_TRUSTED_PROXIES=127.0.0.1/32\` and long viewer time-outs (so the sessions outlive the soak)
- **Knee (heuristic):** **$(knee_text)** (first step with an error, under $(fnum "$KNEE_THROUGHPUT * 100" 0) % of the offered rate, messages still sending $LAG_WAIT after it, or a worst p99 over ${KNEE_P99_FACTOR}× the first step's)
- **Soak:** **$SOAK_RATE req/s** ($SOAK_RATE_WHY) for $SOAK: $soak_req requests, **$soak_err errors**; RSS of veilig serve first $(jq -r .first_mb <<<"$SOAK_RSS") MB, last $(jq -r .last_mb <<<"$SOAK_RSS") MB, max $(jq -r .max_mb <<<"$SOAK_RSS") MB, slope **$(jq -r .slope_mb_per_10min <<<"$SOAK_RSS") MB per 10 min** ($(jq -r .slope_second_half_mb_per_10min <<<"$SOAK_RSS") over the second half; flat memory is a slope near 0); outbox lag p50 / p99 / max $(jq -r '"\(.lag_p50_ms | round) / \(.lag_p99_ms | round) / \(.lag_max_ms | round) ms over \(.messages) messages, \(.sending_at_end) still sending"' "$o/soak-lag.json")

### Steps ($STEP_DURATION each, mix $MIX)

$(step_table)

### Soak windows ($WINDOW each)

$(soak_table)

### How the figures were taken

- **Load:** vegeta's open model: requests leave at the set rate whether or not earlier ones were answered
  (up to $MAX_WORKERS in flight per endpoint, $ATTACK_TIMEOUT time-out), so an overloaded server shows as
  rising latency and errors, not as a lower offered rate. Each endpoint is its own \`vegeta attack
  -format=json\` at its share of the total (-rate N/100s), all four at once, over keep-alive connections;
  latencies are client-side, from the request leaving to the whole answer read. The load generator,
  veilig serve and PostgreSQL share the machine's CPUs, so rates are floors and latencies ceilings.
- **Autocomplete:** \`GET /api/v1/directory/search?limit=10&q=…\` round robin over 2,000 prefixes of 2–5
  characters of names, organisations and addresses sampled from the LDIF (\`loadgen -mode prefixes\`, seed $SEED).
- **Resolve:** \`POST /api/v1/recipients/resolve\`, $RESOLVE_BODIES bodies of four community addresses
  sampled from the directory and one external address.
- **Submit:** \`POST /api/v1/messages\` (multipart/form-data), $SUBMIT_BODIES bodies each to two community
  members and two external recipients at $EXT_DOMAIN with their own NL mobile numbers, plus an attachment of
  $SIZE random bytes; an answer counts only as 202. Each accepted message makes five deliveries (two internal,
  two external notifications, the sender's self-copy), all through the outbox into the dev mailbox.
- **Viewer reads:** \`GET /v/\` with one of $SESSIONS verified viewer sessions (cookies), obtained before the
  steps as \`bench-external.sh\` does: one message to $SESSIONS recipients at $VIEWER_DOMAIN, then
  \`loadgen -mode viewer-login\` walks each link from its notification in the dev mailbox, requests a code,
  reads it from the captured SMS and verifies it. An answer counts only as 200 holding the reply form (the
  decrypted message page); a redirect counts as an error (a lost session).
- **Outbox lag:** after each step (and after the soak) \`loadgen -mode lag\` reads every accepted message
  with \`GET /api/v1/messages/{id}\` until none is sending (at most $LAG_WAIT): lag is the last
  recipient's \`delivered_at\` minus the message's \`created_at\`, both server time. "Right after the step"
  is how many were still sending at the first poll: the backlog the step left behind.
- **RSS:** VmRSS of the veilig serve process from /proc every $RSS_EVERY s. It includes the dev mailbox,
  which keeps the last 500 captured items (at most 128 MiB), full by the end of the first step; the Go
  runtime's soft limit is VEILIG_MEMORY_LIMIT_MB. Slope: least squares over the soak's samples.

### Raw results

\`\`\`json
MD
	cat "$o/steps.jsonl" "$o/soak.jsonl"
	printf '{"run":"soak-lag","data":%s}\n{"run":"soak-rss","data":%s}\n' "$(jq -c . "$o/soak-lag.json")" "$SOAK_RSS"
	printf '{"run":"viewer-login","data":%s}\n' "$(jq -c . "$o/viewer-login.json")"
	cat <<MD
\`\`\`
$END_MARK
MD
}

# write_section replaces this script's section of $OUT (or appends it).
write_section() {
	local new=$tmp/out/section.md
	section >"$new"
	replace_section "$OUT" "$BEGIN_MARK" "$END_MARK" "$new"
	log "wrote the load-and-soak section of $OUT"
}

main() {
	LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	prepare
	generate
	start_postgres "$tmp/pg"
	PG_VERSION=$("$(pg_bindir)/postgres" --version | awk '{print $3}')
	PG_BASE=${PG_URL%%/postgres\?*}
	set_vars
	prepare_db
	start_serve
	start_rss
	fetch_token
	viewer_sessions
	make_bodies
	make_templates
	run_steps
	find_knee
	run_soak
	LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
	log "stopping services"
	stop_all
	write_section
}

# Sourcing the script (to reuse its functions by hand) defines the functions only.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	main "$@"
fi
