"""Two API instances on one stack (tests/run starts `api` and `api2`): what one instance
reports done, the other never contradicts. Black-box through HTTP only.

- Exactness: a write reported applied through one instance (`Prefer: wait` 200/201, or
  GET /commands/{id} polled on the writing instance) is never followed by an older task,
  ETag or first list page on the other instance, whose caches were primed with the old
  state just before the write; both directions, many times.
- Revocation: logout, logout-all and a password change through one instance refuse the
  old access token on the very next request to either instance (primed on both first).
- Shared rate limits: the RateLimit-* headers come from both instances, and a client that
  spends one bucket alternating between them is refused within a documented bound of the
  limit (docs/decisions.md, "Rate limits"; helpers/rate_limits.py).
"""

import time

import pytest

from helpers.api import Client, assert_problem
from helpers.rate_limits import (ip_limit, measured_window_s, overshoot_allowance, parse_rate,
                                 rate_headers, ratelimit_fields, refill, round_histogram, user_limit)
from helpers.tasks import etag_version, task_of, task_user

REPS = 50
CREATES = 40
WAIT = 10  # Prefer: wait=10


@pytest.fixture
def instances(api_url, api2_url):
    """{"A": url, "B": url}"""
    return {"A": api_url, "B": api2_url}


DIRECTIONS = [("A", "B"), ("B", "A")]


def check_task(resp, want_version, want_title, where):
    """A list of stale findings (empty when resp shows exactly the wanted version)."""
    assert resp.status_code == 200, f"{where}: {resp.status_code} {resp.text[:300]}"
    body = resp.json()
    found = []
    if body["version"] != want_version or body["title"] != want_title:
        found.append((where, "body", body["version"], body["title"]))
    if etag_version(resp) != want_version:
        found.append((where, "etag", resp.headers.get("ETag")))
    return found


def check_first_page(resp, tid, want_version, want_title, where):
    assert resp.status_code == 200, f"{where}: {resp.status_code} {resp.text[:300]}"
    item = next((x for x in resp.json()["items"] if x["id"] == tid), None)
    if item is None or item["version"] != want_version or item["title"] != want_title:
        return [(where, "list", item and item["version"], item and item["title"])]
    return []


# --- exactness ---------------------------------------------------------------------------


@pytest.mark.parametrize("writer,reader", DIRECTIONS, ids=["A-to-B", "B-to-A"])
def test_update_applied_on_one_instance_is_read_exact_on_the_other(instances, writer, reader):
    w = task_user(instances[writer], f"two-exact-{writer}{reader}")
    r = w.on(instances[reader])
    t = w.create_applied({"title": "exact-0", "tags": ["two"]})
    version, title, stale = t["version"], t["title"], []
    for i in range(1, REPS + 1):
        # Prime the reader's caches (near cache, Redis) with the state about to be replaced.
        stale += check_task(r.get(t["id"]), version, title, f"rep {i} prime GET")
        stale += check_first_page(r.list({"limit": 5}), t["id"], version, title, f"rep {i} prime list")
        title = f"exact-{i}"
        if i % 2:
            p = w.patch(t["id"], {"title": title}, if_match=version, wait=WAIT)
            assert p.status_code == 200, f"rep {i}: PATCH with wait answered {p.status_code} {p.text[:300]}"
        else:
            # Reported applied by GET /commands/{id} on the writing instance instead.
            p = w.patch(t["id"], {"title": title}, if_match=version)
            assert p.status_code in (200, 202), f"rep {i}: PATCH answered {p.status_code} {p.text[:300]}"
            if p.status_code == 202:
                w.wait_command(p.json()["command_id"], timeout=30)
        nt = task_of(p.json())
        assert nt["version"] == version + 1 and nt["title"] == title, nt
        version = nt["version"]
        stale += check_task(r.get(t["id"]), version, title, f"rep {i} GET on {reader}")
        stale += check_first_page(r.list({"limit": 5}), t["id"], version, title, f"rep {i} list on {reader}")
    assert not stale, (f"{len(stale)} reads on {reader} after an update reported applied on {writer} "
                       f"showed an older state: {stale[:10]}")


def test_create_applied_on_one_instance_is_found_on_the_other(instances):
    """Creates alternate between the instances; each is read at once through the other
    one, by id and on the first page (default order: newest first), whose cached copy
    was primed just before."""
    a = task_user(instances["A"], "two-create")
    apis = {"A": a, "B": a.on(instances["B"])}
    missing = []
    for i in range(CREATES):
        writer, reader = DIRECTIONS[i % 2]
        first = apis[reader].list({"limit": 5})
        assert first.status_code == 200, first.text
        c = apis[writer].create({"title": f"created-{i}", "tags": ["two-create"]}, wait=WAIT)
        assert c.status_code == 201, f"create {i} on {writer} with wait: {c.status_code} {c.text[:300]}"
        new = task_of(c.json())
        g = apis[reader].get(new["id"])
        if g.status_code != 200:
            missing.append((i, f"GET on {reader}", g.status_code))
        else:
            missing += check_task(g, new["version"], new["title"], f"create {i} GET on {reader}")
        lst = apis[reader].list({"limit": 5})
        assert lst.status_code == 200, lst.text
        items = lst.json()["items"]
        if not items or items[0]["id"] != new["id"]:
            missing.append((i, f"first page on {reader}", [x["id"] for x in items[:2]], new["id"]))
    assert not missing, f"{len(missing)} creates applied on one instance were not seen on the other: {missing[:10]}"


# --- revocation ----------------------------------------------------------------------------


def me_everywhere(instances, ip, access):
    """{instance: status of GET /users/me with this token}."""
    return {k: Client(url, ip).me(access).status_code for k, url in instances.items()}


@pytest.mark.parametrize("writer,reader", DIRECTIONS, ids=["A-to-B", "B-to-A"])
def test_logout_on_one_instance_refuses_the_token_on_the_other(instances, make_user, writer, reader):
    u = make_user()
    c = Client(instances[reader])
    access, refresh = u.login(c)
    other_access, _ = u.login(Client(instances[writer]))
    assert me_everywhere(instances, c.ip, access) == {"A": 200, "B": 200}  # primed on both
    assert c.twin(instances[writer]).logout(access, refresh).status_code == 204
    assert_problem(c.me(access), 401, "unauthorized")  # the very next request, on the other instance
    assert_problem(c.twin(instances[writer]).me(access), 401, "unauthorized")
    # Another session of the same user is untouched, on both.
    assert me_everywhere(instances, c.ip, other_access) == {"A": 200, "B": 200}


@pytest.mark.parametrize("writer,reader", DIRECTIONS, ids=["A-to-B", "B-to-A"])
def test_logout_all_on_one_instance_refuses_every_token_on_the_other(instances, make_user, writer, reader):
    u = make_user()
    c = Client(instances[reader])
    sessions = [u.login(c), u.login(Client(instances[writer])), (u.access, u.refresh)]
    for access, _ in sessions:
        assert me_everywhere(instances, c.ip, access) == {"A": 200, "B": 200}
    assert c.twin(instances[writer]).logout_all(sessions[0][0]).status_code == 204
    for n, (access, _) in enumerate(sessions):
        assert_problem(c.me(access), 401, "unauthorized")
        assert_problem(c.twin(instances[writer]).me(access), 401, "unauthorized")
        assert_problem(c.refresh(sessions[n][1]), 401, "unauthorized")


@pytest.mark.parametrize("writer,reader", DIRECTIONS, ids=["A-to-B", "B-to-A"])
def test_password_change_on_one_instance_refuses_old_tokens_on_the_other(instances, make_user, writer,
                                                                          reader):
    u = make_user()
    c = Client(instances[reader])
    access, _ = u.login(c)
    assert me_everywhere(instances, c.ip, access) == {"A": 200, "B": 200}
    assert me_everywhere(instances, c.ip, u.access) == {"A": 200, "B": 200}
    r = c.twin(instances[writer]).change_password(u.access, u.password, u.password + "-2")
    assert r.status_code == 200, r.text
    fresh = r.json()["access_token"]
    for old in (access, u.access):
        assert_problem(c.me(old), 401, "unauthorized")
        assert_problem(c.twin(instances[writer]).me(old), 401, "unauthorized")
    assert me_everywhere(instances, c.ip, fresh) == {"A": 200, "B": 200}


# --- shared rate limits --------------------------------------------------------------------
#
# The bound a client spending one bucket through both instances must meet, as documented in
# docs/decisions.md ("Rate limits", "The bound"; arithmetic in helpers/rate_limits.py): over
# the exact limiter's L + refill, the per-IP and per-user buckets (local, reconciled every
# TASKBUS_RATELIMIT_SYNC_MS) may admit what the other instance admitted within 2W, at most
# L + 2W/I; the sign-in buckets (synchronous on Redis) are exact. Every allowance comes from
# what the test measured (elapsed time, when it sent each request), never from luck; two
# unshared buckets would admit 2 L and stop the test at its hard stop. W is measured: the
# instances' own histograms of their reconcile rounds during the test give D.


def test_rate_limit_headers_come_from_both_instances(instances, make_user):
    u = make_user()
    ip_lim, _ = ip_limit()
    user_lim, _ = user_limit()
    c = Client(instances["A"])
    seen, policies = {}, {}
    for k in ("A", "B", "A", "B"):
        r = c.twin(instances[k]).me(u.access)
        assert r.status_code == 200, r.text
        limit, remaining, reset = rate_headers(r)
        assert limit in (ip_lim, user_lim), (k, limit)
        assert 0 <= remaining < limit and reset >= 0, (k, limit, remaining, reset)
        listed, (name, _, _) = ratelimit_fields(r)
        seen.setdefault(k, []).append((limit, remaining, name))
        policies.setdefault(k, []).append(listed)
    assert seen["A"][0][0] == seen["B"][0][0], f"the instances describe different buckets: {seen}"
    assert seen["A"][0][2] == seen["B"][0][2], f"the instances name different policies: {seen}"
    # Every answer of both lists the same policies (an authenticated request: ip and user).
    assert all(p == policies["A"][0] for k in policies for p in policies[k]), policies
    assert set(policies["A"][0]) == {"ip", "user"}, policies


def spend_alternating(instances, ip, request, limit, period_s, extra):
    """Sends `request(client)` alternately to A and B until the first 429 and `extra`
    requests after it. Returns (admitted before the first 429, elapsed s, the send times
    per instance before it, per-instance (send time, status) after it, time of the 429)."""
    clients = [Client(instances["A"], ip), Client(instances["B"], ip)]
    hard_stop = 2 * limit + 50  # two unshared buckets would stop here; fail clearly instead
    admitted, first_429, t0 = 0, None, time.monotonic()
    sent = {0: [], 1: []}
    n = 0
    while first_429 is None:
        k = n % 2
        at = time.monotonic()
        r = request(clients[k])
        n += 1
        if r.status_code == 429:
            assert_problem(r, 429, "rate-limited")
            assert r.headers.get("Retry-After"), r.headers
            rate_headers(r)
            first_429 = (k, time.monotonic())
            break
        rate_headers(r)
        sent[k].append(at)
        admitted += 1
        assert admitted <= hard_stop, f"{admitted} requests admitted alternating between two instances, " \
                                      f"limit {limit}/{period_s}s: the bucket is not shared"
    after = {0: [], 1: []}
    for j in range(extra):
        k = (first_429[0] + 1 + j) % 2
        at = time.monotonic()
        after[k].append((at, request(clients[k]).status_code))
    return admitted, first_429[1] - t0, sent, after, first_429[1]


@pytest.mark.parametrize("bucket", ["ip-and-user", "auth"])
def test_a_bucket_spent_through_both_instances_is_refused_within_the_bound(instances, make_user, bucket):
    if bucket == "ip-and-user":
        # A fresh user from a fresh address: its IP and user buckets are spent together; the
        # one with the smaller burst refuses first.
        limit, period = min(ip_limit(), user_limit())
        access = make_user().access

        def request(c):
            return c.me(access)
    else:
        limit, period = parse_rate("TASKBUS_RATELIMIT_AUTH", "10/60")

        def request(c):
            return c.refresh("x" * 43)  # an unknown refresh token: 401, after the auth bucket paid
    ip = Client(instances["A"]).ip
    extra = 40
    rounds_before = {url: round_histogram(url) for url in instances.values()}
    admitted, elapsed, sent, after, t429 = spend_alternating(instances, ip, request, limit, period, extra)
    w = measured_window_s(rounds_before)
    exact = limit + refill(limit, period, elapsed) + 1
    over = overshoot_allowance(limit, period, [sent[0], sent[1]], w) if bucket == "ip-and-user" else 0
    print(f"{bucket}: limit {limit}/{period}s, admitted {admitted} in {elapsed:.2f}s before the first 429 "
          f"(exact {exact}, allowed over it {over}, W {w * 1000:.0f} ms); after it: "
          f"A {[s for _, s in after[0]]}, B {[s for _, s in after[1]]}")
    assert admitted <= exact + over, f"{admitted} admitted before the first 429, bound {exact} + {over}"
    # Never refused early: the bucket is the client's alone (a fresh address and user).
    assert admitted >= limit, f"refused after only {admitted} requests, limit {limit}"
    # After the first refusal, an instance admits only what the bucket gives back, plus (local
    # buckets) what it received before it saw the spending: within 2W of the refusal.
    w2 = 2 * w
    for k, name in ((0, "A"), (1, "B")):
        ok = [at for at, status in after[k] if status != 429]
        late = len([at for at, _ in after[k] if at - t429 <= w2]) if bucket == "ip-and-user" else 0
        bound = refill(limit, period, (after[k][-1][0] - t429) if after[k] else 0) + 1 + late
        assert len(ok) <= bound, \
            f"{name} admitted {len(ok)} of {len(after[k])} after the bucket was spent (bound {bound})"
