"""Tasks belong to projects (docs/decisions.md, "Issue 14" / "Tasks in projects (slice 3a)").

What this slice built, against the real stack: the writer puts a new task in its owner's
Inbox, an applied task shows its `project_id` in every answer (GET, list, `Prefer: wait`,
PATCH; test_recurrence.py checks that its events leave it out), a cache entry from before
migration 0020 is passed over, a
recurring task's next occurrence lands in the project the completed one is in, and a
project that holds tasks is not deleted (409 project-not-empty) until they are gone. The API cannot place a task in another project yet, so the tests that need a task
in a team project move its row there with SQL, as a later slice's writer will.

Rules: every test registers its own users; every wait is on a condition (the helpers'
wait_command, Prefer: wait), never a sleep.
"""

import json

from helpers.api import assert_problem
from helpers.tasks import API_TASK_KEYS, TASK_KEYS, pg, redis_conn, task_of, task_user, unique
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


def test_every_answer_of_an_applied_task_names_its_project(api_url):
    me = Person(task_user(api_url, "task-projects-answers").user)
    inbox = me.inbox()["id"]
    tag = unique("answers")
    r = me.create({"title": unique("shown"), "tags": [tag]})
    assert r.status_code == 202, r.text
    predicted = task_of(r.json())
    assert set(predicted) == TASK_KEYS, f"the 202 of a create predicts {sorted(set(predicted) ^ TASK_KEYS)}"
    me.wait_command(r.json()["command_id"])
    tid = predicted["id"]
    g = me.get(tid)
    assert g.status_code == 200 and set(g.json()) == API_TASK_KEYS, g.text
    assert g.json()["project_id"] == inbox
    (item,) = me.list_all({"tag": tag})
    assert item == g.json(), f"the list item {item} differs from GET {g.json()}"
    p = me.patch(tid, {"title": "renamed"})
    assert p.status_code == 202 and task_of(p.json())["project_id"] == inbox, p.text
    w = me.create({"title": unique("waited")}, wait=10)
    assert w.status_code in (201, 202), w.text
    if w.status_code == 202:  # the wait ran out on a slow box: the task is read once applied
        me.wait_command(w.json()["command_id"])
        w = me.get(task_of(w.json())["id"])
    assert task_of(w.json())["project_id"] == inbox, w.text


def test_a_cache_entry_from_before_the_projects_is_passed_over(api_url):
    """An entry the writer of the release before cached (no project_id) is not served: the
    GET reads Postgres. The entry is given another title, so an answer from it shows. The
    API instance has not read the task before (a 202, then GET /commands), so its near
    cache cannot answer instead of Redis."""
    me = Person(task_user(api_url, "task-projects-old-cache").user)
    r = me.create({"title": unique("truth")})
    assert r.status_code == 202, r.text
    me.wait_command(r.json()["command_id"])
    tid = task_of(r.json())["id"]
    with pg() as conn:
        title, version = conn.execute("SELECT title, version FROM tasks WHERE id = %s", (tid,)).fetchone()
    old = {"id": tid, "title": "from the old cache", "description": "", "status": "todo", "priority": "medium",
           "due_at": None, "tags": [], "created_at": "2026-01-01T00:00:00.000Z",
           "updated_at": "2026-01-01T00:00:00.000Z", "completed_at": None, "version": version}
    key = f"{{u:{me.id}}}:task:{tid}"
    redis_conn().set(key, json.dumps(old), ex=600)
    g = me.get(tid)
    assert g.status_code == 200, g.text
    assert g.json()["title"] == title and g.json()["project_id"] == me.inbox()["id"], g.json()
    redis_conn().delete(key)


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
