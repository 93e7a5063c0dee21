#!/usr/bin/env bash
# Secure-send figures of issue 3 §10, written as one section of docs/benchmarks.md
# (make bench runs this last, after scripts/bench.sh wrote the rest; it also runs
# alone and then replaces only its own section):
#
#   1. accepted messages per second: loadgen -mode submit (100 KB attachment,
#      5 recipients) against veilig serve on PostgreSQL, c=8 for 15 s;
#   2. accept latency p50/p99 for a 10 MB attachment (c=2, n=40);
#   3. delivery throughput over verified TLS (DANE-EE) into a local Postfix: N
#      deliveries queued, then the time until all are in the Maildir, side by side
#      with Postfix's own smtp-source sending N messages into the same Postfix in
#      the same run (target: at least half of Postfix's rate);
#   4. peak RSS (VmHWM) growth of a fresh veilig serve while 10 clients each
#      submit a 50 MB message at once (target: < 100 MB).
#
# The lab (started here, as internal/testenv does for the Go tests): PostgreSQL
# (lib.sh); Knot serving dane.test signed on load (ECDSA P-256, NSEC3) with MX
# mx.dane.test and "_PORT._tcp.mx TLSA 3 1 1" of Postfix's self-signed certificate;
# Unbound validating it with the zone's KSK as trust anchor (VEILIG_DNS_RESOLVER);
# a throwaway Postfix (master in the foreground, own queue) delivering every
# recipient into one Maildir with virtual(8). Everything listens on 127.0.0.1
# and is stopped by PID on exit. Needs root (Postfix) and Debian's postfix, knot,
# knot-dnsutils and unbound packages (installed when missing).
#
# Knobs (environment):
#   BENCH_SEND_DURATION (15s) BENCH_SEND_CONCURRENCY (8) BENCH_SEND_SIZE (102400)
#   BENCH_SEND_RCPTS (5) BENCH_SEND_LARGE_SIZE (10485760) BENCH_SEND_LARGE_N (40)
#   BENCH_SEND_LARGE_C (2) BENCH_SEND_DELIVERIES (504; rounded up to whole
#   messages of RCPTS + 1 self-copy deliveries) BENCH_SEND_HUGE_SIZE (50000000)
#   BENCH_SEND_HUGE_CLIENTS (10) BENCH_SEND_BIN (a veilig binary to use; default:
#   build one from this tree) BENCH_OUT (docs/benchmarks.md) BENCH_KEEP (0)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib.sh

DURATION=${BENCH_SEND_DURATION:-15s}
CONC=${BENCH_SEND_CONCURRENCY:-8}
SIZE=${BENCH_SEND_SIZE:-102400}
RCPTS=${BENCH_SEND_RCPTS:-5}
LARGE_SIZE=${BENCH_SEND_LARGE_SIZE:-10485760}
LARGE_N=${BENCH_SEND_LARGE_N:-40}
LARGE_C=${BENCH_SEND_LARGE_C:-2}
WANT_DELIVERIES=${BENCH_SEND_DELIVERIES:-504}
HUGE_SIZE=${BENCH_SEND_HUGE_SIZE:-50000000}
HUGE_CLIENTS=${BENCH_SEND_HUGE_CLIENTS:-10}
OUT=${BENCH_OUT:-docs/benchmarks.md}
KEEP=${BENCH_KEEP:-0}

DOMAIN=dane.test
MX=mx.$DOMAIN
SENDER=sender@$DOMAIN
CLK_TCK=$(getconf CLK_TCK)
BEGIN_MARK='<!-- bench-send:begin -->'
END_MARK='<!-- bench-send:end -->'

# Bounds on every wait.
READY_LIMIT_S=60
LAB_LIMIT_S=20
DELIVER_LIMIT_S=300
SUBMIT_TIMEOUT=300s

PG_PID='' KNOT_PID='' UNBOUND_PID='' PF_PID='' SERVE_PID='' SRC_PID=''
tmp=

stop_all() {
	stop_pid "$SRC_PID"
	stop_pid "$SERVE_PID"
	stop_pid "$PF_PID"
	stop_pid "$UNBOUND_PID"
	stop_pid "$KNOT_PID"
	stop_pid "$PG_PID"
	SRC_PID='' SERVE_PID='' PF_PID='' UNBOUND_PID='' KNOT_PID='' PG_PID=''
}

cleanup() {
	stop_all
	if [ "$KEEP" = 1 ] && [ -n "$tmp" ]; then
		log "kept $tmp (BENCH_KEEP=1)"
	elif [ -n "$tmp" ]; then
		rm -rf "$tmp"
	fi
}



# cpu_s T0 T1 prints a tick difference in seconds.

# jget FILE KEY prints one field of a one-line JSON file.


prepare() {
	ensure_packages postgresql postfix knot knot-dnsutils unbound openssl curl jq
	[ "$(id -u)" -eq 0 ] || { log "bench-send.sh needs root (Postfix's master)"; return 1; }
	tmp=$(mktemp -d /tmp/veilig-bench-send.XXXXXX)
	chmod 711 "$tmp"
	mkdir -m 700 "$tmp/secret" "$tmp/out"
	BIN=${BENCH_SEND_BIN:-}
	if [ -z "$BIN" ]; then
		log "building veilig"
		go build -trimpath -o "$tmp/veilig" .
		BIN=$tmp/veilig
	fi
	log "work dir $tmp; veilig is $BIN; building loadgen"
	go build -o "$tmp/loadgen" ./scripts/loadgen
	LG=$tmp/loadgen
}

# --- the lab -----------------------------------------------------------------

# make_cert: a self-signed P-256 certificate for the MX (a DANE-EE server: PKIX
# validation of it fails) and its TLSA 3 1 1 RDATA (SHA2-256 of the SPKI).
make_cert() {
	local d=$tmp/pki
	mkdir -m 700 "$d"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$MX" \
		-addext "subjectAltName=DNS:$MX" -addext extendedKeyUsage=serverAuth \
		-keyout "$d/key.pem" -out "$d/cert.pem" 2>/dev/null
	TLSA_HASH=$(openssl x509 -in "$d/cert.pem" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)
}

# Postfix queue subdirectories: name, group, mode (as postfix-files has them).
PF_QUEUE_DIRS="active:root:700 bounce:root:700 corrupt:root:700 defer:root:700 deferred:root:700
flush:root:700 hold:root:700 incoming:root:700 private:root:700 saved:root:700 trace:root:700
maildrop:postdrop:730 public:postdrop:710"

postfix_layout() {
	local d=$1 q name group mode
	mkdir -m 711 "$d"
	mkdir -m 755 "$d/conf" "$d/queue" "$d/queue/pid"
	for q in $PF_QUEUE_DIRS; do
		IFS=: read -r name group mode <<<"$q"
		install -d -o postfix -g "$group" -m "$mode" "$d/queue/$name"
	done
	install -d -o postfix -g root -m 700 "$d/data"
	install -d -o nobody -g "$(id -gn nobody)" -m 700 "$d/mail"
	cat "$tmp/pki/key.pem" "$tmp/pki/cert.pem" >"$d/conf/chain.pem"
	chmod 600 "$d/conf/chain.pem"
}

postfix_main_cf() {
	local d=$1
	cat <<CF
compatibility_level = 3.6
queue_directory = $d/queue
data_directory = $d/data
maillog_file = /dev/stdout
maillog_file_prefixes = /dev/stdout
myhostname = $MX
mydomain = $DOMAIN
myorigin = \$myhostname
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
default_transport = error:5.7.1 outbound mail is disabled in the bench lab
relay_transport = \$default_transport
local_transport = \$default_transport
notify_classes =
smtpd_peername_lookup = no
smtpd_banner = \$myhostname ESMTP bench
smtpd_relay_restrictions = reject_unauth_destination
virtual_mailbox_domains = static:all
virtual_mailbox_base = $d/mail
virtual_mailbox_maps = static:Maildir/
virtual_uid_maps = static:$(id -u nobody)
virtual_gid_maps = static:$(id -g nobody)
message_size_limit = 104857600
virtual_mailbox_limit = 0
mailbox_size_limit = 0
smtpd_tls_security_level = may
smtpd_tls_chain_files = $d/conf/chain.pem
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtpd_tls_protocols = >=TLSv1.2
smtpd_tls_mandatory_protocols = >=TLSv1.2
CF
}

# postfix_master_cf PORT: only the services the lab needs, none chrooted.
postfix_master_cf() {
	printf '127.0.0.1:%s inet n - n - - smtpd\n' "$1"
	cat <<'CF'
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
CF
}

# greets PORT: the SMTP port answers with a 220 greeting.
greets() (
	{ exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || exit 1
	IFS= read -r -t 5 line <&3 || exit 1
	printf 'QUIT\r\n' >&3
	[[ $line == 220\ * ]]
)

# start_postfix: master(8) in the foreground on a free port. Sets PF_PID,
# PF_PORT, PF_DIR and MAILDIR.
start_postfix() {
	local master=/usr/lib/postfix/sbin/master try
	PF_DIR=$tmp/postfix
	MAILDIR=$PF_DIR/mail/Maildir
	postfix_layout "$PF_DIR"
	postfix_main_cf "$PF_DIR" >"$PF_DIR/conf/main.cf"
	for try in 1 2 3 4 5; do
		PF_PORT=$(free_port)
		postfix_master_cf "$PF_PORT" >"$PF_DIR/conf/master.cf"
		"$master" -c "$PF_DIR/conf" -s >>"$PF_DIR/maillog" 2>&1 &
		PF_PID=$!
		if wait_until "$LAB_LIMIT_S" "Postfix on port $PF_PORT" greets "$PF_PORT"; then
			PF_VERSION=$(postconf -c "$PF_DIR/conf" -h mail_version 2>/dev/null || echo '?')
			log "Postfix $PF_VERSION on 127.0.0.1:$PF_PORT (pid $PF_PID)"
			return 0
		fi
		stop_pid "$PF_PID"
		log "Postfix start failed (try $try)"
	done
	tail -n 20 "$PF_DIR/maillog" >&2
	return 1
}

knot_conf() {
	local d=$1 port=$2
	cat <<CONF
server:
  rundir: "$d/run"
  listen: 127.0.0.1@$port
  udp-workers: 1
  tcp-workers: 1
  background-workers: 1
control:
  listen: "$d/run/knot.sock"
log:
  - target: stderr
    any: info
database:
  storage: "$d/db"
policy:
  - id: bench
    algorithm: ecdsap256sha256
    nsec3: on
    nsec3-iterations: 0
    nsec3-salt-length: 0
template:
  - id: default
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    dnssec-signing: on
    dnssec-policy: bench
zone:
  - domain: "$DOMAIN."
    file: "$d/$DOMAIN.zone"
CONF
}

# zone_text: the recipient domain. TTLs of an hour, as a real zone would have,
# so the resolver's and Veilig's caches answer after the first lookups.
zone_text() {
	cat <<ZONE
\$ORIGIN $DOMAIN.
\$TTL 3600
@ SOA ns.$DOMAIN. hostmaster.$DOMAIN. 1 3600 600 86400 60
@ NS ns
ns A 127.0.0.1
@ MX 10 mx
mx A 127.0.0.1
_$PF_PORT._tcp.mx TLSA 3 1 1 $TLSA_HASH
ZONE
}

# ksk PORT prints the zone's KSK (DNSKEY flags 257) RDATA once Knot signed it.
ksk() { kdig @127.0.0.1 -p "$1" +norec +short +timeout=2 +retry=0 "$DOMAIN." DNSKEY 2>/dev/null | awk '$1 == 257'; }

knot_signed() { [ -n "$(ksk "$KNOT_PORT")" ]; }

# start_knot: knotd signs the zone on load. Sets KNOT_PID, KNOT_PORT, KSK.
start_knot() {
	local d=$tmp/knot try
	mkdir -m 700 "$d" "$d/db" "$d/run"
	zone_text >"$d/$DOMAIN.zone"
	for try in 1 2 3 4 5; do
		KNOT_PORT=$(free_port)
		knot_conf "$d" "$KNOT_PORT" >"$d/knot.conf"
		knotd -c "$d/knot.conf" >>"$d/knotd.log" 2>&1 &
		KNOT_PID=$!
		if wait_until "$LAB_LIMIT_S" "knotd on port $KNOT_PORT" knot_signed; then
			KSK=$(ksk "$KNOT_PORT")
			log "knotd $(knotd --version | awk '{print $NF}') serves $DOMAIN signed on 127.0.0.1:$KNOT_PORT (pid $KNOT_PID)"
			return 0
		fi
		stop_pid "$KNOT_PID"
		log "knotd start failed (try $try)"
	done
	tail -n 20 "$d/knotd.log" >&2
	return 1
}

unbound_conf() {
	local d=$1 port=$2
	cat <<CONF
server:
  interface: 127.0.0.1
  port: $port
  do-ip6: no
  so-reuseport: no
  username: ""
  chroot: ""
  directory: "$d"
  pidfile: "$d/unbound.pid"
  use-syslog: no
  logfile: ""
  verbosity: 1
  val-log-level: 2
  num-threads: 1
  do-not-query-localhost: no
  module-config: "validator iterator"
  qname-minimisation: no
  trust-anchor-signaling: no
  root-key-sentinel: no
  local-zone: "test." nodefault
  trust-anchor: "$DOMAIN. DNSKEY $KSK"
remote-control:
  control-enable: no
stub-zone:
  name: "$DOMAIN."
  stub-addr: 127.0.0.1@$KNOT_PORT
CONF
}

# authentic PORT NAME TYPE: the resolver answers NOERROR with the AD bit set.
authentic() {
	local out
	out=$(kdig @127.0.0.1 -p "$1" +dnssec +timeout=2 +retry=0 "$2" "$3" 2>/dev/null) || return 1
	grep -q 'status: NOERROR' <<<"$out" && grep -Eq '^;; Flags:.* ad;' <<<"$out"
}

resolver_validates() { authentic "$UNBOUND_PORT" "$DOMAIN." MX; }

# start_unbound: the validating resolver. Sets UNBOUND_PID and UNBOUND_PORT.
start_unbound() {
	local d=$tmp/unbound try
	mkdir -m 700 "$d"
	for try in 1 2 3 4 5; do
		UNBOUND_PORT=$(free_port)
		unbound_conf "$d" "$UNBOUND_PORT" >"$d/unbound.conf"
		unbound -d -c "$d/unbound.conf" >>"$d/unbound.log" 2>&1 &
		UNBOUND_PID=$!
		if wait_until "$LAB_LIMIT_S" "unbound on port $UNBOUND_PORT" resolver_validates; then
			authentic "$UNBOUND_PORT" "_$PF_PORT._tcp.$MX." TLSA ||
				{ log "the TLSA record is not DNSSEC-authentic"; return 1; }
			log "unbound $(unbound -V | awk 'NR == 1 {print $2}') validates $DOMAIN on 127.0.0.1:$UNBOUND_PORT (pid $UNBOUND_PID)"
			return 0
		fi
		stop_pid "$UNBOUND_PID"
		log "unbound start failed (try $try)"
	done
	tail -n 20 "$d/unbound.log" >&2
	return 1
}

start_lab() {
	start_postgres "$tmp/pg"
	PG_VERSION=$("$(pg_bindir)/postgres" --version | awk '{print $3}')
	make_cert
	start_postfix
	start_knot
	start_unbound
}

# --- veilig ----------------------------------------------------------------

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
description: Recipient organisation of the send benchmark

dn: cn=Bench Sender,o=Gemeente Bench,dc=veilig,dc=test
objectClass: top
objectClass: person
objectClass: organizationalPerson
objectClass: inetOrgPerson
cn: Bench Sender
sn: Sender
displayName: Bench Sender
mail: $SENDER
LDIF
}

# veilig_vars NAME: the environment of every veilig command on database NAME.
veilig_vars() {
	VARS=(VEILIG_DATABASE_URL="$PG_BASE/$1?sslmode=disable" VEILIG_DATA_DIR="$tmp/data-$1"
		VEILIG_LOG_FORMAT=text VEILIG_ACCESS_TOKEN_TTL=1h VEILIG_SMTP_HOSTNAME=veilig.test
		VEILIG_DNS_RESOLVER="127.0.0.1:$UNBOUND_PORT" VEILIG_DELIVERY_PORT="$PF_PORT")
}

# prepare_db NAME: a migrated database with the bench community and sender, and
# the delivery queue paused (River's river_queue.paused_at), so accepted
# messages wait in the outbox until unpause NAME.
prepare_db() {
	local name=$1
	psql "$PG_URL" -qXc "CREATE DATABASE $name" >/dev/null
	veilig_vars "$name"
	install -d -m 700 "$tmp/data-$name"
	community_ldif >"$tmp/community.ldif"
	{
		env "${VARS[@]}" "$BIN" migrate
		env "${VARS[@]}" "$BIN" directory import --ldif "$tmp/community.ldif"
		env "${VARS[@]}" "$BIN" user add --email "$SENDER" --role sender --password-stdin <"$tmp/secret/pw"
	} >"$tmp/out/prepare-$name.log" 2>&1 || { cat "$tmp/out/prepare-$name.log" >&2; return 1; }
	psql "$PG_BASE/$name" -qXc "INSERT INTO river_queue (name, created_at, metadata, paused_at, updated_at)
		VALUES ('delivery', now(), '{}', now(), now()) ON CONFLICT (name) DO UPDATE SET paused_at = now()" >/dev/null
}

unpause() { psql "$PG_BASE/$1" -qXc "UPDATE river_queue SET paused_at = NULL WHERE name = 'delivery'" >/dev/null; }

# sql NAME QUERY prints the unaligned result of QUERY on database NAME.
sql() { psql "$PG_BASE/$1" -AtXc "$2"; }

# pg_sessions NAME prints how many sessions PostgreSQL has opened on database
# NAME so far (pg_stat_database.sessions; the statistics lag up to a second).
pg_sessions() {
	sleep 1.1
	sql postgres "SELECT sessions FROM pg_stat_database WHERE datname = '$1'"
}

ready() { curl -sf --max-time 2 "$API/readyz" >/dev/null 2>&1; }

# start_serve NAME: veilig serve on database NAME. Sets SERVE_PID, API and
# SERVE_T0 (when it was started).
start_serve() {
	local name=$1 port
	port=$(free_port)
	API=http://127.0.0.1:$port
	veilig_vars "$name"
	SERVE_T0=$EPOCHREALTIME
	env "${VARS[@]}" VEILIG_HTTP_ADDR="127.0.0.1:$port" VEILIG_PUBLIC_URL="$API" "$BIN" serve \
		>>"$tmp/out/serve-$name.log" 2>&1 &
	SERVE_PID=$!
	wait_until "$READY_LIMIT_S" "veilig serve ($name)" ready || { tail -n 20 "$tmp/out/serve-$name.log" >&2; return 1; }
	SERVE_READY_S=$(elapsed "$SERVE_T0" "$EPOCHREALTIME")
	log "veilig serve ($name) on $API (pid $SERVE_PID), ready after ${SERVE_READY_S} s"
}

stop_serve() {
	stop_pid "$SERVE_PID"
	SERVE_PID=
}

fetch_token() (
	umask 077
	jq -cn --arg u "$SENDER" --arg p "$(head -n 1 "$tmp/secret/pw")" '{grant_type: "password", username: $u, password: $p}' |
		curl -sf --max-time 10 -H 'Content-Type: application/json' --data-binary @- "$API/api/v1/auth/token" |
		jq -r '.access_token // empty' >"$tmp/secret/token"
	[ -s "$tmp/secret/token" ] || { log "could not obtain an access token"; return 1; }
)

# submit OUT ARGS...: loadgen -mode submit against the running serve.
submit() {
	local out=$1
	shift
	"$LG" -mode submit -url "$API" -token-file "$tmp/secret/token" -rcpt-domain "$DOMAIN" -json \
		-timeout "$SUBMIT_TIMEOUT" "$@" >"$out"
}

rss_json() { "$LG" -mode rss -pid "$SERVE_PID" >"$1"; }

# --- phases ------------------------------------------------------------------

# phase_accept: figures 1 and 2 on one serve, the queue paused so that accepting
# is measured alone.
phase_accept() {
	prepare_db send_accept
	start_serve send_accept
	fetch_token
	local common=(-size "$SIZE" -rcpts "$RCPTS" -c "$CONC" -warmup 0)
	log "submit warm-up (2 s)"
	submit "$tmp/out/warmup.json" "${common[@]}" -duration 2s
	ACCEPT_CMD="loadgen -mode submit -url \$API -token-file TOKEN -rcpt-domain $DOMAIN -json -size $SIZE -rcpts $RCPTS -c $CONC -warmup 0 -duration $DURATION"
	log "accept throughput: ${SIZE}-byte attachment, $RCPTS recipients, -c $CONC for $DURATION"
	local v0 p0 s0
	s0=$(pg_sessions send_accept)
	v0=$(tree_ticks "$SERVE_PID") p0=$(tree_ticks "$PG_PID")
	submit "$tmp/out/accept.json" "${common[@]}" -duration "$DURATION"
	ACCEPT_VEILIG_CPU=$(cpu_s "$v0" "$(tree_ticks "$SERVE_PID")")
	ACCEPT_PG_CPU=$(cpu_s "$p0" "$(tree_ticks "$PG_PID")")
	ACCEPT_SESSIONS=$(($(pg_sessions send_accept) - s0))
	log "$(cat "$tmp/out/accept.json")"
	log "large attachments: $LARGE_SIZE bytes, -c $LARGE_C -n $LARGE_N (2 unmeasured first)"
	submit /dev/null -size "$LARGE_SIZE" -rcpts "$RCPTS" -c "$LARGE_C" -n 2 -duration 0 -warmup 0
	LARGE_CMD="loadgen -mode submit … -size $LARGE_SIZE -rcpts $RCPTS -c $LARGE_C -n $LARGE_N -duration 0 -warmup 0"
	submit "$tmp/out/large.json" -size "$LARGE_SIZE" -rcpts "$RCPTS" -c "$LARGE_C" -n "$LARGE_N" -duration 0 -warmup 0
	log "$(cat "$tmp/out/large.json")"
	rss_json "$tmp/out/rss-accept.json"
	stop_serve
}

maildir_count() { { find "$MAILDIR/new" "$MAILDIR/cur" -type f 2>/dev/null || true; } | wc -l; }

# newest_mtime prints the modification time of the newest message in the Maildir.
newest_mtime() { { find "$MAILDIR/new" "$MAILDIR/cur" -type f -printf '%T@\n' 2>/dev/null || true; } | sort -n | tail -n 1; }

count_reached() { [ "$(maildir_count)" -ge "$1" ]; }

# wait_maildir N: all N messages are in the Maildir.
wait_maildir() {
	wait_until "$DELIVER_LIMIT_S" "Maildir holding $1 messages" count_reached "$1" && return 0
	log "the Maildir holds $(maildir_count); Postfix's log ends:"
	tail -n 20 "$PF_DIR/maillog" >&2
	return 1
}

all_delivered() { [ "$(sql send_deliver "SELECT count(*) FROM deliveries WHERE status = 'delivered'")" -ge "$DELIVERIES" ]; }

# phase_deliver: figure 3. Messages are accepted with the queue paused, then
# smtp-source sends as many messages into the same Postfix, then a fresh serve
# delivers the queue.
phase_deliver() {
	local per=$((RCPTS + 1)) p0 f0 s0 base last
	MESSAGES=$(((WANT_DELIVERIES + per - 1) / per))
	DELIVERIES=$((MESSAGES * per))
	prepare_db send_deliver
	start_serve send_deliver
	fetch_token
	log "queueing $MESSAGES messages = $DELIVERIES deliveries (queue paused)"
	submit "$tmp/out/queue.json" -size "$SIZE" -rcpts "$RCPTS" -c 4 -n "$MESSAGES" -duration 0 -warmup 0
	[ "$(jget "$tmp/out/queue.json" errors)" = 0 ] || { log "queueing failed: $(cat "$tmp/out/queue.json")"; return 1; }
	QUEUED=$(sql send_deliver "SELECT count(*) FROM deliveries WHERE status = 'queued'")
	[ "$QUEUED" = "$DELIVERIES" ] || { log "$QUEUED deliveries queued, want $DELIVERIES"; return 1; }
	stop_serve

	SRC_CMD="smtp-source -s 8 -m $DELIVERIES -l 102400 -f yardstick@veilig.test -t yardstick@$DOMAIN 127.0.0.1:\$PORT"
	log "Postfix yardstick: $SRC_CMD"
	base=$(maildir_count)
	f0=$(tree_ticks "$PF_PID")
	local t0=$EPOCHREALTIME
	smtp-source -s 8 -m "$DELIVERIES" -l 102400 -f yardstick@veilig.test -t "yardstick@$DOMAIN" "127.0.0.1:$PF_PORT" &
	SRC_PID=$!
	wait "$SRC_PID"
	SRC_PID=
	SRC_SENT_S=$(elapsed "$t0" "$EPOCHREALTIME")
	wait_maildir $((base + DELIVERIES))
	SRC_S=$(elapsed "$t0" "$(newest_mtime)")
	SRC_PF_CPU=$(cpu_s "$f0" "$(tree_ticks "$PF_PID")")
	log "smtp-source: $DELIVERIES messages sent in ${SRC_SENT_S} s, all in the Maildir after ${SRC_S} s"

	log "Veilig delivers the queue: fresh veilig serve, queue unpaused"
	base=$(maildir_count)
	unpause send_deliver
	s0=$(pg_sessions send_deliver)
	p0=$(tree_ticks "$PG_PID") f0=$(tree_ticks "$PF_PID")
	start_serve send_deliver
	wait_maildir $((base + DELIVERIES))
	last=$(newest_mtime)
	wait_until 30 "deliveries table" all_delivered
	DELIVER_VEILIG_CPU=$(cpu_s 0 "$(tree_ticks "$SERVE_PID")")
	DELIVER_PG_CPU=$(cpu_s "$p0" "$(tree_ticks "$PG_PID")")
	DELIVER_PF_CPU=$(cpu_s "$f0" "$(tree_ticks "$PF_PID")")
	DELIVER_READY_S=$SERVE_READY_S
	rss_json "$tmp/out/rss-deliver.json"
	# The rate counts from the first delivery attempt (Veilig's evidence), not
	# from exec: start-up (database, migrations check, index) is not throughput.
	DELIVER_T0=$(sql send_deliver "SELECT extract(epoch FROM min(started_at)) FROM delivery_attempts")
	DELIVER_S=$(elapsed "$DELIVER_T0" "$last")
	DELIVER_TOTAL_S=$(elapsed "$SERVE_T0" "$last")
	log "Veilig: $DELIVERIES deliveries in the Maildir ${DELIVER_S} s after the first attempt began" \
		"(${DELIVER_TOTAL_S} s after veilig serve was started; ready after ${DELIVER_READY_S} s)"
	stop_serve
	DELIVER_SESSIONS=$(($(pg_sessions send_deliver) - s0))
	evidence
}

# evidence: how the deliveries were secured, from Veilig's own records and from
# the Received headers Postfix wrote.
evidence() {
	EVIDENCE=$(sql send_deliver "SELECT coalesce(json_agg(e), '[]') FROM (SELECT policy, tls_version, cipher, tlsa_match,
		outcome, count(*) AS attempts FROM delivery_attempts GROUP BY 1, 2, 3, 4, 5 ORDER BY 6 DESC) e")
	DANE_OK=$(sql send_deliver "SELECT count(DISTINCT delivery_id) FROM delivery_attempts WHERE outcome = 'delivered' AND policy = 'dane-ee'")
	ATTEMPTS=$(sql send_deliver "SELECT count(*) FROM delivery_attempts")
	ATTEMPT_MS=$(sql send_deliver "SELECT round(avg(ms)) || ' / ' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms))
		FROM (SELECT extract(epoch FROM finished_at - started_at) * 1000 AS ms FROM delivery_attempts) a")
	TLS_RECEIVED=$({ grep -rls --max-count=1 '(using TLSv1\.[23] with cipher' "$MAILDIR/new" "$MAILDIR/cur" || true; } | wc -l)
	log "evidence: $DANE_OK of $DELIVERIES deliveries delivered under dane-ee ($ATTEMPTS attempts); $TLS_RECEIVED messages Postfix received over TLS"
}

# phase_rss: figure 4 on a fresh serve, the queue paused.
phase_rss() {
	prepare_db send_rss
	start_serve send_rss
	fetch_token
	submit /dev/null -size "$SIZE" -rcpts 1 -c 1 -n 2 -duration 0 -warmup 0
	rss_json "$tmp/out/rss-before.json"
	HUGE_CMD="loadgen -mode submit … -size $HUGE_SIZE -rcpts 1 -c $HUGE_CLIENTS -n $HUGE_CLIENTS -duration 0 -warmup 0"
	log "$HUGE_CLIENTS clients submit $HUGE_SIZE bytes each, at once"
	submit "$tmp/out/huge.json" -size "$HUGE_SIZE" -rcpts 1 -c "$HUGE_CLIENTS" -n "$HUGE_CLIENTS" -duration 0 -warmup 0
	rss_json "$tmp/out/rss-after.json"
	log "$(cat "$tmp/out/huge.json")"
	log "RSS before $(cat "$tmp/out/rss-before.json"), after $(cat "$tmp/out/rss-after.json")"
	stop_serve
}

# --- report ------------------------------------------------------------------

machine() {
	CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	MEM_GB=$(awk '/^MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
	OS_NAME=$(. /etc/os-release && echo "$PRETTY_NAME")
	COMMIT=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
	if [ -n "$(GIT_OPTIONAL_LOCKS=0 git status --porcelain --untracked-files=no 2>/dev/null | head -n 1)" ]; then
		COMMIT="$COMMIT (with uncommitted changes)"
	fi
}


kb() { fnum "$1 / 1024" 0; }

figures() {
	local o=$tmp/out
	ACCEPT_RPS=$(jget "$o/accept.json" throughput_rps)
	ACCEPT_CPU_MS=$(fnum "$ACCEPT_VEILIG_CPU * 1000 / $(jget "$o/accept.json" requests)" 1)
	ACCEPT_PG_MS=$(fnum "$ACCEPT_PG_CPU * 1000 / $(jget "$o/accept.json" requests)" 1)
	SRC_RATE=$(fnum "$DELIVERIES / $SRC_S" 1)
	DELIVER_RATE=$(fnum "$DELIVERIES / $DELIVER_S" 1)
	DELIVER_RATIO=$(fnum "$DELIVER_RATE / $SRC_RATE" 2)
	RSS_BEFORE_MB=$(kb "$(jget "$o/rss-before.json" vmrss_kb)")
	HWM_BEFORE_MB=$(kb "$(jget "$o/rss-before.json" vmhwm_kb)")
	HWM_AFTER_MB=$(kb "$(jget "$o/rss-after.json" vmhwm_kb)")
	RSS_AFTER_MB=$(kb "$(jget "$o/rss-after.json" vmrss_kb)")
	GROWTH_MB=$(fnum "$HWM_AFTER_MB - $RSS_BEFORE_MB" 0)
	HUGE_OK=$(($(jget "$o/huge.json" requests) - $(jget "$o/huge.json" errors)))
}

figure_table() {
	local o=$tmp/out
	echo '| figure | measured | target | result |'
	echo '|---|---|---|---|'
	row "accepted messages/s, ${SIZE}-byte attachment, $RCPTS recipients, PostgreSQL (c=$CONC, $DURATION)" \
		"**${ACCEPT_RPS}/s** (p50 $(jget "$o/accept.json" p50_ms) ms, p99 $(jget "$o/accept.json" p99_ms) ms; $(jget "$o/accept.json" errors) errors)" \
		"none set (issue 3)" info
	row "accept latency, ${LARGE_SIZE}-byte attachment (c=$LARGE_C, n=$LARGE_N)" \
		"**p50 $(jget "$o/large.json" p50_ms) ms, p99 $(jget "$o/large.json" p99_ms) ms** ($(jget "$o/large.json" errors) errors)" \
		"none set (issue 3)" info
	row "delivery over DANE-EE verified TLS vs Postfix's smtp-source (plain SMTP), $DELIVERIES × 100 KB into the same Postfix" \
		"${DELIVER_RATE} vs ${SRC_RATE} msg/s = **${DELIVER_RATIO}×**" "≥ 0.5×" "$(verdict "$DELIVER_RATIO >= 0.5 && $DANE_OK == $DELIVERIES")"
	row "peak RSS growth of veilig serve, $HUGE_CLIENTS clients × ${HUGE_SIZE}-byte message at once" \
		"**${GROWTH_MB} MB** (VmRSS ${RSS_BEFORE_MB} MB before → VmHWM ${HWM_AFTER_MB} MB; VmHWM before ${HWM_BEFORE_MB} MB, VmRSS after ${RSS_AFTER_MB} MB; $HUGE_OK of $HUGE_CLIENTS accepted)" \
		"< 100 MB" "$(verdict "$GROWTH_MB < 100 && $HUGE_OK == $HUGE_CLIENTS")"
	row "deliveries secured by dane-ee (Veilig's evidence) / received over TLS (Postfix's Received headers)" \
		"$DANE_OK / $TLS_RECEIVED of $DELIVERIES ($ATTEMPTS attempts)" "all" "$(verdict "$DANE_OK == $DELIVERIES && $TLS_RECEIVED == $DELIVERIES")"
	row "CPU per accepted message: veilig serve / PostgreSQL; PostgreSQL sessions opened during the run" \
		"${ACCEPT_CPU_MS} / ${ACCEPT_PG_MS} ms; ≈ ${ACCEPT_SESSIONS} for $(jget "$o/accept.json" requests) messages" "—" info
	row "CPU while delivering: veilig / PostgreSQL / Postfix; Postfix during smtp-source" \
		"${DELIVER_VEILIG_CPU} / ${DELIVER_PG_CPU} / ${DELIVER_PF_CPU} s in ${DELIVER_TOTAL_S} s; ${SRC_PF_CPU} s in ${SRC_S} s" "—" info
	row "smtp-source done (Postfix accepted all) / all in the Maildir" "${SRC_SENT_S} / ${SRC_S} s" "—" info
	row "Veilig delivery: from veilig serve's start (not counted above) / ready" "${DELIVER_TOTAL_S} / ${DELIVER_READY_S} s" "—" info
	row "Veilig delivery attempt (DNS, TCP, STARTTLS + DANE, SMTP) mean / p99; PostgreSQL sessions opened" \
		"${ATTEMPT_MS} ms; ≈ ${DELIVER_SESSIONS} for $DELIVERIES deliveries" "—" info
	row "veilig serve VmHWM: accept phases / delivery phase" \
		"$(kb "$(jget "$o/rss-accept.json" vmhwm_kb)") / $(kb "$(jget "$o/rss-deliver.json" vmhwm_kb)") MB" "—" info
}

section() {
	local o=$tmp/out f
	machine
	figures
	cat <<MD
$BEGIN_MARK
## Secure send (issue 3)

Generated by \`scripts/bench-send.sh\` (the last step of \`make bench\`); do not edit by hand, re-run it.

- **Date:** $(date -u '+%Y-%m-%d %H:%M UTC')
- **Commit:** $COMMIT
- **Command:** \`BENCH_SEND_DURATION=$DURATION BENCH_SEND_CONCURRENCY=$CONC BENCH_SEND_SIZE=$SIZE BENCH_SEND_RCPTS=$RCPTS BENCH_SEND_LARGE_SIZE=$LARGE_SIZE BENCH_SEND_LARGE_N=$LARGE_N BENCH_SEND_LARGE_C=$LARGE_C BENCH_SEND_DELIVERIES=$WANT_DELIVERIES BENCH_SEND_HUGE_SIZE=$HUGE_SIZE BENCH_SEND_HUGE_CLIENTS=$HUGE_CLIENTS scripts/bench-send.sh\`
- **Machine:** $(nproc) CPUs ($CPU_MODEL), $MEM_GB GB RAM, $OS_NAME, Linux $(uname -r); load average at start $LOAD_START, at the end $LOAD_END
- **Lab (127.0.0.1 only):** PostgreSQL $PG_VERSION (fsync=off, throwaway cluster); Knot $KNOT_VERSION serving \`$DOMAIN\` signed (ECDSA P-256, NSEC3), MX \`$MX\`, \`_$PF_PORT._tcp.$MX TLSA 3 1 1\`; Unbound $UNBOUND_VERSION validating it (the zone's KSK as trust anchor); Postfix $PF_VERSION with a self-signed P-256 certificate for \`$MX\`, STARTTLS TLS ≥ 1.2, virtual(8) into one Maildir
- **veilig serve:** defaults (VEILIG_DELIVERY_WORKERS=10, VEILIG_MEMORY_LIMIT_MB=320, self-copy on, so each message of $RCPTS recipients makes $((RCPTS + 1)) deliveries), \`VEILIG_DNS_RESOLVER\` the Unbound, \`VEILIG_DELIVERY_PORT\` the Postfix

Load generator, server and every lab daemon share the machine's CPUs, so the rates are floors for a real deployment.

$(figure_table)

### How each figure was taken

- **Accepted messages/s:** \`veilig serve\` on a fresh PostgreSQL database holding one organisation (\`$DOMAIN\`) and its
  sender (\`veilig user add --role sender\`, token from \`POST /api/v1/auth/token\`), the delivery queue paused
  (\`river_queue.paused_at\`), so accepting is measured alone. 2 s unmeasured warm-up, then \`$ACCEPT_CMD\`:
  each request is \`POST /api/v1/messages\` (multipart/form-data: the JSON \`message\` part to bench1…bench$RCPTS@$DOMAIN
  and one \`attachment\` of $SIZE incompressible bytes) with its own \`Idempotency-Key\`; a 202 counts as accepted,
  which the server answers only once message, deliveries and jobs are committed. Latencies are client-side.
- **Large-attachment latency:** the same serve, 2 unmeasured requests, then \`$LARGE_CMD\`.
- **Delivery:** $MESSAGES messages ($DELIVERIES deliveries: the $((RCPTS + 1)) recipients of one message at one domain
  share one SMTP transaction, one MAIL and a RCPT each, as MTAs do; smtp-source below sends one transaction per
  copy, so the two runs put the same $DELIVERIES copies into the Maildir by different numbers of transactions) were accepted into a second database
  with the queue paused, and that serve stopped. Postfix's yardstick ran first: \`$SRC_CMD\`. smtp-source(1) has no TLS
  support at all (no STARTTLS option; its man page lists none), so it sends plain SMTP, a new connection per
  message (no \`-d\`). Then the queue was unpaused and a fresh \`veilig serve\` started; it looks up MX, A and TLSA
  through the validating resolver, requires STARTTLS and verifies the certificate against the DNSSEC-authentic TLSA
  record (DANE-EE), delivers each 100 KB message (DKIM-signed at accept) and records the evidence. Both times end at
  the modification time of the last message to land in the Maildir, so Postfix's own delivery to disk is inside
  both; smtp-source's starts when it is started, Veilig's at the start of its first delivery attempt (\`min(started_at)\`
  of \`delivery_attempts\`), leaving out the process start-up (shown separately). The deliveries table was then checked
  to say delivered for all $DELIVERIES.
- **Peak RSS:** a third database and a fresh \`veilig serve\` (queue paused), 2 small messages first, then
  \`loadgen -mode rss\` (VmRSS, VmHWM from /proc/PID/status), then \`$HUGE_CMD\` ($HUGE_CLIENTS requests in flight
  together, each streaming a $HUGE_SIZE-byte attachment, just under the default 50 MiB VEILIG_MAX_MESSAGE_BYTES), then
  VmHWM again. Growth = VmHWM after minus VmRSS before (the stricter of the two differences).
- **CPU:** utime+stime of the process and its live children, each with its reaped children, from /proc/PID/stat
  before and after (PostgreSQL: postmaster and backends; Postfix: master and its daemons).

### Raw results

\`\`\`json
MD
	for f in accept large queue huge rss-accept rss-deliver rss-before rss-after; do
		printf '{"run":"%s","data":%s}\n' "$f" "$(cat "$o/$f.json")"
	done
	printf '{"run":"delivery","deliveries":%s,"smtp_source_s":%s,"smtp_source_sent_s":%s,"veilig_s":%s,"veilig_from_exec_s":%s,"veilig_ready_s":%s,"dane_ee_delivered":%s,"received_over_tls":%s,"attempts":%s}\n' \
		"$DELIVERIES" "$SRC_S" "$SRC_SENT_S" "$DELIVER_S" "$DELIVER_TOTAL_S" "$DELIVER_READY_S" "$DANE_OK" "$TLS_RECEIVED" "$ATTEMPTS"
	printf '{"run":"evidence","data":%s}\n' "$EVIDENCE"
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
	log "wrote the secure-send section of $OUT"
}

main() {
	LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	prepare
	(umask 077 && head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$tmp/secret/pw")
	start_lab
	PG_BASE=${PG_URL%%/postgres\?*}
	KNOT_VERSION=$(knotd --version | awk '{print $NF}')
	UNBOUND_VERSION=$(unbound -V | awk 'NR == 1 {print $2}')
	phase_accept
	phase_deliver
	phase_rss
	LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
	log "stopping the lab"
	stop_all
	write_section
	figure_table >&2
}

# Sourcing the script (to reuse the lab by hand) defines the functions only.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	main "$@"
fi
