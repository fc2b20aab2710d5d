"""Redis Cluster under load: one master killed (kill -9; its replica takes its slots over),
later started again (it rejoins as a replica); reads and writes keep being answered, and
the caches are exact afterwards.

Owns: the scenario's schedule and its own checks: after the cluster is whole again no
write or read is refused (503) any more, and every cached task of the scenario's users
in Redis equals its row in Postgres (version and title).
Rules (scale_run.scenario): 0 lost, 0 duplicated, 0 stale, no failed request (503 while
the cluster fails over is a refusal, counted and shown).
"""

import json
import time

import scale_stack
from helpers import stack_control
from helpers.tasks import pg, redis_conn
from scale_run import BASELINE_S, RATE, READ_HEAVY, SETTLE_S, pause, scenario

KILLED_DOWN_S = 10.0  # the killed master stays down this long after the failover


def cache_mismatches(uids):
    """[description] of every cached task of these users whose Redis entry differs from
    Postgres; (mismatches, number of cached entries compared)."""
    with pg() as conn:
        rows = conn.execute("SELECT id::text, owner_id::text, title, version FROM tasks"
                            " WHERE owner_id = ANY(%s::uuid[])", (list(uids),)).fetchall()
    r = redis_conn()
    out, compared = [], 0
    try:
        for i in range(0, len(rows), 500):
            chunk = rows[i:i + 500]
            pipe = r.pipeline(transaction=False)
            for tid, owner, _t, _v in chunk:
                pipe.get("{u:%s}:task:%s" % (owner, tid))
            for (tid, _owner, title, version), raw in zip(chunk, pipe.execute()):
                if raw is None:
                    continue
                compared += 1
                try:
                    cached = json.loads(raw)
                except ValueError:
                    out.append(f"task {tid}: unreadable cache entry {raw[:80]!r}")
                    continue
                if not isinstance(cached, dict) or cached.get("version") != version or cached.get("title") != title:
                    got = cached.get("version") if isinstance(cached, dict) else cached
                    out.append(f"task {tid}: Redis version {got}, Postgres {version}")
    finally:
        r.close()
    return out, compared


def test_a_redis_master_killed_fails_over_and_returns(api_url, pool):
    assert scale_stack.redis_cluster(), "the stack runs one plain Redis (TASKBUS_SCALE_REDIS=standalone), not the cluster"
    found = {}
    after_window = "killed master back (replica)"

    def drive(s):
        s.open_window("baseline")
        pause(BASELINE_S)
        roles = scale_stack.redis_roles()
        masters = [p for p, role in sorted(roles.items()) if role == "master"]
        assert len(masters) == 3, f"the Redis Cluster has not three masters: {roles}"
        port = masters[0]
        name = scale_stack.redis_node_name(port)
        found["killed"] = name
        wd = s.open_window(f"kill -9 {name} (a master)")
        stack_control.kill(name)
        wd["inject"] = t0 = time.time()
        others = [p for p in scale_stack.redis_ports() if p != port]
        scale_stack.wait_cluster_ok(others, timeout=60)
        wd["back"] = time.time()
        found["failover_s"] = round(time.time() - t0, 1)
        pause(KILLED_DOWN_S)
        wd = s.open_window(f"start {name}")
        stack_control.start(name)
        scale_stack.wait_cluster_ok(timeout=60)
        wd["inject"] = wd["back"] = time.time()
        found["roles_after"] = scale_stack.redis_roles()
        s.open_window(after_window)
        pause(SETTLE_S)

    def checks(run):
        v = []
        late = [a for a in run.ledger.attempts if a.window == after_window and a.status == 503]
        if late:
            v.append(("503_after_failover", len(late), "requests refused after the cluster was whole again, e.g. "
                      f"{[a.route for a in late[:3]]}"))
        uids = {w.user for w in run.ledger.writes}
        bad, compared = cache_mismatches(uids)
        if bad:
            v.append(("cache_inexact", len(bad), "cached tasks that differ from Postgres: " + "; ".join(bad[:5])))
        if compared == 0:
            # The load read its tasks by id (a miss fills the cache): none cached means the
            # comparison above proved nothing.
            v.append(("cache_empty", 1, "no task of the run's users is cached in Redis: nothing to compare"))
        return v, {"killed master": found.get("killed"),
                   "seconds from the kill to cluster_state ok on the others": found.get("failover_s"),
                   "roles after its restart": found.get("roles_after"),
                   "cached tasks compared with Postgres": compared}

    scenario("Redis Cluster: a master killed", pool, api_url, RATE, READ_HEAVY, drive, checks=checks)
