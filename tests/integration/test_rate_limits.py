"""Rate limits (docs/decisions.md, "Rate limits"): local GCRA buckets per API instance,
reconciled with the shared Redis buckets off the request path.

- One instance alone is exact: a fresh address gets exactly its burst, then 429 with the
  documented headers; an address with nothing left is refused before any work.
- The headers (draft-ietf-httpapi-ratelimit-headers): RateLimit-Policy and RateLimit parse
  as RFC 9651 Lists; a sequence of requests sees r fall by one a request (plus what the
  bucket gives back); a 429 carries Retry-After == t == RateLimit-Reset, and waiting t
  seconds is enough (never sleeping longer than the answer says).
- The per-user bucket is one bucket across addresses; RateLimit-Policy lists every policy
  a request paid into and RateLimit describes the one closest to its limit.
- Spent on one instance, refused on the other: after the spending instance's rounds and the
  other's first round after it used the bucket (waited for through /metrics, not slept).
- Redis frozen or stopped: the instance keeps limiting on its own (nothing fails open), and
  what it admitted meanwhile reaches Redis once Redis is back.
(The two-instance bound under load is test_two_instances.py's.)
"""

import math
import os
import signal
import time

import pytest
import redis

from helpers import stack_control
from helpers.api import Client, assert_problem
from helpers.rate_limits import (ip_limit, rate_headers, ratelimit_fields, refill, user_limit,
                                 wait_sync_rounds, window_s)


def spend(client, path="/health", cap=None):
    """Sends GET path until the first 429. Returns (admitted, elapsed s, first answer, the
    429)."""
    limit, _ = ip_limit()
    cap = cap or 2 * limit + 50
    admitted, first, t0 = 0, None, time.monotonic()
    while True:
        r = client.get(path)
        first = first or r
        if r.status_code == 429:
            return admitted, time.monotonic() - t0, first, r
        assert r.status_code == 200, f"{path}: {r.status_code} {r.text[:300]}"
        admitted += 1
        assert admitted <= cap, f"{admitted} requests admitted from one address, limit {limit}: no limit"


def assert_refused(r, limit, policy="ip"):
    """A 429 of the limiter: the refusing policy described with r = 0, and its t, Retry-After
    and RateLimit-Reset one number of whole seconds."""
    assert_problem(r, 429, "rate-limited")
    lim, remaining, reset = rate_headers(r)
    assert lim == limit and remaining == 0 and reset >= 1, (lim, remaining, reset)
    assert r.headers["Retry-After"].strip().isdigit(), r.headers
    _, (name, r_, t) = ratelimit_fields(r)
    assert (name, r_) == (policy, 0), r.headers["RateLimit"]
    assert int(r.headers["Retry-After"]) == t == reset, dict(r.headers)


def metric(url, name, labels):
    text = Client(url).get("/metrics").text
    for line in text.splitlines():
        if line.startswith(name + "{") and labels in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_one_instance_is_exact_with_the_documented_headers(api_url):
    limit, period = ip_limit()
    c = Client(api_url)
    before = metric(api_url, "taskbus_ratelimit_limited_total", 'bucket="ip"')
    admitted, elapsed, first, refused = spend(c)
    t_refused = time.monotonic()
    lim, remaining, reset = rate_headers(first)
    assert (lim, remaining) == (limit, limit - 1) and reset >= 1, (lim, remaining, reset)
    # Exactly the burst, plus what the bucket gave back while we spent it.
    assert limit <= admitted <= limit + refill(limit, period, elapsed) + 1, (admitted, elapsed)
    assert_refused(refused, limit)
    assert metric(api_url, "taskbus_ratelimit_limited_total", 'bucket="ip"') >= before + 1

    # Nothing left: refused before any work, whatever the request (an unknown path, a bad
    # token); only what the bucket gives back since the refusal gets through. Nine requests
    # really sent (a list repeated with * would count one admission three times).
    answers = [send() for _ in range(3) for send in (
        lambda: c.get("/no/such/path"),
        lambda: c.get("/api/v1/users/me", token="not-a-token"),
        lambda: c.get("/api/v1/tasks/00000000-0000-7000-8000-000000000000", token="x"))]
    through = [r.status_code for r in answers if r.status_code != 429]
    assert len(through) <= refill(limit, period, time.monotonic() - t_refused) + 1, through
    for r in answers:
        if r.status_code == 429:
            assert_refused(r, limit)
        else:
            rate_headers(r)  # a 404 or 401 that paid carries the headers too


def test_user_bucket_spans_addresses_and_the_tightest_bucket_speaks(api_url, make_user, new_client):
    u = make_user()
    ulimit, uperiod = user_limit()
    climit, _ = ip_limit()
    spent = 30
    t0 = time.monotonic()
    first = new_client()
    for _ in range(spent):
        assert first.me(u.access).status_code == 200
    # Another address, same user: its own IP bucket is fresh, the user's is not.
    r = new_client().me(u.access)
    elapsed = time.monotonic() - t0
    assert r.status_code == 200, r.text
    lim, remaining, _ = rate_headers(r)
    assert lim == ulimit, (lim, ulimit)
    assert remaining <= ulimit - spent - 1 + refill(ulimit, uperiod, elapsed), (remaining, elapsed)
    assert remaining < climit - 1, "the headers describe the fresh address, not the tighter user bucket"
    # Both policies listed; the one closest to its limit (the user's) described.
    policies, (name, _, _) = ratelimit_fields(r)
    assert policies == {"ip": {"q": climit, "w": ip_limit()[1]}, "user": {"q": ulimit, "w": uperiod}}, \
        r.headers["RateLimit-Policy"]
    assert name == "user", r.headers["RateLimit"]


def test_remaining_falls_request_by_request_and_t_is_enough(api_url):
    """RateLimit's r falls by one a request from a fresh address, less what the bucket gave
    back in between; the 429 at the end says Retry-After == t, and once t seconds have
    passed a request gets through: t is never shorter than needed. (The reconcile round may
    take one request more at a unit's boundary: the shared bucket's state comes back through
    Redis's clock, translated at each round within a round trip.)"""
    limit, period = ip_limit()
    c = Client(api_url)
    prev, prev_at, seen = None, None, []
    t0 = time.monotonic()
    while True:
        at = time.monotonic()
        r = c.get("/health")
        if r.status_code == 429:
            break
        assert r.status_code == 200, r.text
        policies, (name, remaining, t) = ratelimit_fields(r)
        assert policies == {"ip": {"q": limit, "w": period}}, r.headers["RateLimit-Policy"]
        assert name == "ip" and t >= 1, r.headers["RateLimit"]
        if prev is None:
            assert remaining == limit - 1, remaining
        else:
            back = refill(limit, period, time.monotonic() - prev_at)
            assert prev - 2 <= remaining <= prev - 1 + back, (prev, remaining, back)
        seen.append(remaining)
        prev, prev_at = remaining, at
        assert len(seen) <= 2 * limit + 50, "no limit"
    # Over the whole run: one request each, less the refill (and that one boundary).
    assert limit - len(seen) - 1 <= seen[-1] <= limit - len(seen) + refill(limit, period, time.monotonic() - t0)
    assert seen[-1] <= 1, seen[-5:]
    assert_refused(r, limit)
    t = int(r.headers["Retry-After"])
    # An empty bucket: one interval (plus what a reconcile round's clock translation may add).
    assert t <= math.ceil(period / limit + window_s()), (t, period, limit)
    # The server's own promise, not a guess: a request is admitted again about t seconds
    # after the 429, never much earlier (t is not too long) and within t plus a reconcile
    # round's slack (t is enough). Polled: a refused request costs the bucket nothing.
    refused_at = time.monotonic()
    deadline = refused_at + t + window_s() + 1
    while True:
        ok = c.get("/health")
        if ok.status_code == 200 or time.monotonic() > deadline:
            break
        assert ok.status_code == 429, (ok.status_code, ok.text)
        time.sleep(0.05)
    waited = time.monotonic() - refused_at
    assert ok.status_code == 200, (waited, t, dict(ok.headers))
    assert waited >= t - 1.5, (waited, t)  # t is rounded up; the 429 took a moment to arrive


def test_spent_on_one_instance_is_refused_on_the_other(api_url, api2_url):
    limit, period = ip_limit()
    a = Client(api_url)
    b = a.twin(api2_url)
    _, _, _, refused = spend(a)
    t_spent = time.monotonic()
    assert_refused(refused, limit)
    wait_sync_rounds(api_url, 2)  # A's admissions are in Redis
    # B never saw this address: its view is a full bucket, so it admits this one request
    # (documented: an instance learns a bucket in the round after it uses it) ...
    blind = b.get("/health")
    assert blind.status_code == 200, blind.text
    assert rate_headers(blind)[1] == limit - 1
    # Both instances describe the same policy the same way.
    assert ratelimit_fields(blind)[0] == ratelimit_fields(refused)[0] == {"ip": {"q": limit, "w": period}}
    wait_sync_rounds(api2_url, 2)
    # ... and after its round it refuses like A: nothing left but what the bucket gave back
    # since it was spent (the exact limiter would allow as much).
    r = b.get("/health")
    allowance = refill(limit, period, time.monotonic() - t_spent) + 1
    if r.status_code == 429:
        assert_refused(r, limit)
    else:
        assert r.status_code == 200, r.text
        assert rate_headers(r)[1] <= allowance, (rate_headers(r), allowance)
    # Spending what is left on B takes no more than that allowance.
    admitted, _, _, refused_b = spend(b)
    assert admitted <= refill(limit, period, time.monotonic() - t_spent) + 1, admitted
    assert_refused(refused_b, limit)


def redis_client():
    return redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=10)


def shared_debt_s(key):
    """The shared bucket's TAT minus Redis's now, in seconds; None when there is no key."""
    r = redis_client()
    stored = r.get(key)
    if stored is None:
        return None
    sec, usec = r.time()
    return (int(stored) - (sec * 1_000_000 + usec)) / 1e6


def wait_ready(url, timeout=60.0):
    c = Client(url)
    deadline = time.monotonic() + timeout
    while c.get("/ready").status_code != 200:
        assert time.monotonic() < deadline, f"{url}/ready not 200 {timeout} s after Redis came back"
        time.sleep(0.2)


@pytest.mark.single_stack_only
@pytest.mark.parametrize("outage", ["frozen", "stopped"])
def test_limits_hold_while_redis_is_unreachable(api_url, api2_url, outage):
    limit, period = ip_limit()
    c = Client(api_url)
    key = f"rl:{{ip:{c.ip}}}:all"
    pid = stack_control.status()["redis"][1]
    assert pid, stack_control.status()
    if outage == "frozen":
        os.kill(pid, signal.SIGSTOP)
    else:
        stack_control.stop("redis")
    try:
        admitted, elapsed, _, refused = spend(c)
    finally:
        if outage == "frozen":
            os.kill(pid, signal.SIGCONT)
        else:
            stack_control.start("redis")
    # The instance limited on its own: the burst, the refill, nothing more (failing open
    # would have let 2 * limit + 50 through and failed in spend()).
    assert limit <= admitted <= limit + refill(limit, period, elapsed) + 1, (admitted, elapsed)
    assert_refused(refused, limit)
    # What it admitted meanwhile was kept and reaches the shared bucket once Redis answers.
    deadline = time.monotonic() + 60
    while (debt := shared_debt_s(key)) is None or debt <= 0:
        assert time.monotonic() < deadline, f"{key} not in Redis 60 s after the outage (last {debt})"
        time.sleep(0.05)
    assert debt <= period + 1, debt
    wait_ready(api_url)
    wait_ready(api2_url)
