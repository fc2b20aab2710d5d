"""A deleted user's tokens are refused on every route, on every API instance, at once.

A user disappears by `DELETE FROM users` (an operator, a future erasure) or by
`taskbus-admin delete-user EMAIL`. The trigger of 0010_deleted_users.sql records the
deletion and notifies the API instances, which write a tombstone into the user's epoch key
in Redis: the middleware's one MGET refuses every token of the user from then on, even
though a live epoch was cached there. The admin command writes the tombstone before it
commits, so its refusals need no waiting; an API instance that was down when the user was
deleted catches up from `deleted_users` before it serves its first request. A request that
passed the middleware just before the deletion and then inserts a row referencing the user
(webhooks, reports) answers 401 too, never 503; a task command of the vanished user is
rejected by the writer, never retried or dead-lettered.
"""

import os
import subprocess

import pytest

from helpers import stack_control
from helpers.api import API, Client, assert_problem
from helpers.stack_control import env
from helpers.tasks import EVENTS, IMPORT, TaskApi, pg, redis_conn, task_of, unique, wait_until

REDIS_GONE = str(2**63 - 1)  # shared/user_epoch.h USER_EPOCH_GONE
NOTIFY_DEADLINE_S = 10
HOOK_URL = "http://127.0.0.1:9/hook"  # allowed by TASKBUS_WEBHOOK_ALLOW in tests/run


def epoch_in_redis(user_id):
    return redis_conn().get(f"{{u:{user_id}}}:epoch")


def delete_row(user_id):
    with pg() as conn:
        n = conn.execute("DELETE FROM users WHERE id = %s", (user_id,)).rowcount
    assert n == 1, f"user {user_id} was not there to delete"


def active_user(make_user):
    """A user with a task, whose epoch and task reads the API has cached."""
    api = TaskApi(make_user())
    task = api.create_applied({"title": unique("doomed")})
    assert api.list().status_code == 200
    assert api.get(task["id"]).status_code == 200
    assert api.c.me(api.token).status_code == 200
    assert epoch_in_redis(api.id) not in (None, REDIS_GONE), "the epoch should be cached in Redis"
    return api, task


def every_route(api, task_id):
    """(name, response) for one request of the user on each authenticated route."""
    t = api.token
    c = Client(api.c.base)
    calls = [
        ("GET /tasks", lambda: c.get(f"{API}/tasks", token=t)),
        ("GET /tasks/{id}", lambda: c.get(f"{API}/tasks/{task_id}", token=t)),
        ("GET /tasks/stats", lambda: c.get(f"{API}/tasks/stats", token=t)),
        ("POST /tasks", lambda: c.post(f"{API}/tasks", token=t, json={"title": "after"})),
        ("PATCH /tasks/{id}", lambda: c.patch(f"{API}/tasks/{task_id}", token=t, json={"title": "x"})),
        ("DELETE /tasks/{id}", lambda: c.delete(f"{API}/tasks/{task_id}", token=t)),
        ("GET /commands/{id}", lambda: c.get(f"{API}/commands/{task_id}", token=t)),
        ("POST /tasks/import", lambda: c.post(IMPORT, token=t, json=[{"title": "x"}])),
        ("GET /users/me", lambda: c.get(f"{API}/users/me", token=t)),
        ("PATCH /users/me", lambda: c.patch(f"{API}/users/me", token=t, json={"display_name": "x"})),
        ("POST /webhooks", lambda: c.post(f"{API}/webhooks", token=t,
                                          json={"url": HOOK_URL, "event_types": ["taskbus.task.*"]})),
        ("GET /webhooks", lambda: c.get(f"{API}/webhooks", token=t)),
        ("POST /reports", lambda: c.post(f"{API}/reports", token=t, json={"format": "csv"})),
        ("GET /reports", lambda: c.get(f"{API}/reports", token=t)),
        ("GET /events", lambda: c.get(EVENTS, token=t, headers={"Accept": "text/event-stream"},
                                      stream=True, timeout=10)),
        ("GET /analytics/daily", lambda: c.get(f"{API}/analytics/daily", token=t)),
        ("GET /activity", lambda: c.get(f"{API}/activity", token=t)),
        ("POST /auth/logout-all", lambda: c.post(f"{API}/auth/logout-all", token=t, json={})),
    ]
    out = []
    for name, call in calls:
        r = call()
        if name == "GET /events" and r.status_code == 200:
            r.close()  # a live stream: the assertion below fails on its status
        out.append((name, r))
    return out


def assert_refused_everywhere(api, task_id):
    for name, r in every_route(api, task_id):
        assert r.status_code == 401, f"{name}: {r.status_code} {r.text[:300]}"
        assert_problem(r, 401, "unauthorized")
        assert r.headers.get("WWW-Authenticate", "").startswith("Bearer"), (name, r.headers)


def assert_account_gone(api):
    c = Client(api.c.base)
    assert_problem(c.refresh(api.user.refresh), 401, "unauthorized")
    assert_problem(c.login(api.user.email, api.user.password), 401, "invalid-credentials")
    with pg() as conn:
        assert conn.execute("SELECT count(*) FROM tasks WHERE owner_id = %s", (api.id,)).fetchone()[0] == 0


def test_sql_delete_refuses_every_route_within_the_notification(make_user):
    api, task = active_user(make_user)
    delete_row(api.id)

    def refused():
        return Client(api.c.base).get(f"{API}/tasks", token=api.token).status_code == 401

    wait_until(refused, NOTIFY_DEADLINE_S, "the deleted user's cached token refused")
    assert epoch_in_redis(api.id) == REDIS_GONE
    assert_refused_everywhere(api, task["id"])
    assert_account_gone(api)
    with pg() as conn:
        row = conn.execute("SELECT deleted_at > now() - interval '1 minute' FROM deleted_users"
                           " WHERE user_id = %s", (api.id,)).fetchone()
    assert row == (True,), "the deletion was not recorded in deleted_users"


def run_admin(*args):
    binary = os.path.join(env("TASKBUS_BUILD_DIR"), "taskbus-admin")
    return subprocess.run([binary, *args], env=os.environ.copy(), capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


def test_admin_delete_user_refuses_at_once(make_user):
    api, task = active_user(make_user)
    p = run_admin("delete-user", api.user.email.upper())
    assert p.returncode == 0, f"{p.returncode}\n{p.stdout}\n{p.stderr}"
    assert api.id in p.stdout, p.stdout
    # No waiting: the tombstone was in Redis before the row was gone.
    assert_refused_everywhere(api, task["id"])
    assert_account_gone(api)


def test_admin_delete_user_of_nobody_changes_nothing(make_user):
    api, _ = active_user(make_user)
    p = run_admin("delete-user", "nobody-" + api.user.email)
    assert p.returncode == 1, f"{p.returncode}\n{p.stdout}\n{p.stderr}"
    assert "no user" in p.stderr, p.stderr
    assert api.c.me(api.token).status_code == 200
    assert epoch_in_redis(api.id) not in (None, REDIS_GONE)


@pytest.mark.single_stack_only
def test_api_restarted_after_the_delete_still_refuses(make_user):
    """Every API instance (the test stack runs two) is down when the user is deleted:
    nobody hears the notification and the live epoch stays cached in Redis. The restarted
    instances catch up from deleted_users before they serve."""
    api, task = active_user(make_user)
    instances = ["api", "api2"] if os.environ.get("TASKBUS_API2_URL") else ["api"]
    for name in instances:
        stack_control.stop(name)
    try:
        delete_row(api.id)
        cached = epoch_in_redis(api.id)
        assert cached not in (None, REDIS_GONE), f"with no API up the epoch should stay cached ({cached})"
    finally:
        for name in instances:
            stack_control.start(name)
    # start() returned once /ready answered: no polling, the catch-up came first.
    assert epoch_in_redis(api.id) == REDIS_GONE
    assert_refused_everywhere(api, task["id"])


def delete_without_notifying(user_id):
    """Deletes the user with the users_deleted trigger disabled inside the deleting
    transaction only: no instance hears of it (and no deleted_users row is recorded)."""
    with pg() as conn:
        with conn.transaction():
            conn.execute("ALTER TABLE users DISABLE TRIGGER users_deleted")
            conn.execute("DELETE FROM users WHERE id = %s", (user_id,))
            conn.execute("ALTER TABLE users ENABLE TRIGGER users_deleted")


def test_writes_of_a_user_deleted_mid_request_are_401_and_the_writer_rejects_them(make_user):
    """A request that got past the middleware before the deletion reached it: here the
    notification is held back (the trigger disabled inside the deleting transaction only),
    so the cached epoch still lets the token in. Inserts referencing the user fail their
    foreign key: 401, not 503. A task command is produced, and the writer rejects it as a
    command of a user who does not exist (no retry, no dead letter)."""
    api, _ = active_user(make_user)
    delete_without_notifying(api.id)
    assert api.list().status_code == 200, "without the notification the cached epoch lets it in"

    r = api.req("POST", f"{API}/webhooks", json={"url": HOOK_URL, "event_types": ["taskbus.task.*"]})
    assert_problem(r, 401, "unauthorized")
    r = api.req("POST", f"{API}/reports", json={"format": "csv"})
    assert_problem(r, 401, "unauthorized")
    assert_problem(api.c.me(api.token), 401, "unauthorized")

    r = api.create({"title": unique("orphan")})
    assert r.status_code == 202, r.text
    command_id, task_id = r.json()["command_id"], task_of(r.json())["id"]

    def decided():
        with pg() as conn:
            return conn.execute("SELECT status, problem FROM commands WHERE command_id = %s",
                                (command_id,)).fetchone()

    status, problem = wait_until(decided, 30, f"the writer decided command {command_id}")
    assert status == "rejected", (status, problem)
    assert problem["status"] == 404 and api.id in problem["detail"], problem
    with pg() as conn:
        assert conn.execute("SELECT count(*) FROM tasks WHERE id = %s", (task_id,)).fetchone()[0] == 0


def test_a_catch_up_notification_applies_the_recorded_deletions(make_user):
    """What a TRUNCATE of users sends (an empty payload): every instance re-reads
    deleted_users. Here the row is recorded by hand after a deletion that notified nobody."""
    api, task = active_user(make_user)
    delete_without_notifying(api.id)
    assert api.list().status_code == 200, "nothing was notified yet"
    with pg() as conn:
        with conn.transaction():
            conn.execute("INSERT INTO deleted_users (user_id) VALUES (%s)", (api.id,))
            conn.execute("SELECT pg_notify('taskbus_user_deleted', '')")

    def refused():
        return Client(api.c.base).get(f"{API}/tasks", token=api.token).status_code == 401

    wait_until(refused, NOTIFY_DEADLINE_S, "the recorded deletion applied after a catch-up notification")
    assert_refused_everywhere(api, task["id"])
