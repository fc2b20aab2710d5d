"""Redis is a cache and a limiter, never the only keeper of a revocation: with Redis down
a logged-out session stays refused (the middleware asks Postgres), live sessions keep
working (the limiter fails open), and a revocation that cannot be recorded is refused
with 503 rather than half done. After Redis returns, with whatever it kept or lost,
nothing revoked comes back to life."""

import time

import pytest

from helpers import stack_control
from helpers.api import Client, assert_problem

pytestmark = pytest.mark.single_stack_only


def wait_ready(client, timeout=30.0):
    """Until /ready is 200 again: the API has noticed Redis is back (its pool backs off)."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.get("/ready")
        if r.status_code == 200:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"/ready still {r.status_code} {timeout} s after Redis came back: {r.text}")
        time.sleep(0.5)


@pytest.fixture
def redis_outage(api_url):
    """Stops Redis for the test body; always starts it again and waits for the API."""
    c = Client(api_url)
    stack_control.stop("redis")
    try:
        yield
    finally:
        stack_control.start("redis")
        wait_ready(c)


def test_ready_reports_redis_down(api_url, redis_outage):
    r = Client(api_url).get("/ready")
    assert r.status_code == 503, r.text
    assert "redis" in r.text.lower()


def test_revocations_hold_while_redis_is_down_and_after(api_url, make_user):
    u = make_user()
    live_access, live_refresh = u.login()
    c = Client(api_url)
    assert c.logout(u.access, u.refresh).status_code == 204
    assert_problem(c.me(u.access), 401, "unauthorized")

    stack_control.stop("redis")
    try:
        # The logged-out session: still refused, from Postgres's facts.
        assert_problem(c.me(u.access), 401, "unauthorized")
        # The live session: served (the limiter fails open, the middleware asks Postgres).
        r = c.me(live_access)
        assert r.status_code == 200, r.text
        # A logout that cannot reach Redis changes nothing and says so.
        r = c.logout(live_access, live_refresh)
        assert_problem(r, 503, "service-unavailable")
        assert r.headers.get("Retry-After"), r.headers
    finally:
        stack_control.start("redis")
        wait_ready(c)

    assert_problem(c.me(u.access), 401, "unauthorized")
    assert_problem(c.refresh(u.refresh), 401, "unauthorized")
    assert c.me(live_access).status_code == 200
    # The refused logout really changed nothing: the session logs out now.
    assert c.logout(live_access, live_refresh).status_code == 204
    assert_problem(c.me(live_access), 401, "unauthorized")


def test_refresh_reuse_during_an_outage_stays_revoked_after_it(api_url, make_user):
    """A stolen refresh token replayed while Redis is down revokes the session (in
    Postgres); when Redis is back the session's access tokens must stay refused."""
    u = make_user()
    c = Client(api_url)
    r = c.refresh(u.refresh)
    assert r.status_code == 200, r.text
    access = r.json()["access_token"]

    stack_control.stop("redis")
    try:
        assert_problem(c.refresh(u.refresh), 401, "unauthorized")  # reuse: family revoked
        assert_problem(c.me(access), 401, "unauthorized")
    finally:
        stack_control.start("redis")
        wait_ready(c)

    assert_problem(c.me(access), 401, "unauthorized")


def test_password_change_epoch_survives_a_redis_restart(api_url, make_user):
    """The epoch bump lives in Postgres too: a Redis that forgot it cannot revive old tokens."""
    u = make_user()
    c = Client(api_url)
    r = c.change_password(u.access, u.password, u.password + "-2")
    assert r.status_code == 200, r.text
    fresh = r.json()["access_token"]
    stack_control.restart("redis")
    wait_ready(c)
    assert_problem(c.me(u.access), 401, "unauthorized")
    assert c.me(fresh).status_code == 200
