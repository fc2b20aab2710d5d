"""Webhooks scoped to a project (docs/decisions.md, "Issue 14" / "Webhooks scoped to a
project (slice 8)").

Against the real stack: only an owner of a project registers a webhook for it (an editor
or a viewer gets 403, a stranger and an unknown project 404); it takes the .v2 types and a
user's own webhook the v1 types (422 otherwise, also on PATCH); taskbus-webhooks sends it
the v2 event of every change to a task of the project, whoever made it, signed, and never
another project's; the owner's own webhook still gets only the v1 events of what the owner
did; and the moment its owner stops being an owner there (demoted by another owner, or
removed) the webhook is gone with its deliveries, and nothing more is sent to it.

Deliveries go to real HTTP receivers on 127.0.0.1 (allowed by TASKBUS_WEBHOOK_ALLOW in
tests/run). Rules: every test registers its own users; every wait is on a condition (the
outbox published, the webhooks group caught up, deliveries final), never a sleep.
"""

import uuid

from helpers.api import assert_problem, error_fields
from helpers.tasks import pg, wait_group_caught_up, wait_outbox_published, wait_until
from test_notifications import mail_dir  # noqa: F401 - the fixture
from test_projects import person
from test_team_tasks import created_in, team_of
from test_webhooks import DELIVERY_TIMEOUT, DISABLE_TIMEOUT, HOOKS, all_deliveries
from test_webhooks import receivers  # noqa: F401 - the fixture

V2_ALL = "taskbus.task.*.v2"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


def register_for(who, receiver, pid, types=(V2_ALL,)):
    r = who.req("POST", HOOKS, json={"url": receiver.url, "event_types": list(types), "project_id": pid})
    assert r.status_code == 201, f"register for {pid}: {r.status_code} {r.text[:300]}"
    body = r.json()
    receiver.secret = body["secret"]
    return body


def settled(owner, keys, hooks):
    """Every v2 event keyed by keys is on Kafka, taskbus-webhooks ingested task-events.v2 to
    its end, and every delivery of hooks is final. Returns {hook id: deliveries}."""
    wait_outbox_published(keys, topic="task-events.v2")
    wait_group_caught_up("taskbus-webhooks", "task-events.v2", timeout=DELIVERY_TIMEOUT)

    def final():
        got = {h["id"]: all_deliveries(owner, h["id"]) for h in hooks}
        return got if all(d["status"] != "pending" for ds in got.values() for d in ds) else None

    return wait_until(final, DISABLE_TIMEOUT, "every delivery of these webhooks final", interval=0.3)


def test_only_an_owner_registers_a_projects_webhook(make_user, mail_dir, receivers):
    owner, pid, (editor, viewer) = team_of(make_user, mail_dir, "hook-reg", "editor", "viewer")
    stranger = person(make_user, "hook-reg-stranger")
    rec = receivers()
    body = {"url": rec.url, "event_types": [V2_ALL], "project_id": pid}
    for who in (editor, viewer):
        assert_problem(who.req("POST", HOOKS, json=body), 403, "forbidden")
    assert_problem(stranger.req("POST", HOOKS, json=body), 404, "not-found")
    assert_problem(owner.req("POST", HOOKS, json={**body, "project_id": str(uuid.uuid4())}), 404, "not-found")
    for bad in ({**body, "event_types": ["taskbus.task.created"]},
                {"url": rec.url, "event_types": [V2_ALL]},
                {**body, "event_types": ["taskbus.task.created.v2", "taskbus.task.created"]}):
        r = owner.req("POST", HOOKS, json=bad)
        assert error_fields(assert_problem(r, 422, "validation-error")) == ["event_types"], (bad, r.text)
    r = owner.req("POST", HOOKS, json={**body, "project_id": "not-a-project"})
    assert error_fields(assert_problem(r, 422, "validation-error")) == ["project_id"], r.text
    assert [h for h in editor.req("GET", HOOKS).json()["items"]] == []

    hook = register_for(owner, rec, pid.upper())  # any case names the project
    assert hook["project_id"] == pid and hook["event_types"] == [V2_ALL], hook
    [listed] = [h for h in owner.req("GET", HOOKS).json()["items"] if h["id"] == hook["id"]]
    assert listed["project_id"] == pid and "secret" not in listed
    assert editor.req("GET", HOOKS).json()["items"] == [], "a project's webhook is its owner's alone"
    assert_problem(editor.req("DELETE", f"{HOOKS}/{hook['id']}"), 404, "not-found")

    # A patch keeps the types of the webhook's scope.
    r = owner.req("PATCH", f"{HOOKS}/{hook['id']}", json={"event_types": ["taskbus.task.*"]}, headers=MERGE_PATCH)
    assert error_fields(assert_problem(r, 422, "validation-error")) == ["event_types"], r.text
    r = owner.req("PATCH", f"{HOOKS}/{hook['id']}", json={"project_id": None}, headers=MERGE_PATCH)
    assert error_fields(assert_problem(r, 422, "validation-error")) == ["project_id"], r.text
    r = owner.req("PATCH", f"{HOOKS}/{hook['id']}", json={"event_types": ["taskbus.task.completed.v2"]},
                  headers=MERGE_PATCH)
    assert r.status_code == 200 and r.json()["event_types"] == ["taskbus.task.completed.v2"], r.text
    own = owner.req("POST", HOOKS, json={"url": rec.url, "event_types": ["taskbus.task.*"]})
    assert own.status_code == 201 and own.json()["project_id"] is None, own.text
    r = owner.req("PATCH", f"{HOOKS}/{own.json()['id']}", json={"event_types": [V2_ALL]}, headers=MERGE_PATCH)
    assert error_fields(assert_problem(r, 422, "validation-error")) == ["event_types"], r.text


def test_a_projects_webhook_gets_every_members_changes_until_its_owner_is_demoted(make_user, mail_dir, receivers):
    owner, pid, (editor, co_owner) = team_of(make_user, mail_dir, "hook-team", "editor", "owner")
    other_owner, other_pid, _ = team_of(make_user, mail_dir, "hook-team-other")
    project_rec, own_rec = receivers(), receivers()
    hook = register_for(owner, project_rec, pid)
    own = owner.req("POST", HOOKS, json={"url": own_rec.url, "event_types": ["taskbus.task.*"]})
    assert own.status_code == 201, own.text
    own_rec.secret = own.json()["secret"]

    a = created_in(editor, pid, "by the editor")
    r = owner.patch(a["id"], {"title": "renamed by the owner"}, wait=10)
    assert r.status_code == 200, r.text
    r = editor.patch(a["id"], {"status": "done"}, wait=10)
    assert r.status_code == 200, r.text
    b = created_in(owner, pid, "by the owner")
    assert owner.delete(b["id"], wait=10).status_code == 204
    created_in(other_owner, other_pid, "another project's")

    got = settled(owner, [pid, other_pid], [hook])[hook["id"]]
    assert all(d["status"] == "delivered" for d in got), got
    events = project_rec.accepted()
    assert [(e["type"], e["data"]["id"], e["data"]["actor_id"]) for e in events] == [
        ("taskbus.task.created.v2", a["id"], editor.id),
        ("taskbus.task.updated.v2", a["id"], owner.id),
        ("taskbus.task.completed.v2", a["id"], editor.id),
        ("taskbus.task.created.v2", b["id"], owner.id),
        ("taskbus.task.deleted.v2", b["id"], owner.id),
    ]
    assert all(e["data"]["project_id"] == pid for e in events)
    # The owner's own webhook: the v1 events of what the owner did, nothing of the editor's.
    wait_outbox_published([pid], topic="task-events")
    wait_group_caught_up("taskbus-webhooks", "task-events", timeout=DELIVERY_TIMEOUT)
    wait_until(lambda: all(d["status"] != "pending" for d in all_deliveries(owner, own.json()["id"])),
               DISABLE_TIMEOUT, "the owner's own deliveries final")
    assert [(e["type"], e["data"]["id"]) for e in own_rec.accepted()] == [
        ("taskbus.task.updated", a["id"]), ("taskbus.task.created", b["id"]), ("taskbus.task.deleted", b["id"])]

    # Demoted by the other owner: the webhook and its deliveries are gone, nothing more comes.
    r = co_owner.patch_member(pid, owner.id, "editor")
    assert r.status_code == 200, r.text
    assert [h for h in owner.req("GET", HOOKS).json()["items"] if h["id"] == hook["id"]] == []
    assert_problem(owner.req("GET", f"{HOOKS}/{hook['id']}/deliveries"), 404, "not-found")
    with pg() as conn:
        left = conn.execute("SELECT count(*) FROM webhook_deliveries WHERE webhook_id = %s",
                            (hook["id"],)).fetchone()[0]
    assert left == 0
    later = created_in(editor, pid, "after the demotion")
    wait_outbox_published([pid], topic="task-events.v2")
    wait_group_caught_up("taskbus-webhooks", "task-events.v2", timeout=DELIVERY_TIMEOUT)
    assert later["id"] not in {e["data"]["id"] for e in project_rec.accepted()}
    assert len(project_rec.snapshot()) == len(events)
    # Demoted, they cannot register a new one either.
    r = owner.req("POST", HOOKS, json={"url": project_rec.url, "event_types": [V2_ALL], "project_id": pid})
    assert_problem(r, 403, "forbidden")


def test_a_removed_owners_and_a_deleted_projects_webhooks_are_gone(make_user, mail_dir, receivers):
    owner, pid, (co_owner,) = team_of(make_user, mail_dir, "hook-removed", "owner")
    rec = receivers()
    hook = register_for(co_owner, rec, pid)
    kept = register_for(owner, receivers(), pid)
    assert owner.remove_member(pid, co_owner.id).status_code == 204
    assert [h for h in co_owner.req("GET", HOOKS).json()["items"] if h["id"] == hook["id"]] == []
    assert [h["id"] for h in owner.req("GET", HOOKS).json()["items"]] == [kept["id"]]
    # The project deleted: its webhooks go with it.
    r = owner.delete_project(pid)
    assert r.status_code == 204, r.text
    assert owner.req("GET", HOOKS).json()["items"] == []
