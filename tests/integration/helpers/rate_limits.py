"""The rate limits' documented bound (docs/decisions.md, "Rate limits"), as tests check it.

Owns: the configured limits (TASKBUS_RATELIMIT_*, as tests/run exports them), the reconcile
window W = R + 2 D (R = TASKBUS_RATELIMIT_SYNC_MS, D a round's longest duration: at worst
the Redis timeout TASKBUS_REDIS_TIMEOUT_MS, or as measured by the instances' own
taskbus_ratelimit_sync_seconds histograms over the test), the bound's arithmetic, waiting
for an API instance's reconcile rounds through its /metrics
(taskbus_ratelimit_sync_rounds_total), and reading an answer's rate-limit headers: the
RFC 9651 fields RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers), checked
against the older RateLimit-Limit/-Remaining/-Reset they repeat.
Rules: every allowance is computed from what the test measured (elapsed time, the times it
sent requests), so a slow or fast machine cannot make a check pass or fail by luck; waits
poll a condition under a deadline.
"""

import math
import os
import re
import time

from helpers.api import Client
from helpers.structured_fields import String, parse_list

ROUNDS_RE = re.compile(r"^taskbus_ratelimit_sync_rounds_total(\{[^}]*\})? ([0-9.e+]+)", re.M)
HIST_RE = re.compile(r'^taskbus_ratelimit_sync_seconds_bucket\{result="ok",le="([^"]+)"\} ([0-9.e+]+)', re.M)


def parse_rate(name, default):
    """(count, period in s) of a TASKBUS_RATELIMIT_* value such as "600/60" or "10/5m"."""
    text = os.environ.get(name) or default
    count, _, period = text.partition("/")
    period = period.strip()
    mult = {"s": 1, "m": 60, "h": 3600}.get(period[-1:], None)
    seconds = int(period[:-1]) * mult if mult else int(period)
    return int(count), seconds


def ip_limit():
    return parse_rate("TASKBUS_RATELIMIT_IP", "1200/60")


def user_limit():
    return parse_rate("TASKBUS_RATELIMIT_USER", "600/60")


def sync_interval_s():
    return int(os.environ.get("TASKBUS_RATELIMIT_SYNC_MS") or 50) / 1000.0


def window_s():
    """W = R + 2 D with D at its worst (the Redis timeout): an admission is in the shared
    bucket, and the admitting instance has the shared state back, within W."""
    return sync_interval_s() + 2 * int(os.environ.get("TASKBUS_REDIS_TIMEOUT_MS") or 250) / 1000.0


def round_histogram(url):
    """{le: cumulative count} of the instance's successful reconcile rounds' durations."""
    text = Client(url).get("/metrics").text
    return {le: float(v) for le, v in HIST_RE.findall(text)}


def measured_window_s(before):
    """W = R + 2 D with D the longest successful round any of the instances ran since
    `before` ({url: round_histogram(url)} taken earlier), read from their histograms (the
    bucket bound that holds every round); the worst case when none ran."""
    d = 0.0
    for url, old in before.items():
        new = round_histogram(url)
        total = new.get("+Inf", 0) - old.get("+Inf", 0)
        if total <= 0:
            continue
        bounds = sorted((float(le), le) for le in new if le != "+Inf")
        fits = [b for b, le in bounds if new[le] - old.get(le, 0) >= total]
        if not fits:
            return window_s()
        d = max(d, fits[0])
    return sync_interval_s() + 2 * d


def refill(limit, period_s, elapsed_s):
    """Requests the bucket gives back in elapsed_s (rounded up)."""
    return math.ceil(limit / period_s * elapsed_s)


def most_within(times, width_s):
    """The largest number of the given instants inside any window of width_s."""
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] > width_s:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def overshoot_allowance(limit, period_s, sent_by_instance, w):
    """What N instances may admit over the exact limiter: (N - 1) times the most one instance
    can add, min(L + 2W/I, the requests it received within any 2W)."""
    n = len(sent_by_instance)
    w2 = 2 * w
    cap = limit + math.ceil(w2 * limit / period_s)
    per = max(min(cap, most_within(times, w2)) for times in sent_by_instance)
    return (n - 1) * per


def sync_rounds(url):
    """The instance's reconcile rounds so far (every result), from its /metrics."""
    r = Client(url).get("/metrics")  # its own address: the caller's buckets stay untouched
    assert r.status_code == 200, f"{url}/metrics: {r.status_code} {r.text[:300]}"
    values = [float(m.group(2)) for m in ROUNDS_RE.finditer(r.text)]
    assert values, f"{url}/metrics has no taskbus_ratelimit_sync_rounds_total"
    return sum(values)


def wait_sync_rounds(url, rounds=2, timeout=30.0):
    """Returns once the instance completed `rounds` more reconcile rounds: with 2, at least
    one round began after this call, so everything it admitted before is in Redis and it
    merged back the shared state of every bucket it used."""
    start = sync_rounds(url)
    deadline = time.monotonic() + timeout
    while True:
        now = sync_rounds(url)
        if now >= start + rounds:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{url}: {now - start:.0f} reconcile rounds in {timeout} s, "
                                 f"waited for {rounds}")
        time.sleep(0.01)


POLICY_NAMES = ("ip", "user", "auth", "login_account", "mail_address")


def ratelimit_fields(resp):
    """The draft's fields of an answer, parsed as RFC 9651 Lists and checked against the
    draft: ({policy name: {"q": int, "w": int}}, (name, r, t)). RateLimit-Policy lists each
    policy once (a String with integer q >= 0 and w >= 1, no other parameter); RateLimit
    names exactly one of them, with integers r >= 0 and t >= 0."""
    h = resp.headers
    where = f"{resp.request.method} {resp.request.url} -> {resp.status_code}"
    for name in ("RateLimit-Policy", "RateLimit"):
        assert name in h, f"{where} lacks {name}: {dict(h)}"
    policies = {}
    for value, params in parse_list(h["RateLimit-Policy"]):
        assert isinstance(value, String), f"{where}: a policy is named by a String: {h['RateLimit-Policy']!r}"
        assert value in POLICY_NAMES and value not in policies, (where, h["RateLimit-Policy"])
        assert set(params) == {"q", "w"}, (where, h["RateLimit-Policy"])
        assert all(type(params[k]) is int for k in "qw"), (where, h["RateLimit-Policy"])
        assert params["q"] >= 0 and params["w"] >= 1, (where, h["RateLimit-Policy"])
        policies[str(value)] = dict(params)
    items = parse_list(h["RateLimit"])
    assert len(items) == 1, f"{where}: RateLimit describes one policy: {h['RateLimit']!r}"
    (name, params), = items
    assert isinstance(name, String) and name in policies, (where, h["RateLimit"], h["RateLimit-Policy"])
    assert set(params) == {"r", "t"} and all(type(params[k]) is int and params[k] >= 0 for k in "rt"), \
        (where, h["RateLimit"])
    return policies, (str(name), params["r"], params["t"])


def rate_headers(resp):
    """(limit, remaining, reset) of an answer, checking they are there and numeric, and that
    they repeat q, r and t of the policy the RateLimit field describes."""
    h = resp.headers
    for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
        assert name in h, f"{resp.request.method} {resp.request.url} -> {resp.status_code} lacks {name}: {dict(h)}"
        assert h[name].strip().isdigit(), (name, h[name])
    legacy = int(h["RateLimit-Limit"]), int(h["RateLimit-Remaining"]), int(h["RateLimit-Reset"])
    policies, (name, r, t) = ratelimit_fields(resp)
    assert legacy == (policies[name]["q"], r, t), (legacy, h["RateLimit-Policy"], h["RateLimit"])
    return legacy
