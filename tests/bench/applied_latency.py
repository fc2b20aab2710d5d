"""Accepted -> applied latency of task creates at a fixed rate (tests/bench/run calls it).

Owns: a fixed-rate POST /api/v1/tasks client (asyncio, raw HTTP/1.1 keep-alive
connections, users round-robin) and a Redis subscriber process that notes when each
command's event is PUBLISHed by the writer (measure(), which rate_sweep.py and
imports.py reuse at other rates); writes <work>/latency.json (--name). With --cpu 1 (the
default) it also takes the whole stack's CPU time per applied command (stack_cpu.py): from
just before the load until every command is applied and the relay and every consumer
group have caught up with them (stack_lag.py), divided by the commands applied; the
bench's own processes (this client, the subscriber) and Postgres backends are not counted.
"Accepted" is the moment the client holds the 202 (Kafka acknowledged); "applied" is the
moment the writer's post-commit Redis script published the event, the same script that
records the command's outcome, so from then on GET /commands/{id} says applied. Also
reported: from the command id's UUIDv7 time (the API's accept time, ms resolution), and
the commands table's applied_at (the writer transaction's start, a lower bound).
Rules: the schedule is fixed in advance (send i at t0 + i/rate); a send that finds no
free connection waits, and the 202 latency counts from the scheduled time, so a server
that falls behind shows it (no coordinated omission). Nothing is judged here.
"""

import argparse
import asyncio
import json
import multiprocessing as mp
import re
import sys
import time
import urllib.parse

import psycopg
import redis

import stack_cpu
from bench_common import api_url, env, loadavg, percentile, uuid7_ms, work_dir, write_result
from stack_lag import StackLag
from writer_drain import wait_idle

CMD_RE = re.compile(rb'"command_id":"([0-9a-f-]{36})"')


def subscriber(channels, ready, stop, out):
    """Runs in its own process: {command_id: wall time the event arrived}."""
    r = redis.Redis.from_url(env("REDIS_URL"))
    ps = r.pubsub()
    ps.subscribe(*channels)
    confirmed = 0
    while confirmed < len(channels):  # every subscription confirmed before the load starts
        m = ps.get_message(timeout=5)
        if m is not None and m["type"] == "subscribe":
            confirmed += 1
    ready.set()
    seen = {}
    while not stop.is_set():
        m = ps.get_message(timeout=0.2)
        if m is None or m["type"] != "message":
            continue
        now = time.time()
        g = CMD_RE.search(m["data"])
        if g:
            seen.setdefault(g.group(1).decode(), now)
    out.put(seen)


class Conn:
    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, path, token, body):
        req = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
               f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        self.writer.write(req)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        data = await self.reader.readexactly(length) if length else b""
        return status, data


async def run_load(users, rate, seconds, conns):
    u = urllib.parse.urlsplit(api_url())
    pool = [Conn(u.hostname, u.port) for _ in range(conns)]
    await asyncio.gather(*(c.open() for c in pool))
    total = int(rate * seconds)
    slots = asyncio.Queue()
    results = []  # (command_id or None, status, scheduled wall, acked wall)
    body = b'{"title":"bench latency","priority":"medium"}'

    async def worker(c):
        while True:
            item = await slots.get()
            if item is None:
                return
            i, sched_wall = item
            user = users[i % len(users)]
            status, data = await c.post("/api/v1/tasks", user["token"], body)
            acked = time.time()
            g = CMD_RE.search(data) if status == 202 else None
            results.append((g.group(1).decode() if g else None, status, sched_wall, acked))

    tasks = [asyncio.create_task(worker(c)) for c in pool]
    t0_mono, t0_wall = time.monotonic() + 0.05, time.time() + 0.05
    i = 0
    while i < total:
        now = time.monotonic() - t0_mono
        due = min(total, int(now * rate) + 1)
        while i < due:
            slots.put_nowait((i, t0_wall + i / rate))
            i += 1
        await asyncio.sleep(0.001)
    for _ in pool:
        slots.put_nowait(None)
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - t0_mono
    for c in pool:
        c.writer.close()
    return results, elapsed


def pg_applied_at(conn, cids):
    rows = conn.execute(
        "SELECT command_id::text, extract(epoch FROM applied_at)::float8 FROM commands "
        "WHERE command_id = ANY(%s::uuid[])", (cids,)).fetchall()
    return dict(rows)


def summary(values_ms):
    s = sorted(values_ms)
    return {"n": len(s), "p50_ms": round(percentile(s, 50), 2) if s else None,
            "p90_ms": round(percentile(s, 90), 2) if s else None,
            "p99_ms": round(percentile(s, 99), 2) if s else None,
            "max_ms": round(s[-1], 2) if s else None}


def count_commands(conn, users):
    return conn.execute("SELECT count(*) FROM commands WHERE user_id = ANY(%s::uuid[])",
                        ([u["id"] for u in users],)).fetchone()[0]


def measure(conn, users, rate, seconds, connections, settle=60.0, lag=None, cpu=False,
            lag_timeout=60.0, at_load_end=None):
    """One fixed-rate run: its figures (see the top). conn: the caller's Postgres
    connection, kept open (its backend is left out of the CPU figures). cpu (needs lag, a
    stack_lag.StackLag): also the whole stack's CPU from just before the load until every
    command is applied and the relay and every consumer group caught up with them.
    at_load_end: called with no argument as soon as the last answer is in."""
    ctx = mp.get_context("spawn")
    ready, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    sub = ctx.Process(target=subscriber,
                      args=([f"{{u:{x['id']}}}:events" for x in users], ready, stop, out),
                      daemon=True)
    sub.start()
    if not ready.wait(30):
        sys.exit("the Redis subscriber did not start")
    pg_pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    if cpu:
        count_before = count_commands(conn, users)
        snap_before = stack_cpu.snapshot()
    load_before = loadavg()
    results, elapsed = asyncio.run(run_load(users, rate, seconds, connections))
    if at_load_end is not None:
        at_load_end()
    load_after = loadavg()

    accepted = [r for r in results if r[0]]
    deadline = time.monotonic() + settle
    pg = {}
    while time.monotonic() < deadline:
        pg = pg_applied_at(conn, [r[0] for r in accepted])
        if len(pg) >= len(accepted):
            break
        time.sleep(0.5)
    time.sleep(1.0)  # the Redis script publishes right after the commit
    stop.set()
    seen = out.get(timeout=30)
    sub.join(10)

    from_ack = [(seen[c] - acked) * 1000 for c, _, _, acked in accepted if c in seen]
    from_id = [(seen[c] - uuid7_ms(c) / 1000) * 1000 for c, _, _, _ in accepted if c in seen]
    commit_lb = [(pg[c] - acked) * 1000 for c, _, _, acked in accepted if c in pg]
    ack = [(acked - sched) * 1000 for _, _, sched, acked in results]
    figures = {
        "target_rate": rate, "seconds": seconds, "connections": connections,
        "users": len(users), "sent": len(results), "accepted_202": len(accepted),
        "other_status": sorted({s for _, s, _, _ in results if s != 202}),
        "achieved_rate": round(len(results) / elapsed, 1),
        "applied_in_postgres": len(pg), "published": sum(1 for c, *_ in accepted if c in seen),
        "ack_latency_from_schedule": summary(ack),
        "accepted_to_applied": summary(from_ack),
        "command_id_to_applied": summary(from_id),
        "accepted_to_txn_start": summary(commit_lb),
        "loadavg_before": load_before, "loadavg_after": load_after,
    }
    if cpu:
        t_applied = time.monotonic()
        caught = lag.wait_all(t_applied, lag_timeout, poll_s=0.25)
        used = stack_cpu.usage(snap_before, exclude=(pg_pid, lag.pg_pid))
        applied = count_commands(conn, users) - count_before
        used.update({
            "commands_applied": applied,
            "core_ms_per_command": round(1000 * used["total_cpu_s"] / applied, 4) if applied else None,
            "downstream_caught_up": caught["all_zero"],
            "downstream_seconds_after_applied": caught["seconds"],
            "downstream_left": caught["last"],
            "excluded_pg_backends": [pg_pid, lag.pg_pid],
        })
        figures["stack_cpu"] = used
    return figures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=2000)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--settle", type=float, default=60, help="longest wait for stragglers")
    ap.add_argument("--name", default="latency", help="the figures' file: <work>/NAME.json")
    ap.add_argument("--cpu", type=int, default=1,
                    help="1: also the whole stack's CPU per applied command")
    a = ap.parse_args()
    with open(f"{work_dir()}/latency_users.json") as f:
        users = json.load(f)

    with psycopg.connect(env("DATABASE_URL"), autocommit=True,
                         application_name="taskbus-bench") as conn:
        wait_idle(conn)  # earlier phases' backlog would count against this one
        lag = None
        if a.cpu:
            # ... and so would the relay's and the consumers' (the POST phase's events)
            lag = StackLag()
            before = lag.wait_all(time.monotonic(), 120)
            if not before["all_zero"]:
                print(f"[bench] the pipeline was still behind before the load: {before['last']}",
                      flush=True)
        try:
            figures = measure(conn, users, a.rate, a.seconds, a.connections, a.settle, lag,
                              bool(a.cpu))
        finally:
            if lag is not None:
                lag.close()
    write_result(a.name, figures)


if __name__ == "__main__":
    main()
