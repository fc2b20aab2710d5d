"""The CloudEvents Kafka protocol binding (issue 11): every event a representative set of
writes puts on the CloudEvents topics (task-events, task-events.v2, user-events, project-events, reports)
is a structured-mode message (content-type: application/cloudevents+json, no ce_* header)
that the CloudEvents Python SDK reads, with the right type, source, id and traceparent;
every message the test caused is read, not a sample.

The SDK (cloudevents 2.2.0) has two Kafka bindings: the current one,
cloudevents.core.bindings.kafka (from_kafka detects the mode, from_structured), and the
1.x-compatible cloudevents.v1.kafka (from_structured). Both must read every message.
Event types: those of schemas/events/ (four task events, four account events and an admin's
action on the account (an unlock), six project
events keyed by the project id, taskbus.report.requested on the reports topic), each
event's dataschema the $id of its type's schema; the task events come from single writes
and from a bulk import (whose events carry the import's own trace); a second, verified user
joins the project (taskbus.project.member_added is the invitee's own act)."""

import json
import os
import re
import secrets
import uuid

import pytest
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.v1 import kafka as ce_kafka_v1

from helpers.api import API, Client, new_password, register_user, unique_email
from helpers.kafka_events import EventCollector
from helpers.stack_control import env, repo_root
from helpers.tasks import TaskApi, task_of, wait_outbox_published, wait_until
from test_admin_api import make_admin
from test_notifications import mail_dir, parts, wait_mails  # noqa: F401 - mail_dir is a fixture
from test_projects import Person, verify

TOPICS = ("task-events", "task-events.v2", "user-events", "project-events", "reports")
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}
STRUCTURED = "application/cloudevents+json"
TRACEPARENT_RE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def new_traceparent():
    trace_id = secrets.token_hex(16)
    return f"00-{trace_id}-{secrets.token_hex(8)}-01", trace_id


@pytest.fixture(scope="module")
def collectors():
    cs = {t: EventCollector(env("KAFKA_BROKERS"), t) for t in TOPICS}
    yield cs
    for c in cs.values():
        c.close()


# Event types that never travel on Kafka: a webhook's test ping is inserted as a delivery
# by the API and sent to that one webhook only (docs/decisions.md, "Managing a webhook").
NOT_ON_THE_BUS = {"taskbus.webhook.ping"}


def schema_types():
    """Every event type schemas/events/ defines that goes on the stream."""
    types = {f[:-len(".json")] for f in os.listdir(os.path.join(repo_root(), "schemas", "events"))
             if f.endswith(".json")}
    assert NOT_ON_THE_BUS <= types, "a type listed as not on the bus has no schema any more"
    return sorted(types - NOT_ON_THE_BUS)


def schema_id(type_):
    """The $id of a type's schema: the dataschema its events carry."""
    with open(os.path.join(repo_root(), "schemas", "events", f"{type_}.json"), encoding="utf-8") as f:
        return json.load(f)["$id"]


def test_sdk_reads_every_event_of_a_representative_set_of_writes(api_url, collectors, make_user, mail_dir):
    traces = {}  # what each write was sent with: label -> trace id

    def traced(label):
        tp, tid = new_traceparent()
        traces[label] = tid
        return {"traceparent": tp, "X-Request-ID": f"it-ce-{label}-{uuid.uuid4().hex}"}

    # Account events: a registration (the password change comes last).
    # (its event is written by the confirmation, which carries the same trace)
    user = register_user(api_url, tag="ce-sdk", display_name="CE Person", headers=traced("registered"))
    client, pw = user.client, user.password
    # An admin's action on the account (an unlock of an unlocked account: audited, an
    # event, and nothing else changes).
    _, admin_access = make_admin(make_user, tag="ce-sdk-admin")
    r = Client(api_url).post(f"{API}/admin/users/{user.id}/unlock", token=admin_access,
                             headers=traced("admin_action"))
    assert r.status_code == 200, r.text
    # Task events: create, update, complete, delete, each its own request.
    api = TaskApi(user)
    r = api.create({"title": "ce"}, wait=5, headers=traced("created"))
    assert r.status_code == 201, r.text
    tid = task_of(r.json())["id"]
    r = api.patch(tid, {"title": "ce renamed"}, wait=5, headers=traced("updated"))
    assert r.status_code == 200, r.text
    r = api.patch(tid, {"status": "done"}, wait=5, headers=traced("completed"))
    assert r.status_code == 200, r.text
    r = api.delete(tid, wait=5, headers=traced("deleted"))
    assert r.status_code == 204, r.text

    # A bulk import: its tasks' events carry the import's trace (its id's hex digits).
    r = api.req("POST", f"{API}/tasks/import", data=json.dumps([{"title": "ce import 1"}, {"title": "ce import 2"}]),
                headers={"Content-Type": "application/json", **traced("import")})
    assert r.status_code == 202, r.text
    import_id = r.json()["import_id"]
    import_trace = import_id.replace("-", "")

    # A report request: taskbus.report.requested on `reports`.
    r = api.req("POST", f"{API}/reports", json={"format": "csv"}, headers=traced("report"))
    assert r.status_code == 202, r.text

    # Project events (keyed by the project): made, changed, joined by a verified invitee
    # (the invitation itself has no event), the member's role changed, the member leaves,
    # the project deleted.
    member = Person(make_user(tag="ce-sdk-member"))
    verify(mail_dir, member, Person(user))  # only a verified owner invites
    projects = f"{API}/projects"
    r = api.req("POST", projects, json={"name": "ce project"}, headers=traced("project_created"))
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    r = api.req("PATCH", f"{projects}/{pid}", json={"description": "ce"},
                headers={**MERGE_PATCH, **traced("project_updated")})
    assert r.status_code == 200, r.text
    r = api.req("POST", f"{projects}/{pid}/members", json={"email": member.email, "role": "viewer"})
    assert r.status_code == 201, r.text
    r = member.req("POST", f"{projects}/{pid}/invitations/{r.json()['id']}/accept",
                   headers=traced("member_added"))
    assert r.status_code == 200, r.text
    r = api.req("PATCH", f"{projects}/{pid}/members/{member.id}", json={"role": "editor"},
                headers={**MERGE_PATCH, **traced("member_role_changed")})
    assert r.status_code == 200, r.text
    r = member.req("DELETE", f"{projects}/{pid}/members/me", headers=traced("member_removed"))
    assert r.status_code == 204, r.text
    r = api.req("DELETE", f"{projects}/{pid}", headers=traced("project_deleted"))
    assert r.status_code == 204, r.text

    # An address change, completed with the token mailed to the new address.
    moved = unique_email("ce-sdk-moved")
    r = client.patch(f"{API}/users/me", token=user.access, json={"email": moved, "current_password": pw})
    assert r.status_code == 202, r.text
    [link] = wait_mails(mail_dir, moved, subject="Confirm a new e-mail address")
    token = re.search(r"confirm-email-change\?token=([A-Za-z0-9_-]{43})", parts(link)[0]).group(1)
    r = Client(api_url).post(f"{API}/auth/email-change/confirm", json={"token": token},
                             headers=traced("email_changed"))
    assert r.status_code == 200, r.text

    # Last, as it ends the user's other sessions: a password change.
    pw2 = new_password()
    r = client.change_password(user.access, pw, pw2, headers=traced("password_changed"))
    assert r.status_code == 200, r.text
    api.token = r.json()["access_token"]  # the change ended the old session

    # Every event these caused is on Kafka once the import is done and the outbox has
    # published this user's and the project's rows; then each collector reads its topic
    # to the end.
    wait_until(lambda: _import_applied(api, import_id), 60, f"import {import_id} applied")
    # The very last write, once the import is applied: the account's erasure.
    r = client.delete(f"{API}/users/me", token=api.token, json={"current_password": pw2},
                      headers=traced("user_deleted"))
    assert r.status_code == 204, r.text
    wait_outbox_published([user.id, pid])
    for c in collectors.values():
        c.wait_caught_up()

    msgs = [(t, m) for t in TOPICS for m in collectors[t].matching(lambda m: m["key"] in (user.id, pid))]
    assert msgs, "no event of the test's writes was read"
    fmt = JSONFormat()
    seen_types, by_id = [], {}
    for topic, m in msgs:
        where = f"{topic}[{m['partition']}]@{m['offset']}"
        assert m["headers"].get("content-type") == STRUCTURED, (where, m["headers"])
        assert not [h for h in m["headers"] if h.startswith("ce_")], (where, m["headers"])
        headers = {k: v.encode() for k, v in m["headers"].items()}
        km = ce_kafka.KafkaMessage(headers=headers, key=m["key"].encode(), value=m["raw"])
        # The current binding, auto-detecting the mode, and structured mode by name.
        for ev in (ce_kafka.from_kafka(km, fmt), ce_kafka.from_structured(km, fmt)):
            v = m["value"]
            assert ev.get_specversion() == "1.0", where
            assert ev.get_type() == v["type"], where
            assert ev.get_id() == v["id"], where
            assert ev.get_source() == "/taskbus/api", where
            assert ev.get_subject() == v["subject"], where
            assert ev.get_extension("traceparent") == v["traceparent"], where
            assert ev.get_data() == v["data"], where
            assert ev.get_dataschema() == schema_id(v["type"]), (where, ev.get_dataschema())
        # The 1.x-compatible binding.
        old = ce_kafka_v1.from_structured(ce_kafka_v1.KafkaMessage(headers=headers, key=m["key"].encode(),
                                                                   value=m["raw"]))
        assert old["type"] == m["value"]["type"] and old["id"] == m["value"]["id"], where
        assert old["source"] == "/taskbus/api" and old["traceparent"] == m["value"]["traceparent"], where
        assert old["dataschema"] == schema_id(m["value"]["type"]), where
        assert m["headers"].get("traceparent") == m["value"]["traceparent"], where
        seen_types.append(m["value"]["type"])
        by_id.setdefault(m["value"]["id"], m["value"])

    # Every write is there, with the trace its request was sent with.
    def trace_of(ev):
        return TRACEPARENT_RE.match(ev["traceparent"]).group(1)

    events = list(by_id.values())
    want = {
        "registered": "taskbus.user.registered", "password_changed": "taskbus.user.password_changed",
        "email_changed": "taskbus.user.email_changed", "user_deleted": "taskbus.user.deleted",
        "admin_action": "taskbus.admin.action",
        "created": "taskbus.task.created", "updated": "taskbus.task.updated",
        "completed": "taskbus.task.completed", "deleted": "taskbus.task.deleted",
        "report": "taskbus.report.requested",
        "project_created": "taskbus.project.created", "project_updated": "taskbus.project.updated",
        "member_added": "taskbus.project.member_added",
        "member_role_changed": "taskbus.project.member_role_changed",
        "member_removed": "taskbus.project.member_removed", "project_deleted": "taskbus.project.deleted",
    }
    # Each task fact also as its v2 type on task-events.v2, with the same trace.
    want_v2 = [(label, type_ + ".v2") for label, type_ in want.items() if type_.startswith("taskbus.task.")]
    for label, type_ in list(want.items()) + want_v2:
        hits = [e for e in events if e["type"] == type_ and trace_of(e) == traces[label]]
        assert len(hits) == 1, (label, type_, traces[label], [(e["type"], e["traceparent"]) for e in events])
    for type_ in ("taskbus.task.created", "taskbus.task.created.v2"):
        imported = [e for e in events if e["type"] == type_ and trace_of(e) == import_trace]
        assert len(imported) == 2, [(e["type"], e["traceparent"]) for e in events]
    assert len(events) == len(want) + len(want_v2) + 4, [(e["type"], e["traceparent"]) for e in events]
    # Every type the schemas name was among them (and read by the SDK).
    assert set(schema_types()) <= set(seen_types), (schema_types(), seen_types)


def _import_applied(api, import_id):
    """True once both items of the import were applied."""
    s = api.req("GET", f"{API}/tasks/import/{import_id}")
    return s.status_code == 200 and s.json().get("applied", 0) >= 2
