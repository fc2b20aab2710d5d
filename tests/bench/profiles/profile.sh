#!/usr/bin/env bash
# tests/bench/profiles/profile.sh: a perf profile and flame graph of the API under wrk.
#
# Owns: one scenario (get: the cached authenticated GET /api/v1/tasks/{id}; post:
# POST /api/v1/tasks) driven by wrk exactly as tests/bench/run drives it (2 threads,
# 64 connections), `perf record --call-graph dwarf` of the API process in the middle of
# the run, and from it NAME.svg (inferno flame graph), NAME.txt (tools/perf_summary.py)
# in this folder.
# Rules: needs a running bench stack with its work files: run tests/bench/run with
# BENCH_KEEP_STACK=1 first, then this with the same TASKBUS_DATA_DIR; the API should be a
# build without sanitizers (tests/bench/run builds build-bench). perf is Debian's
# linux-perf; inferno comes from `cargo install inferno`. Measurement only.
# Usage: profile.sh get|post NAME   Settings: TASKBUS_DATA_DIR [/tmp/bench-stack],
# PROFILE_SECONDS [20], PROFILE_HZ [250].
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH=$(cd "$HERE/.." && pwd)
SCENARIO=${1:?usage: profile.sh get|post NAME}
NAME=${2:?usage: profile.sh get|post NAME}
DATA=${TASKBUS_DATA_DIR:-/tmp/bench-stack}
WORK=$DATA/bench-work
SECS=${PROFILE_SECONDS:-20}
HZ=${PROFILE_HZ:-250}
PID=$(cat "$DATA/run/api.pid")
# shellcheck disable=SC1090
eval "$("$BENCH/../../compose/local" env)"
URL=${TASKBUS_API_URL:?compose/local env printed no TASKBUS_API_URL}
PATH=$PATH:${CARGO_HOME:-$HOME/.cargo}/bin
for tool in perf wrk inferno-collapse-perf inferno-flamegraph; do
    command -v "$tool" >/dev/null || { echo "$tool is missing" >&2; exit 1; }
done

case $SCENARIO in
get) script=get_task.lua; args=("$WORK/get_ids.txt" "$WORK/get_token.txt")
    title="cached authenticated GET /api/v1/tasks/{id}, 64 connections" ;;
post) script=post_task.lua; args=("$WORK/post_tokens.txt")
    title="POST /api/v1/tasks, 64 connections" ;;
*) echo "scenario is get or post" >&2; exit 2 ;;
esac

TMP=$(mktemp -d /tmp/profile.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
LUA_PATH="$BENCH/?.lua;;" wrk -t2 -c64 -d"$((SECS + 12))s" --latency -s "$BENCH/$script" "$URL" \
    -- "${args[@]}" >"$TMP/wrk.txt" &
wrk_pid=$!
sleep 6
perf record -F "$HZ" --call-graph dwarf,65528 -p "$PID" -o "$TMP/perf.data" -- sleep "$SECS"
wait "$wrk_pid"
perf script -i "$TMP/perf.data" 2>/dev/null >"$TMP/perf.script"
inferno-collapse-perf --all <"$TMP/perf.script" >"$TMP/folded"
inferno-flamegraph --width 1600 --title "taskbus-api: $title ($NAME)" <"$TMP/folded" >"$HERE/$NAME.svg"
{
    echo "# $NAME: $title"
    echo
    grep -E "^Requests/sec|^ +(50|99)%" "$TMP/wrk.txt" | sed 's/^/wrk: /'
    echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    python3 "$HERE/tools/perf_summary.py" --top 25 <"$TMP/perf.script"
} >"$HERE/$NAME.txt"
echo "wrote $HERE/$NAME.svg and $HERE/$NAME.txt"
