"""Account events read back from Kafka `user-events`, checked against schemas/events/."""

import json
import os
import re
import uuid

import jsonschema
import pytest

from helpers.api import Client, assert_problem, is_uuid, new_password, unique_email
from helpers.kafka_events import event_of
from helpers.mailbox import registration_token
from helpers.tasks import undocumented_data_members, wait_outbox_published

TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def validator(repo, type_):
    path = os.path.join(repo, "schemas", "events", f"{type_}.json")
    assert os.path.isfile(path), f"no schema {path}"
    with open(path) as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def check_event(msg, type_, user_id, repo, request_id=None):
    """The envelope, headers and key of one account event; returns its data."""
    ev = msg["value"]
    assert isinstance(ev, dict), msg["raw"]
    errors = sorted(validator(repo, type_).iter_errors(ev), key=str)
    assert not errors, f"{type_} does not match its schema: {[e.message for e in errors]}\n{ev}"
    extra = undocumented_data_members(ev, validator(repo, type_).schema)
    assert not extra, f"{type_} writes data members its schema does not document: {extra}"
    assert ev["specversion"] == "1.0"
    assert ev["type"] == type_
    assert ev["source"] == "/taskbus/api"
    assert ev["subject"] == f"users/{user_id}"
    assert ev["datacontenttype"] == "application/json"
    assert ev.get("dataschema") == validator(repo, type_).schema["$id"], ev
    assert is_uuid(ev["id"], 7), ev["id"]
    assert TIME_RE.match(ev["time"]), ev["time"]
    assert msg["key"] == user_id, msg["key"]
    # Structured mode (the CloudEvents Kafka binding): the content-type says so, and no
    # ce_* header makes it look like binary mode.
    assert msg["headers"].get("content-type") == "application/cloudevents+json", msg["headers"]
    assert not any(h.startswith("ce_") for h in msg["headers"]), msg["headers"]
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}", ev.get("traceparent") or ""), ev
    assert msg["headers"].get("traceparent") == ev["traceparent"], (msg["headers"], ev)
    if request_id is not None:
        assert msg["headers"].get("request_id") == request_id, msg["headers"]
    return ev["data"]


def settled(user_events, user_id):
    """The fence for "nothing more will come" of this user's account events so far: the
    outbox published every one of them and the collector read user-events to its end."""
    wait_outbox_published([user_id], topic="user-events")
    user_events.wait_caught_up()


def assert_once(user_events, msg):
    settled(user_events, msg["key"])
    ev_id = msg["value"]["id"]
    same = user_events.matching(lambda m: isinstance(m["value"], dict) and m["value"].get("id") == ev_id)
    assert len(same) == 1, f"event {ev_id} seen {len(same)} times"


def test_registration_event(api_url, user_events, repo):
    rid = "it-reg-" + uuid.uuid4().hex
    email = unique_email("event-registered")
    pw = new_password()
    r = Client(api_url).register(email, pw, display_name="Event Person")
    assert r.status_code == 202, r.text
    # The account, and its event, come with the mailed link: the confirmation's request.
    r = Client(api_url).confirm_registration(registration_token(email), pw, headers={"X-Request-ID": rid})
    assert r.status_code == 201, r.text
    user = r.json()["user"]

    msg = user_events.wait_for(event_of(f"users/{user['id']}", "taskbus.user.registered"), timeout=30)
    data = check_event(msg, "taskbus.user.registered", user["id"], repo, request_id=rid)
    assert data["user_id"] == user["id"]
    assert data["email"] == email
    assert data["display_name"] == "Event Person"
    assert data["role"] == "user"
    # No secrets: neither the password nor any hash of it.
    text = json.dumps(msg["value"])
    assert pw not in text and "argon2" not in text and "password" not in json.dumps(data).lower()
    assert_once(user_events, msg)


def test_password_change_event(api_url, user_events, repo, make_user):
    u = make_user()
    pw2 = new_password()
    rid = "it-pw-" + uuid.uuid4().hex
    r = u.client.change_password(u.access, u.password, pw2, headers={"X-Request-ID": rid})
    assert r.status_code == 200, r.text

    msg = user_events.wait_for(event_of(f"users/{u.id}", "taskbus.user.password_changed"), timeout=30)
    data = check_event(msg, "taskbus.user.password_changed", u.id, repo, request_id=rid)
    assert data.get("user_id") == u.id, data
    text = json.dumps(msg["value"])
    assert u.password not in text and pw2 not in text and "argon2" not in text
    assert_once(user_events, msg)
    # The registration came first on the same key, so it is earlier in the same partition.
    reg = user_events.wait_for(event_of(f"users/{u.id}", "taskbus.user.registered"), timeout=5)
    assert reg["partition"] == msg["partition"] and reg["offset"] < msg["offset"]


def test_failed_writes_produce_no_events(api_url, user_events, make_user):
    """A refused password change, a registration of a taken address and a link opened
    after its address was taken are not facts: no events."""
    u = make_user()
    r = u.client.change_password(u.access, u.password + "-wrong", new_password())
    assert r.status_code == 403, r.text
    dup = Client(api_url).register(u.email.upper(), new_password())
    assert dup.status_code == 202
    late, pw = unique_email("event-late"), new_password()
    for _ in range(2):
        assert Client(api_url).register(late, pw).status_code == 202
    tokens = [registration_token(late, count=k) for k in (1, 2)]
    first = Client(api_url).confirm_registration(tokens[0], pw)
    assert first.status_code == 201, first.text
    assert_problem(Client(api_url).confirm_registration(tokens[1], pw), 409, "email-taken")
    late_id = first.json()["user"]["id"]
    user_events.wait_for(event_of(f"users/{late_id}", "taskbus.user.registered"), timeout=30)
    settled(user_events, late_id)
    seen = user_events.matching(lambda m: isinstance(m["value"], dict) and m["value"].get("subject") == f"users/{late_id}")
    assert [m["value"]["type"] for m in seen] == ["taskbus.user.registered"], [m["value"] for m in seen]
    user_events.wait_for(event_of(f"users/{u.id}", "taskbus.user.registered"), timeout=30)
    settled(user_events, u.id)
    seen = user_events.matching(lambda m: isinstance(m["value"], dict) and m["value"].get("subject") == f"users/{u.id}")
    assert [m["value"]["type"] for m in seen] == ["taskbus.user.registered"], [m["value"] for m in seen]


@pytest.mark.parametrize("type_", ["taskbus.user.registered", "taskbus.user.password_changed",
                                   "taskbus.user.email_changed", "taskbus.user.deleted"])
def test_event_schema_is_valid_2020_12(repo, type_):
    validator(repo, type_)
