"""The example consumer examples/analytics-duckdb/ against taskbus-analytics (issue 12).

The example is written from the event contract alone (schemas/events/, docs/analytics.md)
and must compute the same daily aggregates as taskbus-analytics: created and completed per
user and UTC day, and the median time to complete. Fresh users create, complete, reopen,
complete again, update and delete tasks through the API (the writer's real path), some
events are delivered twice (the copies a relay crashing before it marks rows published
would send); once taskbus-analytics has stored offsets past all of it, the example reads
task-events and user-events from offset 0 into a temporary DuckDB file (--until-caught-up)
and its rows must equal what GET /api/v1/analytics/daily answers. A second run on the same
file must resume at its stored offsets and count only what is new. Then the whole table:
every user's every day in DuckDB against analytics_daily and analytics_completions, read in
one Postgres snapshot together with the offsets of both topics they were computed up to
(users erased by taskbus.user.deleted have no rows on either side). On topics of its own,
the example refuses a stream that lost its start, and drops an erased user's rows whether
the user's task events are read before or after the erasure.
Rules: every wait is a condition with a deadline (the outbox published, the group's stored
offsets of both topics at the high watermarks); nothing sleeps for luck.
"""

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import date, datetime, timezone

import pytest

from helpers.kafka_events import EventCollector
from helpers.stack_control import env, repo_root
from helpers.tasks import (pg, produce, task_of, task_user, unique, wait_group_caught_up,
                           wait_outbox_published)

ANALYTICS = "/api/v1/analytics/daily"
GROUP = "taskbus-analytics"
TOPIC = "task-events"
USER_TOPIC = "user-events"
WAIT_S = 120
RUN_TIMEOUT_S = 600
EPOCH = date(1970, 1, 1).toordinal()
CREATED, UPDATED, COMPLETED, DELETED = ("taskbus.task.created", "taskbus.task.updated",
                                        "taskbus.task.completed", "taskbus.task.deleted")
USER_DELETED = "taskbus.user.deleted"
CE_HEADERS = [("content-type", b"application/cloudevents+json")]


def example_path():
    return os.path.join(repo_root(), "examples", "analytics-duckdb", "consumer.py")


def by_topic(offsets):
    """{topic: {partition: offset}} of the example's JSON ({topic: {"partition": offset}})."""
    return {t: {int(p): o for p, o in parts.items()} for t, parts in offsets.items()}


def run_example(db, group, *extra):
    """Runs the example until it reached the high watermarks seen at its start; returns its
    summary (the last stdout line, JSON), end_offsets as {topic: {partition: next offset}}
    for both topics it reads (the task topic and the user topic)."""
    cmd = [sys.executable, example_path(), "--bootstrap-servers", env("KAFKA_BROKERS"), "--db", str(db),
           "--group", group, "--until-caught-up", *extra]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, f"{' '.join(cmd)}: exit {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}"
    lines = p.stdout.strip().splitlines()
    assert lines, f"the example printed no summary; stderr:\n{p.stderr[-2000:]}"
    summary = json.loads(lines[-1])
    summary["end_offsets"] = by_topic(summary["end_offsets"])
    summary["stderr"] = p.stderr
    return summary


def start_offsets(summary):
    """The offsets the run started at, {topic: {partition: offset}}, from the first JSON
    line it wrote on stderr."""
    for line in summary["stderr"].splitlines():
        if line.startswith("{"):
            return by_topic(json.loads(line)["start_offsets"])
    raise AssertionError(f"no start offsets in the example's stderr:\n{summary['stderr'][-2000:]}")


def duck_rows(db, user_ids=None):
    """{(user_id, day): (created, completed, median)} from the example's file; day counted
    in days since 1970-01-01 (a day before year 1 or after 9999 has no Python date)."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        sql = ("SELECT CAST(user_id AS VARCHAR), CAST(day - DATE '1970-01-01' AS BIGINT), created, completed,"
               " median_seconds_to_complete FROM analytics_daily")
        params = []
        if user_ids is not None:
            sql += " WHERE CAST(user_id AS VARCHAR) IN (SELECT unnest(?::VARCHAR[]))"
            params = [list(user_ids)]
        rows = con.execute(sql, params).fetchall()
    finally:
        con.close()
    out = {}
    for user, day, created, completed, median in rows:
        assert (user, day) not in out, f"two rows for {user} {day}"
        out[(user, day)] = (created, completed, median)
    return out


def api_days(api, first, last):
    r = api.req("GET", ANALYTICS, params={"from": first.isoformat(), "to": last.isoformat()})
    assert r.status_code == 200, f"analytics: {r.status_code} {r.text[:300]}"
    return {date.fromisoformat(d["day"]): (d["created"], d["completed"], d["median_seconds_to_complete"])
            for d in r.json()["days"]}


def same_median(a, b):
    """Both null, or equal: the same doubles (completed_at - created_at, microseconds over a
    million) interpolated by percentile_cont and DuckDB's quantile_cont may differ in the
    last bit of the arithmetic, nothing more."""
    if a is None or b is None:
        return a is None and b is None
    return b == pytest.approx(a, rel=1e-12, abs=1e-9)


def assert_user_matches(api, db):
    """The example's rows of api's user equal the API's answer over the days they span (and
    today), days the example has no row for being zero in the API. Returns the totals."""
    mine = {date.fromordinal(EPOCH + day): v for (user, day), v in duck_rows(db, [api.id]).items()}
    today = datetime.now(timezone.utc).date()
    first, last = min([*mine, today]), max([*mine, today])
    assert (last - first).days < 366, f"days {first}..{last} do not fit one API call"
    theirs = api_days(api, first, last)
    for day, (created, completed, median) in theirs.items():
        want = mine.get(day, (0, 0, None))
        assert (created, completed) == want[:2], f"{api.id} {day}: taskbus-analytics {theirs[day]}, example {want}"
        assert same_median(median, want[2]), f"{api.id} {day}: median {median} vs example {want[2]}"
    assert set(mine) <= set(theirs)
    return (sum(v[0] for v in mine.values()), sum(v[1] for v in mine.values()))


class Story:
    """The users' writes, each applied before the next (Prefer: wait)."""

    def __init__(self, api):
        self.api = api

    def create(self, **fields):
        r = self.api.create({"title": unique("duck"), **fields}, wait=10)
        assert r.status_code == 201, f"create: {r.status_code} {r.text[:300]}"
        return task_of(r.json())

    def patch(self, task, body):
        r = self.api.patch(task["id"], body, wait=10)
        assert r.status_code == 200, f"patch {body}: {r.status_code} {r.text[:300]}"
        return task_of(r.json())

    def delete(self, task):
        r = self.api.delete(task["id"], wait=10)
        assert r.status_code == 204, f"delete: {r.status_code} {r.text[:300]}"


def settle(user_ids):
    """Every event of these users is on task-events and taskbus-analytics has applied
    everything on task-events and user-events up to now."""
    wait_outbox_published(user_ids, timeout=WAIT_S, topic=TOPIC)
    caught_up()


def caught_up():
    """taskbus-analytics has stored offsets at the current end of both topics it counts
    from (its erasures included)."""
    wait_group_caught_up(GROUP, TOPIC, timeout=WAIT_S)
    wait_group_caught_up(GROUP, USER_TOPIC, timeout=WAIT_S)


def redeliver(collector, user_id):
    """Produces again one copy of every event of user_id the collector saw (key, value and
    headers unchanged); returns how many of them are counted events (created, completed:
    the only ids either reader remembers)."""
    collector.wait_caught_up()
    first = {}
    for m in collector.matching(lambda m: m["key"] == user_id and isinstance(m["value"], dict)):
        first.setdefault(m["value"]["id"], m)
    assert first, f"no task-events message of {user_id} was seen"
    for m in first.values():
        headers = [(k, v.encode() if v is not None else None) for k, v in m["headers"].items()]
        produce(TOPIC, m["key"].encode(), m["raw"], headers=headers)
    return sum(1 for m in first.values() if m["value"]["type"] in (CREATED, COMPLETED))


def crafted_event(etype, user, data=None, event_id=None, **times):
    """A CloudEvent as the writer shapes it, with whatever times (or garbage) the test
    wants: the edge records only a producer of its own can put on task-events."""
    task = str(uuid.uuid4())
    body = {"id": task, "user_id": user, "version": 1, "title": "crafted", "status": "todo",
            "completed_at": None, **times, **(data or {})}
    return {"specversion": "1.0", "id": event_id or str(uuid.uuid4()), "source": "/taskbus/api",
            "type": etype, "time": "2024-06-15T10:00:00Z", "subject": f"tasks/{task}",
            "datacontenttype": "application/json", "data": body}


def put(key, value):
    raw = value if value is None or isinstance(value, bytes) else json.dumps(value).encode()
    produce(TOPIC, key.encode() if key is not None else None, raw,
            headers=[("content-type", b"application/cloudevents+json")])


def produce_crafted(user):
    """Edge records for user (no account: only the stream knows it) onto task-events.
    Returns {day (days since 1970-01-01): (created, completed)} that the contract counts
    for them, the same rule both readers follow."""
    def day(text):
        return date.fromisoformat(text).toordinal() - EPOCH

    k = user
    # Records neither reader can count: skipped and reported, never fatal.
    # (A value nested deeper than Python's recursion limit is tested on a topic of its own
    # below: the suite's other readers of task-events would trip on it.)
    for raw in (b"not json {", b"[1, 2]", b"\xff\xfe garbage", None):
        put(k, raw)
    put(k, crafted_event(COMPLETED, user, created_at="2024-06-15T10:00:00Z", completed_at=None))
    put(k, crafted_event(CREATED, user))  # no created_at
    put(k, crafted_event(CREATED, user, created_at="2024-06-15 10:00:00Z"))  # no 'T'
    put(k, crafted_event(CREATED, user, created_at="2024-06-15T23:59:60Z"))  # leap second
    put(k, crafted_event(CREATED, user, created_at="0000-01-01T00:00:00Z"))  # no year 0
    put(k, crafted_event(CREATED, user, created_at="2024-06-15T10:00:00.1234567890Z"))  # 10 digits
    # Not counted (updates, a reopen clearing completed_at, a deletion).
    put(k, crafted_event(UPDATED, user, created_at="2024-06-15T10:00:00Z", completed_at=None))
    put(k, crafted_event(DELETED, user, created_at="2024-06-15T10:00:00Z"))
    # Counted creations: a null key, upper-case UUIDs, 't'/'z', offsets either way, a task
    # created done (a creation, no completion), an id first used by an update.
    put(None, crafted_event(CREATED, user, created_at="2024-06-15T10:00:00Z"))
    put(k, crafted_event(CREATED, user.upper(), event_id=str(uuid.uuid4()).upper(),
                         created_at="2024-06-15T10:30:00Z"))
    put(k, crafted_event(CREATED, user, created_at="2024-06-15t11:00:00z"))
    put(k, crafted_event(CREATED, user, created_at="2024-06-16T01:30:00+02:00"))  # 06-15 23:30Z
    put(k, crafted_event(CREATED, user, created_at="2024-06-15T23:30:00-01:00"))  # 06-16 00:30Z
    put(k, crafted_event(CREATED, user, {"status": "done"}, created_at="2024-06-15T13:00:00Z",
                         completed_at="2024-06-15T13:00:00Z"))
    reused = str(uuid.uuid4())
    put(k, crafted_event(UPDATED, user, event_id=reused, created_at="2024-06-15T12:00:00Z"))
    put(k, crafted_event(CREATED, user, event_id=reused, created_at="2024-06-15T12:00:00Z"))
    # Completions: a seventh-digit tie (Postgres rounds it to even), 8 and 9 digits, the
    # last microsecond of a day rounding into the next, midnight on either side, instants
    # before year 1 and after 9999 once the offset is applied, and a second copy.
    tie = crafted_event(COMPLETED, user, created_at="2024-06-17T10:00:00Z",
                        completed_at="2024-06-17T10:00:00.1234565Z")
    put(k, tie)
    put(k, tie)
    put(k, crafted_event(COMPLETED, user, created_at="2024-06-17T10:00:00Z",
                         completed_at="2024-06-17T10:00:00.1234575Z"))
    put(k, crafted_event(COMPLETED, user, created_at="2024-06-18T10:00:00.00000050Z",
                         completed_at="2024-06-18T10:00:01.123456789Z"))
    put(k, crafted_event(COMPLETED, user, created_at="2024-06-18T00:00:00Z",
                         completed_at="2024-06-18T23:59:59.9999995Z"))  # -> 06-19 00:00:00Z
    put(k, crafted_event(COMPLETED, user, created_at="2024-06-18T00:00:00Z",
                         completed_at="2024-06-18T23:59:59.9995Z"))
    put(k, crafted_event(COMPLETED, user, created_at="2024-06-19T23:59:59.999999Z",
                         completed_at="2024-06-20T00:00:00.000001Z"))
    put(k, crafted_event(CREATED, user, created_at="0001-01-01T00:00:00+01:00"))  # 1 BC
    put(k, crafted_event(CREATED, user, created_at="9999-12-31T23:30:00-01:00"))  # year 10000
    put(k, crafted_event(COMPLETED, user, created_at="0001-01-01T00:00:00Z",
                         completed_at="9999-12-31T23:59:59.9999995Z"))  # 10000-01-01 00:00Z
    # An id counted once, seen again under another counted type once taskbus-analytics has
    # stored the first (in one batch, which copy it keeps is not defined): counts nothing.
    first = crafted_event(CREATED, user, created_at="2024-06-21T10:00:00Z")
    put(k, first)
    wait_group_caught_up(GROUP, TOPIC, timeout=WAIT_S)
    put(k, crafted_event(COMPLETED, user, event_id=first["id"], created_at="2024-06-21T10:00:00Z",
                         completed_at="2024-06-22T10:00:00Z"))
    return {day("2024-06-15"): (6, 0), day("2024-06-16"): (1, 0), day("2024-06-17"): (0, 2),
            day("2024-06-18"): (0, 2), day("2024-06-19"): (0, 1), day("2024-06-20"): (0, 1),
            day("2024-06-21"): (1, 0),
            day("0001-01-01") - 1: (1, 0), day("9999-12-31") + 1: (1, 1)}


def pg_user_rows(user):
    """taskbus-analytics' rows of user, days counted from 1970-01-01."""
    with pg() as conn:
        rows = conn.execute(
            "SELECT a.day - date '1970-01-01', a.created, a.completed,"
            " (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY c.seconds_to_complete)"
            "  FROM analytics_completions c WHERE c.user_id = a.user_id AND c.day = a.day)"
            " FROM analytics_daily a WHERE a.user_id = %s", (user,)).fetchall()
    return {d: (cr, co, m) for d, cr, co, m in rows}


@pytest.fixture(scope="module")
def story(api_url, tmp_path_factory):
    collector = EventCollector(env("KAFKA_BROKERS"), TOPIC)
    a = Story(task_user(api_url, "duckdb-a"))
    b = Story(task_user(api_url, "duckdb-b"))
    # a: completions of a task done at once, of one reopened and completed again, an update
    # of a done task (no completion), a deleted task (its creation still counts).
    t1, t2, t3 = a.create(), a.create(), a.create(status="in_progress")
    a.patch(t1, {"status": "done"})
    a.patch(t2, {"status": "in_progress"})
    a.patch(t2, {"status": "done"})
    reopened = a.patch(t2, {"status": "todo"})
    assert reopened["completed_at"] is None, reopened
    a.patch(t2, {"status": "done"})
    a.patch(t1, {"title": unique("renamed")})
    a.delete(t3)
    # b: a task created done (a creation, no completion), one completed then deleted.
    t4 = b.create(status="done")
    assert t4["completed_at"] is not None, t4
    t5 = b.create()
    assert b.patch(t5, {"status": "done"})["completed_at"] is not None
    b.delete(t5)
    edge_user = str(uuid.uuid4())
    edge_want = produce_crafted(edge_user)
    settle([a.api.id, b.api.id])
    copies = redeliver(collector, a.api.id)
    wait_group_caught_up(GROUP, TOPIC, timeout=WAIT_S)

    db = tmp_path_factory.mktemp("duckdb") / "analytics.duckdb"
    group = f"itests-duckdb-{uuid.uuid4()}"
    first = run_example(db, group)
    s = {"a": a, "b": b, "db": db, "group": group, "first": first, "copies": copies,
         "collector": collector, "tasks": (t1, t2, t3, t4, t5),
         "edge_user": edge_user, "edge_want": edge_want}
    yield s
    collector.close()


def test_first_run_reads_the_stream_from_offset_zero(story):
    first = story["first"]
    starts = start_offsets(first)
    assert set(starts) == {TOPIC, USER_TOPIC}, starts
    assert all(o == 0 for parts in starts.values() for o in parts.values()), starts
    assert set(first["end_offsets"]) == {TOPIC, USER_TOPIC}, first["end_offsets"]
    assert first["new_events"] > 0 and first["records"] >= first["new_events"]
    assert first["duplicates"] >= story["copies"], "every re-produced copy was recognised by its id"


def test_example_equals_taskbus_analytics_for_fresh_users(story):
    created, completed = assert_user_matches(story["a"].api, story["db"])
    # What the story did, as the contract counts it: 3 creations; completions of t1 and
    # twice t2 (reopened in between); redelivered copies count once.
    assert (created, completed) == (3, 3)
    created, completed = assert_user_matches(story["b"].api, story["db"])
    assert (created, completed) == (2, 1), "a task created done is no completion"


def test_edge_records_count_the_same_on_both_sides(story):
    """The crafted records (garbage, missing and exotic times, ties in the seventh digit,
    instants outside years 1-9999, copies, reused ids): the example's rows of that user
    equal taskbus-analytics' rows, and both equal what the contract counts."""
    user, want = story["edge_user"], story["edge_want"]
    theirs = pg_user_rows(user)
    mine = {day: v for (_, day), v in duck_rows(story["db"], [user]).items()}
    assert {d: v[:2] for d, v in theirs.items()} == want, f"taskbus-analytics: {theirs}"
    assert {d: v[:2] for d, v in mine.items()} == want, f"example: {mine}"
    for d in want:
        assert same_median(theirs[d][2], mine[d][2]), f"day {d}: median {theirs[d][2]} vs example {mine[d][2]}"
    # The ties .1234565 and .1234575 are .123456 and .123458 in Postgres (rint: to even),
    # so their median is .123457 (half up would make it .1234575), and the example agrees.
    tie_day = date(2024, 6, 17).toordinal() - EPOCH
    assert theirs[tie_day][2] == pytest.approx(0.123457, abs=1e-10), theirs[tie_day]
    assert "skipped:" in story["first"]["stderr"] and "Traceback" not in story["first"]["stderr"]


def test_second_run_resumes_and_counts_only_what_is_new(story):
    a, b, db = story["a"], story["b"], story["db"]
    t1 = story["tasks"][0]
    a.patch(t1, {"status": "todo"})
    a.patch(t1, {"status": "done"})
    a.create()
    settle([a.api.id, b.api.id])
    copies = redeliver(story["collector"], a.api.id)  # all of a's events so far, again
    wait_group_caught_up(GROUP, TOPIC, timeout=WAIT_S)
    second = run_example(db, story["group"])
    ended = story["first"]["end_offsets"]  # partitions it never read a record of have none
    starts = start_offsets(second)
    assert set(starts) == {TOPIC, USER_TOPIC}, starts
    for topic, parts in starts.items():
        assert parts == {p: ended[topic].get(p, 0) for p in parts}, \
            f"the second run re-read or skipped records of {topic}"
    assert second["duplicates"] >= copies
    assert assert_user_matches(a.api, db) == (4, 4)
    assert assert_user_matches(b.api, db) == (2, 1)


def pg_snapshot():
    """taskbus-analytics' offsets of both topics ({topic: {partition: next offset}}), every
    row it computed from them and the users erased (erased_users), in one snapshot."""
    import psycopg

    with psycopg.connect(env("DATABASE_URL"), connect_timeout=10) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.transaction():
            offsets = {TOPIC: {}, USER_TOPIC: {}}
            for topic, p, o in conn.execute(
                    "SELECT topic, partition, next_offset FROM kafka_consumer_offsets WHERE group_id = %s"
                    " AND topic = ANY(%s)", (GROUP, [TOPIC, USER_TOPIC])).fetchall():
                offsets[topic][p] = o
            rows = conn.execute(
                "SELECT a.user_id::text, a.day - date '1970-01-01', a.created, a.completed,"
                " (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY c.seconds_to_complete)"
                "  FROM analytics_completions c WHERE c.user_id = a.user_id AND c.day = a.day)"
                " FROM analytics_daily a").fetchall()
            erased = {u for (u,) in conn.execute("SELECT user_id::text FROM erased_users").fetchall()}
    return offsets, {(u, d): (cr, co, m) for u, d, cr, co, m in rows}, erased


def duck_erased(db):
    """The users the example's file holds as erased."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return {u for (u,) in con.execute("SELECT CAST(user_id AS VARCHAR) FROM erased_users").fetchall()}
    finally:
        con.close()


def same_offsets(mine, theirs):
    """Both readers stand at the same next offsets of every partition of both topics (a
    partition without records has no offset stored: 0)."""
    for topic in (TOPIC, USER_TOPIC):
        a, b = mine.get(topic, {}), theirs.get(topic, {})
        if any(a.get(p, 0) != b.get(p, 0) for p in set(a) | set(b)):
            return False
    return True


def test_whole_table_equals_taskbus_analytics(story):
    """Every user's every day, from everything on task-events and user-events (this
    module's crafted records and whatever earlier tests wrote, accounts they deleted
    included), compared at the same offsets of both topics: the example's file of the runs
    above is carried on until it stands exactly where taskbus-analytics' stored offsets
    stand (the streams are not read from 0 again). erased_users in Postgres is shared with
    taskbus-activity, whose group may have applied an erasure taskbus-analytics has not
    read yet (taskbus-analytics then already skips the user's task events, but still holds
    the user's rows): the comparison waits until the example has erased every user erased
    there."""
    db, group = story["db"], story["group"]
    deadline = time.monotonic() + 3 * WAIT_S
    while True:
        caught_up()
        mine = run_example(db, group)["end_offsets"]
        theirs, rows, pg_erased = pg_snapshot()
        erased = duck_erased(db)
        if same_offsets(mine, theirs) and pg_erased <= erased:
            break
        # Something was written between the two reads (a late import item, an erasure
        # applied by taskbus-activity first): read again.
        assert time.monotonic() < deadline, (
            f"never at the same offsets and erasures: example {mine}, analytics {theirs}; erased only in "
            f"Postgres {sorted(pg_erased - erased)[:5]}, only in the example {sorted(erased - pg_erased)[:5]}")
    duck = duck_rows(db)
    gone = sorted(u for u, _ in duck if u in erased)[:5]
    assert not gone, f"the example kept rows of erased users {gone}"
    assert rows, "taskbus-analytics has no rows at all"
    only_pg = sorted(set(rows) - set(duck))[:5]
    only_duck = sorted(set(duck) - set(rows))[:5]
    assert not only_pg and not only_duck, f"rows only in taskbus-analytics {only_pg}, only in the example {only_duck}"
    diff = [(k, rows[k], duck[k]) for k in rows
            if rows[k][:2] != duck[k][:2] or not same_median(rows[k][2], duck[k][2])]
    assert not diff, f"{len(diff)} (user, day) rows differ, e.g. {diff[:5]}"


def private_topics(*topics):
    """Creates topics of one partition each for this test alone; returns the admin client
    that delete_topics removes them with."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": env("KAFKA_BROKERS")})
    futures = admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1) for t in topics])
    for t in topics:
        futures[t].result(30)
    return admin


def delete_topics(admin, *topics):
    futures = admin.delete_topics(list(topics))
    for t in topics:
        futures[t].result(30)


def test_a_stream_that_lost_its_start_is_refused_not_counted_short(tmp_path):
    """On a topic of its own (never the stack's: deleting records of those is for
    tests/faults), whose first records were deleted as retention would: the example
    refuses (exit 2, naming the partition and the log start) instead of counting less;
    --accept-partial reads what is left. A file whose stored offset fell below the log
    start refuses the same way. The user topic is one of its own too, empty."""
    from confluent_kafka import TopicPartition

    suffix = uuid.uuid4().hex[:12]
    topic, user_topic = f"itests-duckdb-gap-{suffix}", f"itests-duckdb-gap-users-{suffix}"
    admin = private_topics(topic, user_topic)
    topics = ("--topic", topic, "--user-topic", user_topic)
    try:
        user = str(uuid.uuid4())

        def created(i):
            task = str(uuid.uuid4())
            data = {"id": task, "user_id": user, "created_at": f"2025-03-0{i}T23:59:59.999Z",
                    "completed_at": None, "version": 1}
            return json.dumps({"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/taskbus/api",
                               "type": CREATED, "time": data["created_at"], "subject": f"tasks/{task}",
                               "datacontenttype": "application/json", "data": data}).encode()

        for i in (1, 2, 3, 4):
            produce(topic, user.encode(), created(i))
        db = tmp_path / "gap.duckdb"
        group = f"itests-duckdb-gap-{uuid.uuid4()}"
        first = run_example(db, group, *topics)
        assert first["end_offsets"] == {topic: {0: 4}, user_topic: {}} and first["new_events"] == 4
        produce(topic, user.encode(), created(5))
        admin.delete_records([TopicPartition(topic, 0, 5)])[TopicPartition(topic, 0, 5)].result(30)

        def refused(path, *extra):
            cmd = [sys.executable, example_path(), "--bootstrap-servers", env("KAFKA_BROKERS"), "--db",
                   str(path), "--group", group, *topics, "--until-caught-up", *extra]
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                               stdin=subprocess.DEVNULL)
            assert p.returncode == 2, f"exit {p.returncode}\n{p.stdout}\n{p.stderr[-2000:]}"
            assert f"partition 0 of {topic}" in p.stderr and "starts at offset 5" in p.stderr, p.stderr
            assert not p.stdout.strip(), "a refused run prints no summary"

        refused(tmp_path / "new.duckdb")  # a new file would start at 0: gone
        refused(db)  # this one stopped at 4: record 4 is gone
        produce(topic, user.encode(), created(6))
        partial = run_example(db, group, *topics, "--accept-partial")
        assert start_offsets(partial) == {topic: {0: 5}, user_topic: {0: 0}} and partial["new_events"] == 1
        assert "--accept-partial" in partial["stderr"]
        # A value nested deeper than Python's recursion limit (RecursionError, not a
        # ValueError) is skipped like any unreadable record.
        produce(topic, user.encode(), b"[" * 100_000)
        produce(topic, user.encode(), created(7))
        deep = run_example(db, group, *topics)
        assert deep["skipped"] == 1 and deep["new_events"] == 1, deep
        assert "RecursionError" in deep["stderr"] and "Traceback" not in deep["stderr"]
        # While running: a position the broker does not hold (here a stored offset past the
        # end, as after the topic was recreated; retention deleting under a running reader
        # takes the same path, auto.offset.reset=error) is the same refusal, exit 2 with a
        # message and no traceback, and the file keeps its offsets.
        import duckdb

        con = duckdb.connect(str(db))
        con.execute("UPDATE kafka_offsets SET next_offset = 1000 WHERE topic = ?", [topic])
        con.close()
        cmd = [sys.executable, example_path(), "--bootstrap-servers", env("KAFKA_BROKERS"), "--db",
               str(db), "--group", group, *topics]  # no --until-caught-up: it must stop by itself
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=WAIT_S, stdin=subprocess.DEVNULL)
        assert p.returncode == 2, f"exit {p.returncode}\n{p.stdout}\n{p.stderr[-2000:]}"
        assert f"refused: partition 0 of {topic}: offset 1000" in p.stderr, p.stderr
        assert "Traceback" not in p.stderr and not p.stdout.strip(), p.stderr
    finally:
        delete_topics(admin, topic, user_topic)


def erasure_event(user, **data):
    """A taskbus.user.deleted CloudEvent as the API shapes it (schemas/events/), data
    members replaced by **data; a member given as ... is left out."""
    body = {"user_id": user, "inbox_project_id": str(uuid.uuid4()), "deleted_at": "2024-07-05T09:00:00.000Z"}
    body.update(data)
    body = {k: v for k, v in body.items() if v is not ...}
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/taskbus/api", "type": USER_DELETED,
            "time": "2024-07-05T09:00:00.000Z", "subject": f"users/{user.lower()}",
            "datacontenttype": "application/json", "data": body}


def test_an_erased_user_counts_nothing_before_or_after_the_erasure(tmp_path):
    """On topics of its own (task and user), taskbus.user.deleted as taskbus-analytics
    applies it: a user whose events were counted in an earlier run loses their rows and
    kept events (ids only stay, in seen_events and erased_users); the user's task events
    produced after the erasure (a later one, a copy of one counted before) and those of a
    user erased before any task event of theirs count nothing, whichever batch or run
    reads them (the two topics have no order between them), and a task event read in a run
    after the one that stored the erasure counts nothing either; other users keep their
    rows; a taskbus.user.deleted that cannot be read is skipped and reported (its user
    keeps their rows), another type on the user topic is ignored. A new file reading all
    the records at once has the same rows, as a replay of taskbus-analytics has."""
    import duckdb

    suffix = uuid.uuid4().hex[:12]
    topic, user_topic = f"itests-duckdb-erase-{suffix}", f"itests-duckdb-erase-users-{suffix}"
    admin = private_topics(topic, user_topic)
    topics = ("--topic", topic, "--user-topic", user_topic)

    def task(ev):
        produce(topic, ev["data"]["user_id"].lower().encode(), json.dumps(ev).encode(), headers=CE_HEADERS)

    def user_event(user, value):
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        produce(user_topic, user.encode(), raw, headers=CE_HEADERS)

    def day(text):
        return date.fromisoformat(text).toordinal() - EPOCH

    def file_state(db):
        con = duckdb.connect(str(db), read_only=True)
        try:
            kept = con.execute("SELECT CAST(user_id AS VARCHAR), count(*) FROM task_events GROUP BY ALL").fetchall()
            erased = con.execute("SELECT CAST(user_id AS VARCHAR) FROM erased_users").fetchall()
            seen = {i for (i,) in con.execute("SELECT CAST(event_id AS VARCHAR) FROM seen_events").fetchall()}
        finally:
            con.close()
        return dict(kept), {u for (u,) in erased}, seen

    try:
        gone, early, kept = (str(uuid.uuid4()) for _ in range(3))
        # Before the erasure: gone creates two tasks and completes one, kept creates one.
        c1 = crafted_event(CREATED, gone, created_at="2024-07-01T10:00:00Z")
        task(c1)
        task(crafted_event(CREATED, gone, created_at="2024-07-01T11:00:00Z"))
        task(crafted_event(COMPLETED, gone, created_at="2024-07-01T10:00:00Z", completed_at="2024-07-02T10:00:00Z"))
        task(crafted_event(CREATED, kept, created_at="2024-07-01T12:00:00Z"))
        db = tmp_path / "erase.duckdb"
        group = f"itests-duckdb-erase-{uuid.uuid4()}"
        first = run_example(db, group, *topics)
        assert first["new_events"] == 4 and first["erasures"] == 0, first
        assert duck_rows(db, [gone]) == {(gone, day("2024-07-01")): (2, 0, None),
                                         (gone, day("2024-07-02")): (0, 1, 86400.0)}

        # The erasures: early's before any task event of early (upper case, no Inbox,
        # deleted_at unreadable: the event's time stands in), gone's twice (a copy).
        # Not erasures: unreadable taskbus.user.deleted events naming kept, garbage, and
        # another type of user-events.
        user_event(early, erasure_event(early.upper(), inbox_project_id=None, deleted_at="yesterday"))
        user_event(gone, erasure_event(gone))
        user_event(gone, erasure_event(gone))
        user_event(kept, erasure_event(kept, user_id=...))
        user_event(kept, erasure_event(kept, inbox_project_id="not-a-uuid"))
        no_time = erasure_event(kept, deleted_at=...)
        no_time["time"] = "2024-07-05 09:00:00Z"
        user_event(kept, no_time)
        user_event(kept, erasure_event(kept) | {"data": None})
        user_event(kept, b"not json {")
        user_event(kept, {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/taskbus/api",
                          "type": "taskbus.user.registered", "time": "2024-07-05T09:00:00.000Z",
                          "subject": f"users/{kept}", "datacontenttype": "application/json",
                          "data": {"user_id": kept}})
        # After it on the task topic: a later task of gone, a copy of c1, early's events.
        task(crafted_event(CREATED, gone, created_at="2024-07-03T10:00:00Z"))
        task(c1)
        early_ids = []
        for ev in (crafted_event(CREATED, early, created_at="2024-07-03T10:00:00Z"),
                   crafted_event(COMPLETED, early, created_at="2024-07-03T10:00:00Z",
                                 completed_at="2024-07-03T11:00:00Z")):
            early_ids.append(ev["id"])
            task(ev)
        second = run_example(db, group, *topics)
        want = {(kept, day("2024-07-01")): (1, 0, None)}
        assert duck_rows(db, [gone, early, kept]) == want
        assert second["erasures"] == 3 and second["skipped"] == 5, second
        # Whether a batch held a task event of early or gone before their erasure depends on
        # how the two topics' records came in; the rows do not (checked above).
        assert second["new_events"] + second["events_of_erased_users"] == 3, second
        assert second["duplicates"] == 1, "the copy of c1 is known by its id"
        assert f"skipped: {user_topic}/0@" in second["stderr"] and "Traceback" not in second["stderr"]
        kept_events, erased, seen = file_state(db)
        assert kept_events == {kept: 1}, f"task events of erased users are kept: {kept_events}"
        assert erased == {gone, early}
        assert {c1["id"], *early_ids} <= seen, "the ids of an erased user's events stay seen"

        # A later run: a task event of a user erased before counts nothing.
        task(crafted_event(COMPLETED, gone, created_at="2024-07-01T11:00:00Z", completed_at="2024-07-04T10:00:00Z"))
        third = run_example(db, group, *topics)
        assert third["new_events"] == 0 and third["events_of_erased_users"] == 1, third
        assert duck_rows(db, [gone, early, kept]) == want

        # Everything at once into a new file: erasures and task events in whatever order
        # and batches the reads give, the same rows.
        once_db = tmp_path / "once.duckdb"
        once = run_example(once_db, f"itests-duckdb-erase-{uuid.uuid4()}", *topics)
        assert once["end_offsets"] == third["end_offsets"], (once["end_offsets"], third["end_offsets"])
        assert duck_rows(once_db) == duck_rows(db) == want
        assert file_state(once_db)[:2] == file_state(db)[:2]
    finally:
        delete_topics(admin, topic, user_topic)
