"""Assignees (docs/decisions.md, "Issue 14" / "Assignees (slice 4)").

Against the real stack: a task carries `assignee_id`, an editor or owner of its project
(an Inbox task: its owner); anyone else is a 422 naming the field, from the API before the
202 and from the writer at apply (an assignee removed in between); the member someone
else assigns a task to gets one "task_assigned" mail, never for their own doing, never
twice; `?assignee=` lists one's assignments across projects (members only) and filters a
project's list; a recurring task's next occurrence keeps its assignee while they are
still an editor; task events (v1 schemas) do not carry the member.

Rules: every test registers its own users; every wait is on a condition (Prefer: wait,
wait_command, the notifier's offsets), never a sleep.
"""

import pytest

from helpers import stack_control
from helpers.api import assert_problem
from helpers.tasks import pg, task_of, wait_until
from test_notifications import all_processed, mail_dir, parts, sent_rows, wait_mails  # noqa: F401
from test_projects import person
from test_team_tasks import created_in, effects_landed, logged_events_about, team_of

UNKNOWN_USER = "0190f5a0-0000-7000-8000-0000000000f0"


def applied(who, r):
    """The task after the write r (Prefer: wait, or its command waited for)."""
    assert r.status_code in (200, 201, 202), f"{r.status_code} {r.text[:300]}"
    if r.status_code == 202:
        who.wait_command(r.json()["command_id"])
    g = who.get(task_of(r.json())["id"] if "task" in r.json() else r.json()["id"])
    assert g.status_code == 200, g.text
    return g.json()


def assigned_mails(user_id):
    return [n for n, kind in sent_rows(user_id) if kind == "task_assigned"]


def assert_field_refused(r, field="assignee_id"):
    body = assert_problem(r, 422, "validation-error")
    assert [e["field"] for e in body["errors"]] == [field], body


def test_members_assign_each_other_and_each_assignment_is_mailed_once(make_user, mail_dir):
    owner, pid, (editor,) = team_of(make_user, mail_dir, "assign-mail", "editor")
    t = created_in(owner, pid, "<i>review</i> the plan", assignee_id=editor.id)
    assert t["assignee_id"] == editor.id, t
    [msg] = wait_mails(mail_dir, editor.email, subject="assigned")
    text, html = parts(msg)
    assert '"<i>review</i> the plan"' in text and "assign-mail team" in text, text
    assert "&lt;i&gt;review&lt;/i&gt;" in html and "<i>review" not in html, html

    # The editor hands it to the owner (mailed), takes it back (their own doing: no mail),
    # and changes the title (no assignment: no mail).
    back = applied(editor, editor.patch(t["id"], {"assignee_id": owner.id}, wait=10))
    assert back["assignee_id"] == owner.id and back["version"] == 2, back
    wait_mails(mail_dir, owner.email, subject="assigned")
    mine = applied(editor, editor.patch(t["id"], {"assignee_id": editor.id}, wait=10))
    assert mine["assignee_id"] == editor.id, mine
    applied(editor, editor.patch(t["id"], {"title": "review the plan"}, wait=10))
    unassigned = applied(owner, owner.patch(t["id"], {"assignee_id": None}, wait=10))
    assert "assignee_id" not in unassigned and unassigned["version"] == 5, unassigned

    all_processed(owner.id, editor.id)
    assert len(assigned_mails(editor.id)) == 1, sent_rows(editor.id)
    assert len(assigned_mails(owner.id)) == 1, sent_rows(owner.id)
    assert len(wait_mails(mail_dir, editor.email, subject="assigned")) == 1

    # Task events keep their v1 data: no assignee_id (nor project_id) member.
    for ev in logged_events_about(owner.id, t["id"]):
        assert "assignee_id" not in ev["data"] and "project_id" not in ev["data"], ev


def test_only_an_editor_or_owner_of_the_tasks_project_may_be_assigned(make_user, mail_dir):
    owner, pid, (editor, viewer) = team_of(make_user, mail_dir, "assign-who", "editor", "viewer")
    stranger = person(make_user, "assign-who-stranger")
    for who in (viewer.id, stranger.id, UNKNOWN_USER):
        assert_field_refused(owner.create({"title": "no", "project_id": pid, "assignee_id": who}))
    assert_field_refused(owner.create({"title": "no", "project_id": pid, "assignee_id": "me"}))
    t = created_in(editor, pid, "to be assigned")
    for who in (viewer.id, stranger.id):
        assert_field_refused(editor.patch(t["id"], {"assignee_id": who}))
    # A viewer's write is refused for the role before any field is looked at.
    assert_problem(viewer.patch(t["id"], {"assignee_id": viewer.id}), 403, "forbidden")
    assert owner.get(t["id"]).json()["version"] == 1, "a refused assignment changed the task"

    # An Inbox task: its owner, nobody else; the cached read shows the member.
    inbox = owner.create_applied({"title": "mine", "assignee_id": owner.id})
    assert inbox["assignee_id"] == owner.id, inbox
    assert owner.get(inbox["id"]).json() == inbox
    assert_field_refused(owner.patch(inbox["id"], {"assignee_id": editor.id}))
    assert_field_refused(owner.create({"title": "no", "assignee_id": editor.id}))
    # Uppercase ids are the same id.
    up = created_in(owner, pid, "upper", assignee_id=editor.id.upper())
    assert up["assignee_id"] == editor.id, up


@pytest.mark.single_stack_only
def test_an_assignee_removed_between_202_and_apply_is_rejected_422(make_user, mail_dir):
    owner, pid, (editor, other) = team_of(make_user, mail_dir, "assign-race", "editor", "editor")
    t = created_in(owner, pid, "raced assignment")
    stack_control.stop("writer")
    try:
        p = owner.patch(t["id"], {"assignee_id": editor.id})
        assert p.status_code == 202, p.text
        c = owner.create({"title": "created for a leaver", "project_id": pid, "assignee_id": editor.id})
        assert c.status_code == 202, c.text
        kept = owner.patch(t["id"], {"title": "renamed"})  # leaves the assignee alone
        assert kept.status_code == 202, kept.text
        assert owner.remove_member(pid, editor.id).status_code == 204
    finally:
        stack_control.start("writer")
    for accepted in (p, c):
        body = owner.wait_command(accepted.json()["command_id"], want="rejected")
        assert body["problem"]["status"] == 422, body
        assert "assignee_id" in body["problem"]["detail"], body
    owner.wait_command(kept.json()["command_id"])
    g = owner.get(t["id"]).json()
    assert "assignee_id" not in g and g["title"] == "renamed" and g["version"] == 2, g
    all_processed(editor.id)
    assert assigned_mails(editor.id) == [], "a rejected assignment was mailed"


def test_assignee_filter_lists_assignments_across_the_callers_projects(make_user, mail_dir):
    owner, pid, (editor,) = team_of(make_user, mail_dir, "assign-list", "editor")
    _, other_pid, (outsider_editor,) = team_of(make_user, mail_dir, "assign-list-b", "editor")
    mine = [created_in(owner, pid, f"for the editor {i}", assignee_id=editor.id) for i in range(3)]
    created_in(owner, pid, "for the owner", assignee_id=owner.id)
    created_in(owner, pid, "for nobody")
    own_inbox = editor.create_applied({"title": "editor's own", "assignee_id": editor.id})
    editor.create_applied({"title": "editor's unassigned"})
    created_in(outsider_editor, other_pid, "elsewhere", assignee_id=outsider_editor.id)

    want = {t["id"] for t in mine} | {own_inbox["id"]}
    got = editor.list_all({"assignee": "me"}, limit=2)
    assert {t["id"] for t in got} == want, got
    assert all(t["assignee_id"] == editor.id for t in got), got
    # The owner sees the editor's assignments in the projects the owner shares with them.
    by_owner = owner.list_all({"assignee": editor.id})
    assert {t["id"] for t in by_owner} == {t["id"] for t in mine}, by_owner
    # Within one project: the filter form.
    in_project = owner.list_all({"project": pid, "assignee": editor.id}, limit=2)
    whole = owner.list_all({"project": pid})
    assert [t["id"] for t in in_project] == [t["id"] for t in whole if t.get("assignee_id") == editor.id]
    assert {t["id"] for t in in_project} == {t["id"] for t in mine}, in_project
    assert_problem(editor.list({"assignee": "someone"}), 422, "validation-error")

    # A removed member's assignments in the project leave their list at once.
    assert owner.remove_member(pid, editor.id).status_code == 204
    assert {t["id"] for t in editor.list_all({"assignee": "me"})} == {own_inbox["id"]}


def test_a_recurring_tasks_next_occurrence_keeps_an_editor_assignee(make_user, mail_dir):
    owner, pid, (editor, leaver) = team_of(make_user, mail_dir, "assign-recur", "editor", "editor")
    rec = {"rule": "FREQ=WEEKLY", "time_zone": "Europe/Berlin"}
    due = "2030-03-25T08:00:00.000Z"
    kept = created_in(owner, pid, "weekly kept", assignee_id=editor.id, due_at=due, recurrence=rec)
    dropped = created_in(owner, pid, "weekly dropped", assignee_id=leaver.id, due_at=due, recurrence=rec)
    assert owner.remove_member(pid, leaver.id).status_code == 204
    cids = []
    for t in (kept, dropped):
        r = owner.patch(t["id"], {"status": "done"})
        assert r.status_code == 202, r.text
        owner.wait_command(r.json()["command_id"])
        cids.append(r.json()["command_id"])
    with pg() as conn:
        rows = dict(conn.execute(
            "SELECT title, assignee_id::text FROM tasks WHERE project_id = %s AND status = 'todo'",
            (pid,)).fetchall())
    assert rows == {"weekly kept": editor.id, "weekly dropped": None}, rows
    wait_until(effects_landed(cids), timeout=30, what="the completions' effects")
    all_processed(editor.id)
    assert len(assigned_mails(editor.id)) == 1, "a next occurrence mailed its assignee again"
