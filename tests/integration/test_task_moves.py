"""Moving tasks between projects (docs/decisions.md, "Issue 14" / "Moving tasks (slice 5)").

Against the real stack: a PATCH with `project_id` moves a task; the caller needs editor
or owner where the task is and where it goes (an Inbox: their own; 404 for a project they
are not a member of, 403 for a viewer), and the assignee the task keeps must be allowed
where it goes (422). A task moved out of an Inbox leaves its owner's cache (a tombstone
outranks the cached copy) and Inbox list and counters, and is read like any team task;
one moved into an Inbox is cached and listed there. A change sent while the move was
pending, keyed by the project the task left, is rejected 409. The members of the project
a task goes to see the move on their event streams; those of the project it left get no
copy (it shows the task where they may not see it).

Rules: every test registers its own users; every wait is on a condition (Prefer: wait,
wait_command, the effects journal), never a sleep.
"""

import json
import uuid

import pytest

from helpers import stack_control
from helpers.api import assert_problem
from helpers.tasks import redis_conn, wait_until
from test_notifications import mail_dir  # noqa: F401 - the fixture
from test_projects import join, person
from test_team_tasks import created_in, effects_landed, logged_events_about, owner_of_row, team_of


def moved(who, tid, dest, **extra):
    """who moves tid to dest and waits for it; returns the applied task and the command id."""
    r = who.patch(tid, {"project_id": dest, **extra})
    assert r.status_code == 202, f"move to {dest}: {r.status_code} {r.text[:300]}"
    assert r.json()["task"]["project_id"] == dest, r.json()
    who.wait_command(r.json()["command_id"])
    g = who.get(tid)
    assert g.status_code == 200, f"GET after the move: {g.status_code} {g.text[:300]}"
    return g.json(), r.json()["command_id"]


def cached_value(user_id, tid):
    raw = redis_conn().get(f"{{u:{user_id}}}:task:{tid}")
    return json.loads(raw) if raw is not None else None


def total(who):
    r = who.stats()
    assert r.status_code == 200, r.text
    return r.json()["total"]


def test_a_task_moves_from_an_inbox_into_a_team_and_into_another_inbox(make_user, mail_dir):
    owner, pid, (editor,) = team_of(make_user, mail_dir, "move-round", "editor")
    t = owner.create_applied({"title": "started alone"})
    assert owner.get(t["id"]).status_code == 200  # read once: the cache holds it now
    before = total(owner)

    into_team, cid = moved(owner, t["id"], pid)
    assert into_team["project_id"] == pid and into_team["version"] == 2, into_team
    assert owner_of_row(t["id"]) == (None, pid)
    assert cached_value(owner.id, t["id"]) == {"deleted": True, "version": 2}
    assert editor.get(t["id"]).json() == into_team
    assert t["id"] not in {x["id"] for x in owner.list_all()}, "a moved task stayed in the Inbox list"
    assert t["id"] in {x["id"] for x in editor.list_all({"project": pid})}
    assert total(owner) == before - 1, "the Inbox counters kept a task that left"
    wait_until(effects_landed([cid]), timeout=30, what="the move's effects")
    versions = [e["data"]["version"] for e in logged_events_about(editor.id, t["id"])]
    assert versions == [2], f"the editor's stream: {versions}"

    # The editor takes it into their own Inbox: cached and listed there, gone for the owner.
    editor_inbox = editor.inbox()["id"]
    into_inbox, cid = moved(editor, t["id"], editor_inbox)
    assert into_inbox["project_id"] == editor_inbox and into_inbox["version"] == 3, into_inbox
    assert owner_of_row(t["id"]) == (editor.id, editor_inbox)
    assert cached_value(editor.id, t["id"]) == into_inbox
    assert t["id"] in {x["id"] for x in editor.list_all()}
    assert_problem(owner.get(t["id"]), 404, "not-found")
    wait_until(effects_landed([cid]), timeout=30, what="the second move's effects")
    # The event shows the task where it now is (the editor's Inbox): the members of the
    # project it left get no copy of it.
    assert 3 not in [e["data"]["version"] for e in logged_events_about(owner.id, t["id"])], \
        "the owner got the task as it is in someone else's Inbox"
    assert 3 in [e["data"]["version"] for e in logged_events_about(editor.id, t["id"])]


def test_a_move_needs_editor_rights_on_both_sides(make_user, mail_dir):
    owner, pid, (editor, viewer) = team_of(make_user, mail_dir, "move-rights", "editor", "viewer")
    other_owner, viewed, _ = team_of(make_user, mail_dir, "move-rights-b")
    join(other_owner, viewed, editor, "viewer")
    _, foreign, _ = team_of(make_user, mail_dir, "move-rights-c")
    t = created_in(editor, pid, "stays put")

    assert_problem(viewer.patch(t["id"], {"project_id": viewer.inbox()["id"]}), 403, "forbidden")
    assert_problem(editor.patch(t["id"], {"project_id": viewed}), 403, "forbidden")
    assert_problem(editor.patch(t["id"], {"project_id": foreign}), 404, "not-found")
    assert_problem(editor.patch(t["id"], {"project_id": owner.inbox()["id"]}), 404, "not-found")
    assert_problem(editor.patch(t["id"], {"project_id": str(uuid.uuid4())}), 404, "not-found")
    assert_problem(editor.patch(t["id"], {"project_id": None}), 422, "validation-error")
    assert owner.get(t["id"]).json()["version"] == 1, "a refused move changed the task"

    # The assignee must be allowed where the task goes: the editor cannot follow it into
    # the owner's Inbox; unassigned (or reassigned to the owner) it moves.
    a = created_in(owner, pid, "assigned", assignee_id=editor.id)
    body = assert_problem(owner.patch(a["id"], {"project_id": owner.inbox()["id"]}), 422, "validation-error")
    assert [e["field"] for e in body["errors"]] == ["assignee_id"], body
    done, _ = moved(owner, a["id"], owner.inbox()["id"], assignee_id=owner.id)
    assert done["assignee_id"] == owner.id and owner_of_row(a["id"]) == (owner.id, owner.inbox()["id"])

    # Naming the task's own project moves nothing (one version, same place).
    same, _ = moved(editor, t["id"], pid)
    assert same["version"] == 2 and owner_of_row(t["id"]) == (None, pid), same


@pytest.mark.single_stack_only
def test_a_change_sent_while_its_task_was_moving_is_rejected_409(make_user, mail_dir):
    """Both commands are keyed by the owner's Inbox, the project the task is leaving, so
    the writer applies the move first and then finds the change aimed at where the task
    no longer is."""
    owner, pid, _ = team_of(make_user, mail_dir, "move-race")
    t = owner.create_applied({"title": "moving"})
    stack_control.stop("writer")
    try:
        m = owner.patch(t["id"], {"project_id": pid})
        assert m.status_code == 202, m.text
        c = owner.patch(t["id"], {"title": "aimed at the Inbox"})
        assert c.status_code == 202, c.text
    finally:
        stack_control.start("writer")
    owner.wait_command(m.json()["command_id"])
    body = owner.wait_command(c.json()["command_id"], want="rejected")
    assert body["problem"]["status"] == 409, body
    g = owner.get(t["id"]).json()
    assert g["project_id"] == pid and g["title"] == "moving" and g["version"] == 2, g
    # Read again, the change goes to the project the task is in now.
    again = owner.patch(t["id"], {"title": "aimed right"}, wait=10)
    assert again.status_code in (200, 202), again.text
    if again.status_code == 202:
        owner.wait_command(again.json()["command_id"])
    assert owner.get(t["id"]).json()["title"] == "aimed right"


def test_a_stranger_cannot_move_a_task_they_cannot_see(make_user, mail_dir):
    owner, pid, _ = team_of(make_user, mail_dir, "move-bola")
    stranger = person(make_user, "move-bola-stranger")
    t = created_in(owner, pid, "not theirs")
    assert_problem(stranger.patch(t["id"], {"project_id": stranger.inbox()["id"]}), 404, "not-found")
    inbox_task = owner.create_applied({"title": "private"})
    assert_problem(stranger.patch(inbox_task["id"], {"project_id": stranger.inbox()["id"]}), 404,
                   "not-found")
    assert owner_of_row(inbox_task["id"]) == (owner.id, owner.inbox()["id"])
