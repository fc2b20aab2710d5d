"""kill -9 of the writer at five points of a 20 000-command drain changes nothing (issue 9,
"Guarantees that must survive").

With the writer stopped, a seeded, deterministic mix of task commands is produced straight
to `task-commands` in the wire form of shared/task_command_codec.h (as tests/bench/writer_drain.py
does), keyed by twelve fresh users, two on each partition: mostly creates, then updates
and deletes of tasks created earlier in the same stream (with and without an expected
version; some move a task into done), and commands that must be rejected (412: a stale
expected version; 404: another user's task, an own task already deleted, a user that does
not exist; 409: a create of an id the user already has), plus a few commands produced a
second time, byte for byte. The writer is started and, five times, killed (SIGKILL) once
`commands` holds a seeded target count of this stream's commands (the targets are spread
over the drain: the n-th lies in the n-th fifth of 5 %-92 % of the stream), then started
again. A kill lands wherever the writer is (inside a batch, between a commit and Redis,
or, if the writer outran the poll, after it finished); the assertions hold whatever the
points are, and the printed kills (target, seen, committed at death) show where each hit.

After the drain, a pure model (`Model`: the writer's decisions replayed over the input in
order per user; commands of different users never depend on each other here) gives what
must be there, and the test compares it exactly:
- `commands`: every command id once, nothing else for these users, with its user, task,
  type, status, task version, and for a rejection the problem's status;
- `tasks`: exactly the model's final tasks of these users, every field the commands set;
- `task-events`, read from the start: for each applied command one event id and nothing
  for a rejected or repeated one; per user the events in the order of the commands, with
  the type, version and title the model gives (the relay is at-least-once: the same event
  id twice is allowed and counted, two event ids for one command are not);
- the cache: tasks read through both API instances (some of them read, and so cached,
  while the writer was being killed) equal Postgres once the writer's journal of Redis
  effects is empty.

Replay: TASKBUS_CRASH_DRAIN_SEED=<seed> (printed on every run, with the kill points);
TASKBUS_CRASH_DRAIN_COMMANDS (20 000) changes the stream's length.
"""

import json
import os
import random
import secrets
import time
import uuid

import pytest
import zlib
from collections import Counter, defaultdict
from datetime import datetime, timezone

from helpers import stack_control
from helpers.stack_control import env
from helpers.tasks import (TopicReader, assert_event_valid, parse_time, pg, task_user, wait_outbox_published,
                           wait_until)

pytestmark = pytest.mark.single_stack_only

COMMANDS = int(os.environ.get("TASKBUS_CRASH_DRAIN_COMMANDS") or 20000)
KILLS = 5
KILL_SPAN = (0.05, 0.92)  # the kill targets lie in this share of the stream's commands
USERS_PER_PARTITION = 2
MAX_USERS = 300  # stops a runaway registration loop only (see test_tasks_rebalance.py)
TOPIC = "task-commands"
SEGMENT_TIMEOUT = 180  # for one kill target, a restart and the group's rebalance included
DRAIN_TIMEOUT = 180  # for the rest of the stream after the last restart
CACHE_PER_USER = 4  # tasks read through each API instance per user
COUNT_SQL = "SELECT count(*) FROM commands WHERE user_id = ANY(%s::uuid[])"


def uuid7():
    """A UUIDv7 (RFC 9562) as text: 48-bit Unix milliseconds, then random bits."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(secrets.token_bytes(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | ((rand >> 62) & 0xFFF) << 64 | 0b10 << 62
    return str(uuid.UUID(int=value | rand & ((1 << 62) - 1)))


# --- the model: the writer's decisions, replayed in order per user -----------------------------


class Model:
    """What the writer must make of a stream of commands, applied in stream order (which is
    the order per user: one key, one partition). A repeated command id is skipped; a create
    of an existing id is 409, by a user who does not exist 404; an update or delete of a
    task that does not exist or is another user's is 404, at another version than the
    expected one 412; otherwise version + 1 (a create: 1), a delete removes the task."""

    def __init__(self, users):
        self.users = set(users)
        self.tasks = {}  # task id -> fields, owner and version
        self.outcomes = {}  # command id -> (status, problem status or None, task version or None)
        self.events = defaultdict(list)  # user id -> [(command id, event type, task after)]

    def apply(self, cmd):
        """The outcome of cmd, or None for a command id seen before."""
        cid, user, tid = cmd["command_id"], cmd["user_id"], cmd["task_id"]
        if cid in self.outcomes:
            return None
        t = self.tasks.get(tid)
        if cmd["type"] == "task.create":
            if t is not None:
                out = ("rejected", 409, None)
            elif user not in self.users:
                out = ("rejected", 404, None)
            else:
                f = cmd["task"]
                t = {"id": tid, "owner": user, "title": f["title"], "description": f.get("description", ""),
                     "status": f.get("status", "todo"), "priority": f.get("priority", "medium"),
                     "due_at": f.get("due_at"), "tags": list(f.get("tags", [])), "version": 1}
                self.tasks[tid] = t
                out = ("applied", None, 1)
                self.events[user].append((cid, "taskbus.task.created", dict(t)))
        elif t is None or t["owner"] != user:
            out = ("rejected", 404, None)
        elif cmd["expected_version"] is not None and cmd["expected_version"] != t["version"]:
            out = ("rejected", 412, None)
        else:
            t["version"] += 1
            out = ("applied", None, t["version"])
            if cmd["type"] == "task.delete":
                del self.tasks[tid]
                self.events[user].append((cid, "taskbus.task.deleted", dict(t)))
            else:
                was_done = t["status"] == "done"
                t.update({k: (list(v) if k == "tags" else v) for k, v in cmd["patch"].items()})
                kind = "completed" if t["status"] == "done" and not was_done else "updated"
                self.events[user].append((cid, f"taskbus.task.{kind}", dict(t)))
        self.outcomes[cid] = out
        return out


# --- the stream ----------------------------------------------------------------------------------

STATUSES = ("todo", "in_progress", "done")
PRIORITIES = ("low", "medium", "high", "urgent")


def due(rng):
    return f"2031-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:15:00.000Z"


def new_fields(rng, n):
    f = {"title": f"drain {n}", "description": "", "status": "todo", "priority": "medium", "due_at": None,
         "tags": ["drain"]}
    if rng.random() < 0.3:
        f.update(status=rng.choice(STATUSES), priority=rng.choice(PRIORITIES), description=f"about {n}",
                 due_at=due(rng), tags=rng.sample(["a", "b", "c", "drain"], rng.randint(0, 3)))
    return f


def new_patch(rng, n):
    """A patch of 0-3 fields (an empty one only bumps the version)."""
    fields = {"title": lambda: f"drain {n} changed", "description": lambda: f"changed by {n}",
              "status": lambda: rng.choice(STATUSES), "priority": lambda: rng.choice(PRIORITIES),
              "due_at": lambda: rng.choice([None, due(rng)]), "tags": lambda: rng.sample(["x", "y", "z"], 2)}
    names = rng.sample(sorted(fields), rng.choice([0, 1, 1, 2, 2, 3]))
    return {k: fields[k]() for k in names}


def make_stream(seed, n, users, ghost):
    """n messages (command dicts; a repeated one is the same dict again) of a seeded mix,
    and the intended outcome counts (for the check that the mix has every decision).
    Which user sends what and what it targets depend on the seed only: ids are fresh."""
    rng = random.Random(seed)
    model = Model(users)
    live = {u: [] for u in users}  # the user's tasks that exist at this point of the stream
    gone = {u: [] for u in users}  # the user's tasks deleted by this point
    created = {u: [] for u in users}  # every task the user created so far
    stream, intended = [], Counter()
    issued = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def cmd(type_, user, tid, expected=None, task=None, patch=None):
        return {"command_id": uuid7(), "type": type_, "user_id": user, "task_id": tid, "issued_at": issued,
                "request_id": f"crash-drain-{len(stream)}", "expected_version": expected, "task": task,
                "patch": patch}

    while len(stream) < n:
        i = len(stream)
        u = rng.choice(users)
        r = rng.random()
        if r < 0.01 and stream:
            c, why = stream[rng.randrange(max(0, i - 3000), i)], "repeat"  # a duplicate produce
        elif r < 0.013:
            c, why = cmd("task.create", ghost, uuid7(), task=new_fields(rng, i)), "404"
        elif r < 0.023 and any(created[v] for v in users if v != u):
            v = rng.choice([v for v in users if v != u and created[v]])
            tid = rng.choice(created[v])
            c = (cmd("task.update", u, tid, patch=new_patch(rng, i)) if rng.random() < 0.7
                 else cmd("task.delete", u, tid))
            why = "404"
        elif r < 0.038 and live[u]:
            tid = rng.choice(live[u])
            v = model.tasks[tid]["version"]
            stale = v + 1 if v == 1 or rng.random() < 0.5 else v - 1
            c = (cmd("task.update", u, tid, expected=stale, patch=new_patch(rng, i)) if rng.random() < 0.8
                 else cmd("task.delete", u, tid, expected=stale))
            why = "412"
        elif r < 0.041 and gone[u]:
            c, why = cmd("task.update", u, rng.choice(gone[u]), patch=new_patch(rng, i)), "404"
        elif r < 0.044 and live[u]:
            c, why = cmd("task.create", u, rng.choice(live[u]), task=new_fields(rng, i)), "409"
        elif r < 0.19 and live[u]:
            tid = rng.choice(live[u])
            expected = model.tasks[tid]["version"] if rng.random() < 0.5 else None
            c, why = cmd("task.update", u, tid, expected=expected, patch=new_patch(rng, i)), "applied"
        elif r < 0.22 and live[u]:
            tid = live[u].pop(rng.randrange(len(live[u])))
            expected = model.tasks[tid]["version"] if rng.random() < 0.5 else None
            gone[u].append(tid)
            c, why = cmd("task.delete", u, tid, expected=expected), "applied"
        else:
            tid = uuid7()
            live[u].append(tid)
            created[u].append(tid)
            c, why = cmd("task.create", u, tid, task=new_fields(rng, i)), "applied"
        out = model.apply(c)
        got = "repeat" if out is None else "applied" if out[0] == "applied" else str(out[1])
        assert got == why, f"the generator meant {why}, its own model says {got}: {c}"
        intended[why] += 1
        stream.append(c)
    return stream, intended


def kill_targets(seed, unique):
    """KILLS increasing counts of applied commands, the k-th in the k-th equal part of
    KILL_SPAN of the stream."""
    rng = random.Random(f"{seed}-kills")
    lo, hi = unique * KILL_SPAN[0], unique * KILL_SPAN[1]
    step = (hi - lo) / KILLS
    return [int(lo + step * k + rng.random() * step) for k in range(KILLS)]


# --- the stack -----------------------------------------------------------------------------------


def partition_count():
    from confluent_kafka.admin import AdminClient

    md = AdminClient({"bootstrap.servers": env("KAFKA_BROKERS")}).list_topics(TOPIC, timeout=15)
    t = md.topics.get(TOPIC)
    assert t is not None and t.error is None and t.partitions, f"topic {TOPIC}: {t and t.error}"
    return len(t.partitions)


def spread_users(api_url, partitions):
    """USERS_PER_PARTITION fresh users on every partition of the commands topic (partition
    = CRC-32 of the user id, librdkafka's default `consistent_random`; the delivery reports
    check it), registered until every partition has its share."""
    by_part = defaultdict(list)
    for k in range(MAX_USERS):
        if all(len(by_part[p]) >= USERS_PER_PARTITION for p in range(partitions)):
            break
        api = task_user(api_url, f"tasks-crash-drain-{k}")
        p = zlib.crc32(api.id.encode()) % partitions
        if len(by_part[p]) < USERS_PER_PARTITION:
            by_part[p].append(api)
    apis = [a for p in range(partitions) for a in by_part[p]]
    assert len(apis) == partitions * USERS_PER_PARTITION, f"{MAX_USERS} users did not cover {partitions} partitions"
    return apis


def produce(stream):
    """Produces the stream in order (idempotent producer: no reordering, no duplicate of
    its own); returns the messages per partition from the delivery reports."""
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": env("KAFKA_BROKERS"), "enable.idempotence": True, "linger.ms": 5,
                  "batch.num.messages": 10000, "queue.buffering.max.messages": 1000000})
    failed, parts = [], Counter()

    def on_delivery(err, msg):
        if err is not None:
            failed.append(str(err))
        else:
            parts[msg.partition()] += 1

    for c in stream:
        value = json.dumps(c)
        while True:
            try:
                p.produce(TOPIC, key=c["user_id"], value=value, headers=[("request_id", c["request_id"].encode())],
                          on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    left = p.flush(60)
    assert left == 0 and not failed, f"producing the stream failed: {left} undelivered, errors {failed[:3]}"
    return parts


class Cache:
    """A few tasks per user read through both API instances: while the writer is killed
    (so an older version, or a 404 of a task not created yet, sits in the caches), and at
    the end, when every read must equal Postgres."""

    def __init__(self, apis, api2_url, model, seed):
        rng = random.Random(f"{seed}-cache")
        self.reads = []  # (client, task id)
        for a in apis:
            tids = sorted({ev[2]["id"] for ev in model.events[a.id]})
            for tid in rng.sample(tids, min(CACHE_PER_USER, len(tids))):
                self.reads += [(a, tid), (a.on(api2_url), tid)]
        self.warm_reads = 0

    def warm(self):
        for api, tid in self.reads:
            r = api.get(tid)
            assert r.status_code in (200, 404), f"GET {tid} while draining: {r.status_code} {r.text[:300]}"
            self.warm_reads += 1

    def check(self, in_pg):
        wrong = []
        for api, tid in self.reads:
            r = api.get(tid)
            want = in_pg.get(tid)
            if want is None:
                if r.status_code != 404:
                    wrong.append((api.c.base, tid, r.status_code, "want 404"))
            elif r.status_code != 200:
                wrong.append((api.c.base, tid, r.status_code, f"want version {want['version']}"))
            else:
                b = r.json()
                got = (b["version"], b["title"], b["status"])
                if got != (want["version"], want["title"], want["status"]):
                    wrong.append((api.c.base, tid, got, (want["version"], want["title"], want["status"])))
        return wrong


class PgLog:
    """What Postgres logged since a point: how many kills caught the writer inside a
    transaction (shown, never checked: where a kill lands is timing)."""

    def __init__(self):
        self.path = os.path.join(env("TASKBUS_DATA_DIR"), "logs", "postgres.log")
        self.start = os.path.getsize(self.path) if os.path.exists(self.path) else 0

    def open_transactions(self):
        if not os.path.exists(self.path):
            return None
        with open(self.path, "rb") as f:
            f.seek(self.start)
            return f.read().count(b"unexpected EOF on client connection with an open transaction")


def pg_tasks(conn, users):
    rows = conn.execute("SELECT id::text, owner_id::text, title, description, status, priority, due_at, tags,"
                        " version, completed_at IS NOT NULL FROM tasks WHERE owner_id = ANY(%s::uuid[])",
                        (users,)).fetchall()
    return {r[0]: {"id": r[0], "owner": r[1], "title": r[2], "description": r[3], "status": r[4],
                   "priority": r[5], "due_at": r[6], "tags": list(r[7]), "version": r[8], "completed": r[9]}
            for r in rows}


def model_row(t):
    return {"id": t["id"], "owner": t["owner"], "title": t["title"], "description": t["description"],
            "status": t["status"], "priority": t["priority"], "due_at": parse_time(t["due_at"]),
            "tags": t["tags"], "version": t["version"], "completed": t["status"] == "done"}


# --- the test ------------------------------------------------------------------------------------


def test_kill_writer_five_times_during_a_drain(api_url, api2_url):
    seed = int(os.environ.get("TASKBUS_CRASH_DRAIN_SEED") or secrets.randbits(32))
    print(f"crash-drain: seed {seed} (replay: TASKBUS_CRASH_DRAIN_SEED={seed}), {COMMANDS} commands")
    partitions = partition_count()
    apis = spread_users(api_url, partitions)
    users = [a.id for a in apis]
    ghost = str(uuid.uuid4())  # never registered: its creates are 404
    all_ids = users + [ghost]
    stream, intended = make_stream(seed, COMMANDS, users, ghost)
    model = Model(users)
    for c in stream:
        model.apply(c)
    unique = len(model.outcomes)
    targets = kill_targets(seed, unique)
    print(f"crash-drain: mix {dict(intended)}; {unique} distinct commands; kill targets {targets}")
    for why in ("applied", "repeat", "404", "409", "412"):
        assert intended[why] > 0, f"seed {seed}: the mix has no {why!r} command: {dict(intended)}"
    cache = Cache(apis, api2_url, model, seed)
    kills = []  # (target, count seen when killed, count committed after the kill, seconds since start)

    with pg() as conn:
        def count():
            return conn.execute(COUNT_SQL, (all_ids,)).fetchone()[0]

        def reached(target):
            c = count()
            return c if c >= target else None

        stack_control.stop("writer")
        try:
            parts = produce(stream)
            print(f"crash-drain: messages per partition {dict(sorted(parts.items()))}")
            cache.warm()  # nothing is applied yet: 404s in the caches
            pg_log = PgLog()
            t0 = time.monotonic()
            stack_control.start("writer")
            for n, target in enumerate(targets):
                seen = wait_until(lambda: reached(target), SEGMENT_TIMEOUT,
                                  f"seed {seed}: {target} commands applied before kill {n + 1} (kills so far "
                                  f"{kills})", interval=0.02)
                stack_control.kill("writer")
                kills.append((target, seen, count(), round(time.monotonic() - t0, 1)))
                if n % 2 == 1:
                    cache.warm()  # with the writer dead: whatever is cached now must be replaced
                stack_control.start("writer")
            print(f"crash-drain: kills (target, seen, committed at death, s) {kills}; "
                  f"{pg_log.open_transactions()} left a transaction open (postgres.log)")
            wait_until(lambda: count() >= unique, DRAIN_TIMEOUT,
                       f"seed {seed}: all {unique} commands applied after the kills {kills} (have {count()})",
                       interval=0.2)
            print(f"crash-drain: drained in {time.monotonic() - t0:.1f} s from the first start")
        finally:
            stack_control.start("writer", check=False)  # whatever happened, the next tests need one

        # commands: every command id once, with the model's outcome.
        rows = conn.execute("SELECT command_id::text, user_id::text, task_id::text, type, status,"
                            " (problem->>'status')::int, task_version FROM commands"
                            " WHERE user_id = ANY(%s::uuid[])", (all_ids,)).fetchall()
        by_cid = {c["command_id"]: c for c in stream}
        index = {}
        for i, c in enumerate(stream):
            index.setdefault(c["command_id"], i)
        got = {r[0]: r[1:] for r in rows}
        assert len(got) == len(rows), f"seed {seed}: a command id recorded twice"
        want = {cid: (by_cid[cid]["user_id"], by_cid[cid]["task_id"], by_cid[cid]["type"], *out)
                for cid, out in model.outcomes.items()}
        assert set(got) == set(want), (f"seed {seed}, kills {kills}: commands missing "
                                       f"{sorted(set(want) - set(got))[:5]}, unknown {sorted(set(got) - set(want))[:5]}")
        wrong = [(index[cid], want[cid], got[cid]) for cid in want if got[cid] != want[cid]]
        assert not wrong, (f"seed {seed}, kills {kills}: {len(wrong)} commands with another outcome "
                           f"((stream index, want, got), user, task, type, status, problem, version): "
                           f"{sorted(wrong)[:8]}")

        # tasks: exactly the model's.
        in_pg = pg_tasks(conn, users)
        want_tasks = {tid: model_row(t) for tid, t in model.tasks.items()}
        assert set(in_pg) == set(want_tasks), (f"seed {seed}, kills {kills}: tasks missing "
                                               f"{sorted(set(want_tasks) - set(in_pg))[:5]}, unexpected "
                                               f"{sorted(set(in_pg) - set(want_tasks))[:5]}")
        wrong = [(tid, want_tasks[tid], in_pg[tid]) for tid in want_tasks if in_pg[tid] != want_tasks[tid]]
        assert not wrong, f"seed {seed}, kills {kills}: {len(wrong)} tasks differ (want, got): {wrong[:5]}"

        # the cache, once the Redis effects of every committed batch have landed.
        wait_until(lambda: conn.execute("SELECT count(*) = 0 FROM writer_pending_effects").fetchone()[0], 60,
                   "the writer's journal of Redis effects is empty")
    wrong = cache.check(in_pg)
    assert not wrong, f"seed {seed}, kills {kills}: {len(wrong)} reads differ from Postgres: {wrong[:8]}"

    # task-events from the start: one event per applied command, per user in order.
    wait_outbox_published(users, timeout=120, topic="task-events")
    reader = TopicReader("task-events")
    try:
        recs = [m for m in reader.drain(timeout=120) if m["key"] in all_ids]
    finally:
        reader.close()
    check_events(seed, kills, model, users, recs)
    print(f"crash-drain: {len(recs)} event records; cache reads {cache.warm_reads} while draining, "
          f"{len(cache.reads)} at the end")


def check_events(seed, kills, model, users, recs):
    cid_of_event, first_seen, redelivered = {}, defaultdict(list), 0
    checked_types = set()
    for m in recs:
        ev = m["value"]
        assert isinstance(ev, dict), f"not JSON on task-events: {m['raw'][:200]!r}"
        if ev["type"] not in checked_types or len(cid_of_event) % 97 == 0:
            assert_event_valid(ev)  # every type and a sample (all 20 000 would take long)
            checked_types.add(ev["type"])
        cid = ev["data"]["command_id"]
        if ev["id"] in cid_of_event:
            assert cid_of_event[ev["id"]] == cid, f"event id {ev['id']} carries two commands"
            redelivered += 1
            continue
        cid_of_event[ev["id"]] = cid
        first_seen[m["key"]].append(ev)
    assert set(first_seen) <= set(users), f"events for a user that does not exist: {set(first_seen) - set(users)}"
    for u in users:
        want = model.events[u]
        got = first_seen.get(u, [])
        got_cids = [ev["data"]["command_id"] for ev in got]
        want_cids = [cid for cid, _, _ in want]
        if got_cids != want_cids:
            ids = Counter(got_cids)
            twice = [c for c, k in ids.items() if k > 1]
            assert not twice, f"seed {seed}, kills {kills}: user {u}: commands with two event ids: {twice[:5]}"
            missing = set(want_cids) - set(got_cids)
            extra = set(got_cids) - set(want_cids)
            assert not missing and not extra, (f"seed {seed}, kills {kills}: user {u}: {len(missing)} applied "
                                               f"commands without an event {sorted(missing)[:5]}, {len(extra)} "
                                               f"events of commands not applied {sorted(extra)[:5]}")
            k = next(i for i, (a, b) in enumerate(zip(got_cids, want_cids)) if a != b)
            raise AssertionError(f"seed {seed}, kills {kills}: user {u}: events out of order from the {k}-th: "
                                 f"got {got_cids[k:k + 3]}, want {want_cids[k:k + 3]}")
        for ev, (cid, type_, t) in zip(got, want):
            d = ev["data"]
            assert (ev["type"], d["id"], d["version"], d["user_id"]) == (type_, t["id"], t["version"], u), \
                f"seed {seed}: event of command {cid}: {ev}, want {type_} of {t}"
            if type_ != "taskbus.task.deleted":
                assert (d["title"], d["status"]) == (t["title"], t["status"]), \
                    f"seed {seed}: event of command {cid}: {ev}, want {t}"
    print(f"crash-drain: {len(cid_of_event)} events, {redelivered} re-deliveries of an event id")
