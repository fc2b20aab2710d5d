"""Bulk imports: how fast they apply, and what they do to interactive writes (tests/bench/run).

Owns: (a) one NDJSON import (POST /api/v1/tasks/import) on an otherwise idle stack, timed
from the request until every accepted task is applied (a row in `commands`); (b) a larger
import (split into imports of at most --max-items, the API's limit per request, all posted
at once by one user) and, once it is being applied, interactive creates of the latency
users at a fixed rate (applied_latency.measure) with their accepted -> applied figures;
writes <work>/imports.json.
Rules: each part starts with the writer idle and the relay and consumers caught up, and
uses its own fresh user (setup_data.py's import users), so that user's new `commands` rows
are the import's; "applied" is polled from Postgres on one connection (every 50 ms for
the small import, 200 ms for the large one's end);
every wait is bounded, and a part that runs out of time says how far it got (the import
then goes on in the background). Nothing is judged here.
"""

import argparse
import json
import time

import psycopg
import requests

from applied_latency import count_commands, measure
from bench_common import api_url, env, work_dir, write_result
from stack_lag import StackLag
from writer_drain import wait_idle

IMPORT = "/api/v1/tasks/import"


def ndjson(n, tag):
    return "".join(json.dumps({"title": f"{tag} {i}", "priority": "medium",
                               "tags": ["bench", tag]}) + "\n" for i in range(n)).encode()


def post_import(session, token, n, tag):
    """POSTs one NDJSON import of n tasks: (answer document, seconds the answer took)."""
    t0 = time.monotonic()
    r = session.post(f"{api_url()}{IMPORT}", data=ndjson(n, tag), timeout=120,
                     headers={"Authorization": f"Bearer {token}",
                              "Content-Type": "application/x-ndjson"})
    took = time.monotonic() - t0
    if r.status_code != 202:
        raise SystemExit(f"import of {n} tasks: {r.status_code} {r.text[:300]}")
    doc = r.json()
    if doc.get("accepted") != n:
        raise SystemExit(f"import of {n} tasks: only {doc.get('accepted')} accepted: "
                         f"{json.dumps(doc.get('errors'))[:300]}")
    return doc, took


def wait_applied(conn, user, base, n, t_ref, timeout_s, poll_s=0.05):
    """(new commands of user seen, seconds after t_ref when all n were there or None);
    base: the user's commands before."""
    have = 0
    while time.monotonic() < t_ref + timeout_s:
        have = count_commands(conn, [user]) - base
        if have >= n:
            return have, round(time.monotonic() - t_ref, 3)
        time.sleep(poll_s)
    return have, None


def progress(session, token, import_id):
    r = session.get(f"{api_url()}{IMPORT}/{import_id}", timeout=30,
                    headers={"Authorization": f"Bearer {token}"})
    if r.status_code != 200:
        return {"status_code": r.status_code}
    d = r.json()
    return {k: d.get(k) for k in ("status", "total", "accepted", "produced", "applied", "failed")}


def applied_at_span(conn, user, since):
    """Seconds from the first to the last batch transaction start of the user's commands
    applied since the Postgres time since."""
    return conn.execute(
        "SELECT extract(epoch FROM max(applied_at) - min(applied_at))::float8 FROM commands "
        "WHERE user_id = %s::uuid AND applied_at >= %s", (user["id"], since)).fetchone()[0]


def start_point(conn, user):
    """(the user's commands so far, Postgres' now)."""
    return count_commands(conn, [user]), conn.execute("SELECT now()").fetchone()[0]


def quiet(conn, lag):
    """True when the writer is idle and the pipeline caught up (bounded waits)."""
    try:
        wait_idle(conn, quiet_s=1.0)
    except SystemExit as e:  # still applying (an earlier import that ran out of time)
        print(f"[bench] {e}", flush=True)
        return False
    return lag.wait_all(time.monotonic(), 60)["all_zero"]


def small_import(conn, lag, session, user, n, timeout_s):
    idle = quiet(conn, lag)
    base, since = start_point(conn, user)
    t0 = time.monotonic()
    doc, answer_s = post_import(session, user["token"], n, "import-idle")
    have, applied_s = wait_applied(conn, user, base, n, t0, timeout_s)
    span = applied_at_span(conn, user, since)
    return {"tasks": n, "stack_idle_before": idle, "answer_seconds": round(answer_s, 3),
            "seconds_to_all_applied": applied_s, "applied": have, "timeout_s": timeout_s,
            "rate": round(n / applied_s, 1) if applied_s else None,
            "applied_at_span_seconds": round(span, 3) if span is not None else None,
            "progress": progress(session, user["token"], doc["import_id"])}


def large_import(conn, lag, session, user, users, n, max_items, rate, seconds, connections,
                 timeout_s):
    idle = quiet(conn, lag)
    sizes = [min(max_items, n - i) for i in range(0, n, max_items)]
    base, since = start_point(conn, user)
    t0 = time.monotonic()
    docs, answers = [], []
    for k, size in enumerate(sizes):
        doc, took = post_import(session, user["token"], size, f"import-load-{k}")
        docs.append(doc)
        answers.append(round(took, 3))
    posted_s = time.monotonic() - t0
    # the interactive load starts once the import is being applied
    _, started_s = wait_applied(conn, user, base, 1, t0, 30, poll_s=0.02)
    if started_s is None:
        raise SystemExit("the large import was not being applied 30 s after its requests")
    before_load = count_commands(conn, [user]) - base
    at_end = []
    load = measure(conn, users, rate, seconds, connections,
                   at_load_end=lambda: at_end.append(count_commands(conn, [user]) - base))
    after_load = at_end[0]
    have, applied_s = wait_applied(conn, user, base, n, t0, timeout_s, poll_s=0.2)
    span = applied_at_span(conn, user, since)
    return {"tasks": n, "imports": sizes, "stack_idle_before": idle,
            "answer_seconds": answers, "posted_seconds": round(posted_s, 3),
            "first_applied_seconds": started_s,
            "import_applied_before_load": before_load,
            "import_applied_after_load": after_load,
            "load_overlapped_import": after_load < n,
            "seconds_to_all_applied": applied_s, "applied": have, "timeout_s": timeout_s,
            "rate": round(n / applied_s, 1) if applied_s else None,
            "applied_at_span_seconds": round(span, 3) if span is not None else None,
            "progress": [progress(session, user["token"], d["import_id"]) for d in docs],
            "interactive": load}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", type=int, default=10000)
    ap.add_argument("--large", type=int, default=50000)
    ap.add_argument("--max-items", type=int, default=10000)
    ap.add_argument("--rate", type=float, default=500)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--small-timeout", type=float, default=90)
    ap.add_argument("--large-timeout", type=float, default=150)
    a = ap.parse_args()
    with open(f"{work_dir()}/import_users.json") as f:
        import_users = json.load(f)
    with open(f"{work_dir()}/latency_users.json") as f:
        users = json.load(f)
    session = requests.Session()
    lag = StackLag()
    figures = {"max_items_per_import": a.max_items}
    try:
        with psycopg.connect(env("DATABASE_URL"), autocommit=True,
                             application_name="taskbus-bench") as conn:
            if a.small > 0:
                figures["small"] = small_import(conn, lag, session, import_users[0], a.small,
                                                a.small_timeout)
                print(f"[bench] import of {a.small}: {json.dumps(figures['small'])}", flush=True)
            if a.large > 0:
                figures["large"] = large_import(conn, lag, session, import_users[1], users,
                                                a.large, a.max_items, a.rate, a.seconds,
                                                a.connections, a.large_timeout)
    finally:
        lag.close()
    write_result("imports", figures)


if __name__ == "__main__":
    main()
