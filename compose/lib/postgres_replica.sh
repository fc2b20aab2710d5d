# postgres_replica.sh: a streaming read replica (hot standby) of the local Postgres cluster.
#
# Owns: tb_pg_replica_start DATA_DIR PRIMARY_PORT REPLICA_PORT, tb_pg_replica_stop
# [DATA_DIR], tb_pg_replica_status [DATA_DIR [REPLICA_PORT]]. DATA_DIR is the replica's
# own cluster folder (callers put it beside the primary's: "$(dirname "$TB_PGDATA")/
# postgres-replica", which the postgres OS user can reach when the primary's can).
# Rules: needs postgres.sh and packages.sh sourced, TB_PG_BIN (tb_find_pg_bin) and
# tb_pg_locate run (TB_PG_USER: as root every server command runs as `postgres`). The
# first start copies the primary with `pg_basebackup -R -X stream -c fast` (seconds for a
# test cluster; the role taskbus is the bootstrap superuser, and initdb's pg_hba allows
# replication from 127.0.0.1 with scram-sha-256); later starts reuse the copy, which
# catches up by streaming. Port, listen address and socket folder are rewritten at every
# start (taskbus.conf, which the copied postgresql.conf includes), so a copy of the
# primary never listens on the primary's port. Idempotent: a running replica is left as
# it is. The last DATA_DIR started is remembered in TB_PG_REPLICA_DIR for stop/status.

TB_PG_REPLICA_DIR=${TB_PG_REPLICA_DIR:-}
TB_PG_REPLICA_PORT=${TB_PG_REPLICA_PORT:-}

tb_pg_replica_running() {
    [ -f "$1/PG_VERSION" ] && tb_pg_run "$TB_PG_BIN/pg_ctl" status -D "$1" >/dev/null 2>&1
}

tb_pg_replica_pid() {
    head -n1 "$1/postmaster.pid" 2>/dev/null
}

# Copies the primary into dir (empty or absent) with a standby.signal and primary_conninfo.
tb_pg_replica_basebackup() {
    local dir=$1 primary_port=$2 log
    log=$(dirname "$dir")/postgres-replica-basebackup.log
    mkdir -p "$dir"
    [ -n "$TB_PG_USER" ] && chown "$TB_PG_USER:" "$dir"
    chmod 700 "$dir"
    tb_say "postgres-replica: copying the primary (port $primary_port) into $dir"
    if ! tb_pg_run env PGPASSWORD=taskbus PGCONNECT_TIMEOUT=10 "$TB_PG_BIN/pg_basebackup" \
        -h 127.0.0.1 -p "$primary_port" -U taskbus -D "$dir" -R -X stream -c fast \
        >"$log" 2>&1; then
        tb_tail_log "$log" 20
        rm -rf "${dir:?}"/*
        tb_die "pg_basebackup from port $primary_port failed (see $log)"
    fi
}

tb_pg_replica_write_conf() {
    local dir=$1 port=$2 sockdir=$1
    if [ $((${#sockdir} + 18)) -gt 107 ]; then
        sockdir=
    fi
    tb_pg_run sh -c 'cat >"$1"' sh "$dir/taskbus.conf" <<EOF
# Written by compose/lib/postgres_replica.sh at every start; edits are lost.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sockdir'
max_connections = 200
hot_standby = on
EOF
}

tb_pg_replica_start() {
    local dir=$1 primary_port=$2 port=$3 i
    [ -n "$dir" ] && [ -n "$primary_port" ] && [ -n "$port" ] ||
        tb_die "usage: tb_pg_replica_start DATA_DIR PRIMARY_PORT REPLICA_PORT"
    TB_PG_REPLICA_DIR=$dir
    TB_PG_REPLICA_PORT=$port
    if tb_pg_replica_running "$dir"; then
        tb_say "postgres-replica: already running (pid $(tb_pg_replica_pid "$dir"), port $port)"
        return 0
    fi
    [ -f "$dir/PG_VERSION" ] || tb_pg_replica_basebackup "$dir" "$primary_port"
    tb_port_free_or_die "$port" "the replica's port"
    tb_pg_replica_write_conf "$dir" "$port"
    tb_say "postgres-replica: starting on 127.0.0.1:$port (streaming from port $primary_port)"
    if ! tb_pg_run "$TB_PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 90 start >/dev/null 9>&-; then
        tb_tail_log "$dir/server.log" 30
        tb_die "the Postgres replica did not start (see $dir/server.log)"
    fi
    for i in $(seq 1 300); do
        "$TB_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" && return 0
        sleep 0.1
    done
    tb_die "the Postgres replica runs from $dir but does not accept connections on port $port"
}

tb_pg_replica_stop() {
    local dir=${1:-$TB_PG_REPLICA_DIR}
    [ -n "$dir" ] || tb_die "usage: tb_pg_replica_stop DATA_DIR"
    if ! tb_pg_replica_running "$dir"; then
        tb_say "postgres-replica: not running"
        return 0
    fi
    tb_say "postgres-replica: stopping (pid $(tb_pg_replica_pid "$dir"))"
    if ! tb_pg_run "$TB_PG_BIN/pg_ctl" -D "$dir" -m fast -w -t 60 stop >/dev/null; then
        tb_warn "a fast shutdown of the replica did not finish in 60 s; using immediate mode"
        tb_pg_run "$TB_PG_BIN/pg_ctl" -D "$dir" -m immediate -w -t 30 stop >/dev/null ||
            tb_die "the Postgres replica would not stop (pid $(tb_pg_replica_pid "$dir"))"
    fi
}

tb_pg_replica_status() {
    local dir=${1:-$TB_PG_REPLICA_DIR} port=${2:-${TB_PG_REPLICA_PORT:--}}
    [ -n "$dir" ] || tb_die "usage: tb_pg_replica_status DATA_DIR [REPLICA_PORT]"
    if tb_pg_replica_running "$dir"; then
        tb_status_line postgres-replica up "$(tb_pg_replica_pid "$dir")" "$port" "$dir"
    else
        tb_status_line postgres-replica down - "$port" "$dir"
    fi
}
