"""Object-level authorization of a team project, one matrix (issue 14, "Tests that must
exist": BOLA on every project, member and task route for a non-member, a viewer and a
removed member).

Against the real stack, every route that names the project, one of its members, one of
its invitations or one of its tasks (and its activity, analytics and webhooks) is called
by three people: a stranger, a viewer and a
member the owner removed (an editor until then, who read the task right before the
removal). The stranger and the removed member get the same 404 everywhere (no existence
oracle, access ends at once); the viewer reads (200) and gets 403 on every write. None of
it changes anything, and the removed member's event log gets nothing of what the project
does after the removal.

Rules: every test registers its own users; every wait is on a condition (Prefer: wait,
wait_command, the effects journal), never a sleep.
"""

from helpers.api import API, assert_problem, unique_email
from helpers.tasks import wait_until
from test_notifications import mail_dir  # noqa: F401 - the fixture
from test_projects import MERGE_PATCH, PROJECTS, person
from test_team_tasks import created_in, effects_landed, logged_events_about, team_of

READ, WRITE, REQUEST = "read", "write", "request"  # a request: a report, 202 to a member


def routes(pid, owner, editor, inv, task, mover):
    """(kind, method, path, body) of every route that names the project or its objects."""
    base = f"{PROJECTS}/{pid}"
    tid = task["id"]
    return [
        (READ, "GET", base, None),
        (WRITE, "PATCH", base, {"name": "taken over"}),
        (WRITE, "DELETE", base, None),
        (READ, "GET", f"{base}/members", None),
        (WRITE, "POST", f"{base}/members", {"email": unique_email("bola-matrix"), "role": "owner"}),
        (WRITE, "PATCH", f"{base}/members/{editor.id}", {"role": "viewer"}),
        (WRITE, "PATCH", f"{base}/members/{owner.id}", {"role": "viewer"}),
        (WRITE, "DELETE", f"{base}/members/{editor.id}", None),
        (WRITE, "DELETE", f"{base}/members/{owner.id}", None),
        (WRITE, "GET", f"{base}/invitations", None),  # the owner's list: a write right
        (WRITE, "DELETE", f"{base}/invitations/{inv['id']}", None),
        (READ, "GET", f"{API}/tasks/{tid}", None),
        (WRITE, "PATCH", f"{API}/tasks/{tid}", {"title": "taken over"}),
        (WRITE, "PATCH", f"{API}/tasks/{tid}", {"assignee_id": None}),
        (WRITE, "DELETE", f"{API}/tasks/{tid}", None),
        (WRITE, "POST", f"{API}/tasks", {"title": "planted", "project_id": pid}),
        (WRITE, "PATCH", f"{API}/tasks/{mover['id']}", {"project_id": pid}),
        (READ, "GET", f"{API}/tasks?project={pid}", None),
        (READ, "GET", f"{API}/tasks?project={pid}&assignee={editor.id}", None),
        (READ, "GET", f"{API}/tasks/stats?project={pid}", None),
        (REQUEST, "POST", f"{API}/reports", {"format": "json", "filters": {"project": pid}}),
        (READ, "GET", f"{API}/activity?project={pid}", None),
        (READ, "GET", f"{API}/analytics/daily?project={pid}", None),
        (WRITE, "POST", f"{API}/webhooks",  # an owner's right
         {"url": "http://127.0.0.1:9/hook", "event_types": ["taskbus.task.*.v2"], "project_id": pid}),
    ]


def call(who, method, path, body):
    hdrs = MERGE_PATCH if method == "PATCH" and path.startswith(PROJECTS) else None
    return who.req(method, path, json=body, headers=hdrs)


def test_a_stranger_a_viewer_and_a_removed_member_on_every_route(make_user, mail_dir):
    owner, pid, (editor, viewer, removed) = team_of(make_user, mail_dir, "bola-matrix", "editor", "viewer",
                                                    "editor")
    stranger = person(make_user, "bola-matrix-stranger")
    inv = owner.invited(pid, unique_email("bola-matrix-invitee"), "viewer")
    task = created_in(editor, pid, "the team's secret", assignee_id=editor.id)
    assert removed.get(task["id"]).status_code == 200  # read right before the removal
    assert owner.remove_member(pid, removed.id).status_code == 204
    before = (owner.project(pid).json(), owner.get(task["id"]).json())

    for who in (stranger, viewer, removed):
        mover = who.create_applied({"title": f"{who.email}'s own"})
        for kind, method, path, body in routes(pid, owner, editor, inv, task, mover):
            r = call(who, method, path, body)
            what = f"{who.email}: {method} {path}"
            if who is viewer and kind != WRITE:
                want = 200 if kind == READ else 202
                assert r.status_code == want, f"{what}: {r.status_code} {r.text[:300]}"
            elif who is viewer:
                assert_problem(r, 403, "forbidden")
            else:
                assert_problem(r, 404, "not-found")
                assert "the team's secret" not in r.text, what
        # Across projects, the lists hold nothing of the team's for a non-member.
        assigned = who.list_all({"assignee": editor.id})
        assert [t["id"] for t in assigned] == ([task["id"]] if who is viewer else []), (who.email, assigned)

    assert (owner.project(pid).json(), owner.get(task["id"]).json()) == before, "a refused request changed something"
    for who in (stranger, viewer, removed):
        assert who.req("GET", f"{API}/webhooks").json()["items"] == [], f"{who.email} registered a webhook"

    # After the removal the project goes on; the removed member's log gets none of it.
    r = editor.patch(task["id"], {"title": "after the removal"})
    assert r.status_code == 202, r.text
    editor.wait_command(r.json()["command_id"])
    wait_until(effects_landed([r.json()["command_id"]]), timeout=30, what="the change's effects")
    seen = [e["data"]["version"] for e in logged_events_about(removed.id, task["id"])]
    assert 2 not in seen, f"a removed member's log got an event made after the removal: {seen}"
    assert [e["data"]["version"] for e in logged_events_about(viewer.id, task["id"])][-1] == 2
