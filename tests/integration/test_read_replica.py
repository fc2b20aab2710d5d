"""Exact reads from the Postgres read replica (issue 13; docs/decisions.md "Exact reads from
the replica").

Owns: the rule as a client sees it, on a real streaming replica (hot standby, made by
tests/integration/helpers/pg_replica from the test stack's primary) and a third API
instance started here with DATABASE_READ_URL pointing at it (the stack's `api` and `api2`
keep reading the primary, so no other test depends on the replica):
- with replay paused on the replica (pg_wal_replay_pause(): a lag that does not end by
  itself), a read after a write reported applied returns the applied version, from the
  primary, and taskbus_db_reads_total says why (replica_behind);
- once replay has passed the user's commit LSN, the same kind of read is served by the
  replica (caught_up);
- the replica stopped: every read still answers 200 (primary: replica_unreachable, then
  replica_backoff) and /ready stays 200; started again: reads use the replica again.
Reads are made to reach Postgres: each reads a task or a list page this instance has not
cached (the near cache holds what it read; an applied write dropped what it held before),
and the Redis copy is deleted first.
Rules: every wait has a deadline; nothing sleeps on luck.
"""

import os
import re
import signal
import socket
import subprocess
import time

import psycopg
import pytest
import requests

from helpers.stack_control import env
from helpers.tasks import pg, redis_conn, task_of, task_user, unique, wait_until

# It makes, pauses and stops its own replica of the single test Postgres; the scaled stack
# has its own replica (postgres-replica), exercised by tests/scale.
pytestmark = pytest.mark.single_stack_only(reason="copies and stops a replica of the single test Postgres")

HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers", "pg_replica")
METRIC = re.compile(r'^taskbus_db_reads_total\{pool="(\w+)",reason="(\w+)"\} (\S+)$', re.M)


def _replica(action):
    p = subprocess.run([HELPER, action], env=os.environ.copy(), capture_output=True, text=True,
                       timeout=180, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, f"pg_replica {action}: exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p.stdout.strip()


def _replica_url():
    return f"postgresql://taskbus:taskbus@127.0.0.1:{_replica('port')}/taskbus"


def _replica_sql(sql):
    with psycopg.connect(_replica_url(), autocommit=True, connect_timeout=10) as conn:
        return conn.execute(sql).fetchone()[0]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _reads(url):
    """{(pool, reason): count} of the instance's taskbus_db_reads_total."""
    r = requests.get(url + "/metrics", timeout=5)
    assert r.status_code == 200, r.status_code
    return {(m[0], m[1]): float(m[2]) for m in METRIC.findall(r.text)}


def _delta(before, after):
    return {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}


@pytest.fixture(scope="module")
def replica_api():
    """A third taskbus-api reading the replica; the replica and the instance stop after the
    module."""
    _replica("start")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    e = os.environ.copy()
    e["TASKBUS_HTTP_PORT"] = str(port)
    # connect_timeout keeps a replica that does not answer from holding a read long.
    e["DATABASE_READ_URL"] = _replica_url() + "?connect_timeout=2"
    binary = os.path.join(env("TASKBUS_BUILD_DIR"), "taskbus-api")
    log_path = os.path.join(env("TASKBUS_DATA_DIR"), "logs", "api-replica.log")
    log = open(log_path, "ab")
    proc = subprocess.Popen([binary], env=e, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        def ready():
            assert proc.poll() is None, f"taskbus-api exited {proc.returncode} (see {log_path})"
            try:
                return requests.get(url + "/ready", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(ready, 60, f"{url}/ready answers 200", interval=0.2)
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        log.close()
        # Whatever a test did to it: replay resumed and running, then stopped.
        subprocess.run([HELPER, "start"], env=os.environ.copy(), capture_output=True, timeout=180)
        try:
            _replica_sql("SELECT pg_wal_replay_resume()")
        except psycopg.Error:
            pass
        _replica("wipe")


def _commit_lsn(api):
    """The user's recorded commit LSN ({u:<uid>}:lsn). The writer records it when it lands a
    batch (branch i13-writer); where it has not (a writer without it), the test records what
    the writer would: the primary's WAL position after the write was reported applied, which
    is at or past the commit. Returns the value."""
    r = redis_conn()
    key = f"{{u:{api.id}}}:lsn"
    with pg() as conn:
        now = int(conn.execute("SELECT pg_current_wal_lsn() - '0/0'").fetchone()[0])
    have = r.get(key)
    if have is None or int(have) < now:
        # Set if greater, as the writer does; never lowers what the writer wrote.
        r.eval("local v = tonumber(redis.call('GET', KEYS[1]) or '-1') "
               "if tonumber(ARGV[1]) > v then redis.call('SET', KEYS[1], ARGV[1], 'EX', 604800) end "
               "return 1", 1, key, now)
    return int(r.get(key))


def _replayed(lsn):
    v = _replica_sql("SELECT pg_last_wal_replay_lsn() - '0/0'")
    return v is not None and int(v) >= lsn


def _drop_redis_copy(api, tid):
    redis_conn().delete(f"{{u:{api.id}}}:task:{tid}")


def _applied_patch(api, tid, body):
    r = api.patch(tid, body, wait=10)
    assert r.status_code == 200, f"PATCH with Prefer: wait: {r.status_code} {r.text[:300]}"
    return task_of(r.json())


def test_paused_replica_reads_the_primary_then_the_replica(replica_api):
    api = task_user(env("TASKBUS_API_URL"), "replica_paused")
    on_replica_api = api.on(replica_api)
    t1 = api.create_applied({"title": unique("replica-a")})
    t2 = api.create_applied({"title": unique("replica-b")})
    lsn = _commit_lsn(api)
    wait_until(lambda: _replayed(lsn), 30, "the replica replays the creates")

    _replica_sql("SELECT pg_wal_replay_pause()")
    wait_until(lambda: _replica_sql("SELECT pg_get_wal_replay_pause_state()") == "paused", 30,
               "replay paused on the replica")
    try:
        v1 = _applied_patch(api, t1["id"], {"title": "changed while the replica is paused"})
        v2 = _applied_patch(api, t2["id"], {"title": "also changed while paused"})
        lsn = _commit_lsn(api)
        assert not _replayed(lsn), "replay is paused, yet the replica has the writes"
        # The replica really holds the older rows: a read there would be stale.
        with psycopg.connect(_replica_url(), autocommit=True, connect_timeout=10) as conn:
            old = conn.execute("SELECT version FROM tasks WHERE id = %s", (t1["id"],)).fetchone()[0]
        assert old == t1["version"] < v1["version"], (old, t1["version"], v1["version"])

        before = _reads(replica_api)
        _drop_redis_copy(api, t1["id"])
        g = on_replica_api.get(t1["id"])
        assert g.status_code == 200, g.text[:300]
        assert g.json()["version"] == v1["version"], g.json()
        assert g.json()["title"] == "changed while the replica is paused"
        page = on_replica_api.list({"limit": 7})
        assert page.status_code == 200, page.text[:300]
        versions = {t["id"]: t["version"] for t in page.json()["items"]}
        assert versions == {t1["id"]: v1["version"], t2["id"]: v2["version"]}, versions
        moved = _delta(before, _reads(replica_api))
        assert moved == {("primary", "replica_behind"): 2}, moved
    finally:
        _replica_sql("SELECT pg_wal_replay_resume()")

    wait_until(lambda: _replayed(lsn), 30, "the replica replays the patches once resumed")
    before = _reads(replica_api)
    _drop_redis_copy(api, t2["id"])
    g = on_replica_api.get(t2["id"])  # never read by this instance: not in its near cache
    assert g.status_code == 200, g.text[:300]
    assert g.json()["version"] == v2["version"], g.json()
    page = on_replica_api.list({"limit": 8})  # another page hash: not cached anywhere
    assert page.status_code == 200, page.text[:300]
    assert {t["id"]: t["version"] for t in page.json()["items"]} == {
        t1["id"]: v1["version"], t2["id"]: v2["version"]}
    moved = _delta(before, _reads(replica_api))
    assert moved == {("replica", "caught_up"): 2}, moved


def test_missing_commit_lsn_reads_the_primary(replica_api):
    api = task_user(env("TASKBUS_API_URL"), "replica_nolsn")
    t = api.create_applied({"title": unique("replica-nolsn")})
    redis_conn().delete(f"{{u:{api.id}}}:lsn")
    _drop_redis_copy(api, t["id"])
    before = _reads(replica_api)
    g = api.on(replica_api).get(t["id"])
    assert g.status_code == 200 and g.json()["version"] == t["version"], g.text[:300]
    assert _delta(before, _reads(replica_api)) == {("primary", "lsn_missing"): 1}


def test_stopped_replica_degrades_to_the_primary(replica_api):
    api = task_user(env("TASKBUS_API_URL"), "replica_stopped")
    on_replica_api = api.on(replica_api)
    tasks = [api.create_applied({"title": unique(f"replica-stop-{i}")}) for i in range(4)]
    lsn = _commit_lsn(api)
    wait_until(lambda: _replayed(lsn), 30, "the replica replays the creates")

    _replica("stop")
    try:
        before = _reads(replica_api)
        limit = 10
        for t in tasks:
            _drop_redis_copy(api, t["id"])
            g = on_replica_api.get(t["id"])
            assert g.status_code == 200 and g.json()["version"] == t["version"], g.text[:300]
            limit += 1
            page = on_replica_api.list({"limit": limit})
            assert page.status_code == 200 and len(page.json()["items"]) == 4, page.text[:300]
        for path in ("/api/v1/tasks/stats", "/api/v1/activity", "/api/v1/analytics/daily"):
            r = on_replica_api.req("GET", path)
            assert r.status_code == 200, f"{path}: {r.status_code} {r.text[:300]}"
        moved = _delta(before, _reads(replica_api))
        assert set(moved) <= {("primary", "replica_unreachable"), ("primary", "replica_backoff")}, moved
        assert moved.get(("primary", "replica_unreachable"), 0) >= 1, moved
        assert sum(moved.values()) == 11, moved
        ready = requests.get(replica_api + "/ready", timeout=5)
        assert ready.status_code == 200, ready.text[:300]
        assert ready.json()["checks"]["postgres_read"] != "ok", ready.json()
    finally:
        _replica("start")

    # Started again: after at most one back-off, a read is served by the replica.
    before = _reads(replica_api)
    limits = iter(range(20, 100))

    def served_by_replica():
        page = on_replica_api.list({"limit": next(limits)})
        assert page.status_code == 200, page.text[:300]
        return _delta(before, _reads(replica_api)).get(("replica", "caught_up"), 0) >= 1

    wait_until(served_by_replica, 30, "a read served by the restarted replica", interval=0.2)
    assert requests.get(replica_api + "/ready", timeout=5).json()["checks"]["postgres_read"] == "ok"
