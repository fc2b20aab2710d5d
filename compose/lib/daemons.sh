# daemons.sh: the taskbus C daemons (TB_DAEMONS): start, stop, kill, status, readiness.
#
# Owns: <data>/run/<daemon>.pid and <data>/logs/<daemon>.log (JSON lines, appended).
# Rules: a daemon runs in its own session (setsid), so a Ctrl-C in the terminal or the
# end of tests/run never signals it behind our back; it inherits the resolved environment
# (every TASKBUS_* of the caller included). Stopping is SIGTERM, then SIGKILL after 20 s;
# `kill` is SIGKILL at once, for crash tests. `api2` is a second taskbus-api on
# TASKBUS_API2_PORT (same environment otherwise, same Postgres, Redis and Kafka); it is
# enabled only when that port is set. In scale mode (scale.sh) the names are instances,
# <kind>-<n> (api-1, writer-3, ...): each its own pid file, log, port (api-n on
# TASKBUS_HTTP_PORT + 10 + n; a daemon's /health port is its kind's + 20 * (n - 1), given to
# it as TASKBUS_<KIND>_METRICS_PORT) and its own random instance id (the relay's lease
# holder and the API's near-cache instance are UUIDv7s made at start; consumer group
# member ids are the broker's).

tb_is_daemon() {
    local d
    if tb_scaled; then
        tb_in_list "$1" "$(tb_daemon_list)"
        return
    fi
    for d in "${TB_DAEMONS[@]}"; do
        [ "$d" = "$1" ] && return 0
    done
    return 1
}

# The kind of an instance (writer-2: writer) and its number (2; 1 without a suffix).
tb_daemon_kind() {
    if [[ $1 =~ ^(.*)-([0-9]+)$ ]]; then printf '%s\n' "${BASH_REMATCH[1]}"; else printf '%s\n' "$1"; fi
}
tb_daemon_index() {
    if [[ $1 =~ -([0-9]+)$ ]]; then printf '%s\n' "${BASH_REMATCH[1]}"; else printf '1\n'; fi
}

# The binary a daemon runs: taskbus-<kind>, except api2, which is taskbus-api again.
tb_daemon_binary() {
    local kind
    kind=$(tb_daemon_kind "$1")
    case $kind in
    api2) printf 'api\n' ;;
    *) printf '%s\n' "$kind" ;;
    esac
}

# The offset of a daemon's /health, /ready, /metrics port above TASKBUS_METRICS_PORT
# (shared/daemon_port.h; 0 for the API instances, which serve them on their HTTP port).
tb_daemon_metrics_offset() {
    case $(tb_daemon_kind "$1") in
    writer) printf '1\n' ;;
    relay) printf '2\n' ;;
    importer) printf '3\n' ;;
    notifier) printf '4\n' ;;
    webhooks) printf '5\n' ;;
    scheduler) printf '6\n' ;;
    reporter) printf '7\n' ;;
    analytics) printf '8\n' ;;
    activity) printf '9\n' ;;
    *) printf '0\n' ;;
    esac
}

# The HTTP port of an API instance, or a daemon's /health, /ready, /metrics port:
# TASKBUS_<NAME>_METRICS_PORT, else TASKBUS_METRICS_PORT + its offset (0: no listener).
tb_daemon_port() {
    local var kind n
    kind=$(tb_daemon_kind "$1")
    n=$(tb_daemon_index "$1")
    case $1 in
    api) printf '%s\n' "$TASKBUS_HTTP_PORT" ;;
    api2) printf '%s\n' "${TASKBUS_API2_PORT:--}" ;;
    api-*) tb_scale_api_port "$n" ;;
    *)
        var=TASKBUS_${kind^^}_METRICS_PORT
        if [ -n "${!var:-}" ]; then
            printf '%s\n' $((${!var} + TB_SCALE_METRICS_STRIDE * (n - 1)))
        elif [ "${TASKBUS_METRICS_PORT:-0}" = 0 ]; then
            printf '0\n'
        else
            printf '%s\n' $((TASKBUS_METRICS_PORT + $(tb_daemon_metrics_offset "$1") + TB_SCALE_METRICS_STRIDE * (n - 1)))
        fi
        ;;
    esac
}

# A daemon's listener answers GET /health with 200 (it is up and its loop turns).
tb_daemon_healthy() {
    local code host=${TASKBUS_METRICS_HOST:-127.0.0.1}
    case $host in 0.0.0.0 | '' | '*' | '::') host=127.0.0.1 ;; *:*) host="[$host]" ;; esac
    code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://$host:$1/health" 2>/dev/null) || true
    [ "$code" = 200 ]
}

# The base URL of an API instance (empty for the other daemons).
tb_daemon_url() {
    case $1 in
    api) printf '%s\n' "$TASKBUS_API_URL" ;;
    api2) printf '%s\n' "${TASKBUS_API2_URL:-}" ;;
    api-*) printf 'http://%s:%s\n' "$TB_CHECK_HOST" "$(tb_daemon_port "$1")" ;;
    *) printf '\n' ;;
    esac
}

# True when the daemon belongs to this stack: all of them, api2 only with TASKBUS_API2_PORT.
tb_daemon_enabled() {
    if tb_scaled; then
        tb_in_list "$1" "$(tb_daemon_list)"
        return
    fi
    [ "$1" != api2 ] || [ -n "${TASKBUS_API2_PORT:-}" ]
}

tb_daemon_pid() {
    tb_pidfile_pid "$1" "taskbus-$(tb_daemon_binary "$1")"
}

# An API instance answers GET /ready with 200 once Postgres, Redis and Kafka are
# reachable. $1: its base URL (default: the first instance's).
tb_api_ready() {
    local code url=${1:-$TASKBUS_API_URL}
    code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$url/ready" 2>/dev/null) || true
    [ "$code" = 200 ]
}

tb_daemon_wait_ready() {
    local name=$1 pid=$2 timeout=${TASKBUS_READY_TIMEOUT:-90} start now port log=$TB_LOGS/$1.log
    start=$(date +%s)
    while :; do
        if ! tb_pid_running "$pid"; then
            tb_tail_log "$log" 40
            tb_die "$name exited while starting (see $log; sanitizer reports, if any, in $TB_LOGS)"
        fi
        now=$(date +%s)
        case $name in
        api | api2 | api-*) tb_api_ready "$(tb_daemon_url "$name")" && return 0 ;;
        *)
            # Its listener answers /health (not /ready: a daemon started while a
            # dependency is down, as fault tests do, is up but not ready). Without a
            # listener (port 0), still alive after a second is as good as it gets.
            port=$(tb_daemon_port "$name")
            if [ "$port" = 0 ]; then
                [ $((now - start)) -ge 1 ] && return 0
            else
                tb_daemon_healthy "$port" && return 0
            fi
            ;;
        esac
        if [ $((now - start)) -ge "$timeout" ]; then
            tb_tail_log "$log" 40
            tb_die "$name did not become ready within ${timeout}s: GET $(tb_daemon_url "$name")/ready (API) or /health (daemon) never answered 200 (see $log)"
        fi
        sleep 0.2
    done
}

tb_daemon_start() {
    local name=$1 pid log=$TB_LOGS/$1.log binary port
    binary=$(tb_daemon_binary "$name")
    tb_daemon_enabled "$name" || {
        tb_scaled && tb_die "$name is not an instance of this scaled stack"
        tb_die "$name is a second API instance: set TASKBUS_API2_PORT (its port) to run it"
    }
    if pid=$(tb_daemon_pid "$name"); then
        if [ "$TB_BUILD/taskbus-$binary" -nt "$TB_RUN/$name.pid" ]; then
            tb_say "$name: already running (pid $pid); its binary was rebuilt since, 'compose/local restart $name' picks it up"
        else
            tb_say "$name: already running (pid $pid)"
        fi
        return 0
    fi
    tb_binary "$binary" || return 0
    port=$(tb_daemon_port "$name")
    case $name in
    api) tb_port_free_or_die "$port" TASKBUS_HTTP_PORT ;;
    api2) tb_port_free_or_die "$port" TASKBUS_API2_PORT ;;
    api-*) tb_port_free_or_die "$port" "TASKBUS_HTTP_PORT (+$((port - TASKBUS_HTTP_PORT)), $name)" ;;
    *) [ "$port" = 0 ] || tb_port_free_or_die "$port" "TASKBUS_METRICS_PORT (+$(tb_daemon_metrics_offset "$name"))" ;;
    esac
    tb_say "$name: starting (log: $log)"
    tb_raise_nofile
    if [ "$name" = api2 ] || [[ $name == api-* ]]; then
        # The same environment as api but its own port.
        TASKBUS_HTTP_PORT=$port nohup setsid "$TB_BIN" >>"$log" 2>&1 </dev/null 9>&- &
    elif tb_scaled && [ "$port" != 0 ]; then
        # Its own /health, /ready, /metrics port (the kind's + 20 per instance).
        env "TASKBUS_$(tb_daemon_kind "$name" | tr '[:lower:]' '[:upper:]')_METRICS_PORT=$port" \
            nohup setsid "$TB_BIN" >>"$log" 2>&1 </dev/null 9>&- &
    else
        nohup setsid "$TB_BIN" >>"$log" 2>&1 </dev/null 9>&- &
    fi
    pid=$!
    printf '%s\n' "$pid" >"$TB_RUN/$name.pid"
    # TB_DAEMON_NOWAIT=1 (scale mode's `up`): the caller waits for all of them afterwards.
    [ "${TB_DAEMON_NOWAIT:-0}" = 1 ] && return 0
    tb_daemon_wait_ready "$name" "$pid"
}

tb_daemon_stop() {
    local name=$1 signal=${2:-TERM} pid
    if ! pid=$(tb_daemon_pid "$name"); then
        tb_say "$name: not running"
        return 0
    fi
    if [ "$signal" = KILL ]; then
        tb_say "$name: SIGKILL (pid $pid)"
        kill -KILL "$pid" 2>/dev/null || true
        tb_wait_exit "$pid" 10 || tb_die "$name (pid $pid) survived SIGKILL"
    else
        tb_say "$name: stopping (pid $pid)"
        tb_terminate "$name" "$pid" 20
    fi
    rm -f "$TB_RUN/$name.pid"
}

tb_daemon_status() {
    local name=$1 pid port binary
    port=$(tb_daemon_port "$name")
    binary=$(tb_daemon_binary "$name")
    if pid=$(tb_daemon_pid "$name" 2>/dev/null); then
        tb_status_line "$name" up "$pid" "$port" "$TB_LOGS/$name.log"
    elif ! tb_daemon_enabled "$name"; then
        return 0 # api2 without TASKBUS_API2_PORT: not part of this stack
    elif [ -x "$TB_BUILD/taskbus-$binary" ]; then
        tb_status_line "$name" down - "$port" "$TB_LOGS/$name.log"
    else
        tb_status_line "$name" down - "$port" "(not built: $TB_BUILD/taskbus-$binary)"
    fi
}
