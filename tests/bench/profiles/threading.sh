#!/usr/bin/env bash
# tests/bench/profiles/threading.sh: libmicrohttpd thread-per-connection against a thread
# pool sharing epoll, on the bare ulfius hello server (issue 8).
#
# Owns: building hello_threading.c (as tests/bench/run builds hello_server.c), and for each
# model (thread per connection; pools of 2 and 4 threads) a wrk run at 64 and at 1 000
# connections (req/s, p99, the server's peak RSS and threads) and the RSS with 1 000 idle
# keep-alive connections (tests/bench/idle_connections.py); prints a markdown table.
# Rules: measurement only (never pass/fail); loopback only; every server it starts is
# stopped on exit. The machine's load average is printed with the table: the box is shared.
# Settings: PORT [28181], RUN_SECONDS [10], WARMUP [3], MODELS ["tpc pool:2 pool:4"],
# CONNECTIONS ["64 1000"], REPEAT [3: rounds over every model and count; the table shows
# the median of req/s and of p99, so one burst of another process's load moves it less],
# PYTHON [<repo>/.venv/bin/python, else python3].
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH=$(cd "$HERE/.." && pwd)
REPO=$(cd "$BENCH/../.." && pwd)
PORT=${PORT:-28181}
RUN_SECONDS=${RUN_SECONDS:-10}
WARMUP=${WARMUP:-3}
MODELS=${MODELS:-"tpc pool:2 pool:4"}
REPEAT=${REPEAT:-3}
CONNECTIONS=${CONNECTIONS:-"64 1000"}
PY=${PYTHON:-$REPO/.venv/bin/python}
[ -x "$PY" ] || PY=python3
OUT=$(mktemp -d /tmp/threading.XXXXXX)
BIN=$OUT/hello_threading
SERVER_PID=

stop_server() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=
}
trap 'stop_server; rm -rf "$OUT"' EXIT

# shellcheck disable=SC2046
gcc -std=c17 -O2 -g -DNDEBUG -D_GNU_SOURCE -Wall -Wextra -Werror \
    $(pkg-config --cflags libulfius libmicrohttpd) "$HERE/hello_threading.c" \
    -o "$BIN" $(pkg-config --libs libulfius libmicrohttpd) -lpthread
command -v wrk >/dev/null || { echo "wrk is missing (tests/bench/run installs it)" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

start_server() {
    local mode=$1 threads=$2
    "$BIN" "$PORT" "$mode" "$threads" >"$OUT/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 50); do
        curl -sf -o /dev/null "http://127.0.0.1:$PORT/hello" && return 0
        sleep 0.1
    done
    cat "$OUT/server.log" >&2
    echo "hello_threading did not answer on port $PORT" >&2
    exit 1
}

status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

# p99 of wrk --latency, in ms
p99_ms() {
    awk '$1 == "99%" {v = $2; if (v ~ /us$/) {sub(/us/, "", v); v /= 1000}
         else if (v ~ /ms$/) {sub(/ms/, "", v)} else if (v ~ /s$/) {sub(/s/, "", v); v *= 1000}
         printf "%.2f", v}' "$1"
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

declare -A RPS P99 HWM THREADS IDLE
for round in $(seq 1 "$REPEAT"); do
    for model in $MODELS; do
        mode=${model%%:*}
        threads=1
        [ "$mode" = pool ] && threads=${model#*:}
        for c in $CONNECTIONS; do
            start_server "$mode" "$threads"
            wrk -t2 -c"$c" -d"${WARMUP}s" "http://127.0.0.1:$PORT/hello" >/dev/null
            wrk -t2 -c"$c" -d"${RUN_SECONDS}s" --latency "http://127.0.0.1:$PORT/hello" >"$OUT/wrk.txt" &
            wrk_pid=$!
            max_threads=0
            while kill -0 "$wrk_pid" 2>/dev/null; do
                t=$(status_kib "$SERVER_PID" Threads)
                [ "$t" -gt "$max_threads" ] && max_threads=$t
                sleep 0.5
            done
            wait "$wrk_pid"
            key="$model/$c"
            RPS[$key]+=" $(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$OUT/wrk.txt")"
            P99[$key]+=" $(p99_ms "$OUT/wrk.txt")"
            HWM[$key]+=" $(status_kib "$SERVER_PID" VmHWM)"
            THREADS[$key]=$max_threads
            if [ "$round" = 1 ] && [ -z "${IDLE[$model]:-}" ]; then
                (cd "$BENCH" && BENCH_WORK_DIR=$OUT "$PY" idle_connections.py --name idle \
                    --url "http://127.0.0.1:$PORT/hello" --pid "$SERVER_PID" --connections 1000 \
                    >/dev/null)
                IDLE[$model]=$("$PY" -c "import json; print(json.load(open('$OUT/idle.json'))['rss_mib_with_connections'])")
            fi
            stop_server
        done
    done
done

echo "| model | connections | req/s (median of $REPEAT) | p99 ms (median) | peak RSS MiB | threads | RSS, 1 000 idle MiB |"
echo "|---|---|---|---|---|---|---|"
for model in $MODELS; do
    mode=${model%%:*}
    label="thread per connection"
    [ "$mode" = pool ] && label="epoll, pool of ${model#*:}"
    for c in $CONNECTIONS; do
        key="$model/$c"
        printf '| %s | %s | %s | %s | %.1f | %s | %s |\n' "$label" "$c" "$(echo "${RPS[$key]}" | median)" \
            "$(echo "${P99[$key]}" | median)" "$(echo "$(echo "${HWM[$key]}" | median) / 1024" | bc -l)" \
            "${THREADS[$key]}" "${IDLE[$model]}"
    done
done
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores; the box is shared)"
