"""Stats and reports per project (docs/decisions.md, "Issue 14" / "Stats per project
(slice 6)").

Against the real stack: `GET /api/v1/tasks/stats?project=<id>` answers a team project's
counts to any member (a stranger and a removed member get 404), equal to counting the
project's tasks as listed; the Inbox's stats (no parameter, or naming one's own Inbox)
never include team tasks; a move takes a task from one scope's counts to the other's; a
report with `filters.project` lists the project's tasks for a member.

Rules: every test registers its own users; every wait is on a condition (Prefer: wait,
wait_command), never a sleep.
"""

from datetime import datetime, timedelta, timezone

import pytest

from helpers import stack_control

from helpers.api import assert_problem
from test_notifications import mail_dir  # noqa: F401 - the fixture
from test_projects import person
from test_reports import download, wait_finished
from test_task_moves import moved
from test_team_tasks import created_in, team_of

STATUSES = ("todo", "in_progress", "done")
PRIORITIES = ("low", "medium", "high", "urgent")


def stats(who, project=None):
    r = who.req("GET", "/api/v1/tasks/stats", params={"project": project} if project else None)
    assert r.status_code == 200, f"stats of {project}: {r.status_code} {r.text[:300]}"
    return r.json()


def counted(tasks):
    """The stats a list of tasks should give (overdue: due in the past and not done)."""
    now = datetime.now(timezone.utc)
    week_ago = now - timedelta(days=7)

    def when(v):
        return datetime.fromisoformat(v.replace("Z", "+00:00")) if v else None
    return {
        "by_status": {s: sum(t["status"] == s for t in tasks) for s in STATUSES},
        "by_priority": {p: sum(t["priority"] == p for t in tasks) for p in PRIORITIES},
        "overdue": sum(t["status"] != "done" and t["due_at"] is not None and when(t["due_at"]) < now
                       for t in tasks),
        "done_last_7_days": sum(t["completed_at"] is not None and when(t["completed_at"]) >= week_ago
                                for t in tasks),
        "total": len(tasks),
    }


def test_a_team_projects_stats_count_its_tasks_for_every_member(make_user, mail_dir):
    owner, pid, (editor, viewer, leaver) = team_of(make_user, mail_dir, "team-stats", "editor", "viewer", "editor")
    stranger = person(make_user, "team-stats-stranger")
    inbox_before = stats(owner)
    past = "2020-01-01T00:00:00.000Z"
    for i in range(9):
        created_in(editor if i % 2 else owner, pid, f"counted {i}", status=STATUSES[i % 3],
                   priority=PRIORITIES[i % 4], due_at=past if i % 3 == 1 else None)
    listed = owner.list_all({"project": pid})
    assert len(listed) == 9
    want = counted(listed)
    assert want["overdue"] == 3 and want["by_status"]["done"] == 3, want
    for who in (owner, editor, viewer):
        assert stats(who, pid) == want, who.email
    assert stats(owner) == inbox_before, "team tasks counted in the owner's Inbox stats"
    assert stats(owner, owner.inbox()["id"]) == inbox_before
    assert_problem(stranger.req("GET", "/api/v1/tasks/stats", params={"project": pid}), 404, "not-found")
    assert owner.remove_member(pid, leaver.id).status_code == 204
    assert_problem(leaver.req("GET", "/api/v1/tasks/stats", params={"project": pid}), 404, "not-found")
    assert_problem(owner.req("GET", "/api/v1/tasks/stats", params={"project": "nope"}), 422, "validation-error")


def test_a_move_takes_a_task_from_one_scopes_counts_to_the_other(make_user, mail_dir):
    owner, pid, _ = team_of(make_user, mail_dir, "team-stats-move")
    t = owner.create_applied({"title": "moving", "priority": "urgent"})
    inbox, team = stats(owner), stats(owner, pid)
    moved(owner, t["id"], pid)
    after_inbox, after_team = stats(owner), stats(owner, pid)
    assert after_inbox["total"] == inbox["total"] - 1, (inbox, after_inbox)
    assert after_inbox["by_priority"]["urgent"] == inbox["by_priority"]["urgent"] - 1
    assert after_team["total"] == team["total"] + 1 and after_team["by_priority"]["urgent"] == 1, after_team
    moved(owner, t["id"], owner.inbox()["id"])
    assert stats(owner) == inbox and stats(owner, pid) == team


def test_a_team_projects_report_lists_its_tasks_for_a_member(make_user, mail_dir):
    """POST /reports with filters.project: the project's tasks, as its list shows them; a
    stranger is refused 404; the own Inbox named is the plain report."""
    owner, pid, (viewer,) = team_of(make_user, mail_dir, "team-report", "viewer")
    stranger = person(make_user, "team-report-stranger")
    for i in range(5):
        created_in(owner, pid, f"reported {i}", priority="high" if i % 2 else "low")
    owner.create_applied({"title": "in the owner's Inbox", "priority": "high"})
    r = viewer.req("POST", "/api/v1/reports", json={"format": "json",
                                                    "filters": {"project": pid, "priority": "high"}})
    assert r.status_code == 202, r.text
    assert r.json()["filters"] == {"project": pid, "priority": ["high"]}, r.json()
    doc, _ = wait_finished(viewer, r.json()["id"])
    assert doc["status"] == "ready", doc
    got = download(viewer, r.json()["id"]).json()
    assert got == viewer.list_all({"project": pid, "priority": "high"}) and len(got) == 2, got
    assert_problem(stranger.req("POST", "/api/v1/reports",
                                json={"format": "csv", "filters": {"project": pid}}), 404, "not-found")
    mine = owner.req("POST", "/api/v1/reports", json={"format": "json",
                                                      "filters": {"project": owner.inbox()["id"]}})
    assert mine.status_code == 202 and mine.json()["filters"] == {}, mine.text
    doc, _ = wait_finished(owner, mine.json()["id"])
    assert [t["title"] for t in download(owner, mine.json()["id"]).json()] == ["in the owner's Inbox"]


@pytest.mark.single_stack_only
def test_a_member_removed_before_the_build_gets_an_empty_report(make_user, mail_dir):
    """The reporter lists the project with the requester's membership in its statement: the
    report was accepted while they were a member, the owner removed them before the
    reporter ran, and the file holds none of the project's tasks."""
    owner, pid, (viewer,) = team_of(make_user, mail_dir, "team-report-race", "viewer")
    created_in(owner, pid, "not for a leaver")
    stack_control.stop("reporter")
    try:
        r = viewer.req("POST", "/api/v1/reports", json={"format": "json", "filters": {"project": pid}})
        assert r.status_code == 202, r.text
        assert owner.remove_member(pid, viewer.id).status_code == 204
    finally:
        stack_control.start("reporter")
    doc, _ = wait_finished(viewer, r.json()["id"])
    assert doc["status"] == "ready" and doc["row_count"] == 0, doc
    assert download(viewer, r.json()["id"]).json() == []
