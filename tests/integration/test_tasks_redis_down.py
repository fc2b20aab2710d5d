"""Redis stopped: task writes are still accepted (202) and applied, reads come from
Postgres; once Redis is back and the commands are applied, reads are exact (no cached
older version is ever served). Redis is always started again, whatever happens."""

import time

import pytest

from helpers import stack_control
from helpers.tasks import etag_version, task_of, task_user, wait_until

pytestmark = pytest.mark.single_stack_only


@pytest.fixture(scope="module")
def api(api_url):
    return task_user(api_url, "tasks-redis-down")


def test_tasks_without_redis_then_exact_reads(api):
    t = api.create_applied({"title": "cached before", "tags": ["rd"]})
    # Fill the caches with the old state: a stale entry is then there to be served.
    assert api.get(t["id"]).json()["version"] == t["version"]
    assert any(i["id"] == t["id"] for i in api.list().json()["items"])

    stack_control.stop("redis")
    try:
        t0 = time.monotonic()
        r = api.create({"title": "made while redis is down", "tags": ["rd"]})
        assert r.status_code == 202, f"create with Redis down: {r.status_code} {r.text[:300]}"
        assert time.monotonic() - t0 < 10, "a write waited on the missing Redis"
        new = task_of(r.json())
        # The writer commits to Postgres before it needs Redis; the API reads Postgres.
        applied = api.wait_command(r.json()["command_id"], timeout=60)
        assert applied["task_id"] == new["id"]
        g = api.get(new["id"])
        assert g.status_code == 200 and g.json()["title"] == "made while redis is down", g.text
        g_old = api.get(t["id"])
        assert g_old.status_code == 200 and g_old.json()["version"] == t["version"], g_old.text
        listed = api.list({"tag": "rd", "sort": "created_at"})
        assert listed.status_code == 200, listed.text
        assert [i["id"] for i in listed.json()["items"]] == [t["id"], new["id"]], listed.json()
        assert api.stats().status_code == 200
        p = api.patch(t["id"], {"title": "changed while redis is down"}, if_match=t["version"])
        assert p.status_code == 202, f"PATCH with Redis down: {p.status_code} {p.text[:300]}"
        assert task_of(p.json())["version"] == t["version"] + 1
    finally:
        stack_control.start("redis")

    api.wait_command(p.json()["command_id"], timeout=60)
    g = api.get(t["id"])
    assert g.status_code == 200
    assert g.json()["version"] == t["version"] + 1 and g.json()["title"] == "changed while redis is down", \
        f"a stale task was served after the update was reported applied: {g.json()}"
    assert etag_version(g) == t["version"] + 1
    item = next(i for i in api.list({"tag": "rd"}).json()["items"] if i["id"] == t["id"])
    assert item["version"] == t["version"] + 1, f"a stale list page after the update was applied: {item}"

    # And the cache works again: an update with wait is exact at once.
    u = api.patch(t["id"], {"title": "after redis"}, wait=5)
    assert u.status_code == 200, u.text
    assert api.get(t["id"]).json()["title"] == "after redis"
    # The API reconnected to Redis: command markers are there again (a pending answer or applied).
    c = api.create({"title": "back to normal"})
    assert c.status_code == 202
    assert api.command(c.json()["command_id"]).status_code == 200
    wait_until(lambda: api.get(task_of(c.json())["id"]).status_code == 200, 30, "the last create applied")
