"""A scale scenario's run: its parameters, its users and clients, the load under its
schedule (tests/faults/fault_run.run_load), its rules and its row in the results.

Owns: the suite's parameters (TASKBUS_SCALE_* overrides), the pool of registered users
(registered once per session, tokens refreshed when old), sizing the load's clients so
no client address and no user goes over the stack's rate limits at the offered rate,
and scenario(): run, count, record the row, fail on the scenario's rules.
Rules: the verdict is counts only (failed under the scenario's rule, lost, lost events,
duplicated, stale, ghosts, stuck keys, plus a scenario's own checks; a GET older than a
version only read, not reported, fails when the same instance had returned it, and is
shown apart when another had: WENT_BACK); the offered rate is
a target the box may not reach: the rate reached is measured and shown, never checked.
"""

import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import scale_report
import scale_stack
from fault_load import UserState
from fault_run import run_load
from fault_table import failures
from helpers.api import Client, register_user


def _num(name, default, cast=float):
    v = os.environ.get(name)
    return cast(v) if v else default


# Parameters (docs/decisions.md, "The scale suite").
KAFKA_RATE = _num("TASKBUS_SCALE_KAFKA_RATE", 1000.0)  # offered creates/s in the Kafka scenario
API_RATE = _num("TASKBUS_SCALE_API_RATE", 500.0)  # offered mixed requests/s in the rolling restart
RATE = _num("TASKBUS_SCALE_RATE", 300.0)  # offered mixed requests/s in the other scenarios
BASELINE_S = _num("TASKBUS_SCALE_BASELINE_S", 6.0)  # load before the first fault
DOWN_S = _num("TASKBUS_SCALE_DOWN_S", 4.0)  # how long a killed process stays down
SETTLE_S = _num("TASKBUS_SCALE_SETTLE_S", 5.0)  # load after a service is back
# Per user and per client address, requests/s: inside tests/run's TASKBUS_RATELIMIT_IP
# (600/60) and the default TASKBUS_RATELIMIT_USER (600/60), so 429 stays rare.
PER_USER = 6.0
PER_CLIENT = 6.0
MAX_USERS = _num("TASKBUS_SCALE_MAX_USERS", 200, int)
# How long the count waits for every produced command to be applied (a deadline, not a
# pause): a 2-core box with the whole scaled stack may drain a backlog slowly.
COUNT_SETTLE_S = _num("TASKBUS_SCALE_COUNT_SETTLE_S", 240.0)
TOKEN_REFRESH_S = 600  # access tokens live 900 s (TASKBUS_ACCESS_TTL_SECONDS)

# Load mixes ((operation, weight), fault_load.MIX's operations).
CREATES = (("create", 70), ("create_keyed", 15), ("create_wait", 5), ("get", 5), ("command", 5))
READ_HEAVY = (("create", 15), ("create_wait", 5), ("create_keyed", 8), ("patch", 10), ("patch_wait", 7),
              ("get", 35), ("command", 10), ("list", 10))



class UserPool:
    """Users registered once for the session; each scenario takes as many as its rate needs."""

    def __init__(self, api_url):
        self.api_url = api_url
        self.lock = threading.Lock()
        self.users = []  # [helpers.api.User]
        self.token_at = {}  # user id -> time.time() of its access token

    def take(self, n):
        n = min(n, MAX_USERS)
        with self.lock:
            missing = n - len(self.users)
        if missing > 0:
            base = len(self.users)
            with ThreadPoolExecutor(6) as pool:
                made = list(pool.map(lambda k: register_user(self.api_url, tag=f"scale-{base + k}"),
                                     range(missing)))
            now = time.time()
            with self.lock:
                for u in made:
                    self.users.append(u)
                    self.token_at[u.id] = now
        with self.lock:
            chosen = self.users[:n]
        old = [u for u in chosen if time.time() - self.token_at[u.id] > TOKEN_REFRESH_S]
        if old:
            with ThreadPoolExecutor(6) as pool:
                list(pool.map(self._refresh, old))
        return [UserState(u.id, u.access) for u in chosen]

    def _refresh(self, u):
        r = Client(self.api_url).refresh(u.refresh)
        assert r.status_code == 200, f"refresh of {u.email}: {r.status_code} {r.text[:200]}"
        b = r.json()
        u.access, u.refresh = b["access_token"], b["refresh_token"]
        with self.lock:
            self.token_at[u.id] = time.time()


def sizing(rate, mix):
    """(users, write clients, read clients) so that at `rate` no user and no client address
    goes over PER_USER / PER_CLIENT requests/s."""
    total = sum(w for _, w in mix)
    reads = sum(w for op, w in mix if op in ("get", "command", "list")) / total
    users = max(8, math.ceil(rate / PER_USER))
    writers = max(8, math.ceil(rate * (1 - reads) / PER_CLIENT))
    readers = max(4, math.ceil(rate * reads / PER_CLIENT))
    return users, writers, readers


# Shown, not checked: docs/decisions.md, "Reads that go back across instances".
WENT_BACK = ("GETs older than a version only read (never reported applied) on another "
             "instance, in the near-cache window")


def split_went_back(went_back, log_timeout=15):
    """([GETs below a version only another instance had returned], [the others]): each GET
    and the earlier ones it went below, named by nginx's access log. A GET whose instance,
    or one of whose earlier GETs' instance, is unknown or the same counts as same."""
    if not went_back:
        return [], []
    ids = {w.request_id for w in went_back} | {r for w in went_back for r in w.above}
    served = scale_stack.served_by(ids, log_timeout)
    elsewhere, same = [], []
    for w in went_back:
        mine = served.get(w.request_id)
        other = mine is not None and w.above and all(served.get(r) not in (None, mine) for r in w.above)
        (elsewhere if other else same).append(w)
    return elsewhere, same


def scenario(name, pool, api_url, rate, mix, drive, fails=scale_report.server_errors, checks=None, seed=13):
    """Runs one scenario: load at `rate` with `mix` while `drive(schedule)` breaks the stack;
    records its row; fails the test on the rules. `checks(run)` -> ([(rule, value, what)]
    violations, {name: value} shown) adds the scenario's own checks."""
    n_users, writers, readers = sizing(rate, mix)
    users = pool.take(n_users)
    run = run_load(api_url, users, rate, drive, lambda: scale_stack.restore(api_url), seed=seed,
                   write_workers=writers, read_workers=readers, mix=mix, settle_timeout=COUNT_SETTLE_S,
                   read_floor_binds=False)
    failed = scale_report.failed_attempts(run.ledger, fails)
    violations = list(failures(run.res.counts))
    if failed:
        violations.append(("failed", len(failed), f"requests without an answer or answered as the rule "
                                                  f"forbids ({fails.__doc__.splitlines()[0]})"))
    elsewhere, same = split_went_back(run.ledger.went_back)
    if same:
        violations.append(("stale_same_instance", len(same), "GETs older than a version the same API "
                           "instance had returned (or one nginx's log could not name), e.g. "
                           f"{[w.what for w in same[:3]]}"))
    extra = {}
    if checks is not None:
        try:
            more, extra = checks(run)
        except AssertionError as e:  # a check's wait ran out: a violation, and the row is kept
            more, extra = [("check", 1, str(e)[:400])], {}
        violations.extend(more)
    extra[WENT_BACK] = f"{len(elsewhere)}" + (f", e.g. {[w.what for w in elsewhere[:3]]}" if elsewhere else "")
    params = {"rate": rate, "users": len(users), "write_workers": writers, "read_workers": readers,
              "down_s": DOWN_S, "settle_s": SETTLE_S, "probes": 0}
    row = scale_report.add(name, run, params, failed, violations, extra)
    print(f"\n[scale] {name}: sent {row['sent']} ({row['rate']:.0f}/s of {rate:.0f} offered), failed "
          f"{row['failed']}, lost {row['lost']}, duplicated {row['duplicated']}, {row['verdict']}")
    # The detail goes into the failure itself: CI keeps the output, not the results table.
    assert not violations, f"{name} FAILED: " + "; ".join(f"{k}={v} ({what})" for k, v, what in violations)
    return run


def pause(seconds):
    """The schedule's pacing (how long the load runs between faults), never a wait for a
    condition."""
    time.sleep(seconds)
