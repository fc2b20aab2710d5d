"""A rebuild after retention deleted records of task-events refuses loudly (issue 12).

Destructive: it deletes every record task-events holds (DeleteRecords up to the high
watermark, what retention does to old segments), so it lives in tests/faults, the stage
that runs last, and its file name sorts after test_faults.py. Steps:
1. a fresh user creates and completes tasks; every consumer group of task-events
   (webhooks, analytics, activity) has processed the topic to its end;
2. DeleteRecords on every partition of task-events up to its high watermark;
3. `taskbus-admin reset-consumer analytics` (analytics stopped) exits 1, says what was lost
   (partition, first offset still held) and the choices, and leaves the analytics tables
   and the group's offsets untouched;
4. `--accept-partial` exits 0, empties the tables, stores the low watermarks as the
   group's next offsets and prints what is skipped; analytics, started again, keeps
   running and applies a task created afterwards;
5. with its stored offsets forced below the low watermark, taskbus-analytics run by hand
   exits non-zero with the ERROR line naming group, topic, partition, wanted offset and
   log start; its offsets are then restored and the stack is left healthy.
Rules: every wait has a deadline; the stack is restored whatever happens.
"""

import os
import subprocess
import time

import fault_schedule as fs
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from helpers.stack_control import env, start, status, stop
from helpers.tasks import pg, task_user, unique, wait_group_caught_up, wait_outbox_published, wait_until

TOPIC = "task-events"
GROUP = "taskbus-analytics"
TOPIC_GROUPS = ("taskbus-webhooks", "taskbus-analytics", "taskbus-activity")
TABLES = ("analytics_daily", "analytics_completions", "analytics_seen_events")
WAIT_S = 120


def watermarks():
    """{partition: (low, high)} of task-events now."""
    c = Consumer({"bootstrap.servers": env("KAFKA_BROKERS"), "group.id": f"faults-gap-{unique()}"})
    try:
        parts = c.list_topics(TOPIC, timeout=15).topics[TOPIC].partitions
        return {p: c.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=15) for p in parts}
    finally:
        c.close()


def delete_all_records(marks):
    """DeleteRecords up to each partition's high watermark; returns the new low watermarks."""
    admin = AdminClient({"bootstrap.servers": env("KAFKA_BROKERS")})
    futures = admin.delete_records([TopicPartition(TOPIC, p, hi) for p, (_lo, hi) in marks.items()],
                                   request_timeout=30, operation_timeout=30)
    return {tp.partition: f.result().low_watermark for tp, f in futures.items()}


def table_digest():
    """Each analytics table's row count and a digest of its rows."""
    with pg() as conn:
        return {t: conn.execute(f"SELECT count(*), md5(coalesce(string_agg(r::text, ',' ORDER BY r::text), ''))"
                                f" FROM {t} r").fetchone() for t in TABLES}


def stored_offsets():
    with pg() as conn:
        return dict(conn.execute("SELECT partition, next_offset FROM kafka_consumer_offsets"
                                 " WHERE group_id = %s AND topic = %s", (GROUP, TOPIC)).fetchall())


def set_offsets(offsets):
    with pg() as conn:
        for p, o in offsets.items():
            conn.execute("UPDATE kafka_consumer_offsets SET next_offset = %s"
                         " WHERE group_id = %s AND topic = %s AND partition = %s", (o, GROUP, TOPIC, p))


def binary(name):
    return os.path.join(env("TASKBUS_BUILD_DIR"), name)


def admin(*args):
    return subprocess.run([binary("taskbus-admin"), *args], env=os.environ.copy(), capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


def make_tasks(api, n):
    """n tasks created and completed; returns once their events are on task-events."""
    for i in range(n):
        r = api.create({"title": unique(f"gap-{i}"), "priority": "low"}, wait=10)
        assert r.status_code == 201, f"create: {r.status_code} {r.text[:300]}"
        tid = r.json()["id"]
        r = api.patch(tid, {"status": "done"}, wait=10)
        assert r.status_code == 200, f"complete: {r.status_code} {r.text[:300]}"
    wait_outbox_published([api.id], timeout=WAIT_S, topic=TOPIC)


def analytics_row_of(user_id):
    with pg() as conn:
        return conn.execute("SELECT count(*) FROM analytics_daily WHERE user_id = %s", (user_id,)).fetchone()[0]


def test_rebuild_refuses_after_retention_deleted_records():
    api_url = env("TASKBUS_API_URL").rstrip("/")
    for name in ("KAFKA_BROKERS", "DATABASE_URL", "TASKBUS_BUILD_DIR"):
        env(name)
    fs.restore(api_url)  # the fault schedule before may have left something down
    restore_offsets = None
    try:
        api = task_user(api_url, "faults-gap")
        make_tasks(api, 3)
        for g in TOPIC_GROUPS:  # nobody may be behind when the records go
            wait_group_caught_up(g, TOPIC, timeout=WAIT_S)

        # 2: the records go, as retention would delete old segments.
        marks = watermarks()
        assert any(hi > 0 for _lo, hi in marks.values()), marks
        lows = delete_all_records(marks)
        assert lows == {p: hi for p, (_lo, hi) in marks.items()}, (lows, marks)
        lost = {p: lo for p, lo in lows.items() if lo > 0}

        # 3: the rebuild refuses and changes nothing.
        stop("analytics")
        tables_before, offsets_before = table_digest(), stored_offsets()
        assert tables_before["analytics_daily"][0] > 0, "nothing to lose: the test proves little"
        p = admin("reset-consumer", "analytics")
        assert p.returncode == 1, f"exit {p.returncode}\n{p.stdout}\n{p.stderr}"
        assert "nothing changed" in p.stderr and "no longer starts at offset 0" in p.stderr, p.stderr
        for part, lo in lost.items():
            assert f"partition {part}: offsets 0-{lo - 1} lost; first offset still held {lo}" in p.stderr, p.stderr
        assert "TASKBUS_EVENTS_RETENTION" in p.stderr and "--accept-partial" in p.stderr, p.stderr
        assert table_digest() == tables_before, "a refused reset changed the analytics tables"
        assert stored_offsets() == offsets_before

        # 4: --accept-partial rebuilds from what is left; the daemon keeps running.
        p = admin("reset-consumer", "analytics", "--accept-partial")
        assert p.returncode == 0, f"exit {p.returncode}\n{p.stdout}\n{p.stderr}"
        assert "PARTIAL rebuild accepted" in p.stdout, p.stdout
        for part, lo in lows.items():
            assert f"partition {part}: starts at {lo}, {lo} record(s) skipped" in p.stdout, p.stdout
        assert stored_offsets() == lows
        assert all(count == 0 for count, _ in table_digest().values())
        start("analytics")
        later = task_user(api_url, "faults-gap-later")
        make_tasks(later, 1)
        wait_group_caught_up(GROUP, TOPIC, timeout=WAIT_S)
        wait_until(lambda: analytics_row_of(later.id) == 1, WAIT_S, "analytics applied the new task")
        assert status()["analytics"][0] == "up", "analytics stopped after a partial rebuild"

        # 5: a stored offset below the log start: the daemon exits non-zero, loudly.
        stop("analytics")
        restore_offsets = stored_offsets()
        below = {p: 0 for p, lo in lows.items() if lo > 0}
        assert below and set(below) <= set(restore_offsets), (lows, restore_offsets)
        set_offsets(below)
        started = time.monotonic()
        run = subprocess.run([binary("taskbus-analytics")], env=os.environ.copy(), capture_output=True,
                             text=True, timeout=WAIT_S, stdin=subprocess.DEVNULL)
        assert run.returncode == 1, f"exit {run.returncode} after {time.monotonic() - started:.1f} s\n{run.stderr[-3000:]}"
        gap_lines = [line for line in run.stderr.splitlines() if "retention gap" in line]
        assert gap_lines, run.stderr[-3000:]
        assert '"level":"error"' in gap_lines[0], gap_lines[0]
        assert any(f"consumer {GROUP}: retention gap: topic {TOPIC} partition {p}: wanted offset 0, "
                   f"log start offset {lows[p]}:" in line for line in gap_lines for p in below), gap_lines
        assert stored_offsets() == {**restore_offsets, **below}, "a refusing consumer moved its offsets"
    finally:
        if restore_offsets is not None:
            set_offsets(restore_offsets)
        fs.restore(api_url)
    wait_group_caught_up(GROUP, TOPIC, timeout=WAIT_S)
    assert status()["analytics"][0] == "up"
