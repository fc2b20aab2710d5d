"""GET /api/v1/events at scale: stream caps and one shared Redis subscription per instance
(docs/decisions.md, "Server-Sent Events").

- A user holds at most TASKBUS_SSE_MAX_PER_USER (default 5; tests/run keeps it) streams on
  an API instance: one more is 429 `rate-limited` with Retry-After, answered before any
  stream starts, and the open ones keep working. A closed stream gives its slot back as
  soon as the server notices (at its next write to it: the test provokes writes with
  events and polls with a deadline).
- An instance holds at most TASKBUS_SSE_MAX_PER_INSTANCE streams: the test restarts the
  API with a cap of 3 (the stack's default 500 is out of a test's reach), then restarts it
  with the stack's settings; that SIGTERM ends the open streams before the drain.
- Every stream of an instance shares one Redis connection (CLIENT LIST name
  taskbus-api-sse-hub), subscribed once per user: PUBSUB NUMSUB of a user's channel is 1
  however many streams the user has, and the API's Redis connections do not grow with
  its streams.
- A Redis restart under an open stream loses nothing: an event written while Redis was
  down reaches the stream after Redis is back, exactly once, with no reset, and the
  stream is never closed (Redis keeps its append-only file, so the event log survives;
  with the log lost the stream would get `event: reset` instead)."""

import os
import re
import time

import pytest

from helpers import stack_control
from helpers.api import assert_problem
from helpers.tasks import SseReader, redis_conn, stream_id_key, task_of, task_user, wait_api_ready

PER_USER = 5  # TASKBUS_SSE_MAX_PER_USER's default; tests/run does not set it
NEAR_CACHE_NAME = "taskbus-api-near-cache"
HUB_NAME = "taskbus-api-sse-hub"
NUDGE_INTERVAL = 0.5  # between provoking events while waiting for a slot (rate limits)
SLOT_DEADLINE = 45  # two keep-alive periods and a margin: the server notices by then anyway


def channel(api):
    return "{u:%s}:events" % api.id


def close_all(streams):
    for s in streams:
        s.close()


def assert_stream_refused(s, scope):
    """A 429 for a stream cap (not the request rate limiter), as a problem, before any stream."""
    assert s.status == 429, f"expected 429, got {s.status}"
    body = assert_problem(s.resp, 429, "rate-limited")
    assert "event streams" in body["detail"] and scope in body["detail"], body
    retry = s.resp.headers.get("Retry-After", "")
    assert retry.isdigit() and int(retry) >= 1, s.resp.headers
    assert s.resp.headers.get("Content-Type", "").startswith("application/problem+json")
    s.close()
    return body


def task_frame(reader, task_id, event="task.created", timeout=30):
    """The frame of task_id's event on reader; fails on a reset or the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no {event} for {task_id} within {timeout} s (reader error: {reader.error})"
        f = reader.next(left)
        assert f.get("event") != "reset", f"unexpected reset: {f}"
        if f.get("event") == event and task_id in f.get("data", ""):
            return f


def open_when_a_slot_frees(api, nudge, scope):
    """Opens a stream of api, retrying while the answer is the stream cap's 429. Each retry
    first makes nudge() write an event, so the server writes to the closed stream and
    notices it is gone. Returns the open stream."""
    deadline = time.monotonic() + SLOT_DEADLINE
    n = 0
    while True:
        s = SseReader(api)
        if s.status == 200:
            return s
        assert_stream_refused(s, scope)
        s.close()
        assert time.monotonic() < deadline, f"no slot came back within {SLOT_DEADLINE} s of closing a stream"
        nudge(n)
        n += 1
        time.sleep(NUDGE_INTERVAL)


def test_a_users_streams_are_capped_and_a_closed_one_frees_its_slot(api_url):
    u = task_user(api_url, "sse-cap-user")
    other = task_user(api_url, "sse-cap-other")
    streams = []
    try:
        for _ in range(PER_USER):
            streams.append(SseReader(u))
            assert streams[-1].status == 200, streams[-1].resp.text[:300]
        body = assert_stream_refused(SseReader(u), "for this user")
        assert str(PER_USER) in body["detail"], body
        # Another user is not affected by this user's cap.
        o = SseReader(other)
        streams.append(o)
        assert o.status == 200

        # The open streams keep working: each one gets the user's next change.
        r = u.create({"title": "seen by every stream"}, wait=5)
        assert r.status_code == 201, r.text
        tid = task_of(r.json())["id"]
        for s in streams[:PER_USER]:
            task_frame(s, tid)

        # Closing one frees its slot, and only one.
        streams.pop(0).close()
        nudge = lambda n: u.create({"title": f"nudge {n}"})  # noqa: E731
        streams.append(open_when_a_slot_frees(u, nudge, "for this user"))
        assert_stream_refused(SseReader(u), "for this user")
    finally:
        close_all(streams)


@pytest.mark.single_stack_only(reason="counts the SSE hubs' connections and subscriptions on one Redis; a cluster "
                                        "spreads them over its nodes (other SSE tests run on it)")
def test_streams_share_one_redis_subscription(api_url):
    r = redis_conn()
    a = task_user(api_url, "sse-hub-a")
    b = task_user(api_url, "sse-hub-b")
    before = r.client_list()
    streams_a, streams_b = [], []
    try:
        for _ in range(4):
            streams_a.append(SseReader(a))
        for _ in range(3):
            streams_b.append(SseReader(b))
        assert [s.status for s in streams_a + streams_b] == [200] * 7

        clients = r.client_list()
        # One hub connection per API instance (the test stack runs two); the streams of
        # this instance ride on its hub, subscribed once to each user's channel (below).
        hubs = [c for c in clients if c.get("name") == HUB_NAME]
        assert 1 <= len(hubs) <= 2, f"expected one SSE hub connection per instance, got {hubs}"
        # Besides the hubs, only the instances' near-cache subscribers listen.
        subscribed = [c for c in clients if int(c.get("sub", 0)) > 0 or int(c.get("psub", 0)) > 0]
        others = [c for c in subscribed if c.get("name") not in (HUB_NAME, NEAR_CACHE_NAME)]
        assert others == [], f"unexpected subscribed connections: {others}"
        # One subscription per user, not one per stream.
        assert dict(r.pubsub_numsub(channel(a), channel(b))) == {channel(a): 1, channel(b): 1}
        grew = len(clients) - len(before)
        assert grew < 7, f"Redis connections grew by {grew} with 7 streams"

        # Every stream gets its own user's changes, and no other user's.
        ta = task_of(a.create({"title": "for a's streams"}, wait=5).json())["id"]
        tb = task_of(b.create({"title": "for b's streams"}, wait=5).json())["id"]
        for s in streams_a:
            task_frame(s, ta)
        for s in streams_b:
            task_frame(s, tb)
        leaked = [f for s in streams_a for f in s.collect(0.3) if tb in f.get("data", "")]
        leaked += [f for s in streams_b for f in s.collect(0.3) if ta in f.get("data", "")]
        assert not leaked, f"a stream carried another user's change: {leaked[:1]}"
    finally:
        close_all(streams_a + streams_b)


def api_log_path():
    return os.path.join(os.environ["TASKBUS_DATA_DIR"], "logs", "api.log")


def log_size():
    try:
        return os.path.getsize(api_log_path())
    except OSError:
        return 0


def log_since(offset):
    with open(api_log_path(), "rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", "replace")


@pytest.mark.single_stack_only
def test_an_instance_holds_at_most_its_cap_and_ends_streams_at_shutdown(api_url, monkeypatch):
    a = task_user(api_url, "sse-inst-a")
    b = task_user(api_url, "sse-inst-b")
    c = task_user(api_url, "sse-inst-c")
    monkeypatch.setenv("TASKBUS_SSE_MAX_PER_INSTANCE", "3")
    stack_control.restart("api")
    streams = []
    try:
        wait_api_ready(api_url)
        streams += [SseReader(a), SseReader(a), SseReader(b)]
        assert [s.status for s in streams] == [200] * 3
        assert_stream_refused(SseReader(c), "on this server")
        assert_stream_refused(SseReader(b), "on this server")

        # A closed stream's slot goes to whoever asks next.
        streams.pop(0).close()
        nudge = lambda n: a.create({"title": f"nudge {n}"})  # noqa: E731
        streams.append(open_when_a_slot_frees(c, nudge, "on this server"))
        assert_stream_refused(SseReader(a), "on this server")
        # The streams that are open work.
        tid = task_of(c.create({"title": "c under the instance cap"}, wait=5).json())["id"]
        task_frame(streams[-1], tid)
    finally:
        offset = log_size()
        monkeypatch.undo()
        stack_control.restart("api")  # SIGTERM with three streams open, then the stack's settings
        wait_api_ready(api_url)
    # SIGTERM ended every open stream before the drain, so the drain was not held up.
    for s in streams:
        s._thread.join(timeout=10)
        assert not s._thread.is_alive(), "a stream outlived the API that served it"
    close_all(streams)
    text = log_since(offset)
    ended = len(re.findall(r'"msg":"sse stream ending".*"reason":"server shutting down; reconnect"', text))
    assert ended == 3, f"{ended} streams ended by the shutdown; log since the restart:\n{text[-3000:]}"
    stopping = [line for line in text.splitlines() if '"msg":"http server stopping"' in line]
    assert stopping and '"drained":true' in stopping[-1], stopping


@pytest.mark.single_stack_only
def test_a_redis_restart_loses_no_event_of_an_open_stream(api_url):
    u = task_user(api_url, "sse-redis-restart")
    s = SseReader(u)
    try:
        assert s.status == 200
        r1 = u.create({"title": "before the restart"}, wait=5)
        assert r1.status_code == 201, r1.text
        f1 = task_frame(s, task_of(r1.json())["id"])

        stack_control.stop("redis")
        try:
            r2 = u.create({"title": "while redis is down"})
            assert r2.status_code == 202, r2.text
            t2 = task_of(r2.json())["id"]
            u.wait_command(r2.json()["command_id"], timeout=60)  # applied in Postgres
        finally:
            stack_control.start("redis")
        # The writer delivers its journaled Redis effects (log entry and publish); the hub
        # reconnects and resubscribes, and the stream re-reads the log after its last id.
        f2 = task_frame(s, t2, timeout=60)
        wait_api_ready(api_url)
        r3 = u.create({"title": "after the restart"})
        assert r3.status_code == 202, r3.text
        f3 = task_frame(s, task_of(r3.json())["id"], timeout=30)

        keys = [stream_id_key(f["id"]) for f in (f1, f2, f3)]
        assert keys == sorted(keys) and len(set(keys)) == 3, [f1["id"], f2["id"], f3["id"]]
        extra = [f for f in s.collect(1.0) if f.get("event") == "reset" or t2 in f.get("data", "")]
        assert not extra, f"a repeat or a reset after the restart: {extra}"
        assert s._thread.is_alive() and s.error is None, f"the stream was closed: {s.error}"
    finally:
        s.close()
        if stack_control.status().get("redis", ("down",))[0] != "up":
            stack_control.start("redis")
