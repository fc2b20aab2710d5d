"""Writer drain rate: a backlog of N task commands applied from cold (tests/bench/run).

Owns: stopping taskbus-writer, producing N task.create commands straight to Kafka in the
wire form of shared/task_command_codec.h (schemas/commands/task-command.json), keyed by the
drain users' ids, starting the writer and timing until every command is in `commands`;
writes <work>/drain.json. With --lag-timeout > 0 (the default), also how long after the
writer finished the relay had published every outbox row and each consumer group (every
reader of task-events, the notifier, ...) had zero lag (stack_lag.py), the whole stack
running (the page lists the daemons that ran).
Rules: the writer must be idle before it is stopped (so the backlog is only ours); the
rate is given both over the whole wait (process start and group join included) and over
the span of the commands' applied_at (the batches' transaction starts), which is the
writer's steady apply rate. Bounded waits; the writer is started again on every path.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone

import psycopg
from confluent_kafka import Producer

from bench_common import env, loadavg, uuid7, work_dir, write_result
from stack_lag import StackLag

LOCAL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "compose", "local")


def compose(*args):
    subprocess.run([LOCAL, *args], check=True, stdout=subprocess.DEVNULL)


def wait_idle(conn, quiet_s=2.0, timeout_s=120):
    """Waits until the commands table stops growing for quiet_s."""
    deadline = time.monotonic() + timeout_s
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        n = conn.execute("SELECT count(*) FROM commands").fetchone()[0]
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        time.sleep(0.2)
    sys.exit(f"the writer was still applying after {timeout_s} s (commands: {last})")


def produce(users, n):
    p = Producer({"bootstrap.servers": env("KAFKA_BROKERS"), "enable.idempotence": True,
                  "linger.ms": 5, "batch.num.messages": 10000,
                  "queue.buffering.max.messages": 1000000})
    failed = []

    def on_delivery(err, _msg):
        if err is not None:
            failed.append(str(err))

    issued = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    t0 = time.monotonic()
    for i in range(n):
        user = users[i % len(users)]["id"]
        cmd = {"command_id": uuid7(), "type": "task.create", "user_id": user,
               "task_id": uuid7(), "issued_at": issued, "request_id": "bench-drain",
               "expected_version": None,
               "task": {"title": f"drain {i}", "description": "", "status": "todo",
                        "priority": "medium", "due_at": None, "tags": ["bench"]}}
        while True:
            try:
                p.produce("task-commands", key=user, value=json.dumps(cmd),
                          headers=[("request_id", b"bench-drain")], on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    left = p.flush(60)
    if left or failed:
        sys.exit(f"producing the backlog failed: {left} undelivered, errors {failed[:3]}")
    return time.monotonic() - t0


def start_perf(out, seconds):
    """perf record of the running writer (its pid from compose/local's run folder, never a
    process name: other stacks run the same binary), DWARF call graphs."""
    with open(os.path.join(env("TASKBUS_DATA_DIR"), "run", "writer.pid")) as f:
        pid = f.read().strip()
    return subprocess.Popen(["perf", "record", "-F", "250", "--call-graph", "dwarf,16384",
                             "-o", out, "-p", pid, "--", "sleep", str(seconds)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--commands", type=int, default=50000)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--perf-out", default=None,
                    help="profiling only: perf record the writer into this file once it applies")
    ap.add_argument("--perf-seconds", type=float, default=8)
    ap.add_argument("--lag-timeout", type=float, default=90,
                    help="longest wait for zero lag after the writer (0: not measured)")
    a = ap.parse_args()
    with open(f"{work_dir()}/drain_users.json") as f:
        users = json.load(f)
    ids = [u["id"] for u in users]
    count_sql = "SELECT count(*) FROM commands WHERE user_id = ANY(%s::uuid[])"

    lag = StackLag() if a.lag_timeout > 0 else None
    lag_figures = None
    with psycopg.connect(env("DATABASE_URL"), autocommit=True) as conn:
        before = conn.execute(count_sql, (ids,)).fetchone()[0]
        wait_idle(conn)
        if lag is not None:
            # the earlier phases' events first, so the lag below is only this backlog's
            pre = lag.wait_all(time.monotonic(), 60)
            daemons = lag.daemons_running()
        compose("stop", "writer")
        pg_start = conn.execute("SELECT now()").fetchone()[0]
        try:
            produce_s = produce(users, a.commands)
        finally:
            load_start = loadavg()
            t_start = time.monotonic()
            # not waited for: `compose/local start` holds on for a second to see the writer
            # stay up, and the writer is already applying by then
            starting = subprocess.Popen([LOCAL, "start", "writer"], stdout=subprocess.DEVNULL)
        want = before + a.commands
        deadline = t_start + a.timeout
        have, t_first, perf = before, None, None
        while have < want and time.monotonic() < deadline:
            time.sleep(0.1)
            have = conn.execute(count_sql, (ids,)).fetchone()[0]
            if t_first is None and have > before:
                t_first = time.monotonic()
                if a.perf_out:
                    perf = start_perf(a.perf_out, a.perf_seconds)
        t_done = time.monotonic()
        if perf is not None:
            perf.wait(60)
        total_s = t_done - t_start
        if lag is not None and have >= want:
            caught = lag.wait_all(t_done, a.lag_timeout)
            lag.close()
            lag_figures = {"timeout_s": a.lag_timeout, "daemons_running": daemons,
                           "topics": {g: t for g, (t, _) in lag.groups.items()},
                           "caught_up_before": pre["all_zero"],
                           "at_writer_done": caught["first"], "left": caught["last"],
                           "seconds_after_writer": caught["seconds"],
                           "all_zero": caught["all_zero"]}
        if starting.wait(60) != 0:
            sys.exit("compose/local start writer failed")
        # from the first poll that saw progress: leaves out the writer's start and group join
        first_s = t_start + total_s - t_first if t_first is not None else total_s
        if have < want:
            sys.exit(f"only {have - before} of {a.commands} commands applied in {a.timeout} s")
        span = conn.execute(
            "SELECT extract(epoch FROM max(applied_at) - min(applied_at))::float8, count(*) "
            "FILTER (WHERE status = 'applied') FROM commands WHERE user_id = ANY(%s::uuid[]) "
            "AND applied_at >= %s", (ids, pg_start)).fetchone()
    write_result("drain", {
        "commands": a.commands, "users": len(users), "produce_seconds": round(produce_s, 2),
        "seconds_from_writer_start": round(total_s, 2),
        "rate_from_writer_start": round(a.commands / total_s, 1),
        "seconds_from_first_seen": round(first_s, 2),
        "rate_from_first_seen": round(a.commands / max(0.001, first_s), 1),
        "applied_at_span_seconds": round(span[0], 3),
        "rate_over_applied_at_span": round(a.commands / span[0], 1) if span[0] else None,
        "applied": span[1], "loadavg_at_start": load_start, "loadavg_after": loadavg(),
        "lag": lag_figures,
    })


if __name__ == "__main__":
    main()
