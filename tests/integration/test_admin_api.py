"""The admin API (issue 15): accounts as an admin sees them, lock and unlock, sign out
everywhere, the role, and the audit log of every action, which is also an event.

An admin is made the operator's way (`taskbus-admin set-role EMAIL admin`, itself audited
with no actor). Anyone but an admin's session, every API token included, gets the 404 of
a path that does not exist, before the request's body or query is looked at. A lock, a
sign-out and a role change end the user's sessions and tokens at once on both API
instances (the token epoch reaches Redis before the COMMIT): checked right after the
answer, with no waiting.
"""

import os
import subprocess
import uuid

import pytest

from helpers.api import API, Client, assert_problem, assert_request_id, error_fields
from helpers.kafka_events import event_of
from helpers.stack_control import env
from test_api_tokens import make_token
from test_events import check_event

ADMIN = f"{API}/admin"
USERS = f"{ADMIN}/users"
AUDIT = f"{ADMIN}/audit"
DOC_KEYS = {"id", "email", "display_name", "role", "email_verified", "locked", "locked_at", "created_at",
            "updated_at"}
DETAIL_KEYS = DOC_KEYS | {"active_sessions", "api_tokens"}
AUDIT_KEYS = {"id", "at", "actor_id", "action", "target_id", "changed", "detail", "request_id"}


def run_admin(*args):
    binary = os.path.join(env("TASKBUS_BUILD_DIR"), "taskbus-admin")
    return subprocess.run([binary, *args], env=os.environ.copy(), capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


def make_admin(make_user, tag="admin"):
    """A user made admin by taskbus-admin; returns (user, a session token of the new role)."""
    user = make_user(tag=tag)
    p = run_admin("set-role", user.email, "admin")
    assert p.returncode == 0, f"{p.returncode}\n{p.stdout}\n{p.stderr}"
    assert "now has role admin" in p.stdout, p.stdout
    # The role change moved the token epoch: the token of the old role is refused at once.
    assert_problem(Client(user.client.base).get(f"{API}/users/me", token=user.access), 401, "unauthorized")
    user.access, user.refresh = user.login()
    return user, user.access


@pytest.fixture
def admin(make_user):
    return make_admin(make_user)


def works(client, token):
    return client.get(f"{API}/tasks", token=token).status_code == 200


def action(c, access, target_id, what, **kw):
    method = c.put if what == "role" else c.post
    return method(f"{USERS}/{target_id}/{what}", token=access, **kw)


def test_every_admin_route_is_a_missing_path_to_anyone_else(make_user, admin):
    admin_user, admin_access = admin
    plain = make_user(tag="not-admin")
    c = Client(plain.client.base)
    missing = assert_problem(c.get(f"{ADMIN}/no-such-thing", token=plain.access), 404, "not-found")
    token_of_admin = make_token(admin_user, ["tasks:read"])["token"]  # an admin's own API token
    routes = [("get", USERS, {}), ("get", f"{USERS}/{plain.id}", {}), ("get", AUDIT, {}),
              ("post", f"{USERS}/{plain.id}/lock", {}), ("post", f"{USERS}/{plain.id}/unlock", {}),
              ("post", f"{USERS}/{plain.id}/logout-all", {}),
              ("put", f"{USERS}/{plain.id}/role", {"json": {"role": "admin"}}),
              # Nothing of the request is looked at first: a bad body or query is no hint.
              ("put", f"{USERS}/{plain.id}/role", {"data": "{not json", "headers": {"Content-Type": "text/plain"}}),
              ("get", f"{USERS}?limit=0&bogus=1", {})]
    for method, path, kw in routes:
        for who, token in (("a user", plain.access), ("an admin's API token", token_of_admin)):
            body = assert_problem(c.request(method.upper(), path, token=token, **kw), 404, "not-found")
            assert {k: body[k] for k in ("type", "title", "detail")} == \
                {k: missing[k] for k in ("type", "title", "detail")}, (who, method, path, body)
    # Nothing happened: the user is not locked and no audit row names them.
    assert works(c, plain.access)
    r = Client(admin_user.client.base).get(AUDIT, token=admin_access, params={"target_id": plain.id})
    assert r.status_code == 200 and r.json()["items"] == [], r.text
    # Without a credential an admin route answers as every route does.
    assert_problem(c.get(USERS), 401, "unauthorized")


def test_users_are_listed_by_prefix_in_pages_and_read_one_by_one(make_user, admin):
    admin_user, access = admin
    c = Client(admin_user.client.base)
    prefix = f"adm-{uuid.uuid4().hex[:10]}-"
    made = [make_user(email=f"{prefix}{k}@example.com") for k in range(3)]
    assert all(u.email.startswith(prefix) for u in made), [u.email for u in made]
    seen, cursor = [], None
    while True:
        params = {"email_prefix": prefix.upper(), "limit": 2}  # the prefix is matched lower-cased
        if cursor:
            params["cursor"] = cursor
        r = c.get(USERS, token=access, params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert cursor == page["items"][-1]["id"]
    assert [u["id"] for u in seen] == sorted(u.id for u in made), "oldest first (uuid7 ids), each once"
    for doc in seen:
        assert set(doc) == DOC_KEYS, doc
        assert doc["role"] == "user" and doc["locked"] is False and doc["locked_at"] is None
    one = made[0]
    make_token(one, ["tasks:read"])
    r = c.get(f"{USERS}/{one.id}", token=access)
    assert r.status_code == 200, r.text
    detail = r.json()
    assert set(detail) == DETAIL_KEYS, detail
    assert detail["email"] == one.email and detail["api_tokens"] == 1 and detail["active_sessions"] == 1
    assert_problem(c.get(f"{USERS}/{uuid.uuid4()}", token=access), 404, "not-found")
    assert_problem(c.get(f"{USERS}/not-a-uuid", token=access), 404, "not-found")
    for bad, field in (({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"cursor": "x"}, "cursor"),
                       ({"email_prefix": ""}, "email_prefix"), ({"role": "admin"}, "role")):
        assert field in error_fields(assert_problem(c.get(USERS, token=access, params=bad), 422,
                                                    "validation-error")), bad


def test_a_lock_ends_sessions_and_tokens_at_once_on_both_instances(make_user, admin, api2_url):
    admin_user, access = admin
    c = Client(admin_user.client.base)
    target = make_user(tag="locked")
    token = make_token(target, ["tasks:read"])["token"]
    one, two = Client(target.client.base), Client(api2_url)
    for cl in (one, two):  # each instance keeps its verdicts now
        assert works(cl, target.access) and works(cl, token)
    r = action(c, access, target.id, "lock")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["locked"] is True and doc["locked_at"] and doc["active_sessions"] == 0 and doc["api_tokens"] == 0
    for cl in (one, two):
        assert_problem(cl.get(f"{API}/tasks", token=target.access), 401, "unauthorized")
        assert_problem(cl.get(f"{API}/tasks", token=token), 401, "unauthorized")
    assert_problem(one.refresh(target.refresh), 401, "unauthorized")
    # The right password is told the account is locked; a wrong one learns nothing.
    assert_problem(Client(target.client.base).login(target.email, target.password), 403, "account-locked")
    assert_problem(Client(target.client.base).login(target.email, "wrong-" + target.password), 401)
    again = action(c, access, target.id, "lock")
    assert again.status_code == 200 and again.json()["locked"] is True, again.text
    r = action(c, access, target.id, "unlock")
    assert r.status_code == 200 and r.json()["locked"] is False and r.json()["locked_at"] is None, r.text
    fresh, _ = target.login()
    assert works(one, fresh)
    assert_problem(one.get(f"{API}/tasks", token=token), 401, "unauthorized")  # what a lock ended stays ended
    rows = c.get(AUDIT, token=access, params={"target_id": target.id}).json()["items"]
    assert [(a["action"], a["changed"]) for a in rows] == [("unlock", True), ("lock", False), ("lock", True)], rows


def test_sign_out_everywhere_and_the_role(make_user, admin, api2_url):
    admin_user, access = admin
    c = Client(admin_user.client.base)
    target = make_user(tag="signed-out")
    token = make_token(target, ["tasks:read"])["token"]
    two = Client(api2_url)
    assert works(two, target.access) and works(two, token)
    r = action(c, access, target.id, "logout-all")
    assert r.status_code == 200 and r.json()["locked"] is False, r.text
    assert_problem(two.get(f"{API}/tasks", token=target.access), 401, "unauthorized")
    assert_problem(two.get(f"{API}/tasks", token=token), 401, "unauthorized")
    session, _ = target.login()  # not locked: back in at once
    r = action(c, access, target.id, "role", json={"role": "admin"})
    assert r.status_code == 200 and r.json()["role"] == "admin", r.text
    assert_problem(two.get(f"{API}/tasks", token=session), 401, "unauthorized")  # the token of the old role
    promoted, _ = target.login()
    assert two.get(USERS, token=promoted, params={"limit": 1}).status_code == 200
    r = action(c, access, target.id, "role", json={"role": "user"})
    assert r.status_code == 200 and r.json()["role"] == "user", r.text
    assert_problem(two.get(USERS, token=promoted), 401, "unauthorized")
    demoted, _ = target.login()
    assert_problem(two.get(USERS, token=demoted), 404, "not-found")
    # An admin cannot lock out or demote themselves; bad bodies and unknown users.
    assert_problem(action(c, access, admin_user.id, "lock"), 409, "own-account")
    assert_problem(action(c, access, admin_user.id, "role", json={"role": "user"}), 409, "own-account")
    for body in ({}, {"role": "root"}, {"role": None}, {"role": "user", "extra": 1}):
        assert_problem(action(c, access, target.id, "role", json=body), 422, "validation-error")
    for what in ("lock", "unlock", "logout-all"):
        assert_problem(action(c, access, str(uuid.uuid4()), what), 404, "not-found")
    assert_problem(action(c, access, str(uuid.uuid4()), "role", json={"role": "user"}), 404, "not-found")
    assert works(c, access), "the admin's own session is untouched"


def test_every_action_is_audited_and_sent_on_the_stream(make_user, admin, user_events, repo):
    admin_user, access = admin
    c = Client(admin_user.client.base)
    # taskbus-admin's own change of the role: audited with no actor.
    cli = c.get(AUDIT, token=access, params={"target_id": admin_user.id}).json()["items"]
    assert len(cli) == 1 and cli[0]["actor_id"] is None and cli[0]["action"] == "set_role", cli
    assert cli[0]["detail"] == {"role": "admin", "previous_role": "user"} and cli[0]["request_id"] is None
    target = make_user(tag="audited")
    done = []
    for what, kw in (("lock", {}), ("unlock", {}), ("logout-all", {}), ("role", {"json": {"role": "admin"}})):
        r = action(c, access, target.id, what, **kw)
        assert r.status_code == 200, r.text
        done.append(assert_request_id(r))
    r = c.get(AUDIT, token=access, params={"target_id": target.id, "actor_id": admin_user.id})
    assert r.status_code == 200, r.text
    rows = r.json()["items"]
    assert [a["action"] for a in rows] == ["set_role", "logout_all", "unlock", "lock"], "newest first"
    assert [a["request_id"] for a in rows] == done[::-1]
    for a in rows:
        assert set(a) == AUDIT_KEYS, a
        assert a["actor_id"] == admin_user.id and a["target_id"] == target.id and a["changed"] is True
    assert rows[0]["detail"] == {"role": "admin", "previous_role": "user"}
    # Paging: one row a page, newest first, each once.
    paged, cursor = [], None
    while True:
        params = {"target_id": target.id, "limit": 1, **({"cursor": cursor} if cursor else {})}
        page = c.get(AUDIT, token=access, params=params).json()
        paged += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [a["id"] for a in paged] == [a["id"] for a in rows]
    # Each row is an event on user-events: its data is the row.
    for a in rows:
        msg = user_events.wait_for(lambda m, a=a: event_of(f"users/{target.id}", "taskbus.admin.action")(m)
                                   and m["value"]["data"]["id"] == a["id"], timeout=30)
        assert check_event(msg, "taskbus.admin.action", target.id, repo, request_id=a["request_id"]) == a
    for bad, field in (({"target_id": "x"}, "target_id"), ({"actor_id": "1"}, "actor_id"),
                       ({"cursor": "nope"}, "cursor"), ({"limit": "-1"}, "limit")):
        assert field in error_fields(assert_problem(c.get(AUDIT, token=access, params=bad), 422,
                                                    "validation-error")), bad
