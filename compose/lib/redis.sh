# redis.sh: the local Redis (start, stop, status).
#
# Owns: <data>/redis (config, append-only file), <data>/run/redis.pid, logs/redis.log.
# Rules: loopback only, AOF on (the cache must come back after a restart test exactly as
# Redis left it), daemonised by Redis itself with its own pid file; the config is rewritten
# at every start so the port follows the environment.

tb_redis_pid() {
    tb_pidfile_pid redis redis-server
}

tb_redis_write_conf() {
    mkdir -p "$TB_DATA/redis"
    cat >"$TB_DATA/redis/redis.conf" <<EOF
# Written by compose/local at every start; edits are lost.
bind 127.0.0.1
port $TASKBUS_REDIS_PORT
protected-mode yes
daemonize yes
pidfile $TB_RUN/redis.pid
logfile $TB_LOGS/redis.log
dir $TB_DATA/redis
appendonly yes
appendfsync everysec
save 3600 1 300 100 60 10000
EOF
}

tb_redis_start() {
    local pid i
    if pid=$(tb_redis_pid); then
        redis-cli -p "$TASKBUS_REDIS_PORT" ping 2>/dev/null | grep -q PONG ||
            tb_die "Redis (pid $pid) runs but does not answer on port $TASKBUS_REDIS_PORT; run 'compose/local down' first"
        tb_say "redis: already running (pid $pid, port $TASKBUS_REDIS_PORT)"
        return 0
    fi
    tb_port_free_or_die "$TASKBUS_REDIS_PORT" TASKBUS_REDIS_PORT
    tb_redis_write_conf
    tb_say "redis: starting on 127.0.0.1:$TASKBUS_REDIS_PORT"
    # 9>&-: the lock of compose/local must not live on in the services it starts.
    redis-server "$TB_DATA/redis/redis.conf" 9>&- || {
        tb_tail_log "$TB_LOGS/redis.log" 20
        tb_die "redis-server did not start (see $TB_LOGS/redis.log)"
    }
    for i in $(seq 1 100); do
        if redis-cli -p "$TASKBUS_REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
            return 0
        fi
        sleep 0.1
    done
    tb_tail_log "$TB_LOGS/redis.log" 20
    tb_die "Redis did not answer PING within 10 s (see $TB_LOGS/redis.log)"
}

tb_redis_stop() {
    local pid
    if ! pid=$(tb_redis_pid); then
        tb_say "redis: not running"
        return 0
    fi
    tb_say "redis: stopping (pid $pid)"
    # SHUTDOWN rewrites nothing by itself with AOF on, but fsyncs it; SIGTERM is the same
    # path inside Redis and our fallback when the client cannot talk to it.
    redis-cli -p "$TASKBUS_REDIS_PORT" shutdown >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    if ! tb_wait_exit "$pid" 30; then
        tb_warn "Redis (pid $pid) did not stop within 30 s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        tb_wait_exit "$pid" 10 || tb_die "Redis (pid $pid) survived SIGKILL"
    fi
    rm -f "$TB_RUN/redis.pid"
}

tb_redis_status() {
    local pid
    if pid=$(tb_redis_pid 2>/dev/null); then
        tb_status_line redis up "$pid" "$TASKBUS_REDIS_PORT" "$TB_DATA/redis"
    else
        tb_status_line redis down - "$TASKBUS_REDIS_PORT" "$TB_DATA/redis"
    fi
}
