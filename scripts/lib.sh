# shellcheck shell=bash
# Helpers shared by scripts/test.sh and scripts/bench.sh: install missing Debian
# packages, and start/stop throwaway services in temp dirs on loopback, by PID.

log() { printf '==> %s\n' "$*" >&2; }

# The Go toolchain every script builds and tests with (see the Makefile).
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}

# ensure_packages PKG... installs the Debian packages that are missing (root only).
ensure_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		log "missing Debian packages: ${missing[*]} (run as root, or install them)"
		return 1
	fi
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# policy-rc.d keeps the packages' own daemons (slapd, postgresql, postfix, …)
	# from starting; a policy already on the machine is put back afterwards.
	local saved=
	if [ -e /usr/sbin/policy-rc.d ]; then
		saved=$(mktemp)
		cp -p /usr/sbin/policy-rc.d "$saved"
	fi
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	if [ -n "$saved" ]; then mv "$saved" /usr/sbin/policy-rc.d; else rm -f /usr/sbin/policy-rc.d; fi
}

pg_bindir() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[ -n "$d" ] || { log "PostgreSQL server binaries not found"; return 1; }
	echo "$d"
}

# as_pg_user CMD... runs a PostgreSQL tool as the unprivileged owner when root.
as_pg_user() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_postgres DIR: a throwaway cluster in DIR on a free loopback port.
# Sets PG_PID and PG_URL.
start_postgres() {
	local dir=$1 bin port try
	bin=$(pg_bindir)
	mkdir -p "$dir"
	[ "$(id -u)" -eq 0 ] && chown postgres "$dir"
	as_pg_user "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; return 1; }
	for try in 1 2 3 4 5 6 7 8; do
		port=$((20000 + RANDOM % 40000))
		if as_pg_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
			-o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" >/dev/null; then
			PG_PID=$(head -n 1 "$dir/data/postmaster.pid")
			PG_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
			log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (pid $PG_PID)"
			return 0
		fi
		log "port $port taken or start failed (try $try)"
	done
	cat "$dir/server.log" >&2
	return 1
}

# stop_pid PID: SIGTERM, wait up to 20 s, then SIGKILL.
stop_pid() {
	local pid=$1 i
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 1 200); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

# free_port prints a TCP port that was free on 127.0.0.1 a moment ago.
free_port() {
	local port
	for _ in $(seq 1 50); do
		port=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	return 1
}

# start_slapd DIR LDIF: a throwaway OpenLDAP slapd for dc=veilig,dc=test in DIR,
# bulk-loaded from LDIF with slapadd, with the substring indexes an LDAP address
# book needs. Sets SLAPD_PID, SLAPD_URL, SLAPD_ROOT_DN and SLAPD_ROOT_PW.
start_slapd() {
	local dir=$1 ldif=$2 port
	mkdir -p "$dir/db"
	SLAPD_ROOT_DN="cn=admin,dc=veilig,dc=test"
	SLAPD_ROOT_PW=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
	cat >"$dir/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload syncprov
pidfile $dir/slapd.pid
sizelimit 500
database mdb
maxsize 8589934592
suffix "dc=veilig,dc=test"
rootdn "$SLAPD_ROOT_DN"
rootpw $SLAPD_ROOT_PW
directory $dir/db
index objectClass eq
index entryCSN,entryUUID eq
index o,cn,mail,associatedDomain eq,sub
index uid eq
overlay syncprov
syncprov-checkpoint 1000 10
syncprov-sessionlog 100000
CONF
	slapadd -q -f "$dir/slapd.conf" -l "$ldif" >"$dir/slapadd.log" 2>&1 || { cat "$dir/slapadd.log" >&2; return 1; }
	port=$(free_port)
	slapd -f "$dir/slapd.conf" -h "ldap://127.0.0.1:$port/" >"$dir/slapd.log" 2>&1 || { cat "$dir/slapd.log" >&2; return 1; }
	for _ in $(seq 1 100); do
		[ -s "$dir/slapd.pid" ] && ldapsearch -x -H "ldap://127.0.0.1:$port/" -b "" -s base >/dev/null 2>&1 && break
		sleep 0.1
	done
	SLAPD_PID=$(cat "$dir/slapd.pid")
	SLAPD_URL="ldap://127.0.0.1:$port/"
	log "slapd on $SLAPD_URL (pid $SLAPD_PID)"
}

# elapsed T0 T1 prints T1-T0 in seconds ($EPOCHREALTIME values).
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# fnum EXPR [DECIMALS] evaluates an awk arithmetic expression and prints it.
fnum() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }

# verdict OK_EXPR prints PASS or MISS.
verdict() { if awk "BEGIN { exit !($1) }"; then echo PASS; else echo MISS; fi; }

# Shared by the bench scripts.

# tree_ticks PID prints the CPU time (clock ticks, proc(5)) of PID and of its
# live children, each with the children it has reaped.
tree_ticks() {
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v p="$1" '{
		pid = $1; s = $0; sub(/^.*\) /, "", s); split(s, f, " ")
		if (pid == p || f[2] == p) t += f[12] + f[13] + f[14] + f[15]
	} END { print t + 0 }'
}

# cpu_s T0 T1 prints the seconds between two tree_ticks readings.
cpu_s() { fnum "($2 - $1) / $(getconf CLK_TCK)" 1; }

# jget FILE PATH prints a field of a JSON file.
jget() { jq -r ".$2" "$1"; }

# row prints one Markdown table row.
row() { printf '| %s | %s | %s | %s |\n' "$@"; }

# wait_until SECONDS WHAT CMD... runs CMD every 0.1 s until it succeeds.
wait_until() {
	local limit=$1 what=$2 i
	shift 2
	for ((i = 0; i < limit * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	log "$what: not ready after ${limit} s"
	return 1
}

# replace_section OUT BEGIN END NEW replaces the lines of OUT from the line
# BEGIN to the line END (the markers included) with the file NEW, which holds
# the markers itself, or appends NEW when OUT has no such section (the bench
# scripts' own sections of docs/benchmarks.md).
replace_section() {
	local out=$1 begin=$2 end=$3 new=$4
	mkdir -p "$(dirname "$out")"
	{
		if [ -f "$out" ]; then
			awk -v b="$begin" -v e="$end" '$0 == b { skip = 1 } !skip { print } $0 == e { skip = 0 }' "$out" |
				sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'
			echo
		fi
		cat "$new"
	} >"$out.tmp"
	mv "$out.tmp" "$out"
}
