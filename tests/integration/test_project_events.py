"""Project events read back from Kafka `project-events` (docs/decisions.md "Issue 14",
"Project events"): one per change, in the order of the changes, keyed by the project,
each valid against schemas/events/, carrying the actor and no personal data; a refused
change writes none."""

import json
import os
import uuid

import pytest

from helpers.kafka_events import EventCollector
from helpers.tasks import pg, undocumented_data_members, wait_outbox_published
from helpers.api import is_uuid
from test_events import TIME_RE, validator
from test_notifications import mail_dir  # noqa: F401 - the fixture
from test_projects import join, person, verify

TOPIC = "project-events"


@pytest.fixture(scope="module")
def project_events():
    collector = EventCollector(os.environ["KAFKA_BROKERS"], TOPIC)
    yield collector
    collector.close()


def events_of(project_events, pid):
    """Every event of project pid on the topic so far, in topic order (one key, so one
    partition): the outbox is drained first, then the collector reads to the end."""
    wait_outbox_published([pid], topic=TOPIC)
    project_events.wait_caught_up()
    return [m for m in project_events.matching(lambda m: m["key"] == pid)]


def check(msg, type_, pid, repo, request_id=None):
    ev = msg["value"]
    assert isinstance(ev, dict), msg["raw"]
    v = validator(repo, type_)
    errors = sorted(v.iter_errors(ev), key=str)
    assert not errors, f"{type_} does not match its schema: {[e.message for e in errors]}\n{ev}"
    assert not undocumented_data_members(ev, v.schema), ev
    assert ev["type"] == type_ and ev["source"] == "/taskbus/api", ev
    assert ev["subject"] == f"projects/{pid}" and msg["key"] == pid, (ev, msg["key"])
    assert ev.get("dataschema") == v.schema["$id"], ev
    assert is_uuid(ev["id"], 7) and TIME_RE.match(ev["time"]), ev
    assert msg["headers"].get("content-type") == "application/cloudevents+json", msg["headers"]
    if request_id is not None:
        assert msg["headers"].get("request_id") == request_id, msg["headers"]
    # No personal data: no address, no display name.
    assert "@" not in json.dumps(ev["data"]), ev["data"]
    return ev["data"]


def test_every_change_of_a_project_is_one_event_in_order(make_user, mail_dir, project_events, repo):
    owner = person(make_user, "pev-owner", display_name="Owner Person")
    member = person(make_user, "pev-member", display_name="Member Person")
    verify(mail_dir, member)
    rid = "it-pev-" + uuid.uuid4().hex
    r = owner.create_project({"name": "Launch", "description": "q3"}, headers={"X-Request-ID": rid})
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    assert owner.patch_project(pid, {"archived": True}).status_code == 200
    join(owner, pid, member, "viewer")
    assert owner.patch_member(pid, member.id, "editor").status_code == 200
    # Refusals write nothing: the last owner cannot leave, a non-owner cannot rename.
    assert owner.remove_member(pid, "me").status_code == 409
    assert member.patch_project(pid, {"name": "mine"}).status_code == 403
    assert member.remove_member(pid, "me").status_code == 204
    assert owner.delete_project(pid).status_code == 204

    msgs = events_of(project_events, pid)
    types = [m["value"]["type"] for m in msgs]
    assert types == ["taskbus.project.created", "taskbus.project.updated",
                     "taskbus.project.member_added", "taskbus.project.member_role_changed",
                     "taskbus.project.member_removed", "taskbus.project.deleted"], types
    assert len({m["value"]["id"] for m in msgs}) == len(msgs), "an event was published twice"

    created = check(msgs[0], "taskbus.project.created", pid, repo, request_id=rid)
    assert created == {"project_id": pid, "actor_id": owner.id, "name": "Launch",
                       "description": "q3", "archived": False, "version": 1}, created
    updated = check(msgs[1], "taskbus.project.updated", pid, repo)
    assert updated["archived"] is True and updated["version"] == 2 and updated["actor_id"] == owner.id
    added = check(msgs[2], "taskbus.project.member_added", pid, repo)
    assert (added["user_id"], added["actor_id"], added["role"]) == (member.id, member.id, "viewer")
    assert is_uuid(added["invitation_id"], 7), added
    changed = check(msgs[3], "taskbus.project.member_role_changed", pid, repo)
    assert (changed["user_id"], changed["actor_id"], changed["role"]) == (member.id, owner.id, "editor")
    removed = check(msgs[4], "taskbus.project.member_removed", pid, repo)
    assert (removed["user_id"], removed["actor_id"]) == (member.id, member.id), removed  # left
    deleted = check(msgs[5], "taskbus.project.deleted", pid, repo)
    assert deleted == {"project_id": pid, "actor_id": owner.id}, deleted


def test_a_removal_by_the_owner_names_the_owner_as_actor(make_user, mail_dir, project_events, repo):
    owner = person(make_user, "pev-rm-owner")
    member = person(make_user, "pev-rm-member")
    verify(mail_dir, member)
    pid = owner.new_project("removals")["id"]
    join(owner, pid, member, "editor")
    assert owner.remove_member(pid, member.id).status_code == 204
    msgs = events_of(project_events, pid)
    assert [m["value"]["type"] for m in msgs][-1] == "taskbus.project.member_removed"
    data = check(msgs[-1], "taskbus.project.member_removed", pid, repo)
    assert (data["user_id"], data["actor_id"]) == (member.id, owner.id), data


def test_the_inbox_and_invitations_have_no_events(make_user, project_events):
    owner = person(make_user, "pev-inbox")
    inbox = owner.inbox()
    pid = owner.new_project("invites only")["id"]
    owner.invited(pid, "nobody-pev-" + uuid.uuid4().hex + "@example.com", "viewer")
    assert events_of(project_events, inbox["id"]) == []
    types = [m["value"]["type"] for m in events_of(project_events, pid)]
    assert types == ["taskbus.project.created"], types


def test_a_change_to_the_same_role_and_a_renewed_invitation_are_quiet(make_user, mail_dir, project_events):
    owner = person(make_user, "pev-quiet-owner")
    member = person(make_user, "pev-quiet-member")
    verify(mail_dir, member)
    pid = owner.new_project("quiet")["id"]
    join(owner, pid, member, "editor")
    r = owner.patch_member(pid, member.id, "editor")
    assert r.status_code == 200 and r.json()["role"] == "editor", r.text
    types = [m["value"]["type"] for m in events_of(project_events, pid)]
    assert types == ["taskbus.project.created", "taskbus.project.member_added"], types


def test_a_keyed_create_is_one_project_and_one_event_even_when_a_retry_takes_over(
        make_user, project_events):
    """Idempotency-Key on POST /projects: a replay answers the stored 201; another body under
    the key is 422; and a retry that takes over a claim left in flight with its plan (what a
    crash after the commit leaves: the row is made to look so) creates under the planned id,
    which is the existing project: the same 201, no second project, no second event."""
    owner = person(make_user, "pev-idem")
    key = "it-proj-" + uuid.uuid4().hex
    body = {"name": "Once", "description": "only"}
    first = owner.create_project(body, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    pid = first.json()["id"]
    again = owner.create_project(body, headers={"Idempotency-Key": key})
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true", again.text
    assert again.json()["id"] == pid
    other = owner.create_project({"name": "Twice"}, headers={"Idempotency-Key": key})
    assert other.status_code == 422 and other.json()["type"] == "/problems/idempotency-key-reused", other.text

    with pg() as conn:
        n = conn.execute(
            "UPDATE idempotency_keys SET state = 'in_flight', owner = NULL, status_code = NULL,"
            " response_headers = NULL, response_body = NULL WHERE user_id = %s::uuid AND key = %s",
            (owner.id, key)).rowcount
    assert n == 1
    retried = owner.create_project(body, headers={"Idempotency-Key": key})
    assert retried.status_code == 201, retried.text
    assert retried.headers.get("Idempotent-Replayed") != "true", "the retry ran the create again"
    assert retried.json()["id"] == pid and retried.json()["role"] == "owner", retried.json()
    mine = [p for p in owner.all_projects() if p["name"] == "Once"]
    assert [p["id"] for p in mine] == [pid], mine
    types = [m["value"]["type"] for m in events_of(project_events, pid)]
    assert types == ["taskbus.project.created"], types
