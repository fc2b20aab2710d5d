"""Managing a webhook (docs/decisions.md, "Managing a webhook"): PATCH of url, event types
and enabled (re-enabling a webhook taskbus-webhooks disabled after continuous failures),
rotating its secret, the replaced secret signing too during the grace period
(TASKBUS_WEBHOOK_SECRET_GRACE_SECONDS, 86400 by default), and a test ping.

Deliveries go to the real receiver of test_webhooks.py on 127.0.0.1 (allowed by
TASKBUS_WEBHOOK_ALLOW in tests/run); every signature is recomputed here. Waits are
bounded conditions; nothing is mocked.
"""

import hashlib
import hmac
import json
import os
import re
from datetime import datetime, timezone

import jsonschema

from helpers.api import assert_problem, error_fields
from helpers.tasks import task_user, wait_until
from test_webhooks import DELIVERY_TIMEOUT, DISABLE_TIMEOUT, HOOKS, all_deliveries, register, verify
from test_webhooks import receivers  # noqa: F401 - the fixture

MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


def listed(api, hook_id):
    r = api.req("GET", HOOKS)
    assert r.status_code == 200, r.text
    [item] = [h for h in r.json()["items"] if h["id"] == hook_id]
    return item


def patch(api, hook_id, body, headers=MERGE_PATCH):
    return api.req("PATCH", f"{HOOKS}/{hook_id}", json=body, headers=headers)


def signatures(req):
    """The v1= values of a delivery's Webhook-Signature, in order."""
    values = req["headers"].get("webhook-signature", "").split(" ")
    assert all(re.fullmatch(r"v1=[0-9a-f]{64}", v) for v in values), values
    return [v[3:] for v in values]


def signed_by(req, secret):
    ts = req["headers"]["webhook-timestamp"]
    return hmac.new(secret.encode(), ts.encode() + b"." + req["body"], hashlib.sha256).hexdigest()


def test_patch_validates_each_field_and_hides_other_users_webhooks(api_url, receivers):
    api = task_user(api_url, "wh-patch")
    other = task_user(api_url, "wh-patch-other")
    rec = receivers()
    hook = register(api, rec)

    r = patch(api, hook["id"], {"url": "http://10.1.2.3/hook", "event_types": ["taskbus.nope"],
                                "enabled": "yes", "secret": "x"})
    assert set(error_fields(assert_problem(r, 422, "validation-error"))) == {
        "url", "event_types", "enabled", "secret"}, r.text
    for member in ("url", "event_types", "enabled"):
        r = patch(api, hook["id"], {member: None})
        assert error_fields(assert_problem(r, 422, "validation-error")) == [member], r.text
    assert "event_types" in error_fields(assert_problem(patch(api, hook["id"], {"event_types": []}), 422))
    assert "url" in error_fields(assert_problem(patch(api, hook["id"], {"url": "ftp://example.com/"}), 422))
    assert_problem(patch(api, hook["id"], {"enabled": False}, headers={"Content-Type": "text/plain"}), 415)
    assert_problem(api.req("PATCH", f"{HOOKS}/{hook['id']}", data=b"{", headers=MERGE_PATCH), 400)
    item = listed(api, hook["id"])
    assert item["url"] == rec.url and item["event_types"] == ["taskbus.task.*"] and item["enabled"], item

    # Another user's webhook, a random id and a malformed id are all 404; nothing changed.
    assert_problem(patch(other, hook["id"], {"enabled": False}), 404, "not-found")
    assert_problem(other.req("POST", f"{HOOKS}/{hook['id']}/rotate-secret"), 404, "not-found")
    assert_problem(patch(api, "not-a-uuid", {"enabled": False}), 404, "not-found")
    assert_problem(api.req("POST", f"{HOOKS}/not-a-uuid/rotate-secret"), 404, "not-found")
    assert listed(api, hook["id"])["enabled"] is True

    # A valid patch changes what it names and keeps the rest; application/json works too.
    second = receivers()
    r = patch(api, hook["id"], {"url": second.url, "event_types": ["taskbus.task.completed"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["url"] == second.url and body["event_types"] == ["taskbus.task.completed"], body
    assert body["enabled"] is True and "secret" not in body and hook["secret"] not in r.text, body
    assert listed(api, hook["id"]) == body
    r = patch(api, hook["id"], {}, headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and r.json() == body, r.text

    # The owner disables and re-enables: disabled_at and the reason come and go.
    off = patch(api, hook["id"], {"enabled": False})
    assert off.status_code == 200, off.text
    off = off.json()
    assert off["enabled"] is False and off["disabled_at"] and off["disabled_reason"] == "disabled by its owner"
    again = patch(api, hook["id"], {"enabled": False}).json()
    assert again["disabled_at"] == off["disabled_at"], "a second disable keeps the first time"
    on = patch(api, hook["id"], {"enabled": True}).json()
    assert on["enabled"] is True and on["disabled_at"] is None and on["disabled_reason"] is None, on


def test_reenabling_a_webhook_disabled_by_failures_delivers_again(api_url, receivers):
    api = task_user(api_url, "wh-reenable")
    rec = receivers(always_fail=True)
    hook = register(api, rec)
    api.create_applied({"title": "nobody listens"})

    def disabled():
        item = listed(api, hook["id"])
        return item if item["enabled"] is False else None

    item = wait_until(disabled, DISABLE_TIMEOUT, "the failing webhook disabled", interval=0.5)
    assert item["disabled_at"] and item["disabled_reason"] and item["failing_since"], item
    [failed] = all_deliveries(api, hook["id"])
    assert failed["status"] == "failed", failed

    # The receiver is fixed; the owner re-enables: everything that disabled it is reset.
    with rec.lock:
        rec.always_fail = False
    r = patch(api, hook["id"], {"enabled": True})
    assert r.status_code == 200, r.text
    on = r.json()
    assert on["enabled"] is True, on
    assert on["disabled_at"] is None and on["disabled_reason"] is None and on["failing_since"] is None, on
    assert on["url"] == rec.url and on["event_types"] == hook["event_types"], on

    task = api.create_applied({"title": "listening again"})
    [event] = wait_until(lambda: rec.accepted(), DELIVERY_TIMEOUT, "a delivery after re-enabling")
    assert event["subject"] == f"tasks/{task['id']}" and event["type"] == "taskbus.task.created", event
    after = listed(api, hook["id"])
    assert after["enabled"] is True and after["failing_since"] is None, after

    # The delivery the disabling failed is sent again on request, with a fresh budget.
    r = api.req("POST", f"{HOOKS}/{hook['id']}/deliveries/{failed['id']}/redeliver")
    assert r.status_code == 202, r.text
    again = r.json()
    assert again["id"] == failed["id"] and again["status"] == "pending", again
    assert again["attempts"] == failed["attempts"], "the attempts keep counting"

    def redelivered():
        [d] = [d for d in all_deliveries(api, hook["id"]) if d["id"] == failed["id"]]
        return d if d["status"] == "delivered" else None

    d = wait_until(redelivered, DELIVERY_TIMEOUT, "the failed delivery redelivered")
    assert d["attempts"] == failed["attempts"] + 1, d
    codes = [a["status_code"] for a in d["attempt_log"]]
    assert codes[-1] == 204 and set(codes[:-1]) == {500}, d
    events = rec.accepted()  # every one signed
    assert [e["type"] for e in events] == ["taskbus.task.created", "taskbus.task.created"], events
    assert events[1]["id"] == failed["event_id"] and events[1]["id"] != event["id"], events


def test_rotated_secret_and_the_old_one_both_sign_during_the_grace_period(api_url, receivers):
    api = task_user(api_url, "wh-rotate")
    rec = receivers()
    hook = register(api, rec)
    old = hook["secret"]
    assert hook["previous_secret_expires_at"] is None, hook

    before = datetime.now(timezone.utc)
    r = api.req("POST", f"{HOOKS}/{hook['id']}/rotate-secret")
    assert r.status_code == 200, r.text
    body = r.json()
    new = body["secret"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", new) and new != old, body
    assert body["id"] == hook["id"] and body["url"] == rec.url and body["enabled"] is True, body
    until = datetime.fromisoformat(body["previous_secret_expires_at"].replace("Z", "+00:00"))
    grace = (until - before).total_seconds()
    assert 86400 - 60 <= grace <= 86400 + 60, f"the default grace period is a day, got {grace} s"

    item = listed(api, hook["id"])
    assert "secret" not in item and new not in str(item) and old not in str(item), item
    assert item["previous_secret_expires_at"] == body["previous_secret_expires_at"], item

    task = api.create_applied({"title": "signed twice"})
    # (rec.accepted() checks a single signature: these deliveries carry two.)
    wait_until(lambda: [q for q in rec.snapshot() if q["status"] < 300], DELIVERY_TIMEOUT,
               "a delivery after the rotation")
    [req] = [q for q in rec.snapshot() if q["status"] < 300]
    sigs = signatures(req)
    assert len(sigs) == 2, f"two signatures during the grace period: {req['headers']}"
    assert hmac.compare_digest(sigs[0], signed_by(req, new)), "the first v1= is the new secret's"
    assert hmac.compare_digest(sigs[1], signed_by(req, old)), "the second v1= is the old secret's"
    assert signed_by(req, new) != signed_by(req, old)
    event = verify({**req, "headers": {**req["headers"], "webhook-signature": "v1=" + sigs[0]}}, new)
    assert event["subject"] == f"tasks/{task['id']}", event

    # A second rotation within the grace period: the secret of just before it (the first
    # rotation's) is the previous one now; the original one no longer signs.
    newest = api.req("POST", f"{HOOKS}/{hook['id']}/rotate-secret").json()["secret"]
    assert newest not in (old, new)
    r = api.patch(task["id"], {"title": "signed twice again"}, wait=5)
    assert r.status_code == 200, r.text
    second = wait_until(lambda: (lambda ok: ok[1:] if len(ok) >= 2 else None)(
        [q for q in rec.snapshot() if q["status"] < 300]), DELIVERY_TIMEOUT, "the delivery after the second rotation")
    sigs = signatures(second[0])
    assert sigs == [signed_by(second[0], newest), signed_by(second[0], new)], second[0]["headers"]


def test_ping_is_delivered_signed_and_logged(api_url, receivers, repo):
    api = task_user(api_url, "wh-ping")
    other = task_user(api_url, "wh-ping-other")
    rec = receivers()
    hook = register(api, rec)

    assert_problem(other.req("POST", f"{HOOKS}/{hook['id']}/test"), 404, "not-found")
    assert_problem(api.req("POST", f"{HOOKS}/not-a-uuid/test"), 404, "not-found")
    r = api.req("POST", f"{HOOKS}/{hook['id']}/test")
    assert r.status_code == 202, r.text
    queued = r.json()
    assert queued["event_type"] == "taskbus.webhook.ping" and queued["status"] == "pending", queued
    assert queued["attempts"] == 0 and queued["attempt_log"] == [], queued

    [event] = wait_until(lambda: rec.accepted(), DELIVERY_TIMEOUT, "the ping")  # signature checked
    assert event["id"] == queued["event_id"] and event["type"] == "taskbus.webhook.ping", event
    assert event["subject"] == f"webhooks/{hook['id']}" and event["data"] == {"webhook_id": hook["id"]}, event
    with open(os.path.join(repo, "schemas", "events", "taskbus.webhook.ping.json"), encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.validate(event, schema, format_checker=jsonschema.FormatChecker())
    assert event.get("dataschema") == schema["$id"], event

    def logged():
        [d] = [d for d in all_deliveries(api, hook["id"]) if d["id"] == queued["id"]]
        return d if d["status"] == "delivered" else None

    d = wait_until(logged, DELIVERY_TIMEOUT, "the ping delivered in the log")
    assert d["attempts"] == 1 and [a["status_code"] for a in d["attempt_log"]] == [204], d

    # A disabled webhook is not pinged: 409, and nothing is queued.
    assert patch(api, hook["id"], {"enabled": False}).status_code == 200
    assert_problem(api.req("POST", f"{HOOKS}/{hook['id']}/test"), 409, "webhook-disabled")
    # Another user learns nothing from a disabled webhook either: 404, not 409.
    assert_problem(other.req("POST", f"{HOOKS}/{hook['id']}/test"), 404, "not-found")
    assert [x["id"] for x in all_deliveries(api, hook["id"])] == [queued["id"]]


def test_redeliver_sends_a_delivered_event_again_and_refuses_what_it_cannot(api_url, receivers):
    api = task_user(api_url, "wh-redeliver")
    other = task_user(api_url, "wh-redeliver-other")
    rec = receivers()
    hook = register(api, rec)
    api.create_applied({"title": "deliver me twice"})
    [first] = wait_until(lambda: rec.accepted(), DELIVERY_TIMEOUT, "the first delivery")

    def final():
        ds = all_deliveries(api, hook["id"])
        return ds if ds and all(d["status"] == "delivered" for d in ds) else None

    [d] = wait_until(final, DELIVERY_TIMEOUT, "the delivery final in the log")
    url = f"{HOOKS}/{hook['id']}/deliveries/{d['id']}/redeliver"
    assert_problem(other.req("POST", url), 404, "not-found")
    assert_problem(api.req("POST", f"{HOOKS}/{hook['id']}/deliveries/{hook['id']}/redeliver"), 404, "not-found")
    assert_problem(api.req("POST", f"{HOOKS}/{hook['id']}/deliveries/nope/redeliver"), 404, "not-found")

    r = api.req("POST", url)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "pending" and r.json()["delivered_at"] is None, r.text
    got = wait_until(lambda: (lambda ev: ev if len(ev) >= 2 else None)(rec.accepted()),
                     DELIVERY_TIMEOUT, "the redelivery")
    assert got[1]["id"] == first["id"] == d["event_id"], "the same event, the same Webhook-Id"
    [d2] = wait_until(final, DELIVERY_TIMEOUT, "the redelivery final in the log")
    assert d2["attempts"] == 2 and [a["status_code"] for a in d2["attempt_log"]] == [204, 204], d2

    # A disabled webhook redelivers nothing.
    assert patch(api, hook["id"], {"enabled": False}).status_code == 200
    assert_problem(api.req("POST", url), 409, "webhook-disabled")
    assert_problem(other.req("POST", url), 404, "not-found")  # not 409: no oracle for others
    assert all_deliveries(api, hook["id"])[0]["status"] == "delivered"
