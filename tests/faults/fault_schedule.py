"""The fault schedule: which process dies when, how it comes back, and putting the whole
stack back to healthy afterwards.

Owns: the windows of a run (baseline, then one per fault: kill -9 of the writer, the
relay, the API, Kafka, Postgres and Redis in turn, Redis stopped, Redis frozen (SIGSTOP),
then SIGTERM of the API), each with
its start, the moment of the fault, the moment the service was back and its end;
the API window's keyed writes held in flight when the API dies; restore().
Rules:
- Services die and come back only through `compose/local` (tests/integration/
  helpers/stack_control.py), with the stack's environment, so a run acts on the stack under test.
- `start` returns when the service is ready (the API answers /ready 200, Kafka logged that
  it started, Postgres accepts connections, Redis answers PING); the sleeps here are the
  schedule's pacing (how long a service stays down, how long the load runs after it is
  back), never a wait for a condition.
- restore() starts whatever is down and waits for /ready 200; it runs after every run,
  passed or failed, and raises if the stack cannot be made healthy.
"""

import os
import signal
import threading
import time

import requests

from helpers import stack_control
from fault_count import COMMANDS_TOPIC, topic_ends, wait_for_request_ids


def _num(name, default, cast=float):
    v = os.environ.get(name)
    return cast(v) if v else default


# Parameters (docs/decisions.md, "Fault suite"); the environment may change them for a
# longer run by hand, the suite's verdict does not depend on them.
RATE = _num("TASKBUS_FAULTS_RATE", 120.0)  # offered requests per second
USERS = _num("TASKBUS_FAULTS_USERS", 16, int)  # 7.5 requests/s each: inside 600/60 per user
BASELINE_S = _num("TASKBUS_FAULTS_BASELINE_S", 8.0)  # load before the first fault
DOWN_S = _num("TASKBUS_FAULTS_DOWN_S", 2.0)  # how long a killed process stays down
SETTLE_S = _num("TASKBUS_FAULTS_SETTLE_S", 5.0)  # load after a service is back, before the next fault
PROBES = _num("TASKBUS_FAULTS_PROBES", 6, int)  # keyed creates in flight when the API dies
KEY_GRACE_S = _num("TASKBUS_FAULTS_KEY_GRACE_S", 20.0)  # retries of unanswered keys after the load
STREAMS = _num("TASKBUS_FAULTS_STREAMS", 6, int)  # back-to-back keep-alive posters through SIGTERM
IDLE = _num("TASKBUS_FAULTS_IDLE", 4, int)  # idle keep-alive connections held through SIGTERM
CYCLES = _num("TASKBUS_FAULTS_SIGTERM_CYCLES", 2, int)  # SIGTERM/start cycles of the API
LATE = _num("TASKBUS_FAULTS_LATE", 60, int)  # idle connections that send one slow request during a stop
LATE_START_S = 0.2  # compose/local takes about that long to deliver the SIGTERM
LATE_STEP_S = 0.07  # one late request after another, through the drain (about 4 s)

GRACEFUL_WINDOW = "SIGTERM api"
PROBE_WINDOW = "kill -9 api"
ALL_FAULTS = ("writer", "relay", "api", "kafka", "postgres", "redis", "redis-stop", "redis-freeze",
              "api-sigterm")
# A subset for working on one fault by hand (comma-separated names of ALL_FAULTS).
FAULTS = tuple(f for f in os.environ.get("TASKBUS_FAULTS_ONLY", "").split(",") if f) or ALL_FAULTS
assert set(FAULTS) <= set(ALL_FAULTS), f"TASKBUS_FAULTS_ONLY names unknown faults: {FAULTS}"
SERVICES = ("postgres", "redis", "kafka")


class Schedule:
    def __init__(self, ledger, workers, users, log=print):
        self.ledger = ledger
        self.workers = workers
        self.users = users
        self.log = log
        self.timeline = []  # {name, start, inject, back, end}
        self.probe_writes = []
        self.late_registrations = {}  # request id -> e-mail of a registration sent during the stop

    def open_window(self, name):
        """Starts window `name` (ends the previous one); returns its timeline entry, whose
        "inject" and "back" the caller sets (tests/scale drives its own faults this way)."""
        return self._open(name)

    def _open(self, name):
        now = time.time()
        if self.timeline:
            self.timeline[-1]["end"] = now
        with self.ledger.lock:
            self.ledger.window = name
        self.timeline.append({"name": name, "start": now, "inject": None, "back": None, "end": now})
        self.log(f"[faults] {time.strftime('%H:%M:%S')} {name}")
        return self.timeline[-1]

    def close(self):
        if self.timeline:
            self.timeline[-1]["end"] = time.time()
        with self.ledger.lock:
            self.ledger.window = "after"

    def baseline(self):
        self._open("baseline")
        time.sleep(BASELINE_S)

    def kill(self, name, down_s=None, settle_s=None):
        wd = self._open(f"kill -9 {name}")
        stack_control.kill(name)
        wd["inject"] = time.time()  # compose/local returns once the process is gone
        time.sleep(DOWN_S if down_s is None else down_s)
        stack_control.start(name)
        wd["back"] = time.time()
        time.sleep(SETTLE_S if settle_s is None else settle_s)

    def stop(self, name):
        """A graceful stop (compose/local stop), down DOWN_S, then start."""
        wd = self._open(f"stop {name}")
        try:
            stack_control.stop(name)
            wd["inject"] = time.time()
            time.sleep(DOWN_S)
        finally:
            stack_control.start(name)
        wd["back"] = time.time()
        time.sleep(SETTLE_S)

    def freeze(self, name):
        """SIGSTOP for DOWN_S, then SIGCONT: the process keeps its connections open and
        answers nothing (a hung server, not a dead one)."""
        wd = self._open(f"SIGSTOP {name}")
        state, pid = stack_control.status().get(name, ("down", None))
        assert state == "up" and pid, f"{name} is not running, it cannot be frozen"
        os.kill(pid, signal.SIGSTOP)
        try:
            wd["inject"] = time.time()
            time.sleep(DOWN_S)
        finally:
            os.kill(pid, signal.SIGCONT)
        wd["back"] = time.time()
        time.sleep(SETTLE_S)

    def kill_api_with_keys_in_flight(self):
        """Issue 7's exactly-once case: the writer is stopped, so keyed creates with
        Prefer: wait=30 are held inside the API with their keys claimed and their
        commands on Kafka; the API is killed under them; the API and the writer come
        back; the clients retry with the same keys (the retrier)."""
        wd = self._open(PROBE_WINDOW)
        stack_control.stop("writer")
        start = topic_ends(COMMANDS_TOPIC)
        probes = []
        for k in range(PROBES):
            user = self.users[k % len(self.users)]
            w = self.workers._new_create(user, True, 30, probe=True)
            probes.append(w)
        self.probe_writes = probes
        rids = {}
        ready = threading.Barrier(len(probes) + 1)

        def send(w):
            from helpers.api import Client

            user = next(u for u in self.users if u.uid == w.user)
            c = Client(self.workers.api_url)
            ready.wait()
            self.workers.attempt_write(c, user, w)

        threads = [threading.Thread(target=send, args=(w,), daemon=True, name=f"probe{k}")
                   for k, w in enumerate(probes)]
        for th in threads:
            th.start()
        ready.wait()
        # Each probe's first attempt is the one in flight: its request id names its command.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(not w.attempts for w in probes):
            time.sleep(0.02)
        for w in probes:
            if w.attempts:
                rids[w.attempts[0].request_id] = w
        wait_for_request_ids(start, set(rids), timeout=20)
        # Produced and still unanswered (held by wait=30, the writer being stopped): in flight.
        answered = [w.title for w in probes if not w.attempts or w.attempts[0].done]
        assert not answered, f"keyed creates answered before the API kill: {answered}"
        stack_control.kill("api")
        wd["inject"] = time.time()
        time.sleep(DOWN_S)
        stack_control.start("api")
        stack_control.start("writer")
        wd["back"] = time.time()
        for th in threads:
            th.join(timeout=60)
        time.sleep(SETTLE_S)

    def sigterm_api(self):
        """Rolling restarts under keep-alive load (issue 7, defect 2), CYCLES times: besides
        the load, STREAMS clients post back to back on their connections, IDLE clients hold
        an idle keep-alive connection through the stop and use it again after the start,
        and LATE clients, idle until then, each send one slow request (a registration: an
        argon2id hash) LATE_STEP_S apart from the SIGTERM on, so that requests arrive on
        open connections all through the drain. Nothing that was read may go unanswered
        (fault_count.py, "Unanswered")."""
        from helpers.api import Client

        wd = self._open(GRACEFUL_WINDOW)
        stop = threading.Event()
        ok_after = {}  # stream index -> time of its last 2xx

        def stream(k):
            user = self.users[k % len(self.users)]
            c = Client(self.workers.api_url)
            while not stop.is_set():
                w = self.workers._new_create(user, False, None)
                att = self.workers.attempt_write(c, user, w)
                if att.status is not None and 200 <= att.status < 300:
                    ok_after[k] = att.done
                elif att.error == "refused":
                    time.sleep(0.05)  # pacing while nothing listens

        def late(name, c, at):
            time.sleep(max(0.0, at - time.time()))
            email = f"flt-{self.ledger.run_id}-{name}@example.com"
            att, _ = self.workers.send(c, None, "POST", "/api/v1/auth/register",
                                       {"email": email, "password": f"pw-{self.ledger.run_id}-{name}"})
            with self.ledger.lock:
                self.late_registrations[att.request_id] = email

        threads = [threading.Thread(target=stream, args=(k,), daemon=True, name=f"stream{k}")
                   for k in range(STREAMS)]
        for th in threads:
            th.start()
        try:
            _wait(lambda: len(ok_after) == STREAMS, 15, "every keep-alive stream answered before the stop")
            for cycle in range(CYCLES):
                idle = [(Client(self.workers.api_url), self.users[-1 - k]) for k in range(IDLE)]
                lates = [Client(self.workers.api_url) for _ in range(LATE)]
                for c, user in idle:
                    self.workers.send(c, user, "GET", "/api/v1/tasks?limit=1")
                for c in lates:  # open their connections now; they stay idle until their turn
                    self.workers.send(c, None, "GET", "/health")
                t0 = time.time()
                if cycle == 0:
                    wd["inject"] = t0
                late_threads = [
                    threading.Thread(target=late, args=(f"c{cycle}-late{k}", c, t0 + LATE_START_S + k * LATE_STEP_S),
                                     daemon=True, name=f"late{cycle}-{k}")
                    for k, c in enumerate(lates)]
                for th in late_threads:
                    th.start()
                stack_control.stop("api")
                stack_control.start("api")
                back = time.time()
                wd["back"] = back
                _wait(lambda: all(t > back for t in ok_after.values()), 15,
                      "every keep-alive stream answered by the new API")
                for th in late_threads:
                    th.join(timeout=60)
                for c, user in idle:
                    self.workers.send(c, user, "GET", "/api/v1/tasks?limit=1")
        finally:
            stop.set()
            for th in threads:
                th.join(timeout=60)
        time.sleep(SETTLE_S)

    def run(self):
        self.baseline()
        for f in FAULTS:
            if f == "api":
                self.kill_api_with_keys_in_flight()
            elif f == "api-sigterm":
                self.sigterm_api()
            elif f == "redis-stop":
                self.stop("redis")
            elif f == "redis-freeze":
                self.freeze("redis")
            else:
                self.kill(f)
        self.close()


def _wait(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.05)


def restore(api_url, timeout=180, log=print):
    """Wakes every stopped (SIGSTOP) process, starts every service and daemon that is
    down; waits for /ready 200."""
    problems = []
    try:
        for name, (state, pid) in stack_control.status().items():
            if state == "up" and pid:
                os.kill(pid, signal.SIGCONT)  # harmless to a running process
    except Exception as e:  # noqa: BLE001 - reported with the rest
        problems.append(f"SIGCONT: {e}")
    for svc in SERVICES:
        try:
            stack_control.start(svc)
        except Exception as e:  # noqa: BLE001 - every service gets its chance; reported together
            problems.append(f"start {svc}: {e}")
    try:
        status = stack_control.status()
    except Exception as e:  # noqa: BLE001
        status = {}
        problems.append(f"status: {e}")
    for name, (state, _pid) in status.items():
        if name in SERVICES or state == "up":
            continue
        try:
            log(f"[faults] restore: starting {name}")
            stack_control.start(name)
        except Exception as e:  # noqa: BLE001
            problems.append(f"start {name}: {e}")
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            r = requests.get(api_url + "/ready", timeout=3)
            last = r.status_code
            if r.status_code == 200:
                break
        except requests.RequestException as e:
            last = repr(e)
        time.sleep(0.5)
    else:
        problems.append(f"/ready did not answer 200 within {timeout} s (last: {last})")
    if problems:
        raise AssertionError("the stack could not be restored: " + "; ".join(problems))
