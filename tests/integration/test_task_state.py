"""The compacted state topic task-state (issue 12): a new consumer bootstraps from it and
then follows task-events and task-state to exactly the tasks in Postgres.

The relay derives one task-state record from each task-events outbox row (key = task id;
value = the same bytes and headers for created/updated/completed; a tombstone, value
NULL without content-type, for deleted) and delivers it before the row's task-events
record; tasks that leave Postgres without an event (a user's deletion) get tombstones
through the outbox (0016's trigger). The mirror is examples/state-mirror, used as an
outside team would use it. Fences, never sleeps: commands are waited for, then the
outbox is published up to its last row, then the mirror reads both topics to their high
watermarks. No test depends on compaction having run.
"""

import json
import os
import re
import subprocess
import sys
import threading

import pytest

from helpers.kafka_events import EventCollector
from helpers.stack_control import env, repo_root
from helpers.tasks import IMPORT, TASK_KEYS, pg, task_user, unique, wait_until

sys.path.insert(0, os.path.join(repo_root(), "examples", "state-mirror"))
from state_mirror import StateMirror  # noqa: E402

STATE = "task-state"
EVENTS = "task-events"
N_TASKS = 1000


def run_admin(*args):
    binary = os.path.join(env("TASKBUS_BUILD_DIR"), "taskbus-admin")
    p = subprocess.run([binary, *args], env=os.environ.copy(), capture_output=True, text=True,
                       timeout=120, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, f"taskbus-admin {' '.join(args)}: {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p.stdout


def outbox_published(timeout=60):
    """Waits until every outbox row written so far is published: from then on all they
    caused is on Kafka, below the high watermarks."""
    with pg() as conn:
        last = conn.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()[0]

    def done():
        with pg() as conn:
            return conn.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL AND id <= %s",
                                (last,)).fetchone()[0] == 0

    wait_until(done, timeout, f"the outbox published up to row {last}", interval=0.1)


def import_tasks(api, n, tag):
    items = [{"title": f"{tag} {i}", "priority": ("low", "medium", "high", "urgent")[i % 4],
              "tags": [tag], "description": f"task {i} of {tag}"} for i in range(n)]
    r = api.req("POST", IMPORT, data=json.dumps(items), headers={"Content-Type": "application/json"})
    assert r.status_code == 202, r.text[:500]
    body = r.json()
    assert body["accepted"] == n, body
    import_id = body["import_id"] if "import_id" in body else body["id"]

    def applied():
        g = api.req("GET", f"{IMPORT}/{import_id}")
        assert g.status_code == 200, g.text
        return g.json()["applied"] == n

    wait_until(applied, 180, f"import {import_id} applied {n}", interval=0.25)
    rows = pg_tasks(api.id)
    assert len(rows) == n, len(rows)
    return sorted(rows)


def pg_tasks(user_id):
    with pg() as conn:
        return {tid: v for tid, v in conn.execute(
            "SELECT id::text, version FROM tasks WHERE owner_id = %s", (user_id,)).fetchall()}


def applied(api, r, what):
    assert r.status_code in (200, 202, 204), f"{what}: {r.status_code} {r.text[:300]}"
    if r.status_code == 202:
        api.wait_command(r.json()["command_id"], timeout=60)


def update(api, tid, body):
    applied(api, api.patch(tid, body, wait=5), f"PATCH {tid}")


def delete(api, tid):
    applied(api, api.delete(tid, wait=5), f"DELETE {tid}")


def assert_mirror_equals_postgres(mirror, api):
    """The mirror's tasks of the user are exactly the user's rows: the same ids and
    versions as the tasks table, and every field of the API's representation."""
    mine = {tid: t for tid, t in mirror.tasks.items() if t.get("user_id") == api.id}
    rows = pg_tasks(api.id)
    assert set(mine) == set(rows), (f"{len(set(mine) - set(rows))} ids only in the mirror, "
                                    f"{len(set(rows) - set(mine))} only in Postgres")
    stale = {tid: (mine[tid]["version"], v) for tid, v in rows.items() if mine[tid]["version"] != v}
    assert not stale, f"(mirror, postgres) versions differ: {dict(list(stale.items())[:5])}"
    listed = {t["id"]: t for t in api.list_all(limit=100)}
    assert set(listed) == set(rows)
    for tid, t in listed.items():
        want = {k: t[k] for k in TASK_KEYS}
        got = {k: mine[tid].get(k) for k in TASK_KEYS}
        assert got == want, f"task {tid}: mirror {got} != API {want}"


@pytest.fixture
def mirror():
    m = StateMirror(env("KAFKA_BROKERS"), group_id=f"itests-state-mirror-{unique('g')}")
    yield m
    m.close()


@pytest.fixture
def events_mirror():
    """A mirror that follows task-events alone after its bootstrap: it proves that half."""
    m = StateMirror(env("KAFKA_BROKERS"), group_id=f"itests-state-mirror-ev-{unique('g')}",
                    follow_state=False)
    yield m
    m.close()


def test_new_consumer_bootstraps_from_task_state_and_follows_to_postgres(api_url, mirror,
                                                                         events_mirror):
    alice = task_user(api_url, "task-state-alice")
    bob = task_user(api_url, "task-state-bob")
    tag = unique("st")
    ids = import_tasks(alice, N_TASKS, tag)
    bob_ids = import_tasks(bob, 20, tag + "-bob")
    # Before the mirror exists: updates (some of them completions), deletes.
    for i, tid in enumerate(ids[:60]):
        update(alice, tid, {"status": "done"} if i % 3 == 0 else {"title": f"{tag} renamed {i}"})
    for tid in ids[60:110]:
        delete(alice, tid)
    for tid in ids[110:120]:  # updated, then deleted: the state ends in a tombstone
        update(alice, tid, {"priority": "urgent"})
        delete(alice, tid)
    outbox_published()

    n = mirror.bootstrap(timeout=120)
    assert n >= N_TASKS - 60
    assert_mirror_equals_postgres(mirror, alice)

    # The second mirror bootstraps while the API writes (the case the ordering guarantee
    # is for), then follows task-events ALONE: every change of this phase is a command, so
    # it has an event, and that half of the recipe must end at Postgres by itself.
    writes_failed = []

    def concurrent_writes():
        try:
            for i, tid in enumerate(ids[170:230]):
                update(alice, tid, {"title": f"{tag} during {i}"})
            for tid in ids[230:250]:
                delete(alice, tid)
        except AssertionError as e:  # reported by the main thread
            writes_failed.append(e)

    writer = threading.Thread(target=concurrent_writes)
    writer.start()
    try:
        events_mirror.bootstrap(timeout=120)
    finally:
        writer.join(timeout=300)
    assert not writer.is_alive() and not writes_failed, writes_failed

    # While both follow: creates, updates (of old and new tasks), deletes, all by the API.
    fresh = [alice.create_applied({"title": f"{tag} fresh {i}"})["id"] for i in range(10)]
    for i, tid in enumerate(ids[120:150] + fresh[:5]):
        update(alice, tid, {"status": "in_progress", "tags": [tag, f"n{i}"]})
    for tid in ids[150:170] + fresh[5:7]:
        delete(alice, tid)
    for tid in ids[:10]:  # done before the bootstrap, reopened now
        update(alice, tid, {"status": "todo"})
    outbox_published()
    events_mirror.catch_up(timeout=120)
    assert_mirror_equals_postgres(events_mirror, alice)
    mirror.catch_up(timeout=120)
    assert_mirror_equals_postgres(mirror, alice)

    # A user's deletion has no task-events event: only the mirror that follows task-state
    # too learns of it (the events-only mirror keeps bob's tasks, which is why the recipe
    # says to follow both).
    run_admin("delete-user", bob.user.email)
    assert pg_tasks(bob.id) == {}
    outbox_published()
    mirror.catch_up(timeout=120)
    events_mirror.catch_up(timeout=120)
    assert set(bob_ids) <= set(events_mirror.tasks), "task-events carried a removal without a command"

    assert_mirror_equals_postgres(mirror, alice)
    assert not [t for t in mirror.tasks.values() if t.get("user_id") == bob.id], \
        "a deleted user's tasks are still in the mirror"
    assert set(bob_ids) <= set(mirror.deleted)


def test_a_delete_yields_a_tombstone_and_state_records_equal_the_events(api_url):
    api = task_user(api_url, "task-state-tomb")
    state = EventCollector(env("KAFKA_BROKERS"), STATE)
    events = EventCollector(env("KAFKA_BROKERS"), EVENTS)
    try:
        tid = api.create_applied({"title": unique("tomb")})["id"]
        update(api, tid, {"status": "done"})
        delete(api, tid)
        outbox_published()
        state.wait_caught_up(timeout=60)
        events.wait_caught_up(timeout=60)
        mine = [m for m in state.matching(lambda m: m["key"] == tid)]
        assert [m["value"] and m["value"]["type"] for m in mine] == [
            "taskbus.task.created", "taskbus.task.completed", None], mine
        tomb = mine[-1]
        assert tomb["raw"] is None
        assert "content-type" not in {k.lower() for k in tomb["headers"]}, tomb["headers"]
        evs = events.matching(lambda m: isinstance(m["value"], dict)
                              and m["value"].get("subject") == f"tasks/{tid}")
        assert [e["value"]["type"] for e in evs] == [
            "taskbus.task.created", "taskbus.task.completed", "taskbus.task.deleted"]
        for s, e in zip(mine[:2], evs[:2]):
            assert s["raw"] == e["raw"], "a state record is the event's exact bytes"
            assert s["headers"] == e["headers"]
            assert e["key"] == api.id and s["key"] == tid
        assert evs[2]["value"]["data"]["id"] == tid
    finally:
        state.close()
        events.close()


def test_a_users_deletion_tombstones_every_task(api_url):
    api = task_user(api_url, "task-state-gone")
    state = EventCollector(env("KAFKA_BROKERS"), STATE)
    try:
        ids = [api.create_applied({"title": unique("gone")})["id"] for _ in range(3)]
        outbox_published()
        with pg() as conn:
            assert conn.execute("DELETE FROM users WHERE id = %s", (api.id,)).rowcount == 1
            # the deleting transaction put one task-state row per task in the outbox
            assert pg_tasks(api.id) == {}
        outbox_published()
        state.wait_caught_up(timeout=60)
        for tid in ids:
            recs = state.matching(lambda m, tid=tid: m["key"] == tid)
            assert recs and recs[-1]["raw"] is None, f"no tombstone for {tid}: {recs}"
    finally:
        state.close()


def test_trigger_tombstones_only_deletes_without_an_event(api_url):
    """0016's trigger, in a transaction rolled back: a plain DELETE FROM tasks puts one
    task-state row (payload NULL) per task in the outbox; a delete marked as evented (what
    the writer's DELETE sets, since its taskbus.task.deleted yields the tombstone) none."""
    api = task_user(api_url, "task-state-trigger")
    ids = sorted(api.create_applied({"title": unique("trig")})["id"] for _ in range(2))
    with pg() as conn:
        for evented, want in ((False, ids), (True, [])):
            with conn.transaction(force_rollback=True):
                if evented:
                    conn.execute("SELECT set_config('taskbus.task_deletes_evented', 'on', true)")
                assert conn.execute("DELETE FROM tasks WHERE id = ANY(%s::uuid[])", (ids,)).rowcount == 2
                rows = conn.execute("SELECT key, payload, headers FROM outbox WHERE topic = %s"
                                    " AND key = ANY(%s) ORDER BY id", (STATE, ids)).fetchall()
                assert [r[0] for r in rows] == want
                assert all(r[1] is None and r[2] == {} for r in rows), rows
        with conn.transaction(force_rollback=True):  # TRUNCATE fires no DELETE trigger
            before = conn.execute("SELECT count(*) FROM tasks").fetchone()[0]
            mark = conn.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()[0]
            conn.execute("TRUNCATE tasks CASCADE")
            rows = conn.execute("SELECT count(*), count(DISTINCT key) FROM outbox WHERE id > %s"
                                " AND topic = %s AND payload IS NULL", (mark, STATE)).fetchone()
            assert rows == (before, before) and before >= 2, (rows, before)
        with conn.transaction(force_rollback=True):
            with pytest.raises(Exception, match="outbox_payload_null_only_on_task_state"):
                conn.execute("INSERT INTO outbox (event_id, topic, key, payload)"
                             " VALUES (gen_random_uuid(), 'task-events', 'k', NULL)")
    assert sorted(pg_tasks(api.id)) == ids


def test_writer_deletes_reach_task_state_once(api_url):
    """A delete through the API: its tombstone comes from the event alone (no trigger row)."""
    api = task_user(api_url, "task-state-once")
    state = EventCollector(env("KAFKA_BROKERS"), STATE)
    try:
        tid = api.create_applied({"title": unique("once")})["id"]
        delete(api, tid)
        outbox_published()
        state.wait_caught_up(timeout=60)
        recs = state.matching(lambda m: m["key"] == tid)
        assert [r["raw"] is None for r in recs] == [False, True], recs
    finally:
        state.close()


def test_backfill_puts_every_tasks_current_state_on_task_state(api_url):
    """taskbus-admin backfill-task-state: for tasks older than the topic, one record per
    task, the task as it is now (the API's representation, its version), after the
    task's earlier records."""
    api = task_user(api_url, "task-state-backfill")
    ids = [api.create_applied({"title": unique("old")})["id"] for _ in range(3)]
    update(api, ids[0], {"title": unique("older"), "status": "done"})
    outbox_published()
    state = EventCollector(env("KAFKA_BROKERS"), STATE)
    try:
        with pg() as conn:  # nothing else creates or deletes tasks while this test runs
            # the Inbox tasks: a team task's v1 event has no owner to name (the backfill
            # skips them: docs/decisions.md, "Tasks in team projects (slice 3b)")
            n_tasks = conn.execute("SELECT count(*) FROM tasks WHERE owner_id IS NOT NULL").fetchone()[0]
        out = run_admin("backfill-task-state")
        m = re.search(r"^(\d+) task\(s\) queued for task-state \(command_id ([0-9a-f-]{36})\)", out, re.M)
        assert m, out
        assert int(m.group(1)) == n_tasks, f"printed {m.group(1)}, the tasks table has {n_tasks}"
        run_id = m.group(2)
        outbox_published(timeout=180)
        state.wait_caught_up(timeout=180)
        for tid in ids:
            recs = state.matching(lambda m, tid=tid: m["key"] == tid)
            assert len(recs) >= 1, f"no backfilled record for {tid}"
            last = recs[-1]
            assert last["headers"].get("content-type") == "application/cloudevents+json"
            ev = last["value"]
            assert ev["subject"] == f"tasks/{tid}" and ev["data"]["user_id"] == api.id
            assert ev["data"]["command_id"] == run_id, "not this run's record"
            want = api.get(tid).json()
            assert ev["type"] == ("taskbus.task.created" if want["version"] == 1 else "taskbus.task.updated")
            assert {k: ev["data"].get(k) for k in TASK_KEYS} == {k: want[k] for k in TASK_KEYS}
    finally:
        state.close()


def test_state_mirror_cli_prints_a_users_tasks(api_url):
    """The example's command line: bootstrap, then one JSON line per task of --user."""
    api = task_user(api_url, "task-state-cli")
    ids = sorted(api.create_applied({"title": unique("cli")})["id"] for _ in range(3))
    update(api, ids[1], {"status": "done"})
    delete(api, ids[2])
    outbox_published()
    script = os.path.join(repo_root(), "examples", "state-mirror", "state_mirror.py")
    p = subprocess.run([sys.executable, script, "--brokers", env("KAFKA_BROKERS"), "--user", api.id],
                       capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    printed = [json.loads(line) for line in p.stdout.splitlines()]
    assert [t["id"] for t in printed] == ids[:2]
    for t in printed:
        want = api.get(t["id"]).json()
        assert {k: t[k] for k in TASK_KEYS} == {k: want[k] for k in TASK_KEYS}
