"""Webhooks end to end (docs/decisions.md, "Webhooks"): the API registers a URL (SSRF
guard, secret shown once), taskbus-webhooks turns task events into signed POSTs to a real
HTTP receiver on 127.0.0.1 (allowed by TASKBUS_WEBHOOK_ALLOW=127.0.0.1 in tests/run),
retries failures, and disables a webhook that keeps failing
(TASKBUS_WEBHOOK_DISABLE_AFTER_SECONDS=20 in tests/run) with a `webhook_disabled` message
on the `notifications` topic.

Every request the receiver gets has its signature recomputed from the secret of the 201;
a bad signature fails the test. Waits are bounded; nothing is mocked.
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import jsonschema
import pytest

from helpers.api import API, assert_problem, error_fields, is_uuid
from helpers.kafka_events import EventCollector
from helpers.stack_control import env
from helpers.tasks import (task_user, undocumented_data_members, wait_group_caught_up,
                           wait_outbox_published, wait_until)

HOOKS = f"{API}/webhooks"
DELIVERY_TIMEOUT = 60
DISABLE_TIMEOUT = 90  # 20 s of failure + the sweep + the relay


class Receiver:
    """A real HTTP receiver. `fail_first` requests answer 500 (all of them when None is
    replaced by `always_fail`); every request is recorded with its verdict."""

    def __init__(self, fail_first=0, always_fail=False):
        self.fail_first = fail_first
        self.always_fail = always_fail
        self.secret = None
        self.lock = threading.Lock()  # guards requests and the counter
        self.requests = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    n = len(receiver.requests)
                    fail = receiver.always_fail or n < receiver.fail_first
                    receiver.requests.append({
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                        "status": 500 if fail else 204,
                        "path": self.path,
                        "at": time.time(),
                    })
                self.send_response(500 if fail else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def snapshot(self):
        with self.lock:
            return list(self.requests)

    def accepted(self):
        """The requests answered 2xx, each checked and parsed."""
        return [verify(r, self.secret) for r in self.snapshot() if r["status"] < 300]


def verify(req, secret):
    """Checks the headers and the signature of one delivery; returns the CloudEvent."""
    h = req["headers"]
    assert h.get("content-type") == "application/cloudevents+json", h
    ts = h.get("webhook-timestamp", "")
    assert re.fullmatch(r"\d{10}", ts), h
    assert abs(int(ts) - req["at"]) < 60, f"timestamp {ts} is far from the receipt {req['at']}"
    sig = h.get("webhook-signature", "")
    want = "v1=" + hmac.new(secret.encode(), ts.encode() + b"." + req["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(sig, want), f"bad signature {sig!r} (want {want!r})"
    event = json.loads(req["body"])
    assert h.get("webhook-id") == event["id"], (h, event["id"])
    assert event["specversion"] == "1.0" and is_uuid(event["id"]), event
    return event


@pytest.fixture
def receivers():
    made = []

    def make(**kw):
        r = Receiver(**kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def register(api, receiver, event_types=("taskbus.task.*",)):
    r = api.req("POST", HOOKS, json={"url": receiver.url, "event_types": list(event_types)})
    assert r.status_code == 201, f"register: {r.status_code} {r.text[:300]}"
    body = r.json()
    receiver.secret = body["secret"]
    return body


def deliveries(api, hook_id, **params):
    r = api.req("GET", f"{HOOKS}/{hook_id}/deliveries", params=params)
    assert r.status_code == 200, f"deliveries: {r.status_code} {r.text[:300]}"
    return r.json()


def all_deliveries(api, hook_id):
    items, cursor = [], None
    for _ in range(100):
        page = deliveries(api, hook_id, limit=2, **({"cursor": cursor} if cursor else {}))
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return items
    raise AssertionError("the deliveries cursor never ends")


def settled(apis, hooks):
    """The fence for "nothing more will come": every task event of these users is on
    task-events (the outbox published it), taskbus-webhooks has ingested the topic to its
    end (every delivery it will ever make of them has its row), and every delivery of these
    webhooks is final (delivered or failed: no retry is due any more). Returns
    {hook id: deliveries}."""
    wait_outbox_published([a.id for a in apis], topic="task-events")
    wait_group_caught_up("taskbus-webhooks", "task-events", timeout=DELIVERY_TIMEOUT)

    def final():
        got = {h["id"]: all_deliveries(apis[0], h["id"]) for h in hooks}
        return got if all(d["status"] != "pending" for ds in got.values() for d in ds) else None

    return wait_until(final, DISABLE_TIMEOUT, "every delivery of these webhooks final", interval=0.3)


def test_register_list_delete_and_secret_shown_once(api_url, receivers):
    api = task_user(api_url, "wh-reg")
    other = task_user(api_url, "wh-other")
    rec = receivers()
    body = register(api, rec, ["taskbus.task.created", "taskbus.task.deleted"])
    assert set(body) >= {"id", "url", "event_types", "secret", "created_at", "enabled"}, body
    assert is_uuid(body["id"], 7) and body["url"] == rec.url and body["enabled"] is True
    assert body["event_types"] == ["taskbus.task.created", "taskbus.task.deleted"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", body["secret"]), body["secret"]
    assert len(base64.urlsafe_b64decode(body["secret"] + "=")) == 32

    listed = api.req("GET", HOOKS)
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["items"]
    assert item["id"] == body["id"] and item["enabled"] is True
    assert "secret" not in item and body["secret"] not in listed.text

    # Another user sees nothing of it: 404 on every verb, and an empty list.
    assert other.req("GET", HOOKS).json()["items"] == []
    assert_problem(other.req("GET", f"{HOOKS}/{body['id']}/deliveries"), 404, "not-found")
    assert_problem(other.req("DELETE", f"{HOOKS}/{body['id']}"), 404, "not-found")
    assert_problem(api.req("GET", f"{HOOKS}/not-a-uuid/deliveries"), 404, "not-found")
    assert deliveries(api, body["id"]) == {"items": [], "next_cursor": None}
    assert "cursor" in error_fields(assert_problem(
        api.req("GET", f"{HOOKS}/{body['id']}/deliveries", params={"cursor": "x"}), 422))

    assert api.req("DELETE", f"{HOOKS}/{body['id']}").status_code == 204
    assert_problem(api.req("DELETE", f"{HOOKS}/{body['id']}"), 404, "not-found")
    assert api.req("GET", HOOKS).json()["items"] == []
    assert_problem(api.c.get(HOOKS), 401, "unauthorized")


@pytest.mark.parametrize("url", [
    "http://10.1.2.3/hook",                    # private
    "http://169.254.169.254/latest/meta-data",  # link-local (cloud metadata)
    "http://127.0.0.2:8080/",                  # loopback, but not the allowed address
    "http://[::1]/",                           # IPv6 loopback
    "http://[::ffff:10.0.0.1]/",               # IPv4-mapped private
    "http://100.64.0.1/",                      # carrier-grade NAT
    "http://0.0.0.0/",                         # unspecified
    "http://167838211/",                       # 10.1.2.3 spelled as one number
    "ftp://example.com/",                      # not http(s)
    "http://user:pw@127.0.0.1/",               # credentials in the URL
    "not a url",
])
def test_register_refuses_unsafe_urls(api_url, url):
    api = task_user(api_url, "wh-ssrf")
    r = api.req("POST", HOOKS, json={"url": url, "event_types": ["taskbus.task.*"]})
    assert "url" in error_fields(assert_problem(r, 422, "validation-error")), r.text
    assert api.req("GET", HOOKS).json()["items"] == []


def test_register_validates_fields(api_url):
    api = task_user(api_url, "wh-fields")
    cases = [
        ({"url": "http://127.0.0.1:9/"}, "event_types"),
        ({"url": "http://127.0.0.1:9/", "event_types": []}, "event_types"),
        ({"url": "http://127.0.0.1:9/", "event_types": ["taskbus.user.*"]}, "event_types"),
        ({"url": "http://127.0.0.1:9/", "event_types": ["taskbus.task.*", "taskbus.task.*"]}, "event_types"),
        ({"event_types": ["taskbus.task.*"]}, "url"),
        ({"url": "http://127.0.0.1:9/", "event_types": ["taskbus.task.*"], "secret": "x"}, "secret"),
    ]
    for body, field in cases:
        r = api.req("POST", HOOKS, json=body)
        assert field in error_fields(assert_problem(r, 422, "validation-error")), (body, r.text)


def test_signed_deliveries_arrive_filtered_by_type(api_url, receivers, repo):
    api = task_user(api_url, "wh-flow")
    stranger = task_user(api_url, "wh-stranger")
    every, completed_only = receivers(), receivers()
    hook_all = register(api, every)
    hook_done = register(api, completed_only, ["taskbus.task.completed"])

    task = api.create_applied({"title": "webhook me"})
    tid = task["id"]
    r = api.patch(tid, {"title": "webhook me again"}, wait=5)
    assert r.status_code == 200, r.text
    r = api.patch(tid, {"status": "done"}, wait=5)
    assert r.status_code == 200, r.text
    r = api.delete(tid, wait=5)
    assert r.status_code == 204, r.text
    stranger.create_applied({"title": "not for these webhooks"})

    want = ["taskbus.task.created", "taskbus.task.updated", "taskbus.task.completed", "taskbus.task.deleted"]
    got = wait_until(lambda: (lambda ev: ev if len(ev) >= 4 else None)(every.accepted()),
                     DELIVERY_TIMEOUT, "four signed deliveries")
    assert [e["type"] for e in got] == want, [e["type"] for e in got]
    assert all(e["subject"] == f"tasks/{tid}" for e in got), got
    for e in got:
        with open(os.path.join(repo, "schemas", "events", f"{e['type']}.json"), encoding="utf-8") as f:
            schema = json.load(f)
        jsonschema.validate(e, schema, format_checker=jsonschema.FormatChecker())
        assert not undocumented_data_members(e, schema), e
        assert e.get("dataschema") == schema["$id"], e  # delivered as the relay published it
    [done] = wait_until(lambda: completed_only.accepted(), DELIVERY_TIMEOUT, "the completed delivery")
    assert done["type"] == "taskbus.task.completed" and done["id"] == got[2]["id"]

    settled([api, stranger], [hook_all, hook_done])  # nothing more: no stranger's task, no other types, no repeats
    assert len(every.snapshot()) == 4 and len(completed_only.snapshot()) == 1

    log = all_deliveries(api, hook_all["id"])
    assert [d["event_id"] for d in log] == [e["id"] for e in reversed(got)], "newest first"
    for d in log:
        assert d["status"] == "delivered" and d["attempts"] == 1, d
        assert d["last_status_code"] == 204 and d["delivered_at"], d
        assert [a["status_code"] for a in d["attempt_log"]] == [204], d
    assert [d["event_type"] for d in all_deliveries(api, hook_done["id"])] == ["taskbus.task.completed"]


def test_failing_receiver_that_recovers_gets_each_delivery_once(api_url, receivers):
    api = task_user(api_url, "wh-recover")
    rec = receivers(fail_first=4)
    hook = register(api, rec)
    ids = [api.create_applied({"title": f"retry {i}"})["id"] for i in range(3)]

    def delivered():
        ev = rec.accepted()
        return ev if len({e["subject"] for e in ev}) >= 3 else None

    wait_until(delivered, DELIVERY_TIMEOUT, "every task's delivery after the receiver recovered")
    settled([api], [hook])  # no retry is due any more: a repeat would be in by now
    events = rec.accepted()
    assert sorted(e["subject"] for e in events) == sorted(f"tasks/{t}" for t in ids), events
    assert len({e["id"] for e in events}) == len(events) == 3, "a delivery arrived twice"
    failed = [r for r in rec.snapshot() if r["status"] == 500]
    assert len(failed) == 4
    for r in failed:
        verify(r, rec.secret)  # failed attempts were signed too

    log = all_deliveries(api, hook["id"])
    assert len(log) == 3 and all(d["status"] == "delivered" for d in log), log
    assert sum(d["attempts"] for d in log) == 7, log
    retried = [d for d in log if d["attempts"] > 1]
    assert retried, log
    for d in retried:
        codes = [a["status_code"] for a in d["attempt_log"]]
        assert codes[-1] == 204 and set(codes[:-1]) == {500}, d
        assert [a["attempt"] for a in d["attempt_log"]] == list(range(1, d["attempts"] + 1)), d
    listed = api.req("GET", HOOKS).json()["items"]
    assert listed[0]["enabled"] is True and listed[0]["failing_since"] is None, listed


@pytest.fixture
def notifications():
    c = EventCollector(env("KAFKA_BROKERS"), "notifications")
    yield c
    c.close()


def test_always_failing_webhook_is_disabled_and_owner_notified(api_url, receivers, notifications, repo):
    api = task_user(api_url, "wh-disable")
    rec = receivers(always_fail=True)
    hook = register(api, rec)
    api.create_applied({"title": "nobody listens"})

    def disabled():
        items = api.req("GET", HOOKS).json()["items"]
        return items[0] if items and items[0]["enabled"] is False else None

    item = wait_until(disabled, DISABLE_TIMEOUT, "the failing webhook disabled", interval=0.5)
    assert item["disabled_at"] and item["disabled_reason"], item
    assert item["failing_since"], item

    msg = notifications.wait_for(
        lambda m: isinstance(m["value"], dict) and m["value"].get("kind") == "webhook_disabled"
        and m["value"].get("data", {}).get("webhook_id") == hook["id"], timeout=30)
    value = msg["value"]
    assert msg["key"] == api.id and value["user_id"] == api.id and value["to"] == api.user.email
    assert value["data"]["url"] == rec.url and value["data"]["reason"], value
    with open(os.path.join(repo, "schemas", "notifications", "notification.json"), encoding="utf-8") as f:
        jsonschema.validate(value, json.load(f), format_checker=jsonschema.FormatChecker())

    [d] = all_deliveries(api, hook["id"])
    assert d["status"] == "failed" and d["attempts"] >= 2, d
    assert len(d["attempt_log"]) == d["attempts"] and all(a["status_code"] == 500 for a in d["attempt_log"])
    assert len(rec.snapshot()) == d["attempts"]
    for r in rec.snapshot():
        verify(r, rec.secret)

    # A disabled webhook gets nothing more.
    seen = len(rec.snapshot())
    api.create_applied({"title": "still nobody"})
    after = settled([api], [hook])  # the new event was ingested: it made no delivery
    assert [x["id"] for x in after[hook["id"]]] == [d["id"]], after
    assert len(rec.snapshot()) == seen


def _task_event(user_id, type_, at, event_id=None):
    """A task CloudEvent as the writer publishes it, happening at `at` (a UTC datetime)."""
    task_id = str(uuid.uuid4())
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
    data = {"id": task_id, "user_id": user_id, "title": "burst", "description": "", "status": "todo",
            "priority": "medium", "tags": [], "due_at": None, "completed_at": None, "version": 1,
            "created_at": stamp, "updated_at": stamp}
    return {"specversion": "1.0", "id": event_id or str(uuid.uuid4()), "source": "/taskbus/api",
            "type": type_, "time": stamp, "subject": f"tasks/{task_id}",
            "datacontenttype": "application/json", "data": data}


def test_a_burst_of_events_matches_each_webhook_once(api_url, receivers):
    """One burst on task-events, ingested in as few batches as the consumer makes of it:
    each event gets one delivery per webhook that wants it (type, "taskbus.task.*", the
    webhook existing when the event happened), a repeated event id nothing more, another
    user's event and a record that is no event nothing at all."""
    from confluent_kafka import Producer

    api = task_user(api_url, "wh-burst")
    other = task_user(api_url, "wh-burst-other")
    hook_all = register(api, receivers())
    hook_created = register(api, receivers(), ["taskbus.task.created"])
    hook_other = register(other, receivers(), ["taskbus.task.updated"])
    now = datetime.now(timezone.utc) + timedelta(seconds=1)  # after the registrations
    created = _task_event(api.id, "taskbus.task.created", now)
    updated = _task_event(api.id, "taskbus.task.updated", now)
    before = _task_event(api.id, "taskbus.task.created", now - timedelta(hours=1))  # before the webhooks
    completed = _task_event(api.id, "taskbus.task.completed", now)
    others = _task_event(other.id, "taskbus.task.created", now)  # hook_other wants updates only
    records = [(api.id, created), (api.id, updated), (api.id, before), (api.id, created),
               (api.id, None), (other.id, others), (api.id, completed)]
    p = Producer({"bootstrap.servers": env("KAFKA_BROKERS"), "enable.idempotence": True, "linger.ms": 50})
    for key, ev in records:
        p.produce("task-events", key=key.encode(), value=b"not an event" if ev is None else json.dumps(ev).encode())
    assert p.flush(15) == 0, "the burst was not produced"

    got = settled([api, other], [hook_all, hook_created])
    # Newest first: the deliveries were made in the order of the events (one partition).
    assert [(d["event_id"], d["event_type"]) for d in got[hook_all["id"]]] == [
        (e["id"], e["type"]) for e in (completed, updated, created)], got[hook_all["id"]]
    assert [d["event_id"] for d in got[hook_created["id"]]] == [created["id"]]
    assert all_deliveries(other, hook_other["id"]) == []
    for d in got[hook_all["id"]] + got[hook_created["id"]]:
        assert d["status"] == "delivered" and d["attempts"] == 1, d
