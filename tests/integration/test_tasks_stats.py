"""GET /api/v1/tasks/stats at scale (issue 8): the per-user counters that the writes keep
(schemas/migrations/0011_task_counts.sql) agree with a count over the user's tasks.

One user's tasks are created, completed, reopened, re-prioritised, re-dated, deleted and
imported through the API; after each step the API's stats equal the plain count(*) the
API ran before the counters existed, and the counter rows equal a GROUP BY over tasks.
"overdue" depends on the clock alone: a task that falls due is counted once it is due,
with no write in between.
"""

import json
from datetime import datetime, timedelta, timezone

import pytest

from helpers.tasks import IMPORT, pg, rfc3339, task_user, wait_until

COUNTING = """
SELECT json_build_object(
  'by_status', json_build_object('todo', count(*) FILTER (WHERE status = 'todo'),
    'in_progress', count(*) FILTER (WHERE status = 'in_progress'),
    'done', count(*) FILTER (WHERE status = 'done')),
  'by_priority', json_build_object('low', count(*) FILTER (WHERE priority = 'low'),
    'medium', count(*) FILTER (WHERE priority = 'medium'),
    'high', count(*) FILTER (WHERE priority = 'high'),
    'urgent', count(*) FILTER (WHERE priority = 'urgent')),
  'overdue', count(*) FILTER (WHERE due_at < now() AND status <> 'done'),
  'done_last_7_days', count(*) FILTER (WHERE completed_at >= now() - interval '7 days'),
  'total', count(*))
FROM tasks WHERE owner_id = %s
"""

COUNTER_DIFF = """
SELECT count(*) FROM (
  (SELECT counter, day, n FROM task_counts WHERE owner_id = %(u)s
   EXCEPT SELECT k.counter, k.day, count(*) FROM tasks t,
     task_count_keys(t.status, t.priority, t.due_at, t.completed_at) k
     WHERE t.owner_id = %(u)s GROUP BY 1, 2)
  UNION ALL
  (SELECT k.counter, k.day, count(*) FROM tasks t,
     task_count_keys(t.status, t.priority, t.due_at, t.completed_at) k
     WHERE t.owner_id = %(u)s GROUP BY 1, 2
   EXCEPT SELECT counter, day, n FROM task_counts WHERE owner_id = %(u)s)) d
"""


@pytest.fixture(scope="module")
def counted(api_url):
    return task_user(api_url, "tasks-stats")


def assert_exact(api, step):
    """The API's stats equal counting, and the counters equal a recount. The stats are
    read between two counts that agree, so no write of another test can fall between."""
    with pg() as conn:
        for _ in range(20):
            before = conn.execute(COUNTING, (api.id,)).fetchone()[0]
            r = api.stats()
            assert r.status_code == 200, f"{step}: {r.status_code} {r.text[:300]}"
            after = conn.execute(COUNTING, (api.id,)).fetchone()[0]
            if before == after:
                break
        assert r.json() == before, f"{step}: stats {r.json()}, counting says {before}"
        diff = conn.execute(COUNTER_DIFF, {"u": api.id}).fetchone()[0]
        assert diff == 0, f"{step}: {diff} counter rows differ from a recount"
        zero = conn.execute("SELECT count(*) FROM task_counts WHERE owner_id = %s AND n <= 0",
                            (api.id,)).fetchone()[0]
        assert zero == 0, f"{step}: counters at zero or below are kept"


def test_counters_follow_creates_updates_deletes_and_imports(counted):
    api = counted
    now = datetime.now(timezone.utc)
    assert_exact(api, "a new user")
    made = []
    for i in range(12):
        body = {"title": f"stats {i}", "priority": ("low", "medium", "high", "urgent")[i % 4],
                "status": ("todo", "in_progress", "done")[i % 3]}
        if i % 4 != 3:
            body["due_at"] = rfc3339(now + timedelta(days=(i % 5) - 2, hours=1))
        made.append(api.create_applied(body))
    assert_exact(api, "after creates")

    for t in made[:4]:
        r = api.patch(t["id"], {"status": "done"}, if_match=t["version"], wait=5)
        assert r.status_code == 200, r.text
    assert_exact(api, "after completing")
    r = api.patch(made[2]["id"], {"status": "todo"}, wait=5)
    assert r.status_code == 200, r.text
    assert_exact(api, "after reopening")
    for t in made[4:8]:
        r = api.patch(t["id"], {"priority": "urgent", "due_at": rfc3339(now - timedelta(days=3))},
                      wait=5)
        assert r.status_code == 200, r.text
    r = api.patch(made[8]["id"], {"due_at": None}, wait=5)
    assert r.status_code == 200, r.text
    r = api.patch(made[9]["id"], {"title": "renamed, nothing counted moves"}, wait=5)
    assert r.status_code == 200, r.text
    assert_exact(api, "after moving priorities and due dates")

    for t in made[10:]:
        r = api.delete(t["id"], wait=5)
        assert r.status_code == 204, r.text
    assert_exact(api, "after deletes")

    items = [{"title": f"imported {i}", "status": ("todo", "done")[i % 2],
              "priority": ("high", "low")[i % 2],
              "due_at": rfc3339(now + timedelta(days=(i % 3) - 1))} for i in range(30)]
    r = api.req("POST", IMPORT, data=json.dumps(items), headers={"Content-Type": "application/json"})
    assert r.status_code == 202, r.text
    imp = r.json()["import_id"]

    def applied():
        p = api.req("GET", f"{IMPORT}/{imp}")
        assert p.status_code == 200, p.text
        return p.json()["applied"] == 30

    wait_until(applied, 60, f"import {imp} applied")
    assert_exact(api, "after an import")
    s = api.stats().json()
    assert s["total"] == 10 + 30, s


def test_overdue_follows_the_clock(api_url):
    """A task due in a few seconds becomes overdue without any write."""
    api = task_user(api_url, "tasks-stats-clock")
    due = datetime.now(timezone.utc) + timedelta(seconds=8)
    api.create_applied({"title": "soon due", "due_at": rfc3339(due)})
    asked = datetime.now(timezone.utc)
    first = api.stats().json()
    assert first["total"] == 1, first
    if asked < due - timedelta(seconds=1):  # asked well before it fell due (same clock)
        assert first["overdue"] == 0, first
    wait_until(lambda: api.stats().json()["overdue"] == 1, 60, "the task counted overdue once due")
    assert_exact(api, "once due")
