# pg_replica.sh: the Postgres streaming replica of a scaled stack (service postgres-replica).
#
# Owns: <pg folder>/../postgres-replica (beside the primary's cluster, so the fallback
# folder of postgres.sh serves both), its taskbus.conf, the physical replication slot
# taskbus_replica on the primary, logs/postgres-replica.log (a link to its server.log).
# Rules: made once by pg_basebackup -R (-X stream, -S taskbus_replica), so it follows the
# primary through the slot (the primary keeps the WAL the replica has not received, even
# while the replica is down) and serves reads as a hot standby on TASKBUS_PG_PORT + 1
# (DATABASE_READ_URL). The primary needs nothing but the defaults of Postgres 15
# (wal_level replica, max_wal_senders 10, a replication line for 127.0.0.1 in pg_hba.conf,
# and taskbus, its superuser, may replicate); tb_pg_replica_check_primary says so when one
# is missing. The replica runs as the same OS user as the primary (postgres.sh's rules).
# The only replica script: compose/local (scaled stack) and the integration suite's
# helper (tests/integration/helpers/pg_replica, beside the normal test stack) use it.
# tb_pg_replica_wipe deletes the copy and drops the slot, so a wiped replica does not
# make the primary keep WAL for it forever.

TB_PG_SLOT=taskbus_replica

tb_pg_replica_locate() {
    tb_pg_locate
    TB_PGDATA_REPLICA=$(dirname "$TB_PGDATA")/postgres-replica
}

# Running: its postmaster.pid names a live process that is not a zombie (pg_ctl status
# calls a killed, not yet reaped postmaster running).
tb_pg_replica_running() {
    local pid
    [ -f "$TB_PGDATA_REPLICA/PG_VERSION" ] && pid=$(tb_pg_replica_pid) && [[ $pid =~ ^[0-9]+$ ]] &&
        tb_pid_running "$pid" && tb_pid_matches "$pid" postgres
}

# After a SIGKILL the postmaster's zombie keeps its pid until it is reaped, and a new
# postmaster refuses a lock file whose pid exists: wait for it to be gone (10 s at most).
tb_pg_replica_wait_reaped() {
    local pid i
    pid=$(tb_pg_replica_pid) && [[ $pid =~ ^[0-9]+$ ]] || return 0
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
}

tb_pg_replica_pid() {
    head -n1 "$TB_PGDATA_REPLICA/postmaster.pid" 2>/dev/null
}

# The primary must allow a streaming replica; say what is missing instead of failing later.
tb_pg_replica_check_primary() {
    local wal senders
    wal=$(tb_pg_psql -d taskbus -tAc 'SHOW wal_level') || tb_die "cannot ask the primary for wal_level"
    senders=$(tb_pg_psql -d taskbus -tAc 'SHOW max_wal_senders') || tb_die "cannot ask the primary for max_wal_senders"
    case $wal in replica | logical) ;; *) tb_die "the primary's wal_level is '$wal'; a replica needs 'replica'" ;; esac
    [ "$senders" -ge 1 ] || tb_die "the primary's max_wal_senders is $senders; a replica needs one"
    tb_pg_psql -d taskbus -c "SELECT pg_create_physical_replication_slot('$TB_PG_SLOT', true)
        WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '$TB_PG_SLOT')" >/dev/null ||
        tb_die "cannot create the replication slot $TB_PG_SLOT on the primary"
}

tb_pg_replica_basebackup() {
    local log=$TB_LOGS/postgres-replica-basebackup.log tmp
    [ -f "$TB_PGDATA_REPLICA/PG_VERSION" ] && return 0
    tb_pg_replica_check_primary
    tb_say "postgres-replica: pg_basebackup of the primary into $TB_PGDATA_REPLICA"
    tmp=$TB_PGDATA_REPLICA.tmp
    rm -rf "$tmp"
    mkdir -p "$tmp"
    chmod 700 "$tmp"
    [ -n "$TB_PG_USER" ] && chown "$TB_PG_USER:" "$tmp"
    # -R writes standby.signal and primary_conninfo (with the password, as given here) and
    # primary_slot_name; -X stream takes the WAL of the copy over a second connection.
    if ! tb_pg_run env PGPASSWORD=taskbus "$TB_PG_BIN/pg_basebackup" -h 127.0.0.1 \
        -p "$TASKBUS_PG_PORT" -U taskbus -D "$tmp" -R -X stream -S "$TB_PG_SLOT" \
        -c fast >"$log" 2>&1; then
        tb_tail_log "$log" 20
        rm -rf "$tmp"
        tb_die "pg_basebackup failed (see $log)"
    fi
    # The copy holds the primary's server.log; the replica's own starts empty.
    rm -f "$tmp/server.log"
    mv "$tmp" "$TB_PGDATA_REPLICA"
}

tb_pg_replica_write_conf() {
    local sockdir=$TB_PGDATA_REPLICA
    if [ $((${#sockdir} + 18)) -gt 107 ]; then
        sockdir=
    fi
    tb_pg_run sh -c 'cat >"$1"' sh "$TB_PGDATA_REPLICA/taskbus.conf" <<EOF
# Written by compose/local at every start; edits are lost. The streaming replica.
listen_addresses = '127.0.0.1'
port = $(tb_scale_replica_port)
unix_socket_directories = '$sockdir'
# At least the primary's (postgres.sh), or the standby refuses to replay.
max_connections = 400
hot_standby = on
hot_standby_feedback = on
wal_receiver_status_interval = 1s
EOF
}

tb_pg_replica_start() {
    local log port i
    tb_pg_replica_locate
    port=$(tb_scale_replica_port)
    tb_pg_running || tb_die "postgres-replica needs the primary running to be made (compose/local start postgres)"
    tb_pg_replica_basebackup
    log=$TB_PGDATA_REPLICA/server.log
    ln -sfn "$log" "$TB_LOGS/postgres-replica.log"
    if tb_pg_replica_running; then
        tb_say "postgres-replica: already running (pid $(tb_pg_replica_pid), port $port)"
        return 0
    fi
    tb_pg_replica_wait_reaped
    tb_port_free_or_die "$port" "TASKBUS_PG_PORT (+1, the replica)"
    tb_pg_replica_write_conf
    tb_say "postgres-replica: starting on 127.0.0.1:$port (hot standby of $TASKBUS_PG_PORT)"
    # -w waits until it accepts connections, which a hot standby does once consistent.
    if ! tb_pg_run "$TB_PG_BIN/pg_ctl" -D "$TB_PGDATA_REPLICA" -l "$log" -w -t 90 start >/dev/null 9>&-; then
        tb_tail_log "$TB_LOGS/postgres-replica.log" 30
        tb_die "the Postgres replica did not start (see $TB_LOGS/postgres-replica.log)"
    fi
    for i in $(seq 1 100); do
        "$TB_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" && return 0
        sleep 0.1
    done
    tb_die "the Postgres replica does not accept connections on $port"
}

tb_pg_replica_stop() {
    local signal=${1:-TERM} pid
    tb_pg_replica_locate
    if ! tb_pg_replica_running; then
        tb_say "postgres-replica: not running"
        return 0
    fi
    pid=$(tb_pg_replica_pid)
    if [ "$signal" = KILL ]; then
        tb_say "postgres-replica: SIGKILL (postmaster pid $pid)"
        kill -KILL "$pid"
        tb_wait_exit "$pid" 10 || tb_die "postgres-replica (pid $pid) survived SIGKILL"
        return 0
    fi
    tb_say "postgres-replica: stopping (pid $pid)"
    tb_pg_run "$TB_PG_BIN/pg_ctl" -D "$TB_PGDATA_REPLICA" -m fast -w -t 60 stop >/dev/null ||
        tb_pg_run "$TB_PG_BIN/pg_ctl" -D "$TB_PGDATA_REPLICA" -m immediate -w -t 30 stop >/dev/null ||
        tb_die "the Postgres replica would not stop (pid $pid)"
}

tb_pg_replica_status() {
    local port
    tb_pg_replica_locate
    port=$(tb_scale_replica_port)
    if tb_pg_replica_running; then
        tb_status_line postgres-replica up "$(tb_pg_replica_pid)" "$port" "$TB_PGDATA_REPLICA"
    else
        tb_status_line postgres-replica down - "$port" "$TB_PGDATA_REPLICA"
    fi
}

tb_pg_replica_wipe() {
    local i active
    tb_pg_replica_stop
    rm -rf "$TB_PGDATA_REPLICA" "$TB_PGDATA_REPLICA.tmp"
    if ! tb_pg_running; then
        tb_warn "the primary is not running: its slot $TB_PG_SLOT (if any) stays; wipe again once it runs"
        return 0
    fi
    # The primary's walsender lets go of the slot a moment after the standby stopped, so a
    # single drop of an inactive slot right after the stop can match nothing and leave the
    # slot (and the WAL it pins) behind. Until it is gone, with a deadline.
    for i in $(seq 1 50); do
        active=$(tb_pg_psql -d taskbus -tAc "SELECT active FROM pg_replication_slots
            WHERE slot_name = '$TB_PG_SLOT'") || tb_die "cannot read the primary's replication slots"
        case $active in
        '') return 0 ;;
        f) tb_pg_psql -d taskbus -c "SELECT pg_drop_replication_slot('$TB_PG_SLOT')" >/dev/null || true ;;
        esac
        sleep 0.2
    done
    tb_die "the replication slot $TB_PG_SLOT is still on the primary 10 s after the replica stopped"
}
