"""POST /api/v1/auth/login: credentials, no account oracle, and the brute-force limits."""

import time
from concurrent.futures import ThreadPoolExecutor

from helpers.api import Client, assert_problem, assert_request_id, assert_token_pair, unique_email
from helpers.rate_limits import rate_headers, ratelimit_fields

AUTH_LIMIT = 20  # TASKBUS_RATELIMIT_AUTH=20/60 in the test stack
AUTH_PERIOD = 60
ACCOUNT_LIMIT = 10  # TASKBUS_RATELIMIT_LOGIN_ACCOUNT default 10/300


def test_login_answers_200_with_a_pair(make_user, client):
    u = make_user()
    r = client.login(u.email, u.password)
    assert r.status_code == 200, r.text
    body = r.json()
    assert_token_pair(body, u.id)
    assert body["user"]["email"] == u.email
    assert body["refresh_token"] != u.refresh
    me = client.me(body["access_token"])
    assert me.status_code == 200 and me.json()["id"] == u.id, me.text


def test_wrong_password_and_unknown_email_look_the_same(make_user, client):
    u = make_user()
    wrong = client.login(u.email, u.password + "x")
    unknown = client.login(unique_email("nobody"), u.password)
    a = assert_problem(wrong, 401, "invalid-credentials")
    b = assert_problem(unknown, 401, "invalid-credentials")
    assert set(a) == set(b), (a, b)
    for key in a:
        if key != "request_id":
            assert a[key] == b[key], (key, a, b)
    assert "WWW-Authenticate" not in wrong.headers or wrong.headers.get("WWW-Authenticate") == unknown.headers.get(
        "WWW-Authenticate"
    )


def test_login_validates_its_body(client):
    r = client.post("/api/v1/auth/login", json={"email": "a@example.com"})
    assert_problem(r, 422, "validation-error")
    r = client.post("/api/v1/auth/login", json={"email": "a@example.com", "password": "0123456789", "x": 1})
    assert_problem(r, 422, "validation-error")


def _assert_rate_headers(r, policy):
    """A sign-in 429: the refusing policy described, its t (and RateLimit-Reset) equal to
    Retry-After, and the sign-in policies listed with the address's."""
    for h in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"):
        assert h in r.headers, f"429 lacks {h}: {dict(r.headers)}"
        assert r.headers[h].strip().isdigit(), (h, r.headers[h])
    assert int(r.headers["Retry-After"]) >= 1
    assert int(r.headers["RateLimit-Remaining"]) == 0
    assert int(r.headers["RateLimit-Reset"]) == int(r.headers["Retry-After"]), dict(r.headers)
    rate_headers(r)
    policies, (name, remaining, t) = ratelimit_fields(r)
    assert (name, remaining, t) == (policy, 0, int(r.headers["Retry-After"])), dict(r.headers)
    assert {"ip", "auth"} <= set(policies), r.headers["RateLimit-Policy"]
    assert policies["auth"] == {"q": AUTH_LIMIT, "w": AUTH_PERIOD}, r.headers["RateLimit-Policy"]


def test_brute_force_on_one_account_is_limited(make_user, new_client):
    """Over 10 wrong logins for one account in 5 minutes: 429, from any address, even with
    the right password, so a guesser cannot learn which guess was right."""
    u = make_user()
    statuses = []
    for _ in range(ACCOUNT_LIMIT):
        # A new address for each guess: the per-account bucket must hold on its own.
        r = new_client().login(u.email, "wrong-password-123")
        statuses.append(r.status_code)
    assert statuses == [401] * ACCOUNT_LIMIT, statuses
    r = new_client().login(u.email, "wrong-password-123")
    body = assert_problem(r, 429, "rate-limited")
    _assert_rate_headers(r, "login_account")
    assert ratelimit_fields(r)[0]["login_account"] == {"q": ACCOUNT_LIMIT, "w": 300}
    assert body["request_id"] == assert_request_id(r)

    right = new_client().login(u.email, u.password)
    assert_problem(right, 429, "rate-limited")
    _assert_rate_headers(right, "login_account")

    # Another account is not affected.
    other = make_user()
    assert new_client().login(other.email, other.password).status_code == 200


def test_limited_responses_carry_ratelimit_headers(make_user, client):
    u = make_user()
    r = client.login(u.email, u.password)
    assert r.status_code == 200
    for h in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy", "RateLimit"):
        assert h in r.headers, f"login lacks {h}: {dict(r.headers)}"
    assert int(r.headers["RateLimit-Remaining"]) < int(r.headers["RateLimit-Limit"])
    rate_headers(r)
    # A login pays into the address's buckets and both sign-in buckets; all are listed.
    assert set(ratelimit_fields(r)[0]) == {"ip", "auth", "login_account"}, r.headers["RateLimit-Policy"]


def test_per_ip_auth_limit(client):
    """21 register/login attempts from one address within a minute: the 21st is 429."""
    def attempt(i):
        if i % 2:
            return Client(client.base, client.ip).login(unique_email("ip-limit"), "wrong-password-123")
        return Client(client.base, client.ip).register(unique_email("ip-limit"), "correct horse battery")

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=AUTH_LIMIT + 1) as pool:
        responses = list(pool.map(attempt, range(AUTH_LIMIT + 1)))
    elapsed = time.monotonic() - started
    limited = [r for r in responses if r.status_code == 429]
    passed = [r for r in responses if r.status_code != 429]
    assert limited, f"no 429 among {[r.status_code for r in responses]}"
    # GCRA refills one attempt every period/limit seconds; allow for that, and no more.
    assert len(passed) <= AUTH_LIMIT + int(elapsed / (AUTH_PERIOD / AUTH_LIMIT)), [r.status_code for r in responses]
    assert len(passed) >= AUTH_LIMIT, f"limit stricter than {AUTH_LIMIT}: {[r.status_code for r in responses]}"
    for r in limited:
        assert_problem(r, 429, "rate-limited")
        _assert_rate_headers(r, "auth")
    # Another address still gets through.
    other = Client(client.base)
    assert other.login(unique_email("ip-limit"), "wrong-password-123").status_code == 401
