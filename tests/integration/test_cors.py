"""CORS for browser clients (issue 16; docs/decisions.md, "CORS for browser clients"),
against the running API, whose TASKBUS_CORS_ORIGINS tests/run sets.

A listed origin reads every kind of answer (a success, 401, 404, 422, 429) with its CORS
headers; an unlisted one gets none, and the answer is otherwise the same; a listed origin's
preflight of every documented operation is answered 204 with that operation's method
and the request headers a page sends, before rate limits and credentials; an unlisted
origin's preflight gets no CORS header; an unknown path is still 404.

Rules: every request comes from its own client address (the per-IP buckets are the
test's); the origins come from the stack's environment, never from a guess.
"""

import json
import os
import re
import uuid

import pytest

from helpers.api import API, Client, assert_problem, register_user

EXPOSED = {"etag", "location", "content-location", "retry-after", "x-request-id", "preference-applied",
           "ratelimit", "ratelimit-policy", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"}
REQUEST_HEADERS = {"authorization", "content-type", "if-match", "if-none-match", "idempotency-key", "prefer",
                   "last-event-id"}
UNLISTED = "https://evil.taskbus.test"


@pytest.fixture(scope="module")
def origins():
    listed = [o.strip() for o in os.environ.get("TASKBUS_CORS_ORIGINS", "").split(",") if o.strip()]
    assert len(listed) >= 2, "tests/run sets TASKBUS_CORS_ORIGINS to two origins"
    return listed


def tokens(value):
    return {t.strip().lower() for t in (value or "").split(",") if t.strip()}


def assert_cors(r, origin):
    """The headers a listed origin's page needs to read r."""
    assert r.headers.get("Access-Control-Allow-Origin") == origin, r.headers
    assert r.headers.get("Access-Control-Allow-Credentials") == "true", r.headers
    assert EXPOSED <= tokens(r.headers.get("Access-Control-Expose-Headers")), r.headers
    assert "origin" in tokens(r.headers.get("Vary")), r.headers


def assert_no_cors(r):
    found = [h for h in r.headers if h.lower().startswith("access-control-")]
    assert not found, f"CORS headers for an origin not listed: {found}"
    assert "origin" in tokens(r.headers.get("Vary")), "the answer varies by Origin all the same"


def test_a_listed_origin_reads_every_kind_of_answer(api_url, origins):
    user = register_user(api_url, tag="cors-listed")
    for origin in origins:
        h = {"Origin": origin}
        c = Client(api_url)
        ok = c.get(f"{API}/tasks", token=user.access, headers=h)
        assert ok.status_code == 200, ok.text
        assert_cors(ok, origin)
        for r, status in ((c.get(f"{API}/tasks", headers=h), 401),
                          (c.get(f"{API}/no-such-thing", headers=h), 404),
                          (c.post(f"{API}/auth/login", json={"email": 7}, headers=h), 422)):
            assert_problem(r, status)
            assert_cors(r, origin)
    # The Origin header's case does not matter (scheme and host are case-insensitive); the
    # answer names the origin as listed.
    r = Client(api_url).get("/health", headers={"Origin": origins[0].upper()})
    assert r.headers.get("Access-Control-Allow-Origin") == origins[0], r.headers


def test_a_rate_limited_answer_is_readable_by_a_listed_origin(api_url, origins):
    c = Client(api_url)
    h = {"Origin": origins[0]}
    for _ in range(40):  # the test stack's sign-in bucket is 20 a minute per address
        r = c.post(f"{API}/auth/login", json={"email": "nobody@example.com", "password": "x" * 10}, headers=h)
        if r.status_code == 429:
            break
    assert_problem(r, 429, "rate-limited")
    assert_cors(r, origins[0])
    assert int(r.headers["Retry-After"]) > 0


def test_an_unlisted_origin_gets_no_cors_headers(api_url, origins):
    user = register_user(api_url, tag="cors-unlisted")
    c = Client(api_url)
    scheme, _, rest = origins[0].partition("://")
    host, _, port = rest.partition(":")
    assert port, "the first listed origin names a port"
    others = (UNLISTED, "null", f"{scheme}://{host}:{int(port) + 1}", f"{scheme}://{host}",
              f"{'https' if scheme == 'http' else 'http'}://{rest}", f"{scheme}://{host}.evil.test:{port}",
              f"{scheme}://evil.{host}:{port}")
    for origin in others:
        r = c.get(f"{API}/users/me", token=user.access, headers={"Origin": origin})
        assert r.status_code == 200 and r.json()["id"] == user.id, r.text
        assert_no_cors(r)
    r = c.get(f"{API}/users/me", token=user.access)
    assert r.status_code == 200
    assert not [h for h in r.headers if h.lower().startswith("access-control-")]


def documented(openapi):
    """(method, concrete path) of every documented operation."""
    for path, item in openapi["paths"].items():
        for method in item:
            if method in ("get", "put", "post", "delete", "patch"):
                yield method.upper(), re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


def preflight(api_url, origin, method, path, ip=None):
    return Client(api_url, ip).request("OPTIONS", path, headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type, if-match, idempotency-key, prefer"})


def test_a_listed_origins_preflight_of_every_operation_is_answered(api_url, origins, repo):
    with open(os.path.join(repo, "schemas", "openapi.json"), encoding="utf-8") as f:
        ops = list(documented(json.load(f)))
    assert len(ops) > 60, ops
    c = Client(api_url)  # one address for all: preflights are charged to no bucket
    for method, path in ops:
        r = c.request("OPTIONS", path, headers={"Origin": origins[1], "Access-Control-Request-Method": method})
        assert r.status_code == 204, f"{method} {path}: {r.status_code} {r.text[:200]}"
        assert method.lower() in tokens(r.headers.get("Access-Control-Allow-Methods")), (method, path, r.headers)
        assert REQUEST_HEADERS <= tokens(r.headers.get("Access-Control-Allow-Headers")), r.headers
        assert r.headers.get("Access-Control-Allow-Origin") == origins[1]
        assert r.headers.get("Access-Control-Allow-Credentials") == "true"
        assert int(r.headers.get("Access-Control-Max-Age", "0")) > 0
        assert "RateLimit-Remaining" not in r.headers, f"{method} {path}: a preflight was charged"
        assert r.content == b""


def test_other_preflights_are_the_routers(api_url, origins):
    r = preflight(api_url, UNLISTED, "DELETE", f"{API}/tasks/{uuid.uuid4()}")
    assert r.status_code == 204 and "DELETE" in r.headers.get("Allow", ""), r.headers
    assert_no_cors(r)
    r = preflight(api_url, origins[0], "GET", f"{API}/no-such-thing")
    assert_problem(r, 404, "not-found")
    assert r.headers.get("Access-Control-Allow-Origin") == origins[0]
    assert "Access-Control-Allow-Methods" not in r.headers
    # An OPTIONS without a preflight's headers is the router's too, for a listed origin.
    r = Client(api_url).request("OPTIONS", f"{API}/tasks", headers={"Origin": origins[0]})
    assert r.status_code == 204 and "POST" in r.headers.get("Allow", ""), r.headers
    assert "Access-Control-Allow-Methods" not in r.headers
    assert r.headers.get("Access-Control-Allow-Origin") == origins[0]
