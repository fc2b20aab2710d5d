"""GET /api/v1/events: a user's task changes as Server-Sent Events, live from Redis
pub/sub, resumable with Last-Event-ID (replay of what came after, exactly once), and
private to their owner. An id the user's capped log no longer reaches (pushed out by more
than 1 000 later changes, made through the ordinary import path) gets `event: reset`
carrying the newest id; a Last-Event-ID that is not a stream id is 422. The 200 comes only
once the instance's subscription to the user's channel is confirmed, so a change made
after the answer always reaches the stream: no test waits before its first change.
(Caps and the shared subscription: test_tasks_sse_limits.py.)"""

import json
import time

import pytest

from helpers.api import assert_problem, error_fields, Client
from helpers.tasks import (EVENTS, IMPORT, SseReader, assert_event_valid, redis_conn, stream_id_key, task_of,
                           task_user, wait_until)


@pytest.fixture(scope="module")
def alice(api_url):
    return task_user(api_url, "tasks-sse-alice")


@pytest.fixture(scope="module")
def bob(api_url):
    return task_user(api_url, "tasks-sse-bob")


def frames_for(reader, n, timeout=20):
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        left = deadline - time.monotonic()
        assert left > 0, f"only {len(out)} of {n} SSE frames within {timeout} s: {out}"
        f = reader.next(left)
        if f.get("event", "message") in ("task.created", "task.updated", "task.completed", "task.deleted", "reset"):
            out.append(f)
    return out


def check_frame(f, event, task_id):
    assert f.get("event") == event, f
    assert f.get("id"), f"frame without id: {f}"
    stream_id_key(f["id"])
    ev = f["json"]
    assert isinstance(ev, dict), f
    assert ev["type"] == "taskbus." + event, ev
    assert_event_valid(ev)
    assert task_id in f["data"], f


def test_live_changes_then_resume_from_the_first(alice, bob):
    live = SseReader(alice)
    other = SseReader(bob)
    try:
        assert live.status == 200, live.resp.text[:300] if live.status != 200 else ""
        assert live.content_type.split(";")[0].strip() == "text/event-stream", live.content_type
        assert other.status == 200
        r = alice.create({"title": "sse"}, wait=5)
        assert r.status_code == 201, r.text
        tid = task_of(r.json())["id"]
        u = alice.patch(tid, {"title": "sse 2"}, wait=5)
        assert u.status_code == 200, u.text
        d = alice.delete(tid, wait=5)
        assert d.status_code == 204, d.text
        got = frames_for(live, 3)
        for f, e in zip(got, ("task.created", "task.updated", "task.deleted")):
            check_frame(f, e, tid)
        keys = [stream_id_key(f["id"]) for f in got]
        assert keys == sorted(keys) and len(set(keys)) == 3, [f["id"] for f in got]
        extra = [f for f in live.collect(1.5) if f.get("event", "").startswith("task.")]
        assert not extra, f"frames repeated or invented on the live stream: {extra}"
        leaked = [f for f in other.collect(0.5) if tid in f.get("data", "")]
        assert not leaked, "another user's stream carried this user's change"
    finally:
        live.close()
        other.close()

    again = SseReader(alice, last_event_id=got[0]["id"])
    try:
        assert again.status == 200
        replay = frames_for(again, 2)
        assert [f["id"] for f in replay] == [got[1]["id"], got[2]["id"]], replay
        assert [f["event"] for f in replay] == ["task.updated", "task.deleted"]
        more = [f for f in again.collect(1.5) if f.get("event", "").startswith("task.")]
        assert not more, f"the replay repeated frames: {more}"
        # And the resumed stream is live too.
        r = alice.create({"title": "after resume"}, wait=5)
        assert r.status_code == 201
        nxt = frames_for(again, 1)[0]
        check_frame(nxt, "task.created", task_of(r.json())["id"])
        assert stream_id_key(nxt["id"]) > stream_id_key(got[2]["id"])
    finally:
        again.close()


def test_resume_with_the_query_parameter(alice):
    live = SseReader(alice)
    try:
        assert live.status == 200
        a = alice.create({"title": "sse q a"}, wait=5)
        b = alice.create({"title": "sse q b"}, wait=5)
        assert a.status_code == 201 and b.status_code == 201
        fa, fb = frames_for(live, 2)
        check_frame(fa, "task.created", task_of(a.json())["id"])
        check_frame(fb, "task.created", task_of(b.json())["id"])
    finally:
        live.close()
    again = SseReader(alice, params={"last_event_id": fa["id"]})
    try:
        assert again.status == 200
        assert [f["id"] for f in frames_for(again, 1)] == [fb["id"]]
        assert not [f for f in again.collect(1.0) if f.get("event", "").startswith("task.")]
    finally:
        again.close()


def test_events_need_a_token(api_url):
    assert_problem(Client(api_url).get(EVENTS, headers={"Accept": "text/event-stream"}), 401, "unauthorized")


# --- the window: an id it no longer reaches gets `event: reset` ---

WINDOW = 1000  # the writer's XADD ... MAXLEN ~ 1000 (decisions.md, "Server-Sent Events")
# Enough changes to push any entry out of a window trimmed "~" (whole stream nodes).
PUSH = 1200
IMPORTS = 4  # the importer's rate is per import: four run side by side, ~2 s in all


def events_log(api):
    return "{u:%s}:events:log" % api.id


def log_ends(r, api):
    """(oldest id, newest id) of the user's event log in Redis."""
    key = events_log(api)
    oldest, newest = r.xrange(key, count=1), r.xrevrange(key, count=1)
    assert oldest and newest, f"{key} is empty"
    return oldest[0][0], newest[0][0]


def import_changes(api, n, tag):
    """n creates through the ordinary import path, waited for until all are applied."""
    per = n // IMPORTS
    ids = []
    for k in range(IMPORTS):
        items = [{"title": f"{tag} {k}-{i}"} for i in range(per)]
        r = api.req("POST", IMPORT, data=json.dumps(items), headers={"Content-Type": "application/json"})
        assert r.status_code == 202 and r.json()["accepted"] == per, r.text[:300]
        ids.append(r.json()["import_id"])

    def applied():
        done = 0
        for i in ids:
            r = api.req("GET", f"{IMPORT}/{i}")
            assert r.status_code == 200, r.text[:300]
            done += r.json()["applied"]
        return done == per * IMPORTS

    wait_until(applied, 60, f"{n} imported creates applied", interval=0.5)
    return per * IMPORTS


def test_an_id_older_than_the_window_gets_reset(api_url):
    carol = task_user(api_url, "tasks-sse-reset")
    live = SseReader(carol)
    try:
        assert live.status == 200
        r = carol.create({"title": "seen before the window moved"}, wait=5)
        assert r.status_code == 201, r.text
        seen = frames_for(live, 1)[0]
        check_frame(seen, "task.created", task_of(r.json())["id"])
    finally:
        live.close()

    # The window moves on: more than WINDOW changes of this user after the one seen.
    import_changes(carol, PUSH, "push")
    last = carol.create({"title": "the newest change"}, wait=5)
    assert last.status_code == 201, last.text
    last_id = task_of(last.json())["id"]
    r = redis_conn()
    key = events_log(carol)
    # The writer XADDs after recording the outcome: wait until the newest change is logged.
    wait_until(lambda: last_id in r.xrevrange(key, count=1)[0][1]["event"], 10, "the newest change in the log")
    oldest, newest = log_ends(r, carol)
    assert stream_id_key(oldest) > stream_id_key(seen["id"]), \
        f"the log still reaches back to {seen['id']} (oldest {oldest}, {r.xlen(key)} entries)"
    assert WINDOW <= r.xlen(key) < PUSH, r.xlen(key)

    again = SseReader(carol, last_event_id=seen["id"])
    try:
        assert again.status == 200, again.resp.text[:300] if again.status != 200 else ""
        reset = frames_for(again, 1)[0]
        assert reset.get("event") == "reset", f"expected a reset, got {reset}"
        # It carries the newest id, so a reconnect after it resumes from there.
        assert reset.get("id") == newest, (reset, newest)
        assert isinstance(reset["json"], dict) and reset["json"].get("reason"), reset
        # Nothing of the (incomplete) window is replayed after a reset: the client re-lists.
        replayed = [f for f in again.collect(1.5) if f.get("event", "").startswith("task.")]
        assert not replayed, f"{len(replayed)} frames replayed after a reset, e.g. {replayed[:1]}"
        # And the stream goes on live.
        n = carol.create({"title": "after the reset"}, wait=5)
        assert n.status_code == 201, n.text
        nxt = frames_for(again, 1)[0]
        check_frame(nxt, "task.created", task_of(n.json())["id"])
        assert stream_id_key(nxt["id"]) > stream_id_key(newest)
    finally:
        again.close()

    # An id still inside the window is replayed, not reset: the last four changes after it.
    recent = [e[0] for e in reversed(r.xrevrange(key, count=5))]
    inside = SseReader(carol, last_event_id=recent[0])
    try:
        assert inside.status == 200
        got = frames_for(inside, 4)
        assert [f.get("event") for f in got] == ["task.created"] * 4, got
        assert [f["id"] for f in got] == recent[1:], (got, recent)
        assert not [f for f in inside.collect(1.0) if f.get("event") in ("reset", "task.created")]
    finally:
        inside.close()


def test_an_id_when_the_log_holds_nothing_gets_reset(api_url):
    """A client that claims to have seen events the log no longer holds at all (here: a
    user whose log is empty) cannot be caught up: reset, without an id to resume from."""
    dave = task_user(api_url, "tasks-sse-empty")
    s = SseReader(dave, last_event_id="1-0")
    try:
        assert s.status == 200
        f = frames_for(s, 1)[0]
        assert f.get("event") == "reset" and "id" not in f, f
        assert isinstance(f["json"], dict) and f["json"].get("reason"), f
    finally:
        s.close()


@pytest.mark.parametrize("bad", ["abc", "1-", "-1", "1-2-3", "1.5", "0x10-0", "+1-0", "99999999999999999999999-0"])
def test_a_malformed_last_event_id_is_422(alice, bad):
    h = {"Accept": "text/event-stream", "Last-Event-ID": bad}
    r = alice.c.get(EVENTS, token=alice.token, headers=h, timeout=10)
    assert error_fields(assert_problem(r, 422, "validation-error")) == ["Last-Event-ID"], r.text
    q = alice.c.get(EVENTS, token=alice.token, headers={"Accept": "text/event-stream"},
                    params={"last_event_id": bad}, timeout=10)
    assert error_fields(assert_problem(q, 422, "validation-error")) == ["last_event_id"], q.text
    # An empty header counts as absent, and never hides a malformed query value (the
    # contract suite's case: "Last-Event-ID:" plus ?last_event_id=%C2%84 answered 200).
    e = alice.c.get(EVENTS, token=alice.token, headers={"Accept": "text/event-stream", "Last-Event-ID": ""},
                    params={"last_event_id": bad}, timeout=10)
    assert error_fields(assert_problem(e, 422, "validation-error")) == ["last_event_id"], e.text
