# shellcheck shell=bash
# Helpers shared by scripts/test.sh and scripts/bench.sh: install missing Debian
# packages, and start/stop throwaway services in temp dirs on loopback, by PID.

log() { printf '==> %s\n' "$*" >&2; }

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
	# policy-rc.d keeps the packages' own daemons (slapd, postgresql) from starting.
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	rm -f /usr/sbin/policy-rc.d
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
