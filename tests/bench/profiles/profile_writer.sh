#!/usr/bin/env bash
# tests/bench/profiles/profile_writer.sh: a perf profile and flame graph of the writer
# draining a backlog (issue 9).
#
# Owns: one drain of BENCH_DRAIN_COMMANDS creates (writer_drain.py: writer stopped, the
# backlog produced straight to Kafka, writer started) with `perf record --call-graph
# dwarf` of the writer once it applies, and from it NAME.svg (inferno flame graph) and
# NAME.txt (tools/perf_summary.py) in this folder.
# Rules: needs a running bench stack with its work files (BENCH_KEEP_STACK=1
# tests/bench/run first, then this with the same TASKBUS_DATA_DIR); the writer should be a
# build without sanitizers. Measurement only.
# Usage: profile_writer.sh NAME   Settings: TASKBUS_DATA_DIR [/tmp/bench-stack],
# BENCH_DRAIN_COMMANDS [30000], PROFILE_SECONDS [8].
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH=$(cd "$HERE/.." && pwd)
NAME=${1:?usage: profile_writer.sh NAME}
export TASKBUS_DATA_DIR=${TASKBUS_DATA_DIR:-/tmp/bench-stack}
export BENCH_WORK_DIR=$TASKBUS_DATA_DIR/bench-work
# shellcheck disable=SC1090
eval "$("$BENCH/../../compose/local" env)"
PATH=$PATH:${CARGO_HOME:-$HOME/.cargo}/bin
for tool in perf inferno-collapse-perf inferno-flamegraph; do
    command -v "$tool" >/dev/null || { echo "profile_writer.sh: $tool is missing" >&2; exit 1; }
done
PY=$BENCH/../../.venv/bin/python
DATA=$(mktemp /tmp/profile-writer.XXXXXX.data)
trap 'rm -f "$DATA"' EXIT
(cd "$BENCH" && "$PY" writer_drain.py --commands "${BENCH_DRAIN_COMMANDS:-30000}" \
    --lag-timeout 0 --perf-out "$DATA" --perf-seconds "${PROFILE_SECONDS:-8}")
perf script -i "$DATA" 2>/dev/null >"$DATA.script"
inferno-collapse-perf <"$DATA.script" | inferno-flamegraph --title "taskbus-writer: $NAME" \
    >"$HERE/$NAME.svg"
"$PY" "$HERE/tools/perf_summary.py" <"$DATA.script" >"$HERE/$NAME.txt"
rm -f "$DATA.script"
echo "profile_writer.sh: $HERE/$NAME.svg and $HERE/$NAME.txt"
