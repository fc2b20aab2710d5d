"""Projects, members and invitations (docs/decisions.md, "Issue 14: teams", slice 1).

Black-box, over HTTP only: the personal Inbox every user gets at registration; creating,
listing (keyset pages, the archived filter), reading, patching (merge patch, ETag and
If-Match) and deleting projects; who may do what (a non-member gets 404 on everything
under a project, a viewer or editor 403 on the owner's routes); invitations (a verified
address is needed to accept one, the address is taken as registration normalises it, no
account oracle); roles and leaving; and that two owners demoting each other, or leaving,
at once never leave a project without an owner (the outcome is checked for whatever
interleaving happened, never relied on).

Every account is verified by its registration link; one made unverified verifies as a
user would, with the link of the verify_email mail the local SMTP catcher wrote
(helpers/mailbox.py reads the files). Every address is fresh.
"""

import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers.api import API, Client, assert_problem, error_fields, is_uuid, unique_email
from helpers.tasks import TaskApi, etag_version, parse_time, unique
from helpers.mailbox import mail_folder, mailbox, text_of
from test_notifications import mail_dir  # noqa: F401 - the fixture

PROJECTS = f"{API}/projects"
INVITATIONS = f"{API}/invitations"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}
ROLES = ("owner", "editor", "viewer")
PROJECT_KEYS = {"id", "name", "description", "archived", "inbox", "role", "created_at", "updated_at", "version"}
MEMBER_KEYS = {"user_id", "email", "display_name", "role", "added_at"}
INVITATION_KEYS = {"id", "project_id", "email", "role", "status", "invited_by", "created_at", "expires_at"}
INVITATION_DAYS = 7
RACE_ROUNDS = 20
LEAVE_ROUNDS = 10
PROJECT_LIMIT = 200
MEMBER_LIMIT = 200
VERIFY_LINK = re.compile(r"https?://\S+/api/v1/auth/verify\?token=([A-Za-z0-9_-]{43})")


# --- one user's view of the project routes ---------------------------------------------------


class Person(TaskApi):
    """A registered user and the project routes, from the user's own client address."""

    def __init__(self, user, client=None):
        super().__init__(user, client)
        self.email = user.email

    def clone(self):
        return Person(self.user, Client(self.c.base))

    @staticmethod
    def _if_match(headers, if_match):
        h = dict(headers or {})
        if if_match is not None:
            h["If-Match"] = if_match if if_match == "*" else f'"{if_match}"'
        return h

    # projects
    def list_projects(self, **params):
        return self.req("GET", PROJECTS, params=params)

    def create_project(self, body, **kw):
        return self.req("POST", PROJECTS, json=body, **kw)

    def project(self, pid):
        return self.req("GET", f"{PROJECTS}/{pid}")

    def patch_project(self, pid, body, if_match=None, headers=MERGE_PATCH):
        return self.req("PATCH", f"{PROJECTS}/{pid}", json=body, headers=self._if_match(headers, if_match))

    def delete_project(self, pid, if_match=None):
        return self.req("DELETE", f"{PROJECTS}/{pid}", headers=self._if_match(None, if_match))

    # members
    def members(self, pid):
        return self.req("GET", f"{PROJECTS}/{pid}/members")

    def invite(self, pid, address, role):
        """Invites as the API requires: from a verified address (verified here first)."""
        ensure_verified(self)
        return self.invite_unverified(pid, address, role)

    def invite_unverified(self, pid, address, role):
        return self.req("POST", f"{PROJECTS}/{pid}/members", json={"email": address, "role": role})

    def patch_member(self, pid, uid, role):
        return self.req("PATCH", f"{PROJECTS}/{pid}/members/{uid}", json={"role": role}, headers=MERGE_PATCH)

    def remove_member(self, pid, uid):
        return self.req("DELETE", f"{PROJECTS}/{pid}/members/{uid}")

    # invitations
    def project_invitations(self, pid):
        return self.req("GET", f"{PROJECTS}/{pid}/invitations")

    def revoke(self, pid, iid):
        return self.req("DELETE", f"{PROJECTS}/{pid}/invitations/{iid}")

    def my_invitations(self):
        return self.req("GET", INVITATIONS)

    def accept(self, pid, iid):
        return self.req("POST", f"{PROJECTS}/{pid}/invitations/{iid}/accept")

    # --- composite steps: each asserts its success ---

    def new_project(self, name=None, **extra):
        r = self.create_project({"name": name or unique("proj"), **extra})
        assert r.status_code == 201, f"create project: {r.status_code} {r.text[:500]}"
        return r.json()

    def all_projects(self, limit=100, **params):
        """Every project of the caller over all pages, checking each page as it goes."""
        out, cursor = [], None
        for _ in range(100):
            p = dict(params, limit=limit)
            if cursor:
                p["cursor"] = cursor
            r = self.list_projects(**p)
            assert r.status_code == 200, f"list projects {p}: {r.status_code} {r.text[:500]}"
            body = r.json()
            assert set(body) >= {"items", "next_cursor"}, body
            assert len(body["items"]) <= limit, (limit, len(body["items"]))
            out.extend(body["items"])
            cursor = body["next_cursor"]
            if cursor is None:
                return out
        raise AssertionError("the project cursor never ends")

    def inbox(self):
        inboxes = [p for p in self.all_projects() if p["inbox"]]
        assert len(inboxes) == 1, f"{self.email} has {len(inboxes)} inboxes: {inboxes}"
        return inboxes[0]

    def member_list(self, pid):
        return items_of(self.members(pid), f"members of {pid} as {self.email}")

    def pending_of(self, pid):
        return items_of(self.project_invitations(pid), f"invitations of {pid} as {self.email}")

    def my_pending(self):
        return items_of(self.my_invitations(), f"invitations of {self.email}")

    def invited(self, pid, address, role):
        r = self.invite(pid, address, role)
        assert r.status_code == 201, f"invite {address} as {role}: {r.status_code} {r.text[:500]}"
        return r.json()


def items_of(r, what):
    assert r.status_code == 200, f"{what}: {r.status_code} {r.text[:500]}"
    body = r.json()
    assert isinstance(body, dict) and isinstance(body.get("items"), list), f"{what}: {body}"
    return body["items"]


def person(make_user, tag, **kw):
    return Person(make_user(tag=tag, **kw))


def join(owner, pid, member, role):
    """member (verified) joins owner's project with role through an invitation."""
    inv = owner.invited(pid, member.email, role)
    r = member.accept(pid, inv["id"])
    assert r.status_code == 200, f"{member.email} accepts: {r.status_code} {r.text[:500]}"
    assert r.json()["id"] == pid and r.json()["role"] == role, r.json()
    return r.json()


def roles_of(members):
    return {m["user_id"]: m["role"] for m in members}


# --- verified addresses ------------------------------------------------------------------------


# Who verify() verified (a verify link works once); invite() verifies its sender first.
_verified: set = set()


def ensure_verified(p):
    verify(mail_folder(), p)


def verify(mail_dir, *people):
    """Makes sure each one's address is verified: an account is made verified by its
    registration link; one made unverified (make_user(verified=False)) asks for a link
    (POST /auth/verify/resend) and opens it."""
    for p in people:
        if p.id in _verified:
            continue
        me = p.c.me(p.token)
        assert me.status_code == 200, me.text
        if not me.json()["email_verified"]:
            r = p.req("POST", f"{API}/auth/verify/resend")
            assert r.status_code == 202, r.text
            [mail] = mailbox(mail_dir).wait(p.email, subject="Confirm your taskbus e-mail address")
            token = VERIFY_LINK.search(text_of(mail)).group(1)
            r = Client(p.c.base).get(f"{API}/auth/verify", params={"token": token})
            assert r.status_code == 200 and r.json() == {"email_verified": True}, r.text
            me = p.c.me(p.token)
            assert me.status_code == 200 and me.json()["email_verified"] is True, me.text
        _verified.add(p.id)


# --- shapes ------------------------------------------------------------------------------------


def assert_project(p, **want):
    assert isinstance(p, dict), p
    assert PROJECT_KEYS <= set(p), f"project lacks {PROJECT_KEYS - set(p)}: {p}"
    assert is_uuid(p["id"]), p
    assert isinstance(p["name"], str) and p["name"].strip(), p
    assert p["description"] is None or isinstance(p["description"], str), p
    assert isinstance(p["archived"], bool) and isinstance(p["inbox"], bool), p
    assert p["role"] in ROLES, p
    assert isinstance(p["version"], int) and not isinstance(p["version"], bool) and p["version"] >= 1, p
    created, updated = parse_time(p["created_at"]), parse_time(p["updated_at"])
    assert created is not None and updated is not None and updated >= created, p
    for k, v in want.items():
        assert p[k] == v, (k, v, p)
    return p


def assert_member(m, **want):
    assert isinstance(m, dict), m
    assert MEMBER_KEYS <= set(m), f"member lacks {MEMBER_KEYS - set(m)}: {m}"
    assert is_uuid(m["user_id"]) and m["role"] in ROLES, m
    assert parse_time(m["added_at"]) is not None, m
    for secret in ("password", "password_hash", "token_epoch", "verification_token"):
        assert secret not in m, f"member leaks {secret}: {m}"
    for k, v in want.items():
        assert m[k] == v, (k, v, m)
    return m


def assert_invitation(inv, **want):
    assert isinstance(inv, dict), inv
    assert INVITATION_KEYS <= set(inv), f"invitation lacks {INVITATION_KEYS - set(inv)}: {inv}"
    assert is_uuid(inv["id"]) and is_uuid(inv["project_id"]), inv
    assert inv["role"] in ROLES and inv["status"] == "pending", inv
    created, expires = parse_time(inv["created_at"]), parse_time(inv["expires_at"])
    assert created is not None and expires is not None, inv
    days = (expires - created).total_seconds() / 86400
    assert abs(days - INVITATION_DAYS) < 0.01, f"an invitation lasts {INVITATION_DAYS} days, not {days}: {inv}"
    for k, v in want.items():
        assert inv[k] == v, (k, v, inv)
    return inv


def assert_forbidden(r, what):
    """403 `forbidden` with a problem body that names the role needed (owner)."""
    assert r.status_code == 403, f"{what}: expected 403, got {r.status_code} {r.text[:500]}"
    body = assert_problem(r, 403, "forbidden")
    said = " ".join(str(v) for k, v in body.items() if k not in ("type", "request_id", "instance"))
    assert "owner" in said.lower(), f"{what}: the 403 does not name the role needed: {body}"


def assert_not_found(r, what):
    assert r.status_code == 404, f"{what}: expected 404, got {r.status_code} {r.text[:500]}"
    return assert_problem(r, 404, "not-found")


# --- the Inbox ---------------------------------------------------------------------------------


def test_every_user_has_exactly_one_inbox_right_after_registration(make_user):
    a = person(make_user, "inbox-a", display_name="Ada")
    b = person(make_user, "inbox-b")
    inboxes = []
    for p in (a, b):
        [only] = p.all_projects()
        assert_project(only, inbox=True, name="Inbox", role="owner", archived=False)
        g = p.project(only["id"])
        assert g.status_code == 200, g.text
        assert_project(g.json(), id=only["id"], inbox=True, name="Inbox", role="owner")
        assert etag_version(g) == g.json()["version"]
        [me] = p.member_list(only["id"])
        assert_member(me, user_id=p.id, email=p.email, role="owner")
        assert p.all_projects(archived="true") == [], "an Inbox is never archived"
        assert [x["id"] for x in p.all_projects(archived="false")] == [only["id"]]
        inboxes.append(only)
    assert inboxes[0]["id"] != inboxes[1]["id"], "two users share one Inbox"
    # Each Inbox is its user's alone: the other one does not even learn it exists.
    assert_not_found(b.project(inboxes[0]["id"]), "another user's Inbox")
    assert_not_found(a.members(inboxes[1]["id"]), "the members of another user's Inbox")


def test_the_inbox_is_personal_but_can_be_renamed_and_described(make_user):
    a = person(make_user, "inbox-personal-a")
    b = person(make_user, "inbox-personal-b")
    inbox = a.inbox()
    pid = inbox["id"]

    assert_problem(a.patch_project(pid, {"archived": True}), 409, "inbox-personal")
    assert_problem(a.patch_project(pid, {"archived": True}, if_match=inbox["version"]), 409, "inbox-personal")
    assert_problem(a.delete_project(pid), 409, "inbox-personal")
    assert_problem(a.delete_project(pid, if_match=inbox["version"]), 409, "inbox-personal")
    assert_problem(a.invite(pid, b.email, "editor"), 409, "inbox-personal")
    assert_problem(a.invite(pid, unique_email("inbox-nobody"), "viewer"), 409, "inbox-personal")
    assert a.pending_of(pid) == [], "a refused invitation was kept"
    g = a.project(pid)
    assert g.status_code == 200, g.text
    assert_project(g.json(), inbox=True, archived=False, name="Inbox", version=inbox["version"])
    assert [m["user_id"] for m in a.member_list(pid)] == [a.id]

    r = a.patch_project(pid, {"name": "Personal ✓", "description": "only mine"}, if_match=inbox["version"])
    assert r.status_code == 200, r.text
    renamed = assert_project(r.json(), id=pid, name="Personal ✓", description="only mine", inbox=True,
                             archived=False, role="owner", version=inbox["version"] + 1)
    assert etag_version(r) == renamed["version"]
    [only] = a.all_projects()
    assert_project(only, id=pid, name="Personal ✓", inbox=True, version=renamed["version"])
    # Renamed, it is still the Inbox: still personal.
    assert_problem(a.delete_project(pid), 409, "inbox-personal")
    assert a.project(pid).status_code == 200


# --- create ------------------------------------------------------------------------------------


def test_create_answers_201_with_location_and_etag_and_the_caller_is_owner(make_user):
    a = person(make_user, "proj-create", display_name="Creator")
    name = unique("Launch")
    r = a.create_project({"name": name, "description": "the spring launch"})
    assert r.status_code == 201, r.text
    p = assert_project(r.json(), name=name, description="the spring launch", archived=False, inbox=False,
                       role="owner", version=1)
    assert r.headers.get("Location", "").endswith(f"{PROJECTS}/{p['id']}"), r.headers
    assert r.headers.get("ETag") == '"1"', r.headers
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers

    g = a.project(p["id"])
    assert g.status_code == 200, g.text
    assert g.headers.get("ETag") == '"1"', g.headers
    assert {k: g.json()[k] for k in PROJECT_KEYS} == {k: p[k] for k in PROJECT_KEYS}
    [owner] = a.member_list(p["id"])
    assert_member(owner, user_id=a.id, email=a.email, display_name="Creator", role="owner")

    minimal = a.new_project("m")
    assert_project(minimal, name="m", archived=False, inbox=False, role="owner", version=1)
    assert minimal["description"] in (None, ""), minimal

    # The bounds are counted in characters, not bytes.
    for body in ({"name": "x" * 100}, {"name": "é" * 100}, {"name": "🙂" * 100},
                 {"name": "long", "description": "d" * 10000}, {"name": "long é", "description": "é" * 10000}):
        got = a.new_project(**body)
        for k, v in body.items():
            assert got[k] == v, (k, len(got[k]))

    mine = a.all_projects()
    assert len(mine) == 1 + 2 + 5, [x["name"] for x in mine]
    assert {x["role"] for x in mine} == {"owner"}
    assert len({x["id"] for x in mine}) == len(mine)


@pytest.mark.parametrize(
    "body,field",
    [
        ({}, "name"),
        ({"description": "no name"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": " \t\n "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "é" * 101}, "name"),
        ({"name": None}, "name"),
        ({"name": 42}, "name"),
        ({"name": ["list"]}, "name"),
        ({"name": True}, "name"),
        ({"name": "ok", "description": "d" * 10001}, "description"),
        ({"name": "ok", "description": 42}, "description"),
        ({"name": "ok", "description": {"a": 1}}, "description"),
        ({"name": "ok", "colour": "red"}, "colour"),
        ({"name": "ok", "inbox": True}, "inbox"),
        ({"name": "ok", "role": "viewer"}, "role"),
    ],
)
def test_create_is_validated(make_user, body, field):
    a = person(make_user, "proj-create-422")
    r = a.create_project(body)
    problem = assert_problem(r, 422, "validation-error")
    assert field in error_fields(problem), problem
    [only] = a.all_projects()
    assert only["inbox"] is True, "a refused create made a project"


def test_create_needs_a_json_body(make_user):
    a = person(make_user, "proj-create-415")
    assert_problem(a.req("POST", PROJECTS, data="name=x", headers={"Content-Type": "text/plain"}), 415)
    assert_problem(a.req("POST", PROJECTS, data=b"{", headers={"Content-Type": "application/json"}), 400)
    assert len(a.all_projects()) == 1


# --- list --------------------------------------------------------------------------------------


def test_list_is_keyset_paged_in_id_order_and_filters_archived(make_user):
    a = person(make_user, "proj-list")
    other = person(make_user, "proj-list-other")
    other.new_project("not yours")
    created = [a.new_project(f"p{i}") for i in range(5)]
    for p in created[:2]:
        r = a.patch_project(p["id"], {"archived": True})
        assert r.status_code == 200 and r.json()["archived"] is True, r.text
    inbox = a.inbox()
    want = sorted([inbox["id"]] + [p["id"] for p in created])
    archived = sorted(p["id"] for p in created[:2])

    # The default page (50) holds all six; the end is a null cursor.
    r = a.list_projects()
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= {"items", "next_cursor"} and body["next_cursor"] is None, body
    assert [p["id"] for p in body["items"]] == want, "the caller's projects, in id order"
    for p in body["items"]:
        assert_project(p, role="owner")

    # limit 4: a full page with a cursor, then the rest and a null cursor.
    r1 = a.list_projects(limit=4)
    assert r1.status_code == 200, r1.text
    p1 = r1.json()
    assert [p["id"] for p in p1["items"]] == want[:4] and isinstance(p1["next_cursor"], str) and p1["next_cursor"]
    r2 = a.list_projects(limit=4, cursor=p1["next_cursor"])
    assert r2.status_code == 200, r2.text
    p2 = r2.json()
    assert [p["id"] for p in p2["items"]] == want[4:] and p2["next_cursor"] is None, p2
    # Every page size walks the same list exactly once.
    for limit in (1, 2, 3, 5, 6, 100):
        assert [p["id"] for p in a.all_projects(limit=limit)] == want, limit

    # archived filters; absent lists both.
    assert [p["id"] for p in a.all_projects(archived="true")] == archived
    assert all(p["archived"] for p in a.all_projects(archived="true"))
    live = a.all_projects(archived="false")
    assert [p["id"] for p in live] == [i for i in want if i not in archived]
    assert not any(p["archived"] for p in live)
    paged = a.all_projects(limit=1, archived="false")
    assert [p["id"] for p in paged] == [p["id"] for p in live], "the filter holds across pages"

    # The other user sees only their own.
    assert inbox["id"] not in {p["id"] for p in other.all_projects()}
    assert len(other.all_projects()) == 2


@pytest.mark.parametrize("params,field", [
    ({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"), ({"limit": "-1"}, "limit"),
    ({"limit": "abc"}, "limit"), ({"limit": "1.5"}, "limit"),
    ({"archived": "yes"}, "archived"), ({"archived": "1"}, "archived"),
])
def test_list_parameters_are_validated(make_user, params, field):
    a = person(make_user, "proj-list-422")
    problem = assert_problem(a.list_projects(**params), 422, "validation-error")
    assert field in error_fields(problem), problem


@pytest.mark.parametrize("cursor", ["garbage", "!!!", "x" * 600])
def test_a_bad_cursor_is_422(make_user, cursor):
    a = person(make_user, "proj-list-cursor")
    assert_problem(a.list_projects(cursor=cursor), 422)


# --- read, patch, delete -----------------------------------------------------------------------


def test_patch_is_a_merge_patch_that_bumps_the_version_and_honours_if_match(make_user):
    a = person(make_user, "proj-patch")
    p = a.new_project("before", description="keep me")
    pid = p["id"]

    r = a.patch_project(pid, {"name": "after"})
    assert r.status_code == 200, r.text
    v2 = assert_project(r.json(), id=pid, name="after", description="keep me", archived=False, role="owner",
                        inbox=False, version=2)
    assert etag_version(r) == 2
    assert parse_time(v2["updated_at"]) >= parse_time(p["updated_at"])
    assert v2["created_at"] == p["created_at"], v2

    r = a.patch_project(pid, {"description": "changed"}, if_match=2)
    assert r.status_code == 200, r.text
    assert_project(r.json(), name="after", description="changed", version=3)

    r = a.patch_project(pid, {"archived": True}, if_match=3)
    assert r.status_code == 200, r.text
    assert_project(r.json(), name="after", description="changed", archived=True, version=4)

    # A stale If-Match is 412 and changes nothing; a PATCH or DELETE.
    assert_problem(a.patch_project(pid, {"name": "stale"}, if_match=3), 412, "precondition-failed")
    assert_problem(a.patch_project(pid, {"name": "stale"}, if_match=1), 412, "precondition-failed")
    assert_problem(a.delete_project(pid, if_match=3), 412, "precondition-failed")
    g = a.project(pid)
    assert g.status_code == 200 and etag_version(g) == 4, g.text
    assert_project(g.json(), name="after", archived=True, version=4)

    # application/json is a merge patch too.
    r = a.patch_project(pid, {"archived": False}, if_match=4, headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert_project(r.json(), name="after", description="changed", archived=False, version=5)
    [listed] = [x for x in a.all_projects() if x["id"] == pid]
    assert listed["version"] == 5 and listed["name"] == "after", listed


@pytest.mark.parametrize("body,field", [
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": None}, "name"),
    ({"name": "x" * 101}, "name"),
    ({"name": 7}, "name"),
    ({"description": "d" * 10001}, "description"),
    ({"description": 7}, "description"),
    ({"archived": "yes"}, "archived"),
    ({"archived": None}, "archived"),
    ({"archived": 1}, "archived"),
    ({"inbox": True}, "inbox"),
    ({"id": "0190a000-0000-7000-8000-000000000000"}, "id"),
    ({"name": "fine", "colour": "red"}, "colour"),
])
def test_patch_is_validated(make_user, body, field):
    a = person(make_user, "proj-patch-422")
    p = a.new_project("unchanged", description="same")
    problem = assert_problem(a.patch_project(p["id"], body), 422, "validation-error")
    assert field in error_fields(problem), problem
    g = a.project(p["id"])
    assert g.status_code == 200, g.text
    assert_project(g.json(), name="unchanged", description="same", archived=False, inbox=False, version=1)


def test_patch_needs_json(make_user):
    a = person(make_user, "proj-patch-415")
    p = a.new_project("x")
    r = a.req("PATCH", f"{PROJECTS}/{p['id']}", data="name=y", headers={"Content-Type": "text/plain"})
    assert_problem(r, 415)
    assert_problem(a.req("PATCH", f"{PROJECTS}/{p['id']}", data=b"{", headers=MERGE_PATCH), 400)
    assert a.project(p["id"]).json()["name"] == "x"


def test_delete_answers_204_then_everything_under_it_is_404(make_user, mail_dir):
    a = person(make_user, "proj-delete")
    m = person(make_user, "proj-delete-member")
    i = person(make_user, "proj-delete-invitee")
    verify(mail_dir, m, i)
    p = a.new_project("doomed")
    pid = p["id"]
    join(a, pid, m, "editor")
    inv = a.invited(pid, i.email, "viewer")
    keep = a.new_project("kept")

    v = etag_version(a.project(pid))
    assert_problem(a.delete_project(pid, if_match=v + 1), 412, "precondition-failed")
    assert a.project(pid).status_code == 200
    r = a.delete_project(pid, if_match=v)
    assert r.status_code == 204 and r.content == b"", r.text

    for who in (a, m):
        assert_not_found(who.project(pid), "GET a deleted project")
        assert_not_found(who.members(pid), "members of a deleted project")
        assert pid not in {x["id"] for x in who.all_projects()}
    assert_not_found(a.delete_project(pid), "DELETE twice")
    assert_not_found(a.patch_project(pid, {"name": "ghost"}), "PATCH a deleted project")
    assert_not_found(a.project_invitations(pid), "invitations of a deleted project")
    assert_not_found(a.invite(pid, unique_email("late"), "viewer"), "invite to a deleted project")
    assert inv["id"] not in {x["id"] for x in i.my_pending()}
    assert_not_found(i.accept(pid, inv["id"]), "accept an invitation to a deleted project")
    assert pid not in {x["id"] for x in i.all_projects()}
    # Nothing else went with it.
    assert a.project(keep["id"]).status_code == 200
    a.inbox()


# --- who may do what ---------------------------------------------------------------------------


def test_a_non_member_gets_404_on_every_route_of_someone_elses_project(make_user, mail_dir):
    o = person(make_user, "bola-owner")
    m = person(make_user, "bola-member")
    i = person(make_user, "bola-invitee")
    x = person(make_user, "bola-outsider")
    verify(mail_dir, m, i, x)
    p = o.new_project("private", description="secret plans")
    pid = p["id"]
    join(o, pid, m, "editor")
    inv = o.invited(pid, i.email, "viewer")
    x.new_project("the outsider's own")
    before = o.project(pid).json()

    base = f"{PROJECTS}/{pid}"
    routes = [
        ("GET", base, None),
        ("PATCH", base, {"name": "pwned"}),
        ("DELETE", base, None),
        ("GET", f"{base}/members", None),
        ("POST", f"{base}/members", {"email": unique_email("bola-new"), "role": "owner"}),
        ("POST", f"{base}/members", {"email": x.email, "role": "owner"}),
        ("PATCH", f"{base}/members/{m.id}", {"role": "viewer"}),
        ("PATCH", f"{base}/members/{o.id}", {"role": "viewer"}),
        ("PATCH", f"{base}/members/{x.id}", {"role": "owner"}),
        ("DELETE", f"{base}/members/{m.id}", None),
        ("DELETE", f"{base}/members/{o.id}", None),
        ("DELETE", f"{base}/members/me", None),
        ("GET", f"{base}/invitations", None),
        ("DELETE", f"{base}/invitations/{inv['id']}", None),
        ("POST", f"{base}/invitations/{inv['id']}/accept", None),
    ]
    seen = set()
    for method, path, body in routes:
        hdrs = MERGE_PATCH if method == "PATCH" else None
        r = x.req(method, path, json=body, headers=hdrs)
        problem = assert_not_found(r, f"non-member {method} {path}")
        assert "secret plans" not in r.text and "private" not in r.text, r.text
        seen.add((problem["type"], problem["title"]))
    # The same 404 as for a project that does not exist: no existence oracle.
    ghost = x.project(str(uuid.uuid4()))
    g = assert_not_found(ghost, "a random project id")
    assert seen == {(g["type"], g["title"])}, seen

    # None of it changed anything.
    g = o.project(pid)
    assert g.status_code == 200, g.text
    assert g.json() == before, "a non-member's request changed the project"
    assert_project(g.json(), name="private", description="secret plans", archived=False)
    assert roles_of(o.member_list(pid)) == {o.id: "owner", m.id: "editor"}
    [pending] = o.pending_of(pid)
    assert_invitation(pending, id=inv["id"], role="viewer")
    assert pid not in {q["id"] for q in x.all_projects()}
    assert inv["id"] not in {q["id"] for q in x.my_pending()}
    # The real invitee still can.
    r = i.accept(pid, inv["id"])
    assert r.status_code == 200 and r.json()["role"] == "viewer", r.text


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_an_editor_or_viewer_reads_but_gets_403_on_the_owners_routes(make_user, mail_dir, role):
    o = person(make_user, f"forbid-owner-{role}")
    me = person(make_user, f"forbid-{role}", display_name="Lower")
    peer = person(make_user, f"forbid-peer-{role}")
    verify(mail_dir, me, peer)
    p = o.new_project("team", description="shared")
    pid = p["id"]
    join(o, pid, me, role)
    peer_role = "viewer" if role == "editor" else "editor"
    join(o, pid, peer, peer_role)
    inv = o.invited(pid, unique_email("forbid-pending"), "viewer")
    before = o.project(pid).json()

    # Reading is every member's.
    g = me.project(pid)
    assert g.status_code == 200, g.text
    assert_project(g.json(), id=pid, name="team", description="shared", role=role, inbox=False)
    members = me.member_list(pid)
    assert [x["user_id"] for x in members] == [o.id, me.id, peer.id], "members in the order they joined"
    assert_member(members[1], email=me.email, display_name="Lower", role=role)
    assert_member(members[0], email=o.email, role="owner")
    [listed] = [x for x in me.all_projects() if x["id"] == pid]
    assert listed["role"] == role, listed

    base = f"{PROJECTS}/{pid}"
    routes = [
        ("PATCH", base, {"name": "hijacked"}),
        ("PATCH", base, {"archived": True}),
        ("DELETE", base, None),
        ("POST", f"{base}/members", {"email": unique_email("forbid-new"), "role": "viewer"}),
        ("PATCH", f"{base}/members/{peer.id}", {"role": role}),
        ("PATCH", f"{base}/members/{me.id}", {"role": "owner"}),
        ("DELETE", f"{base}/members/{peer.id}", None),
        ("GET", f"{base}/invitations", None),
        ("DELETE", f"{base}/invitations/{inv['id']}", None),
    ]
    for method, path, body in routes:
        hdrs = MERGE_PATCH if method == "PATCH" else None
        assert_forbidden(me.req(method, path, json=body, headers=hdrs), f"{role} {method} {path}")
    # Against the last owner the spec does not say whether the role (403) or the last owner
    # (409) is checked first; either way it is refused and the owner stays.
    for method, body in (("PATCH", {"role": "viewer"}), ("DELETE", None)):
        r = me.req(method, f"{base}/members/{o.id}", json=body, headers=MERGE_PATCH if body else None)
        assert r.status_code in (403, 409), f"{role} {method}s the owner: {r.status_code} {r.text[:300]}"
        assert_problem(r, r.status_code, "forbidden" if r.status_code == 403 else "last-owner")

    g = o.project(pid)
    assert g.json() == before, "a refused request changed the project"
    assert roles_of(o.member_list(pid)) == {o.id: "owner", me.id: role, peer.id: peer_role}
    assert [x["id"] for x in o.pending_of(pid)] == [inv["id"]]


# --- invitations -------------------------------------------------------------------------------


def test_invitation_is_accepted_only_by_its_verified_invitee(make_user, mail_dir):
    o = person(make_user, "inv-owner")
    i = person(make_user, "inv-invitee", display_name="Invitee", verified=False)
    stranger = person(make_user, "inv-outsider")
    name = unique("Team")
    p = o.new_project(name)
    pid = p["id"]
    other = o.new_project("another of the owner's")

    # The address is normalised as at registration (trimmed, lower-cased).
    r = o.invite(pid, f"  {i.email.upper()} ", "editor")
    assert r.status_code == 201, r.text
    inv = assert_invitation(r.json(), project_id=pid, email=i.email, role="editor", invited_by=o.id)
    assert r.headers.get("Location", "").endswith(f"{PROJECTS}/{pid}/invitations/{inv['id']}"), r.headers
    [pending] = o.pending_of(pid)
    assert_invitation(pending, id=inv["id"], email=i.email, role="editor")

    # Not verified yet: 403 email-unverified, and the invitation stays pending.
    assert_problem(i.accept(pid, inv["id"]), 403, "email-unverified")
    assert [x["id"] for x in o.pending_of(pid)] == [inv["id"]]
    assert [x["user_id"] for x in o.member_list(pid)] == [o.id]
    assert_not_found(i.project(pid), "the project before accepting")

    verify(mail_dir, i, stranger, o)
    [mine] = [v for v in i.my_pending() if v["id"] == inv["id"]]
    assert_invitation(mine, project_id=pid, email=i.email, role="editor")
    assert mine.get("project_name") == name, mine
    assert inv["id"] not in {v["id"] for v in stranger.my_pending()}
    assert inv["id"] not in {v["id"] for v in o.my_pending()}

    # Anyone else, and the right invitation under the wrong project: 404.
    assert_not_found(stranger.accept(pid, inv["id"]), "an outsider accepts")
    assert_not_found(o.accept(pid, inv["id"]), "the owner accepts the invitee's invitation")
    assert_not_found(i.accept(other["id"], inv["id"]), "the invitation under another project")
    assert_not_found(i.accept(pid, str(uuid.uuid4())), "an unknown invitation id")
    assert [x["id"] for x in o.pending_of(pid)] == [inv["id"]]

    r = i.accept(pid, inv["id"])
    assert r.status_code == 200, r.text
    assert_project(r.json(), id=pid, name=name, role="editor", inbox=False, archived=False)
    assert_not_found(i.accept(pid, inv["id"]), "accepting twice")
    assert inv["id"] not in {v["id"] for v in i.my_pending()}
    assert o.pending_of(pid) == [], "an accepted invitation is not pending"

    members = o.member_list(pid)
    assert [x["user_id"] for x in members] == [o.id, i.id], members
    assert_member(members[0], email=o.email, role="owner")
    assert_member(members[1], email=i.email, display_name="Invitee", role="editor")
    assert parse_time(members[1]["added_at"]) >= parse_time(members[0]["added_at"])
    assert i.member_list(pid) == members
    g = i.project(pid)
    assert g.status_code == 200, g.text
    assert_project(g.json(), id=pid, role="editor")
    assert {x["id"]: x["role"] for x in i.all_projects()}.get(pid) == "editor"
    assert len([x for x in i.all_projects() if x["inbox"]]) == 1

    # An address that belongs to a member is 409 already-member, the owner's own too.
    assert_problem(o.invite(pid, i.email, "viewer"), 409, "already-member")
    assert_problem(o.invite(pid, i.email.upper(), "viewer"), 409, "already-member")
    assert_problem(o.invite(pid, o.email, "editor"), 409, "already-member")
    assert o.pending_of(pid) == []
    assert roles_of(o.member_list(pid)) == {o.id: "owner", i.id: "editor"}


def test_reinviting_keeps_the_id_and_no_account_looks_the_same(make_user, mail_dir):
    o = person(make_user, "reinv-owner")
    u = person(make_user, "reinv-user")
    p = o.new_project("reinvite")
    pid = p["id"]

    r1 = o.invite(pid, u.email, "viewer")
    assert r1.status_code == 201, r1.text
    first = assert_invitation(r1.json(), email=u.email, role="viewer", project_id=pid)
    r2 = o.invite(pid, f" {u.email.upper()}", "editor")
    assert r2.status_code == 201, r2.text
    second = assert_invitation(r2.json(), id=first["id"], email=u.email, role="editor", project_id=pid)
    assert parse_time(second["expires_at"]) >= parse_time(first["expires_at"]), (first, second)
    assert r2.headers.get("Location") == r1.headers.get("Location"), (r1.headers, r2.headers)
    [only] = o.pending_of(pid)
    assert_invitation(only, id=first["id"], role="editor")

    # An address with no account: the same answer (no account oracle).
    nobody = unique_email("reinv-nobody")
    r3 = o.invite(pid, nobody, "viewer")
    assert r3.status_code == 201, r3.text
    ghost = assert_invitation(r3.json(), email=nobody, role="viewer", project_id=pid, invited_by=o.id)
    assert set(ghost) == set(first), (ghost, first)
    assert r3.headers.get("Location", "").endswith(f"{PROJECTS}/{pid}/invitations/{ghost['id']}")
    assert r3.headers.get("Content-Type") == r1.headers.get("Content-Type")
    assert ghost["id"] != first["id"]
    assert sorted(x["id"] for x in o.pending_of(pid)) == sorted([first["id"], ghost["id"]])

    # Whoever then registers that address (and verifies it) finds and accepts it.
    late = Person(make_user(tag="reinv-late", email=nobody))
    verify(mail_dir, late)
    [mine] = [v for v in late.my_pending() if v["id"] == ghost["id"]]
    assert mine["project_name"] == "reinvite" and mine["role"] == "viewer", mine
    r = late.accept(pid, ghost["id"])
    assert r.status_code == 200, r.text
    assert_project(r.json(), id=pid, role="viewer")
    assert roles_of(o.member_list(pid)) == {o.id: "owner", late.id: "viewer"}
    assert [x["id"] for x in o.pending_of(pid)] == [first["id"]]


@pytest.mark.parametrize("body,field", [
    ({"email": "not-an-address", "role": "editor"}, "email"),
    ({"email": "", "role": "editor"}, "email"),
    ({"email": 42, "role": "editor"}, "email"),
    ({"role": "editor"}, "email"),
    ({"email": "someone@example.com", "role": "admin"}, "role"),
    ({"email": "someone@example.com", "role": None}, "role"),
    ({"email": "someone@example.com"}, "role"),
    ({"email": "someone@example.com", "role": "viewer", "note": "hi"}, "note"),
])
def test_an_invitation_is_validated(make_user, body, field):
    o = person(make_user, "inv-422")
    pid = o.new_project("validated")["id"]
    r = o.req("POST", f"{PROJECTS}/{pid}/members", json=body)
    problem = assert_problem(r, 422, "validation-error")
    assert field in error_fields(problem), problem
    assert o.pending_of(pid) == []


def test_the_owner_lists_and_revokes_invitations(make_user, mail_dir):
    o = person(make_user, "revoke-owner")
    i = person(make_user, "revoke-invitee")
    verify(mail_dir, i)
    pid = o.new_project("revocable")["id"]
    other = o.new_project("other")["id"]
    inv = o.invited(pid, i.email, "editor")
    kept = o.invited(pid, unique_email("revoke-kept"), "viewer")
    assert sorted(x["id"] for x in o.pending_of(pid)) == sorted([inv["id"], kept["id"]])
    assert o.pending_of(other) == []

    assert_not_found(o.revoke(other, inv["id"]), "revoking under another project")
    assert_not_found(o.revoke(pid, str(uuid.uuid4())), "revoking an unknown invitation")
    assert inv["id"] in {x["id"] for x in i.my_pending()}

    r = o.revoke(pid, inv["id"])
    assert r.status_code == 204 and r.content == b"", r.text
    assert [x["id"] for x in o.pending_of(pid)] == [kept["id"]]
    assert inv["id"] not in {x["id"] for x in i.my_pending()}
    assert_not_found(i.accept(pid, inv["id"]), "accepting a revoked invitation")
    assert_not_found(o.revoke(pid, inv["id"]), "revoking twice")
    assert [x["user_id"] for x in o.member_list(pid)] == [o.id]
    assert_not_found(i.project(pid), "the project after the revoked invitation")

    # A new invitation after the revocation is a new one, and works.
    again = o.invited(pid, i.email, "viewer")
    assert again["id"] != inv["id"]
    r = i.accept(pid, again["id"])
    assert r.status_code == 200 and r.json()["role"] == "viewer", r.text


# --- roles, leaving, removing ------------------------------------------------------------------


def test_roles_change_and_members_leave_or_are_removed(make_user, mail_dir):
    o = person(make_user, "roles-owner")
    e = person(make_user, "roles-editor")
    v = person(make_user, "roles-viewer")
    x = person(make_user, "roles-outsider")
    verify(mail_dir, e, v)
    pid = o.new_project("roles")["id"]
    join(o, pid, e, "editor")
    join(o, pid, v, "viewer")

    # The owner changes a role: 200 the member; the member sees it at once.
    r = o.patch_member(pid, e.id, "viewer")
    assert r.status_code == 200, r.text
    assert_member(r.json(), user_id=e.id, email=e.email, role="viewer")
    assert e.project(pid).json()["role"] == "viewer"
    assert_forbidden(e.invite(pid, unique_email("roles-x"), "viewer"), "a demoted editor invites")
    r = o.patch_member(pid, e.id, "editor")
    assert r.status_code == 200 and r.json()["role"] == "editor", r.text
    assert roles_of(o.member_list(pid)) == {o.id: "owner", e.id: "editor", v.id: "viewer"}

    assert "role" in error_fields(assert_problem(o.patch_member(pid, e.id, "admin"), 422, "validation-error"))
    assert_not_found(o.patch_member(pid, x.id, "viewer"), "the role of a non-member")
    assert_not_found(o.remove_member(pid, x.id), "removing a non-member")
    assert_not_found(o.patch_member(pid, str(uuid.uuid4()), "viewer"), "the role of an unknown user")

    # The last owner can neither be demoted nor leave nor be removed.
    assert_problem(o.patch_member(pid, o.id, "editor"), 409, "last-owner")
    assert_problem(o.remove_member(pid, "me"), 409, "last-owner")
    assert_problem(o.remove_member(pid, o.id), 409, "last-owner")
    assert roles_of(o.member_list(pid)) == {o.id: "owner", e.id: "editor", v.id: "viewer"}

    # A non-owner removes nobody else.
    assert_forbidden(e.remove_member(pid, v.id), "an editor removes a viewer")
    assert_forbidden(v.remove_member(pid, e.id), "a viewer removes an editor")
    r = v.remove_member(pid, o.id)  # the last owner: 403 or 409, the spec orders neither first
    assert r.status_code in (403, 409), f"a viewer removes the owner: {r.status_code} {r.text[:300]}"
    assert len(o.member_list(pid)) == 3

    # A member leaves ("me"): 204, then 404 on the project at once.
    r = v.remove_member(pid, "me")
    assert r.status_code == 204 and r.content == b"", r.text
    assert_not_found(v.project(pid), "the project after leaving")
    assert_not_found(v.members(pid), "the members after leaving")
    assert_not_found(v.remove_member(pid, "me"), "leaving twice")
    assert pid not in {p["id"] for p in v.all_projects()}
    assert roles_of(o.member_list(pid)) == {o.id: "owner", e.id: "editor"}

    # The owner removes a member: 204, and the removed one is out at once.
    r = o.remove_member(pid, e.id)
    assert r.status_code == 204 and r.content == b"", r.text
    assert_not_found(e.project(pid), "the project after removal")
    assert_not_found(e.members(pid), "the members after removal")
    assert_not_found(e.remove_member(pid, "me"), "leaving after removal")
    assert pid not in {p["id"] for p in e.all_projects()}
    assert [m["user_id"] for m in o.member_list(pid)] == [o.id]
    assert_not_found(o.remove_member(pid, e.id), "removing twice")


def test_with_two_owners_either_may_step_down_but_never_the_last(make_user, mail_dir):
    a = person(make_user, "owners-a")
    b = person(make_user, "owners-b")
    c = person(make_user, "owners-c")
    verify(mail_dir, b, c)
    pid = a.new_project("two owners")["id"]
    join(a, pid, b, "editor")
    r = a.patch_member(pid, b.id, "owner")
    assert r.status_code == 200 and r.json()["role"] == "owner", r.text
    assert b.project(pid).json()["role"] == "owner"

    # b, an owner now, does owner things; a demotes itself while b is an owner.
    assert b.patch_project(pid, {"description": "b was here"}).status_code == 200
    r = a.patch_member(pid, a.id, "editor")
    assert r.status_code == 200 and r.json()["role"] == "editor", r.text
    assert_forbidden(a.patch_project(pid, {"name": "no longer mine"}), "a demoted owner patches")
    assert_problem(b.patch_member(pid, b.id, "viewer"), 409, "last-owner")
    assert_problem(b.remove_member(pid, "me"), 409, "last-owner")

    # An owner removes anyone, another owner too; then that one is the last.
    assert b.patch_member(pid, a.id, "owner").status_code == 200
    join(b, pid, c, "viewer")
    r = b.remove_member(pid, a.id)
    assert r.status_code == 204, r.text
    assert_not_found(a.project(pid), "a removed owner")
    assert roles_of(b.member_list(pid)) == {b.id: "owner", c.id: "viewer"}
    assert_problem(b.remove_member(pid, b.id), 409, "last-owner")
    assert_problem(b.patch_member(pid, b.id, "editor"), 409, "last-owner")
    # A member may leave by their own id as well as by "me".
    r = c.remove_member(pid, c.id)
    assert r.status_code == 204, r.text
    assert [m["user_id"] for m in b.member_list(pid)] == [b.id]


# --- concurrency: never without an owner -------------------------------------------------------


def race(*calls):
    """Runs the calls at once (released together by a barrier) and returns their answers in
    order. The assertions on the answers hold for any interleaving: the barrier only makes
    the interesting ones likely, the checks never depend on it."""
    start = threading.Barrier(len(calls), timeout=60)

    def run(fn):
        start.wait()
        return fn()

    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(run, fn) for fn in calls]
        return [f.result(timeout=120) for f in futures]


def assert_has_owner(members, what):
    owners = [m["user_id"] for m in members if m["role"] == "owner"]
    assert owners, f"{what}: the project has no owner: {members}"
    return owners


def test_two_owners_demoting_each_other_at_once_never_leave_the_project_without_one(make_user, mail_dir):
    a = person(make_user, "race-demote-a")
    b = person(make_user, "race-demote-b")
    watcher = person(make_user, "race-demote-watch")
    verify(mail_dir, b, watcher)
    pid = a.new_project("contested")["id"]
    join(a, pid, b, "editor")
    join(a, pid, watcher, "viewer")
    assert a.patch_member(pid, b.id, "owner").status_code == 200
    ra, rb, rw = a.clone(), b.clone(), watcher.clone()  # their own connections for the threads
    wins = {a.id: 0, b.id: 0}

    for n in range(RACE_ROUNDS):
        role = ("editor", "viewer")[n % 2]
        assert roles_of(a.member_list(pid)) == {a.id: "owner", b.id: "owner", watcher.id: "viewer"}, n
        by_a, by_b, seen = race(lambda: ra.patch_member(pid, b.id, role),
                                lambda: rb.patch_member(pid, a.id, role),
                                lambda: rw.members(pid))
        codes = sorted([by_a.status_code, by_b.status_code])
        assert codes.count(200) <= 1, (
            f"round {n}: both demotions succeeded, the project may have lost its last owner: "
            f"{by_a.text[:300]} / {by_b.text[:300]}")
        # decisions.md: serialised by the project's row lock; the second finds that it is no
        # longer an owner itself, so its demotion is refused (403 forbidden).
        assert codes == [200, 403], (
            f"round {n}: exactly one demotion succeeds, the other is 403 (no longer an owner); "
            f"got {by_a.status_code} {by_a.text[:300]} / {by_b.status_code} {by_b.text[:300]}")
        if by_a.status_code == 200:
            winner, loser, won, lost = a, b, by_a, by_b
        else:
            winner, loser, won, lost = b, a, by_b, by_a
        assert_problem(lost, 403, "forbidden")
        assert_member(won.json(), user_id=loser.id, role=role)
        wins[winner.id] += 1

        # Whatever the interleaving, every view has an owner: the watcher's (read during the
        # race) and both members' after it, which agree on who won.
        assert_has_owner(items_of(seen, f"round {n}: the watcher's list"), f"round {n}, during")
        for who in (winner, loser, watcher):
            members = who.member_list(pid)
            assert assert_has_owner(members, f"round {n}, after") == [winner.id], members
            assert roles_of(members) == {winner.id: "owner", loser.id: role, watcher.id: "viewer"}, members
        assert loser.project(pid).json()["role"] == role

        # The winner restores the loser for the next round.
        r = winner.patch_member(pid, loser.id, "owner")
        assert r.status_code == 200 and r.json()["role"] == "owner", r.text
    assert sum(wins.values()) == RACE_ROUNDS, wins


def test_two_owners_leaving_at_once_never_leave_the_project_without_one(make_user, mail_dir):
    a = person(make_user, "race-leave-a")
    b = person(make_user, "race-leave-b")
    watcher = person(make_user, "race-leave-watch")
    verify(mail_dir, a, b, watcher)
    pid = a.new_project("nobody leaves last")["id"]
    join(a, pid, b, "editor")
    join(a, pid, watcher, "viewer")
    assert a.patch_member(pid, b.id, "owner").status_code == 200
    ra, rb, rw = a.clone(), b.clone(), watcher.clone()

    for n in range(LEAVE_ROUNDS):
        left_a, left_b, seen = race(lambda: ra.remove_member(pid, "me"),
                                    lambda: rb.remove_member(pid, "me"),
                                    lambda: rw.members(pid))
        codes = sorted([left_a.status_code, left_b.status_code])
        assert codes == [204, 409], (
            f"round {n}: exactly one owner leaves, the other is the last (409); got "
            f"{left_a.status_code} {left_a.text[:300]} / {left_b.status_code} {left_b.text[:300]}")
        stayer, leaver, stayed = (b, a, left_b) if left_a.status_code == 204 else (a, b, left_a)
        assert_problem(stayed, 409, "last-owner")
        assert_has_owner(items_of(seen, f"round {n}: the watcher's list"), f"round {n}, during")
        members = stayer.member_list(pid)
        assert roles_of(members) == {stayer.id: "owner", watcher.id: "viewer"}, members
        assert_not_found(leaver.project(pid), f"round {n}: the project of the one who left")

        # Back in for the next round: invited, accepted, made owner again.
        join(stayer, pid, leaver, "editor")
        assert stayer.patch_member(pid, leaver.id, "owner").status_code == 200


# --- limits ------------------------------------------------------------------------------------


def test_a_user_belongs_to_at_most_200_projects(make_user):
    a = person(make_user, "limit-projects")
    made = []
    for n in range(PROJECT_LIMIT + 5):
        r = a.create_project({"name": f"p{n:03d}"})
        if r.status_code != 201:
            assert_problem(r, 409, "project-limit")
            break
        made.append(r.json()["id"])
    else:
        raise AssertionError(f"{len(made)} projects created, no project-limit")
    mine = a.all_projects()
    assert len(mine) == PROJECT_LIMIT, f"the Inbox counts: {len(mine)} projects at the limit"
    assert_problem(a.create_project({"name": "still too many"}), 409, "project-limit")
    assert a.delete_project(made[-1]).status_code == 204
    assert a.create_project({"name": "room again"}).status_code == 201
    assert len(a.all_projects()) == PROJECT_LIMIT


def test_a_project_has_at_most_200_members_and_pending_invitations(make_user):
    o = person(make_user, "limit-members")
    pid = o.new_project("crowded")["id"]
    first = None
    for n in range(MEMBER_LIMIT - 1):  # the owner is the 200th
        inv = o.invited(pid, unique_email(f"crowd-{n}"), "viewer")
        first = first or inv
    assert_problem(o.invite(pid, unique_email("crowd-over"), "viewer"), 409, "member-limit")
    # Re-inviting a pending address adds nobody: still 201, the same invitation.
    r = o.invite(pid, first["email"], "editor")
    assert r.status_code == 201 and r.json()["id"] == first["id"] and r.json()["role"] == "editor", r.text
    assert o.revoke(pid, first["id"]).status_code == 204
    o.invited(pid, unique_email("crowd-room"), "viewer")
    assert_problem(o.invite(pid, unique_email("crowd-over-2"), "viewer"), 409, "member-limit")


# --- authentication and malformed ids ----------------------------------------------------------


def test_every_route_needs_a_token(make_user, client):
    o = person(make_user, "auth-owner")
    p = o.new_project("locked")
    pid = p["id"]
    inv = o.invited(pid, unique_email("auth-invitee"), "viewer")
    before = o.project(pid).json()
    base = f"{PROJECTS}/{pid}"
    routes = [
        ("POST", PROJECTS, {"name": "anon"}),
        ("GET", PROJECTS, None),
        ("GET", base, None),
        ("PATCH", base, {"name": "anon"}),
        ("DELETE", base, None),
        ("GET", f"{base}/members", None),
        ("POST", f"{base}/members", {"email": unique_email("auth-x"), "role": "viewer"}),
        ("PATCH", f"{base}/members/{o.id}", {"role": "viewer"}),
        ("DELETE", f"{base}/members/{o.id}", None),
        ("DELETE", f"{base}/members/me", None),
        ("GET", f"{base}/invitations", None),
        ("DELETE", f"{base}/invitations/{inv['id']}", None),
        ("POST", f"{base}/invitations/{inv['id']}/accept", None),
        ("GET", INVITATIONS, None),
    ]
    for method, path, body in routes:
        hdrs = MERGE_PATCH if method == "PATCH" else None
        for token in (None, "not.a.token", o.token + "x"):
            r = client.request(method, path, token=token, json=body, headers=hdrs)
            assert r.status_code == 401, f"{method} {path} with {token!r}: {r.status_code} {r.text[:300]}"
            assert_problem(r, 401, "unauthorized")
    assert o.project(pid).json() == before
    assert [x["id"] for x in o.pending_of(pid)] == [inv["id"]]
    assert len(o.all_projects()) == 2


@pytest.mark.parametrize("bad", ["not-a-uuid", "12345", "0190a000-0000-7000-8000-00000000000z",
                                 "0190a000-0000-7000-8000-0000000000000", "%20"])
def test_malformed_ids_in_paths_are_404(make_user, bad):
    o = person(make_user, "bad-ids")
    pid = o.new_project("well-formed")["id"]
    inv = o.invited(pid, unique_email("bad-ids-inv"), "viewer")
    before = o.project(pid).json()
    routes = [
        ("GET", f"{PROJECTS}/{bad}", None),
        ("PATCH", f"{PROJECTS}/{bad}", {"name": "x"}),
        ("DELETE", f"{PROJECTS}/{bad}", None),
        ("GET", f"{PROJECTS}/{bad}/members", None),
        ("POST", f"{PROJECTS}/{bad}/members", {"email": unique_email("bad-ids-x"), "role": "viewer"}),
        ("PATCH", f"{PROJECTS}/{bad}/members/{o.id}", {"role": "viewer"}),
        ("DELETE", f"{PROJECTS}/{bad}/members/{o.id}", None),
        ("DELETE", f"{PROJECTS}/{bad}/members/me", None),
        ("GET", f"{PROJECTS}/{bad}/invitations", None),
        ("DELETE", f"{PROJECTS}/{bad}/invitations/{inv['id']}", None),
        ("POST", f"{PROJECTS}/{bad}/invitations/{inv['id']}/accept", None),
        ("PATCH", f"{PROJECTS}/{pid}/members/{bad}", {"role": "viewer"}),
        ("DELETE", f"{PROJECTS}/{pid}/members/{bad}", None),
        ("DELETE", f"{PROJECTS}/{pid}/invitations/{bad}", None),
        ("POST", f"{PROJECTS}/{pid}/invitations/{bad}/accept", None),
    ]
    for method, path, body in routes:
        hdrs = MERGE_PATCH if method == "PATCH" else None
        assert_not_found(o.req(method, path, json=body, headers=hdrs), f"{method} {path}")
    assert o.project(pid).json() == before
    assert [m["user_id"] for m in o.member_list(pid)] == [o.id]
    assert [x["id"] for x in o.pending_of(pid)] == [inv["id"]]


def test_unknown_but_well_formed_ids_are_404_too(make_user):
    o = person(make_user, "unknown-ids")
    pid = o.new_project("real")["id"]
    ghost = str(uuid.uuid4())
    assert_not_found(o.project(ghost), "an unknown project")
    assert_not_found(o.patch_project(ghost, {"name": "x"}), "PATCH an unknown project")
    assert_not_found(o.delete_project(ghost), "DELETE an unknown project")
    assert_not_found(o.members(ghost), "members of an unknown project")
    assert_not_found(o.invite(ghost, unique_email("unknown"), "viewer"), "invite to an unknown project")
    assert_not_found(o.project_invitations(ghost), "invitations of an unknown project")
    assert_not_found(o.remove_member(pid, ghost), "an unknown member")
    assert_not_found(o.revoke(pid, ghost), "an unknown invitation")
    assert o.project(pid).status_code == 200


# --- review fixes: who may invite, who sees invitations, invitations of a fallen owner -----------


def test_an_unverified_owner_cannot_invite(make_user):
    o = person(make_user, "unverified-inviter", verified=False)
    pid = o.new_project("quiet room")["id"]
    assert_problem(o.invite_unverified(pid, unique_email("never-mailed"), "viewer"), 403, "email-unverified")
    ensure_verified(o)
    assert o.pending_of(pid) == [], "the refused invitation was not made"


def test_invitations_are_listed_only_to_a_verified_address(make_user, mail_dir):
    o = person(make_user, "list-owner")
    i = person(make_user, "list-invitee", verified=False)
    pid = o.new_project("listed")["id"]
    inv = o.invited(pid, i.email, "viewer")
    assert i.my_pending() == [], "an unverified address sees no invitation"
    verify(mail_dir, i)
    assert [v["id"] for v in i.my_pending()] == [inv["id"]]


def test_an_owner_who_loses_the_role_takes_their_invitations_along(make_user, mail_dir):
    a = person(make_user, "fallen-a")
    b = person(make_user, "fallen-b")
    alt = person(make_user, "fallen-alt")
    verify(mail_dir, b, alt)
    pid = a.new_project("guarded")["id"]
    join(a, pid, b, "owner")
    # b invites a second address of theirs as owner, then is demoted, then removed.
    inv = b.invited(pid, alt.email, "owner")
    assert a.patch_member(pid, b.id, "viewer").status_code == 200
    assert inv["id"] not in {x["id"] for x in a.pending_of(pid)}
    assert_not_found(alt.accept(pid, inv["id"]), "an invitation of a demoted owner")
    assert a.patch_member(pid, b.id, "owner").status_code == 200
    inv2 = b.invited(pid, alt.email, "owner")
    assert a.remove_member(pid, b.id).status_code == 204
    assert_not_found(alt.accept(pid, inv2["id"]), "an invitation of a removed owner")
    assert roles_of(a.member_list(pid)) == {a.id: "owner"}


def test_patch_member_takes_a_user_id_not_me(make_user):
    o = person(make_user, "patch-me")
    pid = o.new_project("me is for leaving")["id"]
    assert_not_found(o.patch_member(pid, "me", "viewer"), "PATCH .../members/me")
    assert roles_of(o.member_list(pid)) == {o.id: "owner"}
