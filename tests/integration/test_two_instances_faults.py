"""Two API instances and the faults that break naive cache designs (issue 8): a write
reported applied through instance A (`Prefer: wait`) is read at once through instance B,
whose caches were primed with the older state, and B must show the new one when:

- B stalls (SIGSTOP) past its near-cache lease while A writes;
- Redis restarts (gracefully, and loses every key: a failover to an empty replica);
- B's subscriber connections are dropped (CLIENT KILL TYPE pubsub) before the write;
- Redis stops taking writes while it still serves reads (CLIENT PAUSE ... WRITE, as a
  primary refusing writes would): the writer commits to Postgres but cannot land its
  Redis effects, so B's cached copy is the old one; a write reported applied (wait, or
  GET /commands/{id}) must still never be followed by that copy;
- Redis is down (stopped) or frozen (SIGSTOP): writes through A must still be applied
  and answered (201/200 with `Prefer: wait=20`), and A and B agree with each other and
  with the answers, during the outage and after Redis is back.

Black-box through HTTP, with the stack driven through compose/local (stack_control) and
Redis's own commands. Every fault is undone in a finally block (SIGCONT, start), and the
stack is waited for with deadlines (/ready 200 on both instances), never bare sleeps; the
one sleep holds B stopped past its lease (the fault's pacing, not a wait for a
condition). Latencies are printed, never asserted.
"""

import os
import signal
import time

import pytest

from helpers import stack_control
from helpers.tasks import redis_conn, task_of, task_user, wait_api_ready

WAIT = 15
OUTAGE_WAIT = 20
LEASE_MS = int(os.environ.get("TASKBUS_NEAR_CACHE_LEASE_MS") or 2000)


@pytest.fixture
def pair(api_url, api2_url, request):
    """(A, B): one fresh user's TaskApi through each instance, from one address."""
    a = task_user(api_url, request.node.name[:30])
    return a, a.on(api2_url)


@pytest.fixture
def both_ready(api_url, api2_url):
    """Waits (deadline) until both instances answer /ready 200."""
    def wait(timeout=90):
        wait_api_ready(api_url, timeout)
        wait_api_ready(api2_url, timeout)
    return wait


def pid_of(service):
    state, pid = stack_control.status().get(service, ("down", None))
    assert state == "up" and pid, f"{service} is not running: {stack_control.status()}"
    return pid


def timed(fn, *args, **kw):
    t0 = time.monotonic()
    r = fn(*args, **kw)
    return r, time.monotonic() - t0


def assert_exact(api, t, where):
    """GET by id and the first page (newest first) through `api` show exactly task t."""
    g = api.get(t["id"])
    assert g.status_code == 200, f"{where}: GET {g.status_code} {g.text[:300]}"
    assert (g.json()["version"], g.json()["title"]) == (t["version"], t["title"]), \
        f"{where}: GET shows version {g.json()['version']} {g.json()['title']!r}, applied was {t['version']}"
    lst = api.list({"limit": 20})
    assert lst.status_code == 200, f"{where}: list {lst.status_code} {lst.text[:300]}"
    item = next((x for x in lst.json()["items"] if x["id"] == t["id"]), None)
    assert item is not None, f"{where}: task {t['id']} missing from the first page"
    assert (item["version"], item["title"]) == (t["version"], t["title"]), \
        f"{where}: the list shows version {item['version']} {item['title']!r}, applied was {t['version']}"


def prime(t, *apis):
    for api in apis:
        assert_exact(api, t, "prime")


def patch_applied(api, t, title, wait=WAIT, latencies=None):
    r, dt = timed(api.patch, t["id"], {"title": title}, if_match=t["version"], wait=wait, timeout=wait + 30)
    if latencies is not None:
        latencies.append(("PATCH", r.status_code, round(dt, 3)))
    assert r.status_code == 200, \
        f"PATCH with Prefer: wait={wait} answered {r.status_code} after {dt:.1f} s (not applied): {r.text[:300]}"
    nt = task_of(r.json())
    assert nt["version"] == t["version"] + 1 and nt["title"] == title, nt
    return nt


def create_applied(api, title, wait=WAIT, latencies=None):
    r, dt = timed(api.create, {"title": title, "tags": ["two-faults"]}, wait=wait, timeout=wait + 30)
    if latencies is not None:
        latencies.append(("POST", r.status_code, round(dt, 3)))
    assert r.status_code == 201, \
        f"POST with Prefer: wait={wait} answered {r.status_code} after {dt:.1f} s (not applied): {r.text[:300]}"
    return task_of(r.json())


# --- B stalls past its lease ----------------------------------------------------------------


@pytest.mark.single_stack_only
def test_an_instance_stalled_past_its_lease_reads_the_new_version_when_it_wakes(pair, both_ready):
    a, b = pair
    t = a.create_applied({"title": "stall-0"})
    for i in range(1, 3):
        prime(t, b, a)
        pid = pid_of("api2")
        os.kill(pid, signal.SIGSTOP)
        stopped = time.monotonic()
        try:
            # The writer's report waits for B's acknowledgement at most a lease length.
            t2, dt = timed(patch_applied, a, t, f"stall-{i}")
            # Pacing of the fault, not a wait for a condition: B stays stopped until its
            # lease has certainly lapsed, so it wakes up with a lapsed lease.
            hold = 2 * LEASE_MS / 1000 - (time.monotonic() - stopped)
            if hold > 0:
                time.sleep(hold)
        finally:
            os.kill(pid, signal.SIGCONT)
        print(f"stall {i}: PATCH through A answered 200 in {dt:.3f} s with B stopped")
        t = t2
        assert_exact(b, t, f"B at once after SIGCONT (round {i})")
        assert_exact(a, t, f"A (round {i})")
    both_ready()


# --- Redis restarting -----------------------------------------------------------------------


@pytest.mark.single_stack_only
def test_redis_restart_then_a_write_on_a_is_read_exact_on_b(pair, both_ready):
    a, b = pair
    t = a.create_applied({"title": "restart-0"})
    prime(t, b, a)
    try:
        stack_control.restart("redis")
        wait_api_ready(a.c.base)
        t = patch_applied(a, t, "restart-1")
        assert_exact(b, t, "B right after the write (Redis restarted)")
        assert_exact(a, t, "A right after the write (Redis restarted)")
    finally:
        stack_control.start("redis")
        both_ready()
    # Once both have settled, again, primed.
    prime(t, b, a)
    t = patch_applied(a, t, "restart-2")
    assert_exact(b, t, "B after both instances are ready again")


def test_redis_losing_every_key_then_a_write_on_a_is_read_exact_on_b(pair, both_ready):
    """A failover to an empty replica: leases, acknowledgements, caches all gone at once.
    An instance must not keep trusting a lease the registry no longer holds."""
    a, b = pair
    t = a.create_applied({"title": "flush-0"})
    prime(t, b, a)
    r = redis_conn()
    try:
        flushed = r.flushall()  # a cluster client answers {master: True} for each master
        assert flushed is True or (isinstance(flushed, dict) and flushed
                                   and all(v is True for v in flushed.values())), flushed
        t = patch_applied(a, t, "flush-1")
        assert_exact(b, t, "B right after the write (Redis emptied)")
        assert_exact(a, t, "A right after the write (Redis emptied)")
        prime(t, b, a)
        t = patch_applied(a, t, "flush-2")
        assert_exact(b, t, "B after a second write")
    finally:
        r.close()
        both_ready()


# --- a dropped subscriber connection --------------------------------------------------------


def test_dropped_subscriber_connections_lose_no_invalidation(pair):
    a, b = pair
    t = a.create_applied({"title": "pubsub-0"})
    r = redis_conn()
    try:
        for i in range(1, 4):
            prime(t, b, a)
            killed = r.client_kill_filter(_type="pubsub")
            t = patch_applied(a, t, f"pubsub-{i}")
            print(f"round {i}: {killed} subscriber connection(s) killed before the write")
            assert_exact(b, t, f"B right after the write (subscribers dropped, round {i})")
            assert_exact(a, t, f"A right after the write (round {i})")
    finally:
        r.close()


# --- Redis taking reads but no writes -------------------------------------------------------


PAUSE_MS = 60000  # longer than the test body; CLIENT UNPAUSE ends it, and it ends by itself


@pytest.mark.parametrize("report", ["wait", "poll"])
def test_redis_refusing_writes_never_lets_b_serve_a_copy_older_than_reported(pair, both_ready, report):
    a, b = pair
    t = a.create_applied({"title": "paused-0"})
    prime(t, b, a)
    latencies = []
    r = redis_conn()
    assert r.execute_command("CLIENT", "PAUSE", str(PAUSE_MS), "WRITE") in (True, b"OK", "OK")
    try:
        title = "paused-1"
        if report == "wait":
            t = patch_applied(a, t, title, wait=OUTAGE_WAIT, latencies=latencies)
        else:
            p, dt = timed(a.patch, t["id"], {"title": title}, if_match=t["version"], timeout=60)
            latencies.append(("PATCH", p.status_code, round(dt, 3)))
            assert p.status_code in (200, 202), f"PATCH: {p.status_code} {p.text[:300]}"
            if p.status_code == 202:
                a.wait_command(p.json()["command_id"], timeout=60)
            t = task_of(p.json())
            assert t["title"] == title, t
        # Reported applied: neither instance may show the older copy from here on.
        for api, name in ((b, "B"), (a, "A")):
            g, dt = timed(api.get, t["id"])
            latencies.append((f"GET {name}", g.status_code, round(dt, 3)))
        assert_exact(b, t, "B after the write was reported applied (Redis refusing writes)")
        assert_exact(a, t, "A after the write was reported applied (Redis refusing writes)")
    finally:
        r.execute_command("CLIENT", "UNPAUSE")
        r.close()
        print(f"Redis paused for writes ({report}): latencies (method, status, s): {latencies}")
        both_ready()
    assert_exact(b, t, "B after Redis takes writes again")
    assert_exact(a, t, "A after Redis takes writes again")


# --- Redis down or frozen -------------------------------------------------------------------


def writes_during_outage(a, b, latencies):
    """Creates and updates through A while Redis is unavailable; each must be applied and
    answered, and read the same through A and B at once. Returns the last state."""
    t = None
    made = []
    for i in range(3):
        n = create_applied(a, f"outage-new-{i}", wait=OUTAGE_WAIT, latencies=latencies)
        made.append(n)
        assert_exact(a, n, f"A: task created during the outage ({i})")
        assert_exact(b, n, f"B: task created during the outage ({i})")
        t = n if t is None else t
        t = patch_applied(a, t, f"outage-upd-{i}", wait=OUTAGE_WAIT, latencies=latencies)
        assert_exact(a, t, f"A: update during the outage ({i})")
        assert_exact(b, t, f"B: update during the outage ({i})")
    return t, made


def after_outage(a, b, t, made):
    """Redis is back: both instances agree with what was reported applied, and the next
    write is exact on both."""
    for n in made[1:]:
        for api, name in ((a, "A"), (b, "B")):
            g = api.get(n["id"])
            assert g.status_code == 200, f"{name}: {n['id']} after the outage: {g.status_code}"
    assert_exact(a, t, "A after Redis is back")
    assert_exact(b, t, "B after Redis is back")
    prime(t, b, a)
    t = patch_applied(a, t, "after-outage", wait=WAIT)
    assert_exact(b, t, "B: the first write after the outage")
    assert_exact(a, t, "A: the first write after the outage")


@pytest.mark.single_stack_only
def test_redis_down_writes_are_applied_and_both_instances_agree(pair, both_ready):
    a, b = pair
    t0 = a.create_applied({"title": "down-0"})
    prime(t0, b, a)
    latencies = []
    stack_control.stop("redis")
    try:
        t, made = writes_during_outage(a, b, latencies)
    finally:
        print(f"Redis stopped: request latencies (method, status, s): {latencies}")
        stack_control.start("redis")
        both_ready()
    after_outage(a, b, t, made)


@pytest.mark.single_stack_only
def test_redis_frozen_writes_are_applied_and_both_instances_agree(pair, both_ready):
    a, b = pair
    t0 = a.create_applied({"title": "frozen-0"})
    prime(t0, b, a)
    latencies = []
    pid = pid_of("redis")
    os.kill(pid, signal.SIGSTOP)
    try:
        t, made = writes_during_outage(a, b, latencies)
        # A read while frozen, timed for the record (the "a few milliseconds").
        for api, name in ((a, "A"), (b, "B")):
            g, dt = timed(api.get, t["id"])
            latencies.append((f"GET {name}", g.status_code, round(dt, 3)))
    finally:
        os.kill(pid, signal.SIGCONT)
        print(f"Redis frozen: request latencies (method, status, s): {latencies}")
        both_ready()
    after_outage(a, b, t, made)
