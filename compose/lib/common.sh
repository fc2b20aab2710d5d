# common.sh: settings, messages, privileges, pid files and waiting for compose/local.
#
# Owns: resolving the stack's settings (caller's environment > the data folder's saved
# env > defaults), the one list of daemons, the env file, and the small process helpers
# every service part uses.
# Rules: messages go to stderr so `eval "$(compose/local env)"` only ever sees export
# lines; a pid file is trusted only while its process is alive AND runs what we started
# (pid reuse must never make us signal a stranger); nothing here needs root.

# The long-running C daemons, started after migrations, in this order. A new daemon is one
# word here plus its binary taskbus-<name> in the build. `api2` is a second instance of
# taskbus-api on TASKBUS_API2_PORT (tests of what two instances must agree on); it exists
# only when that port is set (tb_daemon_enabled in daemons.sh).
TB_DAEMONS=(api api2 relay writer importer notifier webhooks scheduler reporter analytics activity)
# Services that are not ours to build: started before the daemons and stopped after them,
# except prometheus, which watches the daemons: started after them, stopped first.
TB_SERVICES=(postgres redis kafka smtp prometheus)

tb_say() { printf '[local] %s\n' "$*" >&2; }
tb_warn() { printf '[local] WARNING: %s\n' "$*" >&2; }
tb_die() {
    printf '[local] ERROR: %s\n' "$*" >&2
    exit 1
}
tb_loud_warn() {
    printf '[local] !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' >&2
    printf '[local] !!! %s\n' "$@" >&2
    printf '[local] !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' >&2
}

tb_is_root() { [ "$(id -u)" -eq 0 ]; }

# Runs a command as root: directly when we are root, through sudo when it exists.
tb_as_root() {
    if tb_is_root; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        tb_die "need root for: $* (no sudo here); run it as root, then run this again"
    fi
}

# Prints the last lines of a log file, indented, to stderr (for error messages).
tb_tail_log() {
    local file=$1 lines=${2:-40}
    if [ -r "$file" ]; then
        printf '[local] ---- last %s lines of %s ----\n' "$lines" "$file" >&2
        tail -n "$lines" "$file" | sed 's/^/    /' >&2
        printf '[local] ----\n' >&2
    fi
}

# True when something accepts TCP connections on 127.0.0.1:port.
tb_port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Fails with a clear message when something else holds the port. A process we just
# killed may hold its listening socket for a moment after its pid is a zombie (a JVM's
# threads take a while to die), so give a closing socket 5 s first.
tb_port_free_or_die() {
    local port=$1 variable=$2 i
    for i in $(seq 1 50); do
        tb_port_open "$port" || return 0
        sleep 0.1
    done
    tb_die "port $port is taken by another program; set $variable to a free port"
}

# An absolute path with no symlink resolution of missing parts.
tb_abspath() {
    case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s/%s\n' "$PWD" "$1" ;;
    esac
}

# --- settings --------------------------------------------------------------------------

# Loads NAME=VALUE lines of a saved env file for the names the caller did not set.
tb_load_saved_env() {
    local file=$1 line name
    [ -r "$file" ] || return 0
    while IFS= read -r line; do
        [[ $line =~ ^export\ ([A-Za-z_][A-Za-z0-9_]*)= ]] || continue
        name=${BASH_REMATCH[1]}
        if [ -z "${!name+set}" ]; then
            # The file is ours (mode 600) and its values were written with printf %q.
            eval "$line"
        fi
    done <"$file"
}

# Sets every TB_* shell variable and exports the daemons' environment. $1 is "up" (the
# caller's environment and defaults define the stack) or "saved" (also reuse what the
# last `up` recorded, so `status`/`start api` work from a shell without the variables).
tb_resolve_settings() {
    local mode=$1
    TB_DATA=$(tb_abspath "${TASKBUS_DATA_DIR:-$TB_REPO/.local}")
    TB_LOGS=$TB_DATA/logs
    TB_RUN=$TB_DATA/run
    TB_ENV_FILE=$TB_DATA/env
    if [ "$mode" = saved ]; then
        tb_load_saved_env "$TB_ENV_FILE"
    fi
    export TASKBUS_DATA_DIR=$TB_DATA
    export TASKBUS_HTTP_HOST=${TASKBUS_HTTP_HOST:-127.0.0.1}
    export TASKBUS_HTTP_PORT=${TASKBUS_HTTP_PORT:-8080}
    export TASKBUS_PG_PORT=${TASKBUS_PG_PORT:-15432}
    export TASKBUS_REDIS_PORT=${TASKBUS_REDIS_PORT:-16379}
    export TASKBUS_KAFKA_PORT=${TASKBUS_KAFKA_PORT:-19092}
    export TASKBUS_KAFKA_CONTROLLER_PORT=${TASKBUS_KAFKA_CONTROLLER_PORT:-19093}
    export TASKBUS_SMTP_PORT=${TASKBUS_SMTP_PORT:-12525}
    # Every daemon's /health, /ready, /metrics: TASKBUS_METRICS_PORT + its offset (0: none).
    export TASKBUS_METRICS_HOST=${TASKBUS_METRICS_HOST:-127.0.0.1}
    export TASKBUS_METRICS_PORT=${TASKBUS_METRICS_PORT:-9400}
    # The stack's Prometheus (compose/lib/prometheus.sh); TASKBUS_PROMETHEUS=0 leaves it out.
    export TASKBUS_PROMETHEUS=${TASKBUS_PROMETHEUS:-1}
    export TASKBUS_PROMETHEUS_PORT=${TASKBUS_PROMETHEUS_PORT:-19090}
    export TASKBUS_PROMETHEUS_INTERVAL=${TASKBUS_PROMETHEUS_INTERVAL:-5s}
    export TASKBUS_BUILD_DIR
    TASKBUS_BUILD_DIR=$(tb_abspath "${TASKBUS_BUILD_DIR:-$TB_REPO/build}")
    export TASKBUS_SANITIZE=${TASKBUS_SANITIZE:-0}
    export TASKBUS_CACHE_DIR
    TASKBUS_CACHE_DIR=$(tb_abspath "${TASKBUS_CACHE_DIR:-${HOME:-/root}/.cache/taskbus}")
    export TASKBUS_SCHEMAS_DIR=${TASKBUS_SCHEMAS_DIR:-$TB_REPO/schemas}
    export TASKBUS_WEB_DIR=${TASKBUS_WEB_DIR:-$TB_REPO/web}
    # The second API instance: only when its port is given (an empty value is unset).
    [ -n "${TASKBUS_API2_PORT:-}" ] || unset TASKBUS_API2_PORT
    local port
    for port in "$TASKBUS_HTTP_PORT" "$TASKBUS_PG_PORT" "$TASKBUS_REDIS_PORT" \
        "$TASKBUS_KAFKA_PORT" "$TASKBUS_KAFKA_CONTROLLER_PORT" "$TASKBUS_SMTP_PORT" \
        "$TASKBUS_PROMETHEUS_PORT" \
        ${TASKBUS_API2_PORT:+"$TASKBUS_API2_PORT"}; do
        [[ $port =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] ||
            tb_die "not a TCP port: '$port' (check the TASKBUS_*_PORT variables)"
    done
    [[ $TASKBUS_METRICS_PORT =~ ^[0-9]+$ ]] && [ "$TASKBUS_METRICS_PORT" -le 65526 ] ||
        tb_die "TASKBUS_METRICS_PORT must be 0 (no listeners) or a base port up to 65526: '$TASKBUS_METRICS_PORT'"
    [[ $TASKBUS_PROMETHEUS_INTERVAL =~ ^[1-9][0-9]*(ms|s|m)$ ]] ||
        tb_die "TASKBUS_PROMETHEUS_INTERVAL must be a Prometheus duration such as 5s: '$TASKBUS_PROMETHEUS_INTERVAL'"
    if [ "${TASKBUS_API2_PORT:-}" = "$TASKBUS_HTTP_PORT" ]; then
        tb_die "TASKBUS_API2_PORT equals TASKBUS_HTTP_PORT ($TASKBUS_HTTP_PORT): the two API instances need two ports"
    fi

    # Derived from the ports, always: the stack we run is the one on these ports, whatever
    # an older `eval "$(compose/local env)"` left in the caller's shell.
    export DATABASE_URL="postgresql://taskbus:taskbus@127.0.0.1:$TASKBUS_PG_PORT/taskbus"
    export REDIS_URL="redis://127.0.0.1:$TASKBUS_REDIS_PORT/0"
    export KAFKA_BROKERS="127.0.0.1:$TASKBUS_KAFKA_PORT"
    TB_CHECK_HOST=$TASKBUS_HTTP_HOST
    case $TB_CHECK_HOST in 0.0.0.0 | '' | '*') TB_CHECK_HOST=127.0.0.1 ;; esac
    export TASKBUS_API_URL="http://$TB_CHECK_HOST:$TASKBUS_HTTP_PORT"
    if [ -n "${TASKBUS_API2_PORT:-}" ]; then
        export TASKBUS_API2_PORT
        export TASKBUS_API2_URL="http://$TB_CHECK_HOST:$TASKBUS_API2_PORT"
    else
        unset TASKBUS_API2_URL
    fi
    # E-mail goes to the local catcher (compose/lib/smtp.sh); links in it point at the API.
    export TASKBUS_SMTP_URL="smtp://127.0.0.1:$TASKBUS_SMTP_PORT"
    export TASKBUS_PUBLIC_URL=${TASKBUS_PUBLIC_URL:-$TASKBUS_API_URL}
    export TASKBUS_REPORTS_DIR=${TASKBUS_REPORTS_DIR:-$TB_DATA/reports}

    TB_BUILD=$TASKBUS_BUILD_DIR
    TB_KAFKA_HOME=$TASKBUS_CACHE_DIR/kafka-3.9.1
    TB_KAFKA_LIBS=$TB_KAFKA_HOME/libs
    # Scale mode (TASKBUS_SCALE=1, scale.sh) replaces the URLs above with the scaled ones.
    tb_scale_resolve "$mode"
}

# The JWT secret lives in the data folder so tokens survive restarts of the API. The
# caller may bring their own (at least 32 bytes, as the API demands).
tb_ensure_jwt_secret() {
    local file=$TB_DATA/jwt.secret
    if [ -n "${TASKBUS_JWT_SECRET:-}" ]; then
        [ "${#TASKBUS_JWT_SECRET}" -ge 32 ] || tb_die "TASKBUS_JWT_SECRET is shorter than 32 bytes"
        return 0
    fi
    if [ ! -s "$file" ]; then
        # 48 random bytes, base64url without padding: 64 printable characters.
        (umask 077 && head -c 48 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=' >"$file.tmp")
        mv "$file.tmp" "$file"
        tb_say "generated a JWT secret in $file"
    fi
    chmod 600 "$file"
    TASKBUS_JWT_SECRET=$(cat "$file")
    export TASKBUS_JWT_SECRET
}

# Writes every TASKBUS_* variable plus the derived URLs as export lines (mode 600: it
# holds the JWT secret).
tb_write_env_file() {
    local name tmp=$TB_ENV_FILE.tmp
    (
        umask 077
        {
            printf '# taskbus local stack environment, written by compose/local up.\n'
            printf '# Use: eval "$(compose/local env)"\n'
            for name in DATABASE_URL $(tb_scaled && echo DATABASE_READ_URL) REDIS_URL KAFKA_BROKERS $(compgen -e | grep '^TASKBUS_' | sort); do
                printf 'export %s=%q\n' "$name" "${!name}"
            done
        } >"$tmp"
    )
    mv "$tmp" "$TB_ENV_FILE"
}

# --- locking ---------------------------------------------------------------------------

# One compose/local at a time changes a data folder (two `up`s racing would start two
# Kafkas on one log dir). Every service is started with 9>&- so it does not inherit the
# lock and hold it for its whole life.
tb_lock() {
    mkdir -p "$TB_RUN"
    exec 9>"$TB_RUN/.lock"
    if ! flock -n 9; then
        tb_say "another compose/local is working on $TB_DATA; waiting for it"
        flock -w 900 9 || tb_die "gave up waiting for the lock $TB_RUN/.lock"
    fi
}

# --- processes -------------------------------------------------------------------------

# True while pid exists and is not a zombie.
tb_pid_running() {
    local pid=$1 state
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
    [ "$state" != Z ]
}

# True when pid's command line contains the marker string.
tb_pid_matches() {
    local pid=$1 marker=$2
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$marker"
}

# Prints the pid of a running service from its pid file, or fails. A pid file whose
# process is gone (or is now someone else) is removed.
tb_pidfile_pid() {
    local name=$1 marker=$2 file=$TB_RUN/$1.pid pid
    [ -r "$file" ] || return 1
    pid=$(head -n1 "$file" 2>/dev/null)
    if [[ $pid =~ ^[0-9]+$ ]] && tb_pid_running "$pid" && tb_pid_matches "$pid" "$marker"; then
        printf '%s\n' "$pid"
        return 0
    fi
    tb_say "removing stale pid file $file (pid ${pid:-?} is not $name)"
    rm -f "$file"
    return 1
}

# Waits up to $2 seconds for pid to exit. 0 when it did.
tb_wait_exit() {
    local pid=$1 timeout=$2 waited=0
    while tb_pid_running "$pid"; do
        if [ "$waited" -ge $((timeout * 10)) ]; then
            return 1
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    return 0
}

# SIGTERM, wait, then SIGKILL: the daemons get $3 seconds to finish in-flight work.
tb_terminate() {
    local name=$1 pid=$2 timeout=$3
    kill -TERM "$pid" 2>/dev/null || return 0
    if ! tb_wait_exit "$pid" "$timeout"; then
        tb_warn "$name (pid $pid) did not stop within ${timeout}s of SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        tb_wait_exit "$pid" 10 || tb_die "$name (pid $pid) survived SIGKILL"
    fi
}

# Raises the open-file limit to the hard limit: the API is thread-per-connection and is
# meant to hold 1 000 open connections.
tb_raise_nofile() {
    local hard
    hard=$(ulimit -Hn)
    ulimit -n "$hard" 2>/dev/null || true
}
