"""Tasks belong to projects (docs/decisions.md, "Issue 14" / "Tasks in projects (slice 3)").

What this slice built, against the real stack: the writer puts a new task in its owner's
Inbox, a recurring task's next occurrence lands in the project the completed one is in,
and a project that holds tasks is not deleted (409 project-not-empty) until they are
gone. The API cannot place a task in another project yet, so the tests that need a task
in a team project move its row there with SQL, as a later slice's writer will.

Rules: every test registers its own users; every wait is on a condition (the helpers'
wait_command, Prefer: wait), never a sleep.
"""

from helpers.api import assert_problem
from helpers.tasks import pg, task_user, unique
from test_projects import Person
from test_recurrence import apply_patch, recurring_body, series_of


def project_of(task_id):
    with pg() as conn:
        row = conn.execute("SELECT project_id::text FROM tasks WHERE id = %s", (task_id,)).fetchone()
    assert row is not None, f"task {task_id} is not in Postgres"
    return row[0]


def move_row(task_id, project_id):
    with pg() as conn:
        n = conn.execute("UPDATE tasks SET project_id = %s WHERE id = %s", (project_id, task_id)).rowcount
    assert n == 1, f"task {task_id}: {n} rows moved"


def test_a_new_task_goes_into_its_owners_inbox(api_url):
    me = Person(task_user(api_url, "task-projects-inbox").user)
    t = me.create_applied({"title": unique("inbox")})
    assert project_of(t["id"]) == me.inbox()["id"]
    other = Person(task_user(api_url, "task-projects-other").user)
    assert project_of(t["id"]) != other.inbox()["id"]


def test_the_next_occurrence_stays_in_the_completed_tasks_project(api_url):
    api = task_user(api_url, "task-projects-next")
    me = Person(api.user)
    team = me.new_project(unique("team"))
    tag = unique("next")
    t = api.create_applied(recurring_body(tag, rule="FREQ=DAILY", zone="UTC"))
    move_row(t["id"], team["id"])
    apply_patch(api, t["id"], {"status": "done"})
    (nxt,) = [x for x in series_of(api, tag) if x["id"] != t["id"]]
    assert project_of(nxt["id"]) == team["id"], "the next occurrence left the completed task's project"


def test_a_project_holding_tasks_is_not_deleted(api_url):
    api = task_user(api_url, "task-projects-delete")
    me = Person(api.user)
    team = me.new_project(unique("team"))
    t = api.create_applied({"title": unique("held")})
    move_row(t["id"], team["id"])
    assert_problem(me.delete_project(team["id"]), 409, "project-not-empty")
    assert me.project(team["id"]).status_code == 200, "a refused delete took the project"
    assert project_of(t["id"]) == team["id"], "a refused delete moved the task"
    move_row(t["id"], me.inbox()["id"])
    r = me.delete_project(team["id"])
    assert r.status_code == 204, f"delete of the emptied project: {r.status_code} {r.text[:300]}"
    assert project_of(t["id"]) == me.inbox()["id"]


def test_a_non_member_gets_404_not_the_projects_contents(api_url):
    owner = Person(task_user(api_url, "task-projects-owner").user)
    stranger = Person(task_user(api_url, "task-projects-stranger").user)
    team = owner.new_project(unique("team"))
    t = owner.create_applied({"title": unique("held")})
    move_row(t["id"], team["id"])
    assert_problem(stranger.delete_project(team["id"]), 404, "not-found")
    assert project_of(t["id"]) == team["id"]
