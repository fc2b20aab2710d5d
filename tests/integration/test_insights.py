"""Analytics and the activity log, the read-only consumers of task-events (issue 4).

A fresh user creates, updates, completes and deletes tasks (each applied before the next,
Prefer: wait); then taskbus-analytics and taskbus-activity must show exactly that: the
day's created/completed counts and the median time to complete computed here from the
tasks' own created_at/completed_at, and an activity log of exactly these events, newest
first, each once however it is paged. An event the relay delivers twice counts once.
Rebuild: stop both consumers, `taskbus-admin reset-consumer`, start them again; they read
task-events and task-events.v2 from offset 0 and must rebuild identical rows, the users'
and their Inboxes' (nothing counted twice).
Rules: every wait is bounded; Postgres is read directly only to compare whole rows.
"""

import json
import os
import statistics
import subprocess
import time
import uuid

import pytest

from helpers.api import Client, assert_problem, error_fields
from helpers.kafka_events import EventCollector
from helpers.stack_control import env, start, stop
from helpers.tasks import (parse_time, pg, produce, task_of, task_user, unique, wait_outbox_published,
                           wait_until)

ANALYTICS = "/api/v1/analytics/daily"
ACTIVITY = "/api/v1/activity"
GROUPS = ("taskbus-analytics", "taskbus-activity")
CONSUMER_WAIT_S = 60
REBUILD_WAIT_S = 180


def day_of(ts):
    return parse_time(ts).date().isoformat()


class Story:
    """What the test did: the events in order and the tasks' timestamps."""

    def __init__(self, api):
        self.api = api
        self.events = []  # (type, task_id, title or None), oldest first
        self.created = []  # created_at of each created task
        self.completions = []  # (created_at, completed_at)

    def create(self, title):
        r = self.api.create({"title": title, "priority": "medium"}, wait=10)
        assert r.status_code == 201, f"create: {r.status_code} {r.text[:300]}"
        t = task_of(r.json())
        self.events.append(("taskbus.task.created", t["id"], title))
        self.created.append(t["created_at"])
        return t

    def patch(self, tid, body, expect_type):
        r = self.api.patch(tid, body, wait=10)
        assert r.status_code == 200, f"patch {body}: {r.status_code} {r.text[:300]}"
        t = task_of(r.json())
        self.events.append((expect_type, tid, t["title"]))
        if expect_type == "taskbus.task.completed":
            self.completions.append((t["created_at"], t["completed_at"]))
        return t

    def delete(self, tid):
        r = self.api.delete(tid, wait=10)
        assert r.status_code == 204, f"delete: {r.status_code} {r.text[:300]}"
        self.events.append(("taskbus.task.deleted", tid, None))

    def expected_days(self):
        """{day: (created, completed, [seconds to complete])} from the tasks' own times."""
        days = {}
        for c in self.created:
            d = days.setdefault(day_of(c), [0, 0, []])
            d[0] += 1
        for created, completed in self.completions:
            d = days.setdefault(day_of(completed), [0, 0, []])
            d[1] += 1
            d[2].append((parse_time(completed) - parse_time(created)).total_seconds())
        return days


@pytest.fixture(scope="module")
def story(api_url):
    s = Story(task_user(api_url, "insights"))
    # task-events as the relay published them (the outbox keeps no published row).
    s.published = EventCollector(env("KAFKA_BROKERS"), "task-events")
    a = s.create(unique("alpha"))
    b = s.create(unique("beta"))
    c = s.create(unique("gamma"))
    d = s.create(unique("delta"))
    s.patch(a["id"], {"title": unique("alpha-renamed")}, "taskbus.task.updated")
    time.sleep(0.3)  # completions of different lengths make the median meaningful
    s.patch(b["id"], {"status": "done"}, "taskbus.task.completed")
    s.patch(c["id"], {"status": "in_progress"}, "taskbus.task.updated")
    time.sleep(0.2)
    s.patch(c["id"], {"status": "done"}, "taskbus.task.completed")
    time.sleep(0.1)
    s.patch(a["id"], {"status": "done"}, "taskbus.task.completed")
    s.delete(d["id"])
    wait_until(lambda: len(activity_all(s.api)) >= len(s.events), CONSUMER_WAIT_S,
               "the activity consumer has read every event of the story")
    wait_until(lambda: analytics_matches(s), CONSUMER_WAIT_S,
               "the analytics consumer has counted every event of the story")
    # The v2 twins, in the log and the counts of the user's Inbox (slice 9).
    s.inbox = inbox_of(s.api.id)
    wait_until(lambda: len(activity_all(s.api, project=s.inbox)) >= len(s.events), CONSUMER_WAIT_S,
               "the activity consumer has read every v2 event of the story")
    wait_until(lambda: analytics_matches(s, project=s.inbox), CONSUMER_WAIT_S,
               "the analytics consumer has counted every v2 event of the story")
    yield s
    s.published.close()


@pytest.fixture(scope="module")
def stranger(api_url):
    return task_user(api_url, "insights-stranger")


def get(api, path, params=None):
    return api.req("GET", path, params=params)


def inbox_of(user_id):
    with pg() as conn:
        return str(conn.execute("SELECT id FROM projects WHERE inbox_of = %s", (user_id,)).fetchone()[0])


def activity_all(api, limit=100, max_pages=200, project=None):
    items, params = [], {"limit": limit, **({"project": project} if project else {})}
    for _ in range(max_pages):
        r = get(api, ACTIVITY, params)
        assert r.status_code == 200, f"activity {params}: {r.status_code} {r.text[:300]}"
        body = r.json()
        assert set(body) == {"items", "next_cursor"}, body
        assert len(body["items"]) <= limit
        items.extend(body["items"])
        if body["next_cursor"] is None:
            return items
        params["cursor"] = body["next_cursor"]
    raise AssertionError("the activity cursor never ends")


def daily(api, days, project=None):
    r = get(api, ANALYTICS, {"from": min(days), "to": max(days), **({"project": project} if project else {})})
    assert r.status_code == 200, f"analytics: {r.status_code} {r.text[:300]}"
    return r.json()


def analytics_matches(s, project=None):
    want = s.expected_days()
    got = {d["day"]: d for d in daily(s.api, want, project)["days"]}
    return all(got[k]["created"] == v[0] and got[k]["completed"] == v[1] for k, v in want.items())


# --- activity -------------------------------------------------------------------------------


def test_activity_lists_exactly_the_events_newest_first(story):
    items = activity_all(story.api)
    got = [(i["type"], i["task_id"], i["title"]) for i in items]
    assert got == list(reversed(story.events))
    assert len({i["event_id"] for i in items}) == len(items)
    times = [parse_time(i["occurred_at"]) for i in items]
    assert times == sorted(times, reverse=True)
    for i in items:
        assert i["data"]["user_id"] == story.api.id and i["data"]["id"] == i["task_id"]
        if i["type"] == "taskbus.task.completed":
            assert i["data"]["status"] == "done" and i["data"]["completed_at"]


def test_the_inboxs_log_is_the_same_story_with_its_actor(story):
    """The Inbox's log (v2 events) tells what the user's own log tells, naming the user as
    who acted and the Inbox as the project; another user gets 404 for it."""
    own = activity_all(story.api)
    items = activity_all(story.api, project=story.inbox)
    assert [(i["type"], i["task_id"], i["title"]) for i in items] == [
        (t + ".v2", tid, title) for t, tid, title in reversed(story.events)]
    assert all(i["actor_id"] == story.api.id and i["project_id"] == story.inbox for i in items)
    assert all(i["data"]["actor_id"] == story.api.id and i["data"]["project_id"] == story.inbox
               for i in items)
    assert all("actor_id" not in i and "project_id" not in i for i in own)
    assert {i["event_id"] for i in items}.isdisjoint(i["event_id"] for i in own)


def test_activity_pages_of_two_return_each_event_once(story):
    whole = [i["event_id"] for i in activity_all(story.api)]
    pages = []
    params = {"limit": 2}
    while True:
        r = get(story.api, ACTIVITY, params)
        assert r.status_code == 200, r.text[:300]
        body = r.json()
        assert 1 <= len(body["items"]) <= 2
        pages.append([i["event_id"] for i in body["items"]])
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
        assert len(pages) <= len(whole), "more pages than events"
    assert [e for p in pages for e in p] == whole
    assert len(pages) == (len(whole) + 1) // 2


def test_activity_refuses_bad_limit_and_cursor(story):
    r = get(story.api, ACTIVITY, {"limit": "0", "cursor": "not-a-cursor!"})
    assert_problem(r, 422, "validation-error")
    assert sorted(error_fields(r.json())) == ["cursor", "limit"]
    for bad in ("101", "x", "-1"):
        assert_problem(get(story.api, ACTIVITY, {"limit": bad}), 422, "validation-error")
    r = get(story.api, ACTIVITY, {"page": "1"})
    assert_problem(r, 422, "validation-error")
    assert error_fields(r.json()) == ["page"]
    r = story.api.c.request("GET", f"{ACTIVITY}?limit=2&limit=3", token=story.api.token)
    assert_problem(r, 422, "validation-error")


def test_activity_and_analytics_need_a_token(api_url):
    c = Client(api_url)
    assert c.get(ACTIVITY).status_code == 401
    assert c.get(ANALYTICS).status_code == 401


def test_another_user_sees_none_of_it(story, stranger):
    assert activity_all(stranger) == []
    days = story.expected_days()
    for d in daily(stranger, days)["days"]:
        assert (d["created"], d["completed"], d["median_seconds_to_complete"]) == (0, 0, None)
    for path in (ACTIVITY, ANALYTICS):
        assert_problem(get(stranger, path, {"project": story.inbox}), 404, "not-found")
        r = get(stranger, path, {"project": "not-a-project"})
        assert_problem(r, 422, "validation-error")
        assert error_fields(r.json()) == ["project"]


# --- analytics ------------------------------------------------------------------------------


@pytest.mark.parametrize("of_inbox", [False, True], ids=["user", "inbox"])
def test_analytics_daily_matches_what_the_test_did(story, of_inbox):
    want = story.expected_days()
    body = daily(story.api, want, story.inbox if of_inbox else None)
    got = {d["day"]: d for d in body["days"]}
    assert sorted(got) == sorted(want), "every day of the range is listed once"
    assert sum(v[0] for v in want.values()) == 4 and sum(v[1] for v in want.values()) == 3
    for day, (created, completed, seconds) in want.items():
        d = got[day]
        assert (d["created"], d["completed"]) == (created, completed), d
        if seconds:
            assert d["median_seconds_to_complete"] == pytest.approx(statistics.median(seconds),
                                                                     abs=1e-6), (d, seconds)
        else:
            assert d["median_seconds_to_complete"] is None


def test_analytics_lists_empty_days_with_zeros(story):
    r = get(story.api, ANALYTICS, {"from": "2001-02-27", "to": "2001-03-02"})
    assert r.status_code == 200, r.text[:300]
    days = r.json()["days"]
    assert [d["day"] for d in days] == ["2001-02-27", "2001-02-28", "2001-03-01", "2001-03-02"]
    assert all((d["created"], d["completed"], d["median_seconds_to_complete"]) == (0, 0, None)
               for d in days)
    r = get(story.api, ANALYTICS)
    assert r.status_code == 200 and len(r.json()["days"]) == 30, "default: the last 30 days"


def test_analytics_validation_lists_each_bad_parameter(story):
    r = get(story.api, ANALYTICS, {"from": "2026-02-30", "to": "yesterday", "tz": "UTC"})
    assert_problem(r, 422, "validation-error")
    assert sorted(error_fields(r.json())) == ["from", "to", "tz"]
    assert_problem(get(story.api, ANALYTICS, {"from": "2026-03-02", "to": "2026-03-01"}), 422,
                   "validation-error")
    r = get(story.api, ANALYTICS, {"from": "2024-01-01", "to": "2025-01-01"})  # 367 days
    assert_problem(r, 422, "validation-error")
    assert error_fields(r.json()) == ["to"]
    assert get(story.api, ANALYTICS, {"from": "2024-01-01", "to": "2024-12-31"}).status_code == 200


# --- redelivery and rebuild -----------------------------------------------------------------


def snapshot(user_ids):
    with pg() as conn:
        rows = {}
        rows["daily"] = conn.execute(
            "SELECT user_id, day, created, completed FROM analytics_daily"
            " WHERE user_id = ANY(%s) ORDER BY 1, 2", (user_ids,)).fetchall()
        rows["completions"] = conn.execute(
            "SELECT event_id, user_id, day, seconds_to_complete FROM analytics_completions"
            " WHERE user_id = ANY(%s) ORDER BY 1", (user_ids,)).fetchall()
        rows["activity"] = conn.execute(
            "SELECT event_id, user_id, task_id, type, title, occurred_at, data FROM activity"
            " WHERE user_id = ANY(%s) ORDER BY 1", (user_ids,)).fetchall()
        rows["seen"] = conn.execute(
            "SELECT s.event_id FROM analytics_seen_events s JOIN activity a USING (event_id)"
            " WHERE a.user_id = ANY(%s) ORDER BY 1", (user_ids,)).fetchall()
        # The v2 twins: the logs and counts of these users' Inboxes (slice 9).
        inboxes = "(SELECT id FROM projects WHERE inbox_of = ANY(%s))"
        rows["project_daily"] = conn.execute(
            "SELECT project_id, day, created, completed FROM analytics_project_daily"
            f" WHERE project_id IN {inboxes} ORDER BY 1, 2", (user_ids,)).fetchall()
        rows["project_completions"] = conn.execute(
            "SELECT event_id, project_id, day, seconds_to_complete FROM analytics_project_completions"
            f" WHERE project_id IN {inboxes} ORDER BY 1", (user_ids,)).fetchall()
        rows["project_activity"] = conn.execute(
            "SELECT event_id, project_id, actor_id, task_id, type, title, occurred_at, data"
            f" FROM project_activity WHERE project_id IN {inboxes} ORDER BY 1", (user_ids,)).fetchall()
        rows["project_seen"] = conn.execute(
            "SELECT s.event_id FROM analytics_seen_events s JOIN project_activity a USING (event_id)"
            f" WHERE a.project_id IN {inboxes} ORDER BY 1", (user_ids,)).fetchall()
        return rows


def consumed_past(partition, offset):
    with pg() as conn:
        rows = conn.execute(
            "SELECT group_id FROM kafka_consumer_offsets WHERE topic = 'task-events'"
            " AND partition = %s AND next_offset > %s AND group_id = ANY(%s)",
            (partition, offset, list(GROUPS))).fetchall()
    return len(rows) == len(GROUPS)


TOPICS = ("task-events", "task-events.v2")


def caught_up():
    """True once both groups' stored offsets reach the end of every partition of both
    task-events topics."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": env("KAFKA_BROKERS"), "group.id": f"itests-{uuid.uuid4()}"})
    try:
        ends = {}
        for t in TOPICS:
            for p in c.list_topics(t, timeout=15).topics[t].partitions:
                ends[(t, p)] = c.get_watermark_offsets(TopicPartition(t, p), timeout=15)[1]
    finally:
        c.close()
    with pg() as conn:
        stored = {(g, t, p): o for g, t, p, o in conn.execute(
            "SELECT group_id, topic, partition, next_offset FROM kafka_consumer_offsets"
            " WHERE topic = ANY(%s) AND group_id = ANY(%s)", (list(TOPICS), list(GROUPS))).fetchall()}
    return all(stored.get((g, t, p), 0) >= end for g in GROUPS for (t, p), end in ends.items())


def test_a_redelivered_event_counts_once(story, stranger):
    users = [story.api.id, stranger.id]
    before = snapshot(users)
    assert len(before["activity"]) == len(story.events)
    wait_outbox_published([story.api.id], topic="task-events")
    story.published.wait_caught_up()
    payloads = {}  # event id -> (key, raw), first copy (the relay delivers at least once)
    for m in story.published.matching(lambda m: m["key"] == story.api.id):
        payloads.setdefault(m["value"]["id"], (m["key"], m["raw"]))
    payloads = list(payloads.values())
    assert [json.loads(p)["type"] for _, p in payloads] == [e[0] for e in story.events]
    last = None
    for key, payload in payloads:  # what a relay crashing before deleting rows would resend
        last = produce("task-events", key.encode(), payload)
    wait_until(lambda: consumed_past(*last), CONSUMER_WAIT_S, "both consumers read the resent events")
    assert snapshot(users) == before


def run_admin(*args):
    binary = os.path.join(env("TASKBUS_BUILD_DIR"), "taskbus-admin")
    p = subprocess.run([binary, *args], env=os.environ.copy(), capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, f"taskbus-admin {' '.join(args)}: {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p.stdout


@pytest.mark.single_stack_only
def test_rebuild_from_offset_zero_gives_identical_rows(story, stranger):
    users = [story.api.id, stranger.id]
    before = snapshot(users)
    assert before["daily"] and before["completions"] and len(before["activity"]) == len(story.events)
    assert len(before["seen"]) == sum(1 for e in story.events
                                      if e[0] in ("taskbus.task.created", "taskbus.task.completed"))
    assert len(before["project_activity"]) == len(story.events)
    assert before["project_daily"] and before["project_seen"] and len(before["project_seen"]) == len(before["seen"])
    stop("analytics")
    stop("activity")
    try:
        out = run_admin("reset-consumer", "analytics")
        assert "reset analytics" in out
        out = run_admin("reset-consumer", "activity")
        assert "reset activity" in out
        empty = snapshot(users)
        assert all(v == [] for v in empty.values()), "the reset left rows behind"
    finally:
        start("analytics")
        start("activity")
    wait_until(lambda: snapshot(users) == before, REBUILD_WAIT_S, "the consumers rebuilt the rows")
    wait_until(caught_up, REBUILD_WAIT_S, "the rebuilt consumers reached the end of both topics")
    after = snapshot(users)
    assert after == before, "a replay from offset 0 must rebuild identical rows, nothing twice"
    assert activity_all(story.api) and analytics_matches(story)


@pytest.mark.single_stack_only
def test_analytics_seen_events_retention_prunes_old_rows_only():
    """The scheduler deletes analytics_seen_events rows seen longer ago than the default
    retention (30 days) at its start, then every interval; rows of old times are inserted
    directly, so nothing sleeps. Ids are random: no real event can match them."""
    old, recent = str(uuid.uuid4()), str(uuid.uuid4())
    with pg() as conn:
        conn.execute("INSERT INTO analytics_seen_events (event_id, seen_at) VALUES"
                     " (%s, now() - interval '60 days'), (%s, now() - interval '1 day')",
                     (old, recent))
    try:
        stop("scheduler")
        start("scheduler")

        def gone():
            with pg() as conn:
                return conn.execute("SELECT count(*) FROM analytics_seen_events WHERE event_id = %s",
                                    (old,)).fetchone()[0] == 0

        wait_until(gone, 60, "the 60-day-old seen row pruned", interval=0.3)
        with pg() as conn:
            assert conn.execute("SELECT count(*) FROM analytics_seen_events WHERE event_id = %s",
                                (recent,)).fetchone()[0] == 1
    finally:
        with pg() as conn:
            conn.execute("DELETE FROM analytics_seen_events WHERE event_id = ANY(%s::uuid[])",
                         ([old, recent],))
