# postgres.sh: the local Postgres cluster (initdb once, start, stop, status).
#
# Owns: <data>/postgres (or the fallback folder named in <data>/postgres.location), the
# role taskbus/taskbus (scram-sha-256) and the database taskbus.
# Rules: initdb refuses root, so as root every Postgres command runs as the `postgres` OS
# user, which must be able to reach its folder; when it cannot (a repo under /root, a
# umask of 077) the cluster lives in /var/lib/taskbus/<hash>/postgres instead and we say
# so. It listens on 127.0.0.1 only; its unix socket sits in its own folder. The port and
# listen settings are rewritten at every start (taskbus.conf), so they follow the
# environment without re-initialising.

tb_pg_locate() {
    TB_PG_USER=
    if tb_is_root; then
        id postgres >/dev/null 2>&1 ||
            tb_die "running as root but there is no 'postgres' OS user (is the postgresql package installed?)"
        TB_PG_USER=postgres
    fi
    if [ -s "$TB_DATA/postgres.location" ]; then
        TB_PGDATA=$(cat "$TB_DATA/postgres.location")
    else
        TB_PGDATA=$TB_DATA/postgres
    fi
}

# Runs a Postgres server command as the user that owns the cluster.
tb_pg_run() {
    if [ -n "$TB_PG_USER" ]; then
        (cd / && runuser -u "$TB_PG_USER" -- "$@")
    else
        "$@"
    fi
}

tb_pg_running() {
    [ -f "$TB_PGDATA/PG_VERSION" ] && tb_pg_run "$TB_PG_BIN/pg_ctl" status -D "$TB_PGDATA" >/dev/null 2>&1
}

tb_pg_pid() {
    head -n1 "$TB_PGDATA/postmaster.pid" 2>/dev/null
}

# As root: make sure the postgres user can own and reach the cluster folder, else move
# the cluster to a fallback folder it can reach.
tb_pg_prepare_folder() {
    local fallback hash
    [ -n "$TB_PG_USER" ] || {
        mkdir -p "$TB_PGDATA"
        chmod 700 "$TB_PGDATA"
        return 0
    }
    mkdir -p "$TB_PGDATA"
    chown "$TB_PG_USER:" "$TB_PGDATA"
    chmod 700 "$TB_PGDATA"
    if tb_pg_run test -w "$TB_PGDATA" -a -x "$TB_PGDATA"; then
        return 0
    fi
    [ -f "$TB_PGDATA/PG_VERSION" ] &&
        tb_die "the postgres user cannot reach its existing cluster $TB_PGDATA; fix the folder permissions"
    rmdir "$TB_PGDATA" 2>/dev/null || true
    hash=$(printf '%s' "$TB_DATA" | sha256sum | cut -c1-12)
    fallback=/var/lib/taskbus/$hash/postgres
    tb_warn "the 'postgres' OS user cannot reach $TB_DATA (a parent folder is closed to it);"
    tb_warn "keeping the Postgres cluster in $fallback instead (recorded in $TB_DATA/postgres.location)"
    mkdir -p "$fallback"
    chmod 755 /var/lib/taskbus "/var/lib/taskbus/$hash"
    chown "$TB_PG_USER:" "$fallback"
    chmod 700 "$fallback"
    printf '%s\n' "$fallback" >"$TB_DATA/postgres.location"
    TB_PGDATA=$fallback
}

tb_pg_initdb() {
    local pwfile log=$TB_LOGS/postgres-initdb.log
    [ -f "$TB_PGDATA/PG_VERSION" ] && return 0
    tb_pg_prepare_folder
    tb_say "initialising a Postgres cluster in $TB_PGDATA"
    pwfile=$(mktemp /tmp/taskbus-pgpw.XXXXXX)
    printf 'taskbus\n' >"$pwfile"
    [ -n "$TB_PG_USER" ] && chown "$TB_PG_USER:" "$pwfile"
    if ! tb_pg_run "$TB_PG_BIN/initdb" -D "$TB_PGDATA" -U taskbus --pwfile="$pwfile" \
        --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
        >"$log" 2>&1; then
        rm -f "$pwfile"
        tb_tail_log "$log" 30
        tb_die "initdb failed (see $log)"
    fi
    rm -f "$pwfile"
    printf "\n# compose/local: port, listen address and socket folder\ninclude_if_exists = 'taskbus.conf'\n" |
        tb_pg_run sh -c 'cat >>"$1"' sh "$TB_PGDATA/postgresql.conf"
}

# The settings that follow the environment, rewritten before every start.
tb_pg_write_conf() {
    local sockdir=$TB_PGDATA
    # A unix socket path is limited to 107 bytes; past that we serve TCP only.
    if [ $((${#sockdir} + 18)) -gt 107 ]; then
        tb_warn "the path $sockdir is too long for a unix socket; Postgres serves TCP only"
        sockdir=
    fi
    tb_pg_run sh -c 'cat >"$1"' sh "$TB_PGDATA/taskbus.conf" <<EOF
# Written by compose/local at every start; edits are lost.
listen_addresses = '127.0.0.1'
port = $TASKBUS_PG_PORT
unix_socket_directories = '$sockdir'
max_connections = $(if tb_scaled; then echo 400; else echo 200; fi)
EOF
}

# A cluster that pg_ctl calls running: 0 once it accepts connections on our port, 1 when
# it turns out to be gone (a killed postmaster is "running" until its zombie is reaped).
# Dies when it runs but never answers on our port (started with another port?).
tb_pg_wait_accepting() {
    local i
    for i in $(seq 1 300); do
        "$TB_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$TASKBUS_PG_PORT" && return 0
        tb_pg_running || return 1
        sleep 0.1
    done
    tb_die "Postgres runs from $TB_PGDATA but does not accept connections on port $TASKBUS_PG_PORT; run 'compose/local down' first"
}

tb_pg_start() {
    local log
    tb_pg_locate
    tb_pg_initdb
    log=$TB_PGDATA/server.log
    ln -sfn "$log" "$TB_LOGS/postgres.log"
    if tb_pg_running && tb_pg_wait_accepting; then
        tb_say "postgres: already running (pid $(tb_pg_pid), port $TASKBUS_PG_PORT)"
    else
        tb_port_free_or_die "$TASKBUS_PG_PORT" TASKBUS_PG_PORT
        tb_pg_write_conf
        tb_say "postgres: starting on 127.0.0.1:$TASKBUS_PG_PORT"
        if ! tb_pg_run "$TB_PG_BIN/pg_ctl" -D "$TB_PGDATA" -l "$log" -w -t 90 start >/dev/null 9>&-; then
            tb_tail_log "$TB_LOGS/postgres.log" 30
            tb_die "Postgres did not start (see $TB_LOGS/postgres.log)"
        fi
    fi
    tb_pg_ensure_database
}

tb_pg_psql() {
    PGPASSWORD=taskbus PGCONNECT_TIMEOUT=10 "$TB_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
        -h 127.0.0.1 -p "$TASKBUS_PG_PORT" -U taskbus "$@"
}

tb_pg_ensure_database() {
    local found
    found=$(tb_pg_psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'taskbus'") ||
        tb_die "cannot log in to Postgres as taskbus on port $TASKBUS_PG_PORT"
    if [ "$found" != 1 ]; then
        tb_pg_psql -d postgres -c 'CREATE DATABASE taskbus' || tb_die "CREATE DATABASE taskbus failed"
        tb_say "postgres: created database taskbus"
    fi
}

tb_pg_stop() {
    tb_pg_locate
    if ! tb_pg_running; then
        tb_say "postgres: not running"
        return 0
    fi
    tb_say "postgres: stopping (pid $(tb_pg_pid))"
    if ! tb_pg_run "$TB_PG_BIN/pg_ctl" -D "$TB_PGDATA" -m fast -w -t 60 stop >/dev/null; then
        tb_warn "a fast shutdown of Postgres did not finish in 60 s; using immediate mode"
        tb_pg_run "$TB_PG_BIN/pg_ctl" -D "$TB_PGDATA" -m immediate -w -t 30 stop >/dev/null ||
            tb_die "Postgres would not stop (pid $(tb_pg_pid))"
    fi
}

tb_pg_status() {
    tb_pg_locate
    if tb_pg_running; then
        tb_status_line postgres up "$(tb_pg_pid)" "$TASKBUS_PG_PORT" "$TB_PGDATA"
    else
        tb_status_line postgres down - "$TASKBUS_PG_PORT" "$TB_PGDATA"
    fi
}

# The folder `wipe` must remove besides the data folder (the fallback), if any.
tb_pg_external_folder() {
    tb_pg_locate
    case $TB_PGDATA in
    "$TB_DATA"/*) ;;
    *) printf '%s\n' "$(dirname "$TB_PGDATA")" ;;
    esac
}
