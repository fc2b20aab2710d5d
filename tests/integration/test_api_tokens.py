"""Personal API tokens with scopes (issue 15, slice 5: `POST|GET /api/v1/tokens`,
`DELETE /api/v1/tokens/{id}`; docs/decisions.md, "Issue 15", "Personal API tokens").

Against the real stack: a read-only token reads and is refused a write, naming the scope;
every documented operation is checked against its documented scope (a token with every
other scope gets 403 insufficient-scope naming it, a token with just that scope gets
past the check; an operation that takes a session only refuses every token), so the
OpenAPI document, the route table and the server agree; a revoked token is refused at
once on both API instances, an expired one once its time has passed; a password change
and signing out everywhere end every token; the token is shown once and listed without
it; bad bodies are 422 and the 51st live token 409.

Rules: every test registers its own users; waits are bounded conditions; the one wait for
a time to pass waits for an instant the server's clock shares (same machine).
"""

import datetime
import json
import os
import re
import time
import uuid

import pytest

from helpers.api import API, Client, assert_problem

TOKENS = f"{API}/tokens"
SCOPES = ["tasks:read", "tasks:write", "webhooks:manage", "reports", "insights:read", "projects:read",
          "projects:write"]
TOKEN_RE = re.compile(r"^tb_[A-Za-z0-9_-]{64}$")
HTTP_METHODS = {"get", "put", "post", "delete", "patch"}


def make_token(user, scopes, name="script", expires_at=None, client=None):
    body = {"name": name, "scopes": scopes}
    if expires_at is not None:
        body["expires_at"] = expires_at
    r = (client or Client(user.client.base)).post(TOKENS, token=user.access, json=body)
    assert r.status_code == 201, r.text
    doc = r.json()
    assert TOKEN_RE.match(doc["token"]), doc
    assert r.headers["Location"] == f"/api/v1/tokens/{doc['id']}"
    return doc


def assert_scope_refused(r, scope=None):
    body = assert_problem(r, 403, "insufficient-scope")
    challenge = r.headers.get("WWW-Authenticate", "")
    assert 'error="insufficient_scope"' in challenge, challenge
    if scope is not None:
        assert body["required_scope"] == scope, body
        assert f'scope="{scope}"' in challenge, challenge
    return body


def test_a_read_only_token_reads_and_a_write_is_refused(make_user):
    user = make_user(tag="tokens-ro")
    c = Client(user.client.base)
    doc = make_token(user, ["tasks:read"], name="  nightly export ")
    assert doc["name"] == "nightly export" and doc["scopes"] == ["tasks:read"]
    assert doc["prefix"] == doc["token"][:12] and doc["last_used_at"] is None
    assert doc["expires_at"] is None
    tok = doc["token"]

    assert c.get(f"{API}/tasks", token=tok).status_code == 200
    assert c.get(f"{API}/users/me", token=tok).json()["id"] == user.id  # any token reads who it is
    assert_scope_refused(c.post(f"{API}/tasks", token=tok, json={"title": "nope"}), "tasks:write")
    # Tokens cannot manage tokens, sessions, passwords or the account.
    for method, path, body in (("GET", TOKENS, None), ("POST", TOKENS, {"name": "x", "scopes": ["reports"]}),
                               ("POST", f"{API}/auth/logout-all", {}),
                               ("DELETE", f"{API}/users/me", {"current_password": user.password})):
        assert_scope_refused(c.request(method, path, token=tok, json=body))
    assert c.me(user.access).status_code == 200, "the account is untouched"

    listed = c.get(TOKENS, token=user.access).json()["items"]
    assert [t["id"] for t in listed] == [doc["id"]]
    assert "token" not in listed[0], "the token is shown once, never listed"
    assert listed[0]["last_used_at"] is not None, "its use is recorded"
    assert set(listed[0]) == {"id", "name", "scopes", "prefix", "created_at", "expires_at", "last_used_at"}

    # Garbage in the token's shape, or the token with a character changed (its owner's id
    # at the end), is a plain 401.
    assert_problem(c.get(f"{API}/tasks", token="tb_" + "A" * 64), 401, "unauthorized")
    assert_problem(c.get(f"{API}/tasks", token=tok[:-1] + ("A" if tok[-1] != "A" else "B")), 401,
                   "unauthorized")
    other = make_token(user, ["tasks:read"], name="second")
    assert other["prefix"] != doc["prefix"], "a list tells tokens apart by their first characters"


def documented_operations(openapi):
    """(method, path, kind, scope) of every operation that takes a credential: kind is
    'scope' (an API token needs scope), 'any' (any token), 'session' (no token) or
    'admin' (an admin's session only: anyone else, every token included, gets a 404)."""
    ops = []
    for path, item in openapi["paths"].items():
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            security = op.get("security", openapi.get("security"))
            if not security:
                continue
            token = [req["apiToken"] for req in security if "apiToken" in req]
            if path.startswith("/api/v1/admin/"):
                assert not token, f"{method} {path}: an admin route takes no API token"
                ops.append((method, path, "admin", None))
            elif not token:
                ops.append((method, path, "session", None))
            elif not token[0]:
                ops.append((method, path, "any", None))
            else:
                assert len(token[0]) == 1, (method, path, token)
                ops.append((method, path, "scope", token[0][0]))
    return ops


def concrete(path):
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


def call(c, method, path, tok):
    kw = {"token": tok, "timeout": 10}
    if method != "get":
        kw["json"] = {}  # a route that takes no body ignores it; one that does gets past 415
    if path == "/api/v1/events":
        kw["stream"] = True
        kw["headers"] = {"Accept": "text/event-stream"}
    r = c.request(method.upper(), concrete(path), **kw)
    if r.status_code != 200 or not kw.get("stream"):
        _ = r.content  # an answer that is no stream is read whole before the close
    r.close()
    return r


def is_scope_refusal(r):
    if r.status_code != 403:
        return False
    try:
        return r.json().get("type") == "/problems/insufficient-scope"
    except ValueError:
        return False


def test_every_operation_enforces_its_documented_scope(make_user, repo):
    with open(os.path.join(repo, "schemas", "openapi.json")) as f:
        openapi = json.load(f)
    ops = documented_operations(openapi)
    kinds = {k for _, _, k, _ in ops}
    assert kinds == {"scope", "any", "session", "admin"}, kinds
    assert {s for *_, s in ops if s} == set(SCOPES), "every scope guards some operation"
    user = make_user(tag="tokens-table")
    c = Client(user.client.base)
    everything = make_token(user, SCOPES, name="all")["token"]
    only = {s: make_token(user, [s], name=f"only {s}")["token"] for s in SCOPES}
    all_but = {s: make_token(user, [x for x in SCOPES if x != s], name=f"all but {s}")["token"] for s in SCOPES}
    for method, path, kind, scope in ops:
        what = f"{method.upper()} {path}"
        if kind == "session":
            assert is_scope_refusal(call(c, method, path, everything)), f"{what} must refuse every API token"
        elif kind == "admin":
            r = call(c, method, path, everything)
            assert r.status_code == 404 and r.json()["detail"] == "no resource at this path", \
                f"{what} must answer a token as a missing path: {r.status_code} {r.text[:200]}"
        elif kind == "any":
            r = call(c, method, path, only["reports"])
            assert r.status_code not in (401, 403), f"{what} takes any token: {r.status_code}"
        else:
            refused = call(c, method, path, all_but[scope])
            assert is_scope_refusal(refused), f"{what} without {scope}: {refused.status_code} {refused.text[:200]}"
            assert refused.json()["required_scope"] == scope, what
            passed = call(c, method, path, only[scope])
            assert passed.status_code != 401 and not is_scope_refusal(passed), \
                f"{what} with {scope}: {passed.status_code} {passed.text[:200]}"


def test_a_revoked_token_is_refused_at_once_on_both_instances(make_user, api2_url):
    user = make_user(tag="tokens-revoke")
    one, two = Client(user.client.base), Client(api2_url)
    tok = make_token(user, ["tasks:read"])
    for c in (one, two):  # each instance keeps the verdict now
        for _ in range(3):
            assert c.get(f"{API}/tasks", token=tok["token"]).status_code == 200
    r = one.delete(f"{TOKENS}/{tok['id']}", token=user.access)
    assert r.status_code == 204, r.text
    for c in (two, one):
        assert_problem(c.get(f"{API}/tasks", token=tok["token"]), 401, "unauthorized")
    # Revoking again tells the instances again (a 503'd revocation is retried this way).
    assert one.delete(f"{TOKENS}/{tok['id']}", token=user.access).status_code == 204
    assert_problem(one.delete(f"{TOKENS}/{uuid.uuid4()}", token=user.access), 404)
    assert one.get(TOKENS, token=user.access).json()["items"] == []
    other = make_user(tag="tokens-revoke-other")
    mine = make_token(user, ["reports"])
    assert_problem(one.delete(f"{TOKENS}/{mine['id']}", token=other.access), 404)  # only the owner revokes
    assert one.get(f"{API}/reports", token=mine["token"]).status_code == 200


def test_an_expired_token_is_refused_on_both_instances(make_user, api2_url):
    user = make_user(tag="tokens-expire")
    one, two = Client(user.client.base), Client(api2_url)
    at = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(seconds=5)
    tok = make_token(user, ["tasks:read"], expires_at=at.isoformat().replace("+00:00", "Z"))
    assert tok["expires_at"] == at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    for c in (one, two):
        assert c.get(f"{API}/tasks", token=tok["token"]).status_code == 200
    time.sleep(max(0.0, at.timestamp() - time.time()) + 0.05)  # the instant itself, not a guess
    for c in (one, two):
        assert_problem(c.get(f"{API}/tasks", token=tok["token"]), 401, "unauthorized")
    assert one.get(TOKENS, token=user.access).json()["items"] == [], "an expired token is not listed"


def test_a_password_change_and_signing_out_everywhere_end_every_token(make_user):
    user = make_user(tag="tokens-epoch")
    c = Client(user.client.base)
    tok = make_token(user, ["tasks:read"])["token"]
    assert c.get(f"{API}/tasks", token=tok).status_code == 200
    r = c.change_password(user.access, user.password, "a-new-password-123")
    assert r.status_code == 200, r.text
    access = r.json()["access_token"]
    assert_problem(c.get(f"{API}/tasks", token=tok), 401)
    assert c.get(TOKENS, token=access).json()["items"] == []
    r = c.post(TOKENS, token=access, json={"name": "again", "scopes": ["tasks:read"]})
    assert r.status_code == 201, r.text
    tok2 = r.json()["token"]
    assert c.get(f"{API}/tasks", token=tok2).status_code == 200
    assert c.logout_all(access).status_code == 204
    assert_problem(c.get(f"{API}/tasks", token=tok2), 401)


def test_a_token_in_use_during_a_password_change_is_refused_once_it_answered(make_user, api2_url):
    """Requests with the token keep coming on the second instance while the password
    changes on the first: whatever they saw meanwhile, the first request after the 200 is
    refused on both (a refill that read Postgres before the change committed must not
    keep the token alive)."""
    import threading

    user = make_user(tag="tokens-race")
    one, two = Client(user.client.base), Client(api2_url)
    tok = make_token(user, ["tasks:read"])["token"]
    stop = threading.Event()
    seen = []

    def hammer():
        c = Client(api2_url)
        while not stop.is_set():
            seen.append(c.get(f"{API}/tasks", token=tok).status_code)

    t = threading.Thread(target=hammer)
    t.start()
    try:
        r = one.change_password(user.access, user.password, "a-new-password-456")
        assert r.status_code == 200, r.text
        for c in (two, one):
            assert_problem(c.get(f"{API}/tasks", token=tok), 401)
    finally:
        stop.set()
        t.join(30)
    assert seen and set(seen) <= {200, 401}, seen


def test_an_epoch_published_before_its_commit_already_refuses_a_token(make_user):
    """The guard itself, deterministically: a change that ends tokens publishes the user's
    new epoch in Redis before it commits; a token checked in between (Postgres still has
    the old epoch) is refused. Here the published epoch is written by hand, without a
    commit: the token is refused while it stands and accepted once it is gone."""
    from helpers.tasks import pg, redis_conn

    user = make_user(tag="tokens-guard")
    c = Client(user.client.base)
    tok = make_token(user, ["tasks:read"])["token"]  # never used: no verdict kept anywhere
    with pg() as conn:
        epoch = conn.execute("SELECT token_epoch FROM users WHERE id = %s", (user.id,)).fetchone()[0]
    key = f"{{u:{user.id}}}:epoch"
    r = redis_conn()
    r.set(key, epoch + 1, ex=60)
    try:
        assert_problem(c.get(f"{API}/tasks", token=tok), 401)
    finally:
        r.delete(key)
    assert c.get(f"{API}/tasks", token=tok).status_code == 200


@pytest.mark.parametrize("body", [
    {}, {"name": "x"}, {"scopes": ["tasks:read"]}, {"name": "", "scopes": ["tasks:read"]},
    {"name": "x", "scopes": []}, {"name": "x", "scopes": ["admin"]}, {"name": "x", "scopes": "tasks:read"},
    {"name": "x", "scopes": ["reports", "reports"]}, {"name": "x", "scopes": ["reports"], "expires_at": "2001-01-01T00:00:00Z"},
    {"name": "x", "scopes": ["reports"], "expires_at": "tomorrow"}, {"name": "x", "scopes": ["reports"], "owner": "me"},
    {"name": "n" * 101, "scopes": ["reports"]},
])
def test_a_bad_body_is_422(make_user, body):
    user = make_user(tag="tokens-bad")
    assert_problem(Client(user.client.base).post(TOKENS, token=user.access, json=body), 422)


def test_at_most_50_live_tokens(make_user):
    user = make_user(tag="tokens-limit")
    c = Client(user.client.base)
    ids = [make_token(user, ["reports"], name=f"t{i}", client=c)["id"] for i in range(50)]
    assert_problem(c.post(TOKENS, token=user.access, json={"name": "51", "scopes": ["reports"]}), 409, "token-limit")
    assert c.delete(f"{TOKENS}/{ids[0]}", token=user.access).status_code == 204
    make_token(user, ["reports"], name="room again", client=c)
