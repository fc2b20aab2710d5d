"""Deleting one's account (issue 15, slice 4: `DELETE /api/v1/users/me {current_password}`;
docs/decisions.md, "Issue 15", "Account deletion (slice 4)").

Against the real stack: a user with data in every corner (tasks, a session, a webhook, a
report and its file, an import, an idempotent write, mails, a reset link, an address
change, a reminder, activity and analytics rows, a membership and a task in someone
else's team project, a pending invitation) deletes the account. Then, table by table,
no row of Postgres names the user, the user's Inbox or the user's address (every uuid,
text, jsonb and array column of every table is searched, so a new table that keeps user
data fails this test); no Redis key carries the user's hash tag but the tombstone; the report
file is gone; taskbus.user.deleted is on user-events and matches its schema; the
consumers dropped their rows, and a late task event of the user brings none back; every
token is refused; the address registers again. The team project keeps its task and its
other owner. The only owner of a team project is refused (409, nothing changed), also
when the other owner deletes their account at the same moment; a wrong password is 403, a
bad body 422.

Rules: every test registers its own users; waits are bounded conditions, never sleeps.
"""

import json
import os
import uuid

from helpers.api import API, Client, assert_problem, register_user
from helpers.kafka_events import event_of
from helpers.stack_control import env
from helpers.tasks import (IMPORT, TaskApi, pg, produce, redis_conn, unique, wait_group_caught_up,
                           wait_outbox_published, wait_until)
from test_events import check_event
from test_notifications import all_processed, mail_dir, wait_mails  # noqa: F401 - mail_dir is a fixture
from test_projects import Person, join, verify
from test_reports import post_report, report_file_path, wait_finished

ME = f"{API}/users/me"
CONSUMER_GROUPS = ("taskbus-activity", "taskbus-analytics")
TASK_TOPICS = ("task-events", "task-events.v2")
# Tables that keep the id of an erased user by design: the API instances' record of
# deletions (0010) and the consumers' record of erasures (0029), ids only.
ID_RECORDS = {"deleted_users", "erased_users"}
HOOK_URL = "http://127.0.0.1:9/erased-hook"  # allowed by TASKBUS_WEBHOOK_ALLOW in tests/run


def delete_me(user, password, token=None, **kw):
    return Client(user.client.base).delete(ME, token=token or user.access,
                                           json={"current_password": password}, **kw)


def searchable_columns(conn):
    """(table, column, kind) of every uuid, text, jsonb and array column of every table."""
    rows = conn.execute(
        "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c"
        " JOIN information_schema.tables t USING (table_schema, table_name)"
        " WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'"
        " AND c.data_type IN ('uuid', 'text', 'jsonb', 'ARRAY', 'character varying')"
        " ORDER BY 1, 2").fetchall()
    assert len(rows) > 50, rows
    return rows


def rows_naming(conn, needles, skip=()):
    """{(table, column): count} of the rows whose uuid column equals, or whose text/jsonb
    column contains, one of needles (ids and the address)."""
    found = {}
    for table, column, kind in searchable_columns(conn):
        if table in skip:
            continue
        if kind == "uuid":
            sql = f'SELECT count(*) FROM "{table}" WHERE "{column}"::text = ANY(%s)'
            params = [list(needles)]
        else:
            sql = f'SELECT count(*) FROM "{table}" WHERE "{column}"::text LIKE ANY(%s)'
            params = [[f"%{n}%" for n in needles]]
        n = conn.execute(sql, params).fetchone()[0]
        if n:
            found[(table, column)] = n
    return found


def user_keys(user_id):
    r = redis_conn()
    return sorted(r.scan_iter(match=f"*{{u:{user_id}}}*", count=1000))


def consumers_caught_up(topics):
    for group in CONSUMER_GROUPS:
        for topic in topics:
            wait_group_caught_up(group, topic, timeout=60)


def consumer_rows(user_id, inbox_id):
    with pg() as conn:
        return {
            "activity": conn.execute("SELECT count(*) FROM activity WHERE user_id = %s", (user_id,)).fetchone()[0],
            "analytics_daily": conn.execute("SELECT count(*) FROM analytics_daily WHERE user_id = %s",
                                            (user_id,)).fetchone()[0],
            "project_activity": conn.execute("SELECT count(*) FROM project_activity WHERE project_id = %s",
                                             (inbox_id,)).fetchone()[0],
            "analytics_project_daily": conn.execute(
                "SELECT count(*) FROM analytics_project_daily WHERE project_id = %s", (inbox_id,)).fetchone()[0],
        }


def late_created_event(user_id):
    """A taskbus.task.created event of user_id as the writer publishes it."""
    task, at = str(uuid.uuid4()), "2030-01-02T00:00:00.000Z"
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/taskbus/writer",
            "type": "taskbus.task.created", "time": at, "subject": f"tasks/{task}",
            "datacontenttype": "application/json",
            "data": {"id": task, "user_id": user_id, "title": "late", "description": None, "status": "todo",
                     "priority": "medium", "tags": [], "due_at": None, "completed_at": None,
                     "created_at": at, "updated_at": at, "version": 1}}


def a_user_with_data_everywhere(make_user, mail_dir, owner):
    """gone: a verified user with rows in every table a user reaches (verified by a link it
    asked for, as an account made before registration waited for its link: a row in
    email_verifications), and a task in owner's team project; returns (gone, inbox id,
    team project id, team task id, report id)."""
    gone = Person(make_user(tag="erased", verified=False))
    verify(mail_dir, owner, gone)
    team = owner.new_project()
    join(owner, team["id"], gone, "editor")
    elsewhere = owner.new_project()
    owner.invited(elsewhere["id"], gone.email, "viewer")  # stays pending
    inbox = gone.inbox()["id"]

    done = gone.create_applied({"title": unique("erased-done"), "due_at": "2030-01-01T00:00:00Z"})
    gone.patch(done["id"], {"status": "done"}, wait=5)
    team_task = gone.create_applied({"title": unique("erased-team"), "project_id": team["id"]})
    idem = gone.create({"title": unique("erased-idem")}, key="erase-" + uuid.uuid4().hex, wait=5)
    assert idem.status_code in (201, 202), idem.text
    if idem.status_code == 202:
        gone.wait_command(idem.json()["command_id"])
    imp = gone.req("POST", IMPORT, json=[{"title": unique("erased-import")}])
    assert imp.status_code == 202, imp.text
    import_id = imp.json()["import_id"]
    wait_until(lambda: gone.req("GET", f"{IMPORT}/{import_id}").json().get("applied") == 1, 60,
               f"import {import_id} applied")
    hook = gone.req("POST", f"{API}/webhooks", json={"url": HOOK_URL, "event_types": ["taskbus.task.*"]})
    assert hook.status_code == 201, hook.text
    report = post_report(gone, {"format": "csv"})
    assert report.status_code == 202, report.text
    doc, _ = wait_finished(gone, report.json()["id"])
    assert doc["status"] == "ready" and os.path.exists(report_file_path(doc["id"], "csv")), doc
    gone.user.login()  # a second session
    c = Client(gone.c.base)
    assert c.post(f"{API}/auth/password-reset", json={"email": gone.email}).status_code == 202
    r = c.patch(ME, token=gone.token, json={"email": f"new-{gone.email}", "current_password": gone.user.password})
    assert r.status_code == 202, r.text
    with pg() as conn:  # a reminder to the user of the team task, as the scheduler records one
        conn.execute("INSERT INTO reminders (task_id, due_at, user_id) VALUES (%s, %s, %s)",
                     (team_task["id"], "2030-01-01T00:00:00Z", gone.id))
    all_processed(gone.id)
    consumers_caught_up(TASK_TOPICS)
    before = consumer_rows(gone.id, inbox)
    assert all(before.values()), f"the consumers should hold rows of the user first: {before}"
    return gone, inbox, team["id"], team_task["id"], doc["id"]


def test_deleting_the_account_erases_it_everywhere(make_user, mail_dir, user_events, repo):
    owner = Person(make_user(tag="erased-team-owner"))
    gone, inbox, team, team_task, report = a_user_with_data_everywhere(make_user, mail_dir, owner)
    needles = (gone.id, inbox, gone.email)
    expected = {"users", "refresh_tokens", "tasks", "commands", "idempotency_keys", "imports",
                "email_verifications", "sent_notifications", "webhooks", "reports", "reminders",
                "activity", "analytics_daily", "project_activity", "analytics_project_daily", "projects",
                "project_members", "project_invitations", "password_resets", "email_changes",
                "pending_registrations"}
    with pg() as conn:
        found = {table for table, _ in rows_naming(conn, needles)}
    assert expected <= found, f"the search should find the user's rows first; missing {expected - found}"
    refresh = gone.user.refresh

    rid = "it-erase-" + uuid.uuid4().hex
    r = delete_me(gone.user, gone.user.password, headers={"X-Request-ID": rid})
    assert r.status_code == 204 and r.content == b"", r.text

    # Every token stops at once; the address is free again.
    assert_problem(Client(gone.c.base).me(gone.token), 401)
    assert_problem(Client(gone.c.base).refresh(refresh), 401)
    assert_problem(Client(gone.c.base).login(gone.email, gone.user.password), 401, "invalid-credentials")

    msg = user_events.wait_for(event_of(f"users/{gone.id}", "taskbus.user.deleted"), timeout=30)
    data = check_event(msg, "taskbus.user.deleted", gone.id, repo, request_id=rid)
    assert data["user_id"] == gone.id and data["inbox_project_id"] == inbox and data["deleted_at"], data
    assert set(data) == {"user_id", "inbox_project_id", "deleted_at"}, "no personal data"

    wait_outbox_published([gone.id])
    consumers_caught_up(("user-events",))
    assert consumer_rows(gone.id, inbox) == {k: 0 for k in consumer_rows(gone.id, inbox)}

    # Postgres, table by table: nothing names the user, the Inbox or the address, but the
    # id records and the team project's own activity of the task the user made there.
    with pg() as conn:
        left = rows_naming(conn, needles, skip=ID_RECORDS | {"project_activity"})
        assert left == {}, f"rows of the erased user are left: {left}"
        foreign = conn.execute("SELECT count(*) FROM project_activity WHERE actor_id = %s"
                               " AND project_id <> %s", (gone.id, team)).fetchone()[0]
        assert foreign == 0
        assert conn.execute("SELECT owner_id, project_id::text FROM tasks WHERE id = %s",
                            (team_task,)).fetchone() == (None, team), "a team task stays with its project"
        assert conn.execute("SELECT count(*) FROM erased_users WHERE user_id = %s AND inbox_project_id = %s",
                            (gone.id, inbox)).fetchone()[0] == 1

    # Redis: only the tombstone carries the user's tag; the report file goes within seconds.
    tombstone = f"{{u:{gone.id}}}:epoch"
    wait_until(lambda: user_keys(gone.id) == [tombstone], 30, "the erased user's Redis keys are gone")
    wait_until(lambda: not os.path.exists(report_file_path(report, "csv")), 30, "the report file is gone")

    # The team keeps its project and its task.
    members = owner.member_list(team)
    assert [m["user_id"] for m in members] == [owner.id]
    assert owner.get(team_task).status_code == 200

    # A late task event of the user (a replay, a straggler) brings no row back; the same
    # event of a live user (the control: the consumer takes such an event) does.
    late_gone, late_owner = late_created_event(gone.id), late_created_event(owner.id)
    produce("task-events", gone.id, json.dumps(late_gone))
    produce("task-events", owner.id, json.dumps(late_owner))
    consumers_caught_up(("task-events",))
    assert consumer_rows(gone.id, inbox) == {k: 0 for k in consumer_rows(gone.id, inbox)}
    with pg() as conn:
        assert conn.execute("SELECT count(*) FROM activity WHERE event_id = %s",
                            (late_owner["id"],)).fetchone()[0] == 1, "the control event was not taken"
        assert conn.execute("SELECT count(*) FROM activity WHERE event_id = %s",
                            (late_gone["id"],)).fetchone()[0] == 0

    again = register_user(gone.c.base, email=gone.email)
    assert again.id != gone.id


def test_the_only_owner_of_a_team_project_is_refused_until_another_owns_it(make_user, mail_dir):
    owner = Person(make_user(tag="erase-sole-owner"))
    other = Person(make_user(tag="erase-sole-other"))
    verify(mail_dir, owner, other)
    kept = owner.new_project()
    shared = owner.new_project()
    join(owner, shared["id"], other, "editor")
    r = delete_me(owner.user, owner.user.password)
    body = assert_problem(r, 409, "sole-owner")
    assert body["projects"] == sorted([kept["id"], shared["id"]]), body
    assert owner.c.me(owner.token).status_code == 200, "nothing changed"
    assert owner.member_list(shared["id"])

    assert owner.patch_member(shared["id"], other.id, "owner").status_code == 200
    assert owner.delete_project(kept["id"]).status_code == 204
    assert delete_me(owner.user, owner.user.password).status_code == 204
    assert [m["user_id"] for m in other.member_list(shared["id"])] == [other.id]


def test_a_wrong_password_or_a_bad_body_changes_nothing(make_user):
    user = make_user(tag="erase-refused")
    assert_problem(delete_me(user, "not the password"), 403, "invalid-credentials")
    c = Client(user.client.base)
    for body in ({}, {"current_password": 7}, {"current_password": user.password, "extra": 1}):
        assert_problem(c.delete(ME, token=user.access, json=body), 422)
    assert_problem(c.delete(ME, token=user.access, data="{", headers={"Content-Type": "application/json"}), 400)
    assert_problem(c.delete(ME, json={"current_password": user.password}), 401)
    assert c.me(user.access).status_code == 200
    with pg() as conn:
        assert conn.execute("SELECT count(*) FROM users WHERE id = %s", (user.id,)).fetchone()[0] == 1


def test_two_owners_deleting_their_accounts_at_once_never_orphan_the_project(make_user, mail_dir):
    """Whatever the interleaving: the first erasure that holds the project's lock goes
    through, and the other finds itself the only owner (409); the project keeps an owner."""
    from concurrent.futures import ThreadPoolExecutor

    a = Person(make_user(tag="erase-race-a"))
    b = Person(make_user(tag="erase-race-b"))
    verify(mail_dir, a, b)
    project = a.new_project()
    join(a, project["id"], b, "editor")
    assert a.patch_member(project["id"], b.id, "owner").status_code == 200
    with ThreadPoolExecutor(2) as pool:
        ra, rb = pool.map(lambda p: delete_me(p.user, p.user.password), (a, b))
    assert sorted([ra.status_code, rb.status_code]) == [204, 409], (ra.text, rb.text)
    survivor = a if ra.status_code == 409 else b
    members = survivor.member_list(project["id"])
    assert [(m["user_id"], m["role"]) for m in members] == [(survivor.id, "owner")]
