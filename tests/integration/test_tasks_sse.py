"""GET /api/v1/events: a user's task changes as Server-Sent Events, live from Redis
pub/sub, resumable with Last-Event-ID (replay of what came after, exactly once), and
private to their owner."""

import time

import pytest

from helpers.api import assert_problem, Client
from tasks_helpers import EVENTS, SseReader, assert_event_valid, stream_id_key, task_of, task_user

SUBSCRIBE_GRACE = 0.7  # the stream SUBSCRIBEs before it answers; a margin for slow builds


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
        time.sleep(SUBSCRIBE_GRACE)
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
        time.sleep(SUBSCRIBE_GRACE)
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
