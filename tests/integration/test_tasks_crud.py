"""Tasks end to end: create, read, update and delete through commands (issue 3, "API").

A write answers 202 once Kafka holds the command, with the task as it will be; the
command goes pending -> applied; ETag/If-Match guard updates; validation answers 422 per
field; another user's task or command is 404, never 403.
"""

import uuid

import pytest

from helpers.api import Client, assert_problem, error_fields, is_uuid
from helpers import stack_control
from helpers.tasks import COMMANDS, TASKS, TASK_KEYS, etag_version, parse_time, task_of, task_user, unique


@pytest.fixture(scope="module")
def alice(api_url):
    return task_user(api_url, "tasks-crud-alice")


@pytest.fixture(scope="module")
def bob(api_url):
    return task_user(api_url, "tasks-crud-bob")


def full_body(**over):
    body = {
        "title": unique("crud"),
        "description": "write the report",
        "status": "in_progress",
        "priority": "high",
        "due_at": "2031-05-04T12:30:00.000Z",
        "tags": ["work", "q2"],
    }
    body.update(over)
    return body


def assert_task_shape(t):
    assert isinstance(t, dict), t
    assert TASK_KEYS <= set(t), f"task lacks {TASK_KEYS - set(t)}: {t}"
    assert is_uuid(t["id"], 7), t["id"]
    assert isinstance(t["version"], int) and t["version"] >= 1, t
    for k in ("created_at", "updated_at"):
        assert parse_time(t[k]) is not None, (k, t)


def test_create_answers_202_with_location_etag_and_command(alice):
    body = full_body()
    r = alice.create(body)
    assert r.status_code == 202, r.text
    b = r.json()
    assert is_uuid(b["command_id"], 7), b
    assert b["status"] == "pending", b
    t = task_of(b)
    assert_task_shape(t)
    for k in ("title", "description", "status", "priority", "tags"):
        assert t[k] == body[k], (k, t)
    assert parse_time(t["due_at"]) == parse_time(body["due_at"]), t
    assert t["completed_at"] is None, t
    assert r.headers.get("Location", "").endswith(f"{TASKS}/{t['id']}"), r.headers
    assert etag_version(r) == t["version"]
    assert b["command_id"] != t["id"]

    cmd = alice.wait_command(b["command_id"])
    assert cmd["command_id"] == b["command_id"] and cmd["task_id"] == t["id"], cmd
    assert "create" in cmd["type"], cmd

    g = alice.get(t["id"])
    assert g.status_code == 200, g.text
    got = g.json()
    assert_task_shape(got)
    assert etag_version(g) == got["version"] == t["version"]
    for k in ("id", "title", "description", "status", "priority", "tags"):
        assert got[k] == t[k], (k, got, t)
    assert parse_time(got["due_at"]) == parse_time(body["due_at"])


def test_defaults_of_a_minimal_create(alice):
    t = alice.create_applied({"title": unique("min")})
    assert t["status"] == "todo", t
    assert t["priority"] in ("low", "medium", "high", "urgent"), t
    assert t["tags"] == [] and t["due_at"] is None and t["completed_at"] is None, t
    assert t["description"] in (None, ""), t


@pytest.mark.single_stack_only
def test_command_is_pending_until_the_writer_applies_it(alice):
    """With the writer stopped the command is pending; once it runs, applied."""
    stack_control.stop("writer")
    try:
        r = alice.create(full_body())
        assert r.status_code == 202, r.text
        cid, tid = r.json()["command_id"], task_of(r.json())["id"]
        c = alice.command(cid)
        assert c.status_code == 200, c.text
        assert c.json()["status"] == "pending", c.json()
        assert c.json()["task_id"] == tid, c.json()
        assert alice.get(tid).status_code == 404, "a task visible before its command was applied"
    finally:
        stack_control.start("writer")
    done = alice.wait_command(cid, timeout=60)
    assert done["task_id"] == tid
    assert alice.get(tid).status_code == 200


def test_patch_with_fresh_if_match_applies_and_bumps_version(alice):
    t = alice.create_applied(full_body())
    v = t["version"]
    r = alice.patch(t["id"], {"title": "renamed", "priority": "urgent"}, if_match=v)
    assert r.status_code == 202, r.text
    b = r.json()
    assert is_uuid(b["command_id"], 7) and b["status"] == "pending", b
    nt = task_of(b)
    assert nt["version"] == v + 1 and nt["title"] == "renamed" and nt["priority"] == "urgent", nt
    assert nt["description"] == t["description"], "a PATCH changed a field it did not name"
    assert etag_version(r) == v + 1
    alice.wait_command(b["command_id"])
    g = alice.get(t["id"])
    assert g.status_code == 200
    assert g.json()["version"] == v + 1 and g.json()["title"] == "renamed", g.json()
    assert etag_version(g) == v + 1
    assert parse_time(g.json()["updated_at"]) >= parse_time(t["updated_at"])


def test_patch_with_stale_if_match_is_412_at_the_api(alice):
    t = alice.create_applied(full_body())
    alice.wait_command(alice.patch(t["id"], {"title": "v2"}, if_match=t["version"]).json()["command_id"])
    r = alice.patch(t["id"], {"title": "stale"}, if_match=t["version"])
    assert_problem(r, 412, "precondition-failed")
    d = alice.delete(t["id"], if_match=t["version"])
    assert_problem(d, 412, "precondition-failed")
    g = alice.get(t["id"])
    assert g.json()["title"] == "v2" and g.json()["version"] == t["version"] + 1, g.json()


def test_if_match_star_and_no_if_match(alice):
    t = alice.create_applied(full_body())
    r = alice.patch(t["id"], {"description": "star"}, if_match="*")
    assert r.status_code == 202, r.text
    r2 = alice.patch(t["id"], {"status": "todo"})
    assert r2.status_code == 202, r2.text
    alice.wait_command(r.json()["command_id"])
    alice.wait_command(r2.json()["command_id"])
    g = alice.get(t["id"]).json()
    assert g["description"] == "star" and g["status"] == "todo" and g["version"] == t["version"] + 2, g


def test_patch_to_done_sets_completed_at_and_clearing_due_at(alice):
    t = alice.create_applied(full_body())
    r = alice.patch(t["id"], {"status": "done", "due_at": None}, wait=5)
    assert r.status_code == 200, r.text
    g = alice.get(t["id"]).json()
    assert g["status"] == "done" and g["completed_at"] is not None and g["due_at"] is None, g
    r = alice.patch(t["id"], {"status": "todo"}, wait=5)
    assert r.status_code == 200, r.text
    assert alice.get(t["id"]).json()["completed_at"] is None


def test_delete_then_get_is_404(alice):
    t = alice.create_applied(full_body())
    r = alice.delete(t["id"], if_match=t["version"])
    assert r.status_code == 202, r.text
    b = r.json()
    assert is_uuid(b["command_id"], 7) and b["status"] == "pending", b
    alice.wait_command(b["command_id"])
    assert_problem(alice.get(t["id"]), 404, "not-found")
    assert_problem(alice.patch(t["id"], {"title": "ghost"}), 404, "not-found")
    assert_problem(alice.delete(t["id"]), 404, "not-found")
    items = alice.list_all()
    assert t["id"] not in {i["id"] for i in items}


INVALID = [
    ("title", {"title": ""}),
    ("title", {"title": "x" * 201}),
    ("title", {"title": 5}),
    ("description", {"description": "d" * 10001}),
    ("status", {"status": "blocked"}),
    ("priority", {"priority": "critical"}),
    ("due_at", {"due_at": "tomorrow"}),
    ("due_at", {"due_at": "2031-13-40T25:00:00Z"}),
    ("tags", {"tags": [f"t{i}" for i in range(21)]}),
    ("tags", {"tags": ["x" * 51]}),
    ("tags", {"tags": "work"}),
    ("owner_id", {"owner_id": str(uuid.uuid4())}),
    ("version", {"version": 7}),
]


@pytest.mark.parametrize("field,over", INVALID, ids=[f"{f}-{i}" for i, (f, _) in enumerate(INVALID)])
def test_create_validation_422(alice, field, over):
    body = {"title": unique("bad")}
    body.update(over)
    p = assert_problem(alice.create(body), 422, "validation-error")
    names = error_fields(p)
    assert any(n == field or n.startswith(field + "/") or n.startswith(field + "[") or n.startswith(field + ".")
               for n in names), f"{field} not among {names}"


def test_create_without_title_is_422(alice):
    p = assert_problem(alice.create({"description": "no title"}), 422, "validation-error")
    assert "title" in error_fields(p)


def test_every_invalid_field_is_listed(alice):
    body = {"title": "", "status": "nope", "priority": "nope", "due_at": "nope", "extra": 1}
    names = error_fields(assert_problem(alice.create(body), 422, "validation-error"))
    for f in ("title", "status", "priority", "due_at", "extra"):
        assert any(n == f or n.startswith(f) for n in names), f"{f} not among {names}"


def test_limits_are_inclusive(alice):
    body = {"title": "x" * 200, "description": "d" * 10000, "tags": [f"{i:02d}" + "y" * 48 for i in range(20)]}
    t = alice.create_applied(body)
    assert t["title"] == body["title"] and len(t["description"]) == 10000 and t["tags"] == body["tags"]


@pytest.mark.parametrize("field,over", [
    ("title", {"title": ""}),
    ("status", {"status": "blocked"}),
    ("tags", {"tags": ["x" * 51]}),
    ("id", {"id": str(uuid.uuid4())}),
    ("created_at", {"created_at": "2020-01-01T00:00:00Z"}),
])
def test_patch_validation_422(alice, field, over):
    t = alice.create_applied({"title": unique("pv")})
    p = assert_problem(alice.patch(t["id"], over), 422, "validation-error")
    names = error_fields(p)
    assert any(n == field or n.startswith(field) for n in names), f"{field} not among {names}"
    assert alice.get(t["id"]).json()["version"] == t["version"]


def test_malformed_json_and_wrong_media_type(alice):
    r = alice.req("POST", TASKS, data="{not json", headers={"Content-Type": "application/json"})
    assert_problem(r, 400, "malformed-json")
    r = alice.req("POST", TASKS, data='{"title":"x"}', headers={"Content-Type": "text/plain"})
    assert_problem(r, 415, "unsupported-media-type")
    r = alice.req("POST", TASKS, data="[1,2]", headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 422), r.text


@pytest.mark.parametrize("tid", ["not-a-uuid", "123", "0190a0a0-0000-7000-8000-00000000000g"])
def test_non_uuid_ids_are_404(alice, tid):
    assert_problem(alice.get(tid), 404, "not-found")
    assert_problem(alice.patch(tid, {"title": "x"}), 404, "not-found")
    assert_problem(alice.delete(tid), 404, "not-found")
    assert_problem(alice.req("GET", f"{COMMANDS}/{tid}"), 404, "not-found")


def test_unknown_ids_are_404(alice):
    tid = str(uuid.uuid4())
    assert_problem(alice.get(tid), 404, "not-found")
    assert_problem(alice.patch(tid, {"title": "x"}), 404, "not-found")
    assert_problem(alice.delete(tid), 404, "not-found")
    assert_problem(alice.command(str(uuid.uuid4())), 404, "not-found")


def test_another_users_task_and_command_are_404(alice, bob):
    r = alice.create(full_body())
    assert r.status_code == 202
    cid, t = r.json()["command_id"], task_of(r.json())
    alice.wait_command(cid)
    assert_problem(bob.get(t["id"]), 404, "not-found")
    assert_problem(bob.patch(t["id"], {"title": "mine now"}), 404, "not-found")
    assert_problem(bob.patch(t["id"], {"title": "mine now"}, if_match="*"), 404, "not-found")
    assert_problem(bob.delete(t["id"]), 404, "not-found")
    assert_problem(bob.command(cid), 404, "not-found")
    assert t["id"] not in {i["id"] for i in bob.list_all()}
    g = alice.get(t["id"])
    assert g.status_code == 200 and g.json()["version"] == t["version"] and g.json()["title"] == t["title"]


def test_tasks_need_a_token(api_url):
    c = Client(api_url)
    assert_problem(c.get(TASKS), 401, "unauthorized")
    assert_problem(c.post(TASKS, json={"title": "x"}), 401, "unauthorized")
    assert_problem(c.get(f"{COMMANDS}/{uuid.uuid4()}"), 401, "unauthorized")


def test_if_none_match_answers_304_while_current(alice):
    t = alice.create_applied(full_body())
    r = alice.get(t["id"], headers={"If-None-Match": f'"{t["version"]}"'})
    assert r.status_code == 304, r.text
    assert etag_version(r) == t["version"] and r.content == b""
    alice.wait_command(alice.patch(t["id"], {"title": "newer"}).json()["command_id"])
    r = alice.get(t["id"], headers={"If-None-Match": f'"{t["version"]}"'})
    assert r.status_code == 200 and r.json()["title"] == "newer", r.text
