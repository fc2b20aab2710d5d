"""Creates the benchmark's users and tasks through the API (tests/bench/run calls it).

Owns: <work>/get_token.txt + get_ids.txt (one user and its tasks, for the cached GET and
the cached list page), <work>/post_tokens.txt + post_users.txt (users for the POST load
and, by id, the produce baseline's message keys), <work>/latency_users.json and
<work>/drain_users.json and <work>/import_users.json (users for the latency, drain and
import phases).
Rules: tasks are created through the API like a client would, then we wait (bounded) until
the writer applied every one, and read each once (and the first list page of --list-limit
once) so the GET phases start from a warm cache; any refusal ends the run with the answer
we got.
"""

import argparse
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import requests

from bench_common import api_url, env, register_user, work_dir, write_lines

_local = threading.local()


def session():
    s = getattr(_local, "s", None)
    if s is None:
        s = _local.s = requests.Session()
    return s


def create_task(token, n):
    body = {"title": f"bench task {n}", "priority": ("low", "medium", "high", "urgent")[n % 4],
            "tags": ["bench", f"t{n % 10}"], "description": "a task of the benchmark data set"}
    r = session().post(f"{api_url()}/api/v1/tasks", json=body,
                       headers={"Authorization": f"Bearer {token}"}, timeout=60)
    if r.status_code != 202:
        sys.exit(f"create task {n}: {r.status_code} {r.text[:300]}")
    return r.json()["task"]["id"]


def read_task(token, task_id):
    r = session().get(f"{api_url()}/api/v1/tasks/{task_id}",
                      headers={"Authorization": f"Bearer {token}"}, timeout=60)
    if r.status_code != 200:
        sys.exit(f"read task {task_id}: {r.status_code} {r.text[:300]}")


def list_first_page(token, limit):
    r = session().get(f"{api_url()}/api/v1/tasks", params={"limit": limit},
                      headers={"Authorization": f"Bearer {token}"}, timeout=60)
    if r.status_code != 200 or len(r.json()["items"]) != limit:
        sys.exit(f"list the first page of {limit}: {r.status_code} {r.text[:300]}")


def wait_applied(user_id, want, timeout_s=120):
    deadline = time.monotonic() + timeout_s
    have = -1
    with psycopg.connect(env("DATABASE_URL"), autocommit=True) as conn:
        while time.monotonic() < deadline:
            have = conn.execute("SELECT count(*) FROM tasks WHERE owner_id = %s",
                                (user_id,)).fetchone()[0]
            if have >= want:
                return
            time.sleep(0.2)
    sys.exit(f"only {have} of {want} bench tasks were applied within {timeout_s} s")


def register_many(tag, n):
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda i: register_user(session(), f"{tag}{i}"), range(n)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--post-users", type=int, default=8)
    ap.add_argument("--latency-users", type=int, default=8)
    ap.add_argument("--drain-users", type=int, default=8)
    ap.add_argument("--import-users", type=int, default=2)
    ap.add_argument("--list-limit", type=int, default=50)
    a = ap.parse_args()
    if a.tasks < a.list_limit:
        sys.exit(f"--tasks {a.tasks}: the list phase needs at least --list-limit {a.list_limit}")
    work = work_dir()

    reader_id, reader_token = register_user(session(), "reader")
    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(lambda n: create_task(reader_token, n), range(a.tasks)))
    wait_applied(reader_id, a.tasks)
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda t: read_task(reader_token, t), ids))
    list_first_page(reader_token, a.list_limit)
    write_lines(os.path.join(work, "get_token.txt"), [reader_token])
    write_lines(os.path.join(work, "get_ids.txt"), ids)

    posters = register_many("poster", a.post_users)
    write_lines(os.path.join(work, "post_tokens.txt"), [t for _, t in posters])
    write_lines(os.path.join(work, "post_users.txt"), [u for u, _ in posters])
    for name, n in (("latency_users", a.latency_users), ("drain_users", a.drain_users),
                    ("import_users", a.import_users)):
        users = [{"id": u, "token": t} for u, t in register_many(name.split("_")[0], n)]
        with open(os.path.join(work, f"{name}.json"), "w") as f:
            json.dump(users, f)
    print(f"[bench] setup: {a.tasks} tasks of one user applied and read once; "
          f"{a.post_users} POST users, {a.latency_users} latency users, "
          f"{a.drain_users} drain users, {a.import_users} import users", flush=True)


if __name__ == "__main__":
    main()
