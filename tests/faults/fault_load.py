"""The fault suite's load: HTTP clients that keep writing and reading while the schedule
breaks the stack, and the ledger of everything they sent and saw.

Owns: the ticket clock (an open-loop rate: one ticket every 1/RATE s, each naming an
operation and a user, from a seeded generator), the worker pools that spend tickets
(writers and readers, each worker one keep-alive client with its own address), the
retrier of keyed creates, and the Ledger: every attempt (its own X-Request-ID, the window
it was sent in, its answer or the kind of transport failure), every logical write, and
the floors the stale check needs.
Rules:
- A write is *accepted* when it is answered 2xx; 503 and 429 are *refused* (the API says
  nothing was queued); a transport failure or another 5xx leaves it *in doubt*.
- An unkeyed request is never retried (it cannot be without risking a second task); a
  keyed create is retried, with the same key, body and headers and a new request id,
  after a transport failure, a 5xx, a 409 (in flight) or a 429, until it is answered or
  the retry deadline passes (then it is *stuck*).
- Stale: a GET by id sent after a version of a task was reported (applied by Prefer: wait
  or GET /commands, or returned by an earlier GET by id that had completed) must not
  return an older version, nor 404 for a task reported created; a list page must not show
  a version older than one reported applied; GET /commands must not report pending or
  unknown a command reported applied.
- A ticket that finds every worker of its pool busy is dropped and counted (the table says
  how much of the offered rate was really sent).
- Every request has a timeout; nothing here sleeps for a condition, only for pacing.
"""

import collections
import heapq
import itertools
import queue
import random
import re
import threading
import time
from dataclasses import dataclass, field

import requests

from helpers.api import API, Client

TASKS = f"{API}/tasks"
COMMANDS = f"{API}/commands"
CONNECT_TIMEOUT = 3.0
# Longer than the API's longest hold of a write (the Kafka delivery bound, 32 s before
# issue 7's fix), so a slow answer is an answer and not a client timeout.
READ_TIMEOUT = 45.0

# Operation mix (weights) of the ticket clock.
MIX = (
    ("create", 30),  # unkeyed, 202
    ("create_wait", 8),  # unkeyed, Prefer: wait=2
    ("create_keyed", 14),  # Idempotency-Key, retried
    ("patch", 10),
    ("patch_wait", 6),  # Prefer: wait=2
    ("get", 20),
    ("command", 7),
    ("list", 5),
)
READ_OPS = {"get", "command", "list"}


def classify_error(exc):
    """The kind of a transport failure: refused (the connection was never made, so the
    request was never read), dropped (an open connection broke: the request may have been
    read), timeout (no answer in READ_TIMEOUT)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "refused"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return "timeout"
    seen, stack = set(), [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        name = type(e).__name__
        if name in ("NewConnectionError", "ConnectionRefusedError", "NameResolutionError"):
            return "refused"
        stack.extend([getattr(e, "reason", None), e.__cause__, e.__context__])
        stack.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))
    return "dropped"


@dataclass
class Attempt:
    request_id: str
    window: str
    route: str  # method and path with ids elided, e.g. "GET /api/v1/tasks/{id}"
    sent: float  # time.time()
    done: float = 0.0
    status: int | None = None
    error: str | None = None  # refused | dropped | timeout
    connection_close: bool = False
    problem: str | None = None  # the start of a 4xx/5xx answer's body, for the report


@dataclass
class Write:
    wid: int
    kind: str  # create | patch
    user: str
    keyed: bool
    probe: bool
    body: dict
    headers: dict
    title: str | None = None
    key: str | None = None
    task_id: str | None = None  # the target of a patch; a create's from its answer
    attempts: list = field(default_factory=list)
    answers: list = field(default_factory=list)  # (status, command_id or None, task_id)
    state: str = "pending"  # accepted | refused | in_doubt | stuck | rejected | unexpected
    next_retry: float = 0.0


@dataclass
class UserState:
    uid: str
    token: str
    known: list = field(default_factory=list)  # task ids reported to exist, newest last
    pending_cmds: list = field(default_factory=list)  # accepted command ids not yet seen applied


# GETs kept per task for the went-back comparison: a task gets a few reads a second, and
# a read in flight is compared only with GETs completed before it was sent.
GETS_KEPT = 64


@dataclass
class WentBack:
    """A GET that returned a version below one an earlier, completed GET had returned, with
    no report of that version (see Ledger.read_floor_binds)."""
    what: str
    request_id: str  # the GET that went back
    above: list  # request ids of the earlier GETs that had returned a higher version


class Ledger:
    """Everything the load did; one lock guards it all (a few hundred operations a second)."""

    def __init__(self, run_id):
        self.run_id = run_id
        self.lock = threading.Lock()
        self.window = "setup"
        self._seq = itertools.count(1)
        self.attempts = []  # every Attempt (reads and writes)
        self.reads = []  # (Attempt, op)
        self.writes = []
        # task id -> {"reported" | "read": [(time set, version, request id or None)]}, versions increasing:
        # reported applied (Prefer: wait, GET /commands), or returned by a GET by id.
        self.floors = {}
        self.created_reported = {}  # task id -> time its create was reported applied
        self.cmd_applied = {}  # command id -> time reported applied
        self.stale = []  # descriptions
        # Whether a version returned by an earlier GET binds later reads here. True with
        # one API instance; behind a load balancer (the scale suite) such a GET is listed
        # in went_back with the request ids involved, and the suite decides by which
        # instance served each (a GET below a version only read on another instance is
        # the window docs/decisions.md leaves open: "Reads that go back across instances").
        self.read_floor_binds = True
        self.went_back = []  # WentBack
        # task id -> the last GETS_KEPT completed GETs by id: (done, version, request id);
        # every one, not only those that raised the floor, so that a GET going back is
        # compared with each earlier one above it (and so with its own instance's).
        self.gets = {}
        self.unexpected = []  # answers no rule allows (shown, counted per window)
        self.dropped_tickets = {}  # window -> count
        self.offered = {}  # window -> tickets

    def next_request_id(self):
        return f"flt-{self.run_id}-{next(self._seq)}"

    def next_n(self):
        return next(self._seq)

    # --- floors and stale checks (call with the lock held) ---

    def floor_at(self, tid, t, reported_only):
        best = 0
        for kind in (("reported",) if reported_only else ("reported", "read")):
            for t_set, v, _rid in self.floors.get(tid, {}).get(kind, ()):
                if t_set <= t and v > best:
                    best = v
        return best

    def raise_floor(self, tid, version, t, reported, request_id=None):
        """request_id: the GET that returned `version` (read floors)."""
        hist = self.floors.setdefault(tid, {}).setdefault("reported" if reported else "read", [])
        if not hist or version > hist[-1][1]:
            hist.append((t, version, request_id))
            del hist[:-8]  # only the recent ones matter for reads in flight

    def note_get(self, tid, version, done, request_id):
        """A GET by id that returned `version`, completed at `done`."""
        kept = self.gets.setdefault(tid, collections.deque(maxlen=GETS_KEPT))
        kept.append((done, version, request_id))

    def _read_above(self, tid, t, version):
        """The request ids of the kept GETs, done by t, that returned a version above `version`."""
        return [rid for done, v, rid in self.gets.get(tid, ()) if done <= t and v > version]

    def check_task(self, att, tid, version, what, reported_only=False):
        """A list page is checked against reported versions only: the writer retires list
        pages (INCR of the generation) after it writes the task entry, and reports the
        command applied after both, so a GET by id may see a version a list page does not
        show yet, and only a reported version binds every kind of read."""
        reported = self.floor_at(tid, att.sent, True)
        floor = reported if reported_only else self.floor_at(tid, att.sent, False)
        if version is None:
            t = self.created_reported.get(tid)
            if t is not None and t <= att.sent:
                self.stale.append(f"{what} {tid}: 404 after its create was reported applied ({att.window})")
            return
        if version < reported or (version < floor and self.read_floor_binds):
            self.stale.append(f"{what} {tid}: version {version} after {reported} was reported, "
                              f"{floor} reported or read ({att.window})")
        elif version < floor:
            self.went_back.append(WentBack(
                f"{what} {tid}: version {version} after {floor} was read, {reported or 'none'} reported "
                f"({att.window})", att.request_id, self._read_above(tid, att.sent, version)))


class Workers:
    """The ticket clock, the worker pools and the keyed-create retrier."""

    def __init__(self, api_url, users, ledger, rate, seed, write_workers=16, read_workers=8,
                 retriers=4, mix=MIX):
        self.api_url = api_url
        self.users = users  # [UserState]
        self.ledger = ledger
        self.rate = rate
        self.mix = mix  # ((operation, weight), ...): MIX unless a suite offers another blend
        self.rng = random.Random(seed)
        self.stop_load = threading.Event()
        self.stop_retry = threading.Event()
        self.retry_deadline = float("inf")
        self.write_q = queue.Queue(maxsize=write_workers)
        self.read_q = queue.Queue(maxsize=read_workers)
        self.retry_heap = []  # (next time, wid, Write); guarded by retry_cond
        self.retrying = 0  # retries being attempted now; guarded by retry_cond
        self.retry_cond = threading.Condition()
        self.threads = []
        self._n_write_workers = write_workers
        self._n_read_workers = read_workers
        self._n_retriers = retriers
        self.clients_done = threading.Event()

    # --- life cycle ---

    def start(self):
        for k in range(self._n_write_workers):
            self._spawn(self._worker, self.write_q, f"fw{k}")
        for k in range(self._n_read_workers):
            self._spawn(self._worker, self.read_q, f"fr{k}")
        for k in range(self._n_retriers):
            self._spawn(self._retrier, None, f"fx{k}")
        self._spawn(self._clock, None, "fclock")

    def _spawn(self, fn, arg, name):
        th = threading.Thread(target=fn, args=(arg,) if arg is not None else (), name=name, daemon=True)
        th.start()
        self.threads.append(th)

    def stop_clock(self):
        """No more tickets; workers finish what they hold."""
        self.stop_load.set()

    def finish_retries(self, deadline):
        """Keyed creates are retried until answered or until `deadline` (time.time())."""
        with self.retry_cond:
            self.retry_deadline = deadline
            self.retry_cond.notify_all()

    def retries_left(self):
        """Keyed creates still waiting for an answer (queued or being attempted)."""
        with self.retry_cond:
            return len(self.retry_heap) + self.retrying

    def join(self, timeout):
        self.stop_load.set()
        self.stop_retry.set()
        with self.retry_cond:
            self.retry_cond.notify_all()
        end = time.monotonic() + timeout
        for th in self.threads:
            th.join(max(0.0, end - time.monotonic()))
        return [th.name for th in self.threads if th.is_alive()]

    # --- the ticket clock ---

    def _clock(self):
        ops = [op for op, _ in self.mix]
        weights = [w for _, w in self.mix]
        period = 1.0 / self.rate
        nxt = time.monotonic()
        users = itertools.cycle(range(len(self.users)))
        while not self.stop_load.is_set():
            now = time.monotonic()
            if now < nxt:
                time.sleep(min(nxt - now, 0.05))
                continue
            nxt += period
            if now - nxt > 1.0:  # the clock fell behind (a stalled process): do not burst
                nxt = now
            op = self.rng.choices(ops, weights)[0]
            user = self.users[next(users)]
            q = self.read_q if op in READ_OPS else self.write_q
            with self.ledger.lock:
                w = self.ledger.window
                self.ledger.offered[w] = self.ledger.offered.get(w, 0) + 1
            try:
                q.put_nowait((op, user, self.rng.random()))
            except queue.Full:
                with self.ledger.lock:
                    self.ledger.dropped_tickets[w] = self.ledger.dropped_tickets.get(w, 0) + 1

    # --- HTTP ---

    def send(self, client, user, method, path, body=None, headers=None, write=None):
        """One attempt (user None: without a token): (Attempt, response or None). The
        Attempt is in the ledger (and in write.attempts) before the request leaves, so a
        request in flight is known."""
        led = self.ledger
        rid = led.next_request_id()
        h = {"X-Request-ID": rid}
        h.update(headers or {})
        with led.lock:
            att = Attempt(rid, led.window, route_of(method, path), time.time())
            led.attempts.append(att)
            if write is not None:
                write.attempts.append(att)
        resp = None
        try:
            resp = client.request(method, path, token=user.token if user is not None else None,
                                  headers=h, json=body,
                                  timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
            # Read the body now: a connection that breaks mid-body is a dropped answer.
            _ = resp.content
        except requests.RequestException as e:
            att.error = classify_error(e)
            resp = None
        att.done = time.time()
        if resp is not None:
            att.status = resp.status_code
            att.connection_close = "close" in resp.headers.get("Connection", "").lower()
            if resp.status_code >= 400:
                att.problem = resp.text[:160]
        return att, resp

    # --- workers ---

    def _worker(self, q):
        client = Client(self.api_url)
        while True:
            try:
                op, user, r = q.get(timeout=0.2)
            except queue.Empty:
                if self.stop_load.is_set():
                    return
                continue
            try:
                getattr(self, "_op_" + op)(client, user, r)
            except Exception as e:  # noqa: BLE001 - a bug in the load must show, not kill the pool
                with self.ledger.lock:
                    self.ledger.unexpected.append(f"{op}: load error {e!r}")

    def _note_unexpected(self, att, what, resp):
        with self.ledger.lock:
            self.ledger.unexpected.append(f"{what}: {resp.status_code} {resp.text[:160]} ({att.window})")

    def _new_create(self, user, keyed, wait, probe=False):
        led = self.ledger
        n = led.next_n()
        title = f"flt-{led.run_id}-{n}"
        body = {"title": title, "description": f"fault run {led.run_id}", "priority": "medium",
                "tags": ["fault"]}
        headers = {}
        if wait:
            headers["Prefer"] = f"wait={wait}"
        key = None
        if keyed:
            key = f"fk-{led.run_id}-{n}"
            headers["Idempotency-Key"] = key
        w = Write(n, "create", user.uid, keyed, probe, body, headers, title=title, key=key)
        with led.lock:
            led.writes.append(w)
        return w

    def _op_create(self, client, user, r):
        self.attempt_write(client, user, self._new_create(user, False, None))

    def _op_create_wait(self, client, user, r):
        self.attempt_write(client, user, self._new_create(user, False, 2))

    def _op_create_keyed(self, client, user, r):
        self.attempt_write(client, user, self._new_create(user, True, 2 if r < 0.3 else None))

    def _pick_known(self, user, r, recent=20):
        with self.ledger.lock:
            known = user.known[-recent:]
            return known[int(r * len(known))] if known else None

    def _op_patch(self, client, user, r, wait=None):
        tid = self._pick_known(user, r)
        if tid is None:
            return self._op_create(client, user, r)
        led = self.ledger
        n = led.next_n()
        body = {"description": f"fault run {led.run_id} change {n}"}
        if r < 0.3:
            body["priority"] = ("low", "high", "urgent")[n % 3]
        headers = {"Prefer": f"wait={wait}"} if wait else {}
        w = Write(n, "patch", user.uid, False, False, body, headers, task_id=tid)
        with led.lock:
            led.writes.append(w)
        self.attempt_write(client, user, w)

    def _op_patch_wait(self, client, user, r):
        self._op_patch(client, user, r, wait=2)

    def attempt_write(self, client, user, w):
        """One attempt of a write; records its answer; hands a keyed create to the retrier
        when the answer leaves it open. Returns the Attempt."""
        led = self.ledger
        if w.kind == "create":
            att, resp = self.send(client, user, "POST", TASKS, w.body, w.headers, write=w)
        else:
            att, resp = self.send(client, user, "PATCH", f"{TASKS}/{w.task_id}", w.body, w.headers, write=w)
        retry_after = 0.5
        if resp is None and att.error == "refused":
            outcome = "refused"  # no connection: the request was never read
        elif resp is None:
            outcome = "in_doubt"
        elif resp.status_code in (200, 201, 202):
            outcome = "accepted"
            self._record_accepted(att, user, w, resp)
        elif resp.status_code in (503, 429):
            outcome = "refused"
            retry_after = _retry_after(resp, 1.0)
        elif resp.status_code == 409 and w.keyed:
            outcome = "in_flight"
            retry_after = _retry_after(resp, 1.0)
        elif resp.status_code == 404 and w.kind == "patch":
            # The target was reported to exist: the API's own read of it was stale.
            with led.lock:
                led.check_task(att, w.task_id, None, "PATCH")
                if led.created_reported.get(w.task_id, float("inf")) > att.sent:
                    led.unexpected.append(f"PATCH {w.task_id}: 404 ({att.window})")
                w.state = "rejected"
            return att
        elif resp.status_code >= 500:
            outcome = "in_doubt"
        else:
            self._note_unexpected(att, f"{'POST' if w.kind == 'create' else 'PATCH'}", resp)
            with led.lock:
                w.state = "unexpected"
            return att
        with led.lock:
            if outcome == "accepted":
                w.state = "accepted"
            elif w.state != "accepted":
                w.state = "refused" if outcome == "refused" else ("in_doubt" if outcome == "in_doubt" else w.state)
        if w.keyed and outcome != "accepted":
            self.schedule_retry(w, retry_after)
        return att

    def _record_accepted(self, att, user, w, resp):
        led = self.ledger
        try:
            b = resp.json()
        except ValueError:
            b = None
        if not isinstance(b, dict):
            self._note_unexpected(att, "write answer is not JSON", resp)
            return
        task = b["task"] if isinstance(b.get("task"), dict) else b
        cid = b.get("command_id")
        tid = task.get("id")
        with led.lock:
            if w.kind == "create" and w.task_id is None:
                w.task_id = tid
            w.answers.append((resp.status_code, cid, tid))
            if resp.status_code in (200, 201):
                # Reported applied: from now on no read may show an older state.
                v = task.get("version")
                if isinstance(v, int):
                    led.raise_floor(tid, v, att.done, True)
                if w.kind == "create":
                    led.created_reported.setdefault(tid, att.done)
                    user.known.append(tid)
            elif cid:
                user.pending_cmds.append((cid, tid, w.kind))
                del user.pending_cmds[:-50]

    # --- the keyed-create retrier ---

    def schedule_retry(self, w, after):
        with self.retry_cond:
            w.next_retry = time.time() + max(0.2, min(after, 5.0))
            heapq.heappush(self.retry_heap, (w.next_retry, w.wid, w))
            self.retry_cond.notify()

    def _retrier(self):
        client = Client(self.api_url)
        users = {u.uid: u for u in self.users}
        while True:
            with self.retry_cond:
                while True:
                    if self.stop_retry.is_set():
                        return
                    now = time.time()
                    if self.retry_heap and now >= self.retry_deadline:
                        _, _, w = heapq.heappop(self.retry_heap)
                        with self.ledger.lock:
                            w.state = "stuck"
                        continue
                    if self.retry_heap and self.retry_heap[0][0] <= now:
                        _, _, w = heapq.heappop(self.retry_heap)
                        self.retrying += 1
                        break
                    wait = (self.retry_heap[0][0] - now) if self.retry_heap else 0.5
                    self.retry_cond.wait(min(max(wait, 0.01), 0.5))
            try:
                self.attempt_write(client, users[w.user], w)
            except Exception as e:  # noqa: BLE001 - shown in the table's notes
                with self.ledger.lock:
                    self.ledger.unexpected.append(f"retry: load error {e!r}")
            finally:
                with self.retry_cond:
                    self.retrying -= 1
                    self.retry_cond.notify_all()

    # --- reads ---

    def _op_get(self, client, user, r):
        tid = self._pick_known(user, r)
        if tid is None:
            return
        led = self.ledger
        att, resp = self.send(client, user, "GET", f"{TASKS}/{tid}")
        with led.lock:
            led.reads.append((att, "get"))
            if resp is None:
                return
            if resp.status_code == 200:
                try:
                    v = resp.json().get("version")
                except ValueError:
                    v = None
                if not isinstance(v, int):
                    led.unexpected.append(f"GET {tid}: no version ({att.window})")
                    return
                led.check_task(att, tid, v, "GET")
                led.raise_floor(tid, v, att.done, False, att.request_id)
                led.note_get(tid, v, att.done, att.request_id)
            elif resp.status_code == 404:
                led.check_task(att, tid, None, "GET")
            elif resp.status_code not in (429, 503) and resp.status_code < 500:
                led.unexpected.append(f"GET {tid}: {resp.status_code} {resp.text[:120]} ({att.window})")

    def _op_command(self, client, user, r):
        with self.ledger.lock:
            pend = user.pending_cmds
            if not pend:
                item = None
            else:
                item = pend[int(r * len(pend))]
        if item is None:
            return self._op_get(client, user, r)
        cid, tid, kind = item
        led = self.ledger
        att, resp = self.send(client, user, "GET", f"{COMMANDS}/{cid}")
        with led.lock:
            led.reads.append((att, "command"))
            if resp is None:
                return
            reported = led.cmd_applied.get(cid)
            if resp.status_code == 200:
                try:
                    b = resp.json()
                except ValueError:
                    b = {}
                st = b.get("status")
                if st == "applied":
                    led.cmd_applied.setdefault(cid, att.done)
                    v = b.get("task_version")
                    if isinstance(v, int):
                        led.raise_floor(tid, v, att.done, True)
                    if kind == "create" and tid not in led.created_reported:
                        led.created_reported[tid] = att.done
                        user.known.append(tid)
                    if item in user.pending_cmds:
                        user.pending_cmds.remove(item)
                elif st == "pending" and reported is not None and reported <= att.sent:
                    led.stale.append(f"command {cid}: pending after it was reported applied ({att.window})")
                elif st == "rejected":
                    if item in user.pending_cmds:
                        user.pending_cmds.remove(item)
            elif resp.status_code == 404 and reported is not None and reported <= att.sent:
                led.stale.append(f"command {cid}: 404 after it was reported applied ({att.window})")

    def _op_list(self, client, user, r):
        led = self.ledger
        att, resp = self.send(client, user, "GET", f"{TASKS}?limit=20")
        with led.lock:
            led.reads.append((att, "list"))
            if resp is None or resp.status_code != 200:
                return
            try:
                items = resp.json().get("items", [])
            except ValueError:
                items = []
            for it in items:
                if isinstance(it, dict) and isinstance(it.get("version"), int):
                    led.check_task(att, it.get("id"), it["version"], "list", reported_only=True)


_ID = re.compile(r"/[0-9a-fA-F-]{36}")


def route_of(method, path):
    return f"{method} {_ID.sub('/{id}', path.split('?')[0])}"


def _retry_after(resp, default):
    try:
        return float(resp.headers.get("Retry-After", default))
    except ValueError:
        return default
