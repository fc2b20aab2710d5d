"""Activity and analytics per project (docs/decisions.md, "Issue 14" / "Activity and
analytics per project (slice 9)").

Against the real stack: several members change a team project's tasks; then
`GET /api/v1/activity?project=<id>` shows every member exactly those changes, newest
first, each naming who made it (taskbus-activity reads task-events.v2), and
`GET /api/v1/analytics/daily?project=<id>` counts the project's creations and completions
and the median time to complete from the tasks' own times, whoever acted (taskbus-analytics
reads task-events.v2). A viewer reads both; a stranger, and a member the moment they are
removed, get 404; each member's own log still shows only what they did. A task moved
into the project shows there from the move on.

Rules: every test registers its own users; every wait is on a condition, never a sleep.
"""

import statistics

from helpers.api import assert_problem
from helpers.tasks import parse_time, wait_until
from test_notifications import mail_dir  # noqa: F401 - the fixture
from test_projects import person
from test_team_tasks import created_in, team_of

ANALYTICS = "/api/v1/analytics/daily"
ACTIVITY = "/api/v1/activity"
CONSUMER_WAIT_S = 60


def log_of(who, project=None):
    """Every item of who's log (a project's when named), newest first, all pages."""
    items, params = [], {"limit": 3, **({"project": project} if project else {})}
    for _ in range(100):
        r = who.req("GET", ACTIVITY, params=params)
        assert r.status_code == 200, f"activity {params}: {r.status_code} {r.text[:300]}"
        items.extend(r.json()["items"])
        if r.json()["next_cursor"] is None:
            return items
        params["cursor"] = r.json()["next_cursor"]
    raise AssertionError("the activity cursor never ends")


def days_of(who, project, day):
    r = who.req("GET", ANALYTICS, params={"from": day, "to": day, "project": project})
    assert r.status_code == 200, f"analytics: {r.status_code} {r.text[:300]}"
    [d] = r.json()["days"]
    return d


def test_a_projects_log_and_counts_tell_who_did_what(make_user, mail_dir):
    owner, pid, (editor, viewer, leaver) = team_of(make_user, mail_dir, "insights-team", "editor", "viewer", "editor")
    stranger = person(make_user, "insights-team-stranger")
    a = created_in(editor, pid, "the editor's")
    r = owner.patch(a["id"], {"title": "renamed by the owner"}, wait=10)
    assert r.status_code == 200, r.text
    r = editor.patch(a["id"], {"status": "done"}, wait=10)
    assert r.status_code == 200, r.text
    done = r.json()
    b = created_in(owner, pid, "the owner's")
    c = created_in(leaver, pid, "the leaver's")
    assert owner.delete(b["id"], wait=10).status_code == 204
    moved = owner.create_applied({"title": "moved in"})
    r = owner.patch(moved["id"], {"project_id": pid}, wait=10)
    assert r.status_code == 200, r.text
    want = [  # newest first: (type, task, actor, title)
        ("taskbus.task.updated.v2", moved["id"], owner.id, "moved in"),
        ("taskbus.task.deleted.v2", b["id"], owner.id, None),
        ("taskbus.task.created.v2", c["id"], leaver.id, "the leaver's"),
        ("taskbus.task.created.v2", b["id"], owner.id, "the owner's"),
        ("taskbus.task.completed.v2", a["id"], editor.id, "renamed by the owner"),
        ("taskbus.task.updated.v2", a["id"], owner.id, "renamed by the owner"),
        ("taskbus.task.created.v2", a["id"], editor.id, "the editor's"),
    ]
    items = wait_until(lambda: (lambda got: got if len(got) >= len(want) else None)(log_of(viewer, pid)),
                       CONSUMER_WAIT_S, "the project's log holds every change")
    assert [(i["type"], i["task_id"], i["actor_id"], i["title"]) for i in items] == want
    assert all(i["project_id"] == pid and i["data"]["project_id"] == pid for i in items)
    times = [parse_time(i["occurred_at"]) for i in items]
    assert times == sorted(times, reverse=True)
    assert log_of(owner, pid) == items and log_of(leaver, pid) == items
    # The Inbox the moved task left shows its creation there, not the move.
    inbox_log = log_of(owner, owner.inbox()["id"])
    assert [(i["type"], i["task_id"]) for i in inbox_log] == [("taskbus.task.created.v2", moved["id"])]
    # Each member's own log: only what they did (v1 events, no actor or project members).
    own = wait_until(lambda: (lambda got: got if len(got) >= 2 else None)(
        [i for i in log_of(editor) if i["task_id"] == a["id"]]), CONSUMER_WAIT_S, "the editor's own log")
    assert [i["type"] for i in own] == ["taskbus.task.completed", "taskbus.task.created"]
    assert all("actor_id" not in i for i in own)

    day = parse_time(done["completed_at"]).date().isoformat()
    created_days = {parse_time(t["created_at"]).date().isoformat() for t in (a, b, c)}
    if created_days == {day}:  # a run across midnight UTC counts on two days: compare the sums below
        want_day = {"created": 3, "completed": 1,
                    "median_seconds_to_complete": statistics.median(
                        [(parse_time(done["completed_at"]) - parse_time(done["created_at"])).total_seconds()])}
        got = wait_until(lambda: (lambda d: d if d["created"] >= 3 and d["completed"] >= 1 else None)(
            days_of(viewer, pid, day)), CONSUMER_WAIT_S, "the project's counts")
        assert got["created"] == want_day["created"] and got["completed"] == want_day["completed"], got
        assert abs(got["median_seconds_to_complete"] - want_day["median_seconds_to_complete"]) < 1e-3, got
    else:
        total = wait_until(lambda: (lambda n: n if n >= 3 else None)(
            sum(days_of(viewer, pid, d)["created"] for d in created_days)), CONSUMER_WAIT_S, "the counts")
        assert total == 3

    for who in (stranger,):
        assert_problem(who.req("GET", ACTIVITY, params={"project": pid}), 404, "not-found")
        assert_problem(who.req("GET", ANALYTICS, params={"project": pid}), 404, "not-found")
    assert owner.remove_member(pid, leaver.id).status_code == 204
    assert_problem(leaver.req("GET", ACTIVITY, params={"project": pid}), 404, "not-found")
    assert_problem(leaver.req("GET", ANALYTICS, params={"project": pid}), 404, "not-found")
    assert [i["task_id"] for i in log_of(leaver)] == [c["id"]], "their own log keeps what they did"
