"""The fault suite's counting: what the stack holds after the faults, read from Postgres,
Kafka (`task-commands`, `task-events`) and Redis, set against the load's Ledger.

Owns: the topics' start offsets (taken before the load), reading a topic from them up to
its end, the waits for the stack to settle (every produced command applied, the writer's
after-commit journal empty, the outbox published), and the counts of the table:
accepted, applied, lost, duplicated (by title, by command, by key), stale reads, ghosts,
in-doubt writes, stuck keys, per-window client errors and recovery times.
Rules:
- A write attempt is tied to the commands it produced by its X-Request-ID (the API puts
  it in the command's `request_id`), so even a write whose answer was lost is found.
- Lost: an accepted write (2xx) whose command has no `commands` row, an accepted create
  whose task is not in `tasks`, a produced command never applied, or an applied command
  without an event on `task-events` (after the outbox is published).
- Duplicated: one logical write (all attempts of one request, all retries of one key)
  tied to two command ids the writer applied (a `commands` row with status `applied`:
  the API's fence of a command Kafka did not confirm is a `rejected` row, and a keyed
  retry after it gets a new command id by design); one command id carried by two
  different event ids; two tasks with one title; two answers of one key naming different
  tasks.
- Ghost: a write answered 503/429 only (the API said nothing was queued) that was applied
  (status `applied`; a fenced command is not).
- In doubt: an unkeyed write whose answer was lost (transport failure or a 5xx other
  than 503); applied once is allowed and counted apart, never as lost or duplicated.
- Stuck: a keyed create still unanswered (409 in flight, 5xx, no connection) when its
  retries ran out: the client cannot learn what became of it.
- Unanswered: during the SIGTERM of the API, a request whose connection broke before its
  answer although it was processed (its command is on task-commands, or the registration it
  asked for is stored). A broken connection alone is only shown: a request sent just as the
  server closes an idle keep-alive connection is never read, and no client can tell it
  apart from one that was.
- Every wait has a deadline and reports what it last saw; nothing is counted by sleeping.
"""

import json
import time
import uuid
from dataclasses import dataclass, field

from helpers.stack_control import env
from helpers.tasks import pg, redis_conn

COMMANDS_TOPIC = "task-commands"
EVENTS_TOPIC = "task-events"
# relay_main.c FENCE_MS (45 s): a relay that takes the lock after a kill -9 (the "relay"
# fault), or after losing its Postgres session with a failed delivery report in the last
# 45 s (the "kafka" then "postgres" faults), publishes nothing for that long. The count can
# start right after such a fault (TASKBUS_FAULTS_ONLY=relay: 5 s after the restart), so the
# wait for the outbox to be published must outlast the whole fence, plus time to publish.
RELAY_FENCE_S = 45
OUTBOX_PUBLISHED_TIMEOUT_S = RELAY_FENCE_S + 30


# --- Kafka ------------------------------------------------------------------------------


def _consumer():
    from confluent_kafka import Consumer

    return Consumer({
        "bootstrap.servers": env("KAFKA_BROKERS"),
        "group.id": f"faults-{uuid.uuid4()}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "fetch.wait.max.ms": 50,
    })


def topic_ends(topic, timeout=30):
    """{partition: high watermark} of a topic now."""
    from confluent_kafka import TopicPartition

    c = _consumer()
    try:
        md = c.list_topics(topic, timeout=timeout)
        tmd = md.topics.get(topic)
        assert tmd is not None and tmd.error is None and tmd.partitions, f"topic {topic}: {tmd and tmd.error}"
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)[1]
                for p in sorted(tmd.partitions)}
    finally:
        c.close()


def read_topic(topic, start, timeout=60):
    """Every record of `topic` from the offsets `start` up to the ends seen on entry:
    [{partition, offset, key, headers, value (parsed JSON or None)}]."""
    from confluent_kafka import TopicPartition

    ends = topic_ends(topic)
    c = _consumer()
    out = []
    try:
        pos = {p: start.get(p, 0) for p in ends}
        todo = [p for p in ends if pos[p] < ends[p]]
        if not todo:
            return out
        c.assign([TopicPartition(topic, p, pos[p]) for p in todo])
        deadline = time.monotonic() + timeout
        while any(pos[p] < ends[p] for p in todo):
            assert time.monotonic() < deadline, f"could not read {topic} up to {ends} (at {pos})"
            msg = c.poll(0.2)
            if msg is None or msg.error():
                continue
            pos[msg.partition()] = msg.offset() + 1
            try:
                value = json.loads(msg.value())
            except (TypeError, ValueError):
                value = None
            out.append({
                "partition": msg.partition(),
                "offset": msg.offset(),
                "key": msg.key().decode() if msg.key() is not None else None,
                "headers": {k: (v.decode(errors="replace") if v is not None else None)
                            for k, v in (msg.headers() or [])},
                "value": value,
            })
    finally:
        c.close()
    return out


def wait_for_request_ids(start, rids, timeout):
    """Waits until commands carrying every request id in `rids` are on task-commands
    (read from `start`); returns {request id: command id}."""
    deadline = time.monotonic() + timeout
    found = {}
    while True:
        for rec in read_topic(COMMANDS_TOPIC, start, timeout=max(5.0, deadline - time.monotonic())):
            v = rec["value"]
            if isinstance(v, dict) and v.get("request_id") in rids:
                found[v["request_id"]] = v.get("command_id")
        if set(found) >= set(rids):
            return found
        assert time.monotonic() < deadline, \
            f"{len(set(rids) - set(found))} of {len(rids)} commands never reached {COMMANDS_TOPIC} within {timeout} s"
        time.sleep(0.2)


# --- Postgres waits -----------------------------------------------------------------------


def wait_pg(sql, params, ok, timeout, what):
    """Polls a query until ok(rows) is true; returns the rows (the last ones on timeout,
    with `settled` False)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with pg() as conn:
                rows = conn.execute(sql, params).fetchall()
        except Exception as e:  # noqa: BLE001 - Postgres may still be recovering; asked again
            rows = e
        if not isinstance(rows, Exception) and ok(rows):
            return rows, True
        if time.monotonic() >= deadline:
            if isinstance(rows, Exception):
                raise AssertionError(f"{what}: Postgres unreachable: {rows!r}")
            return rows, False
        time.sleep(0.3)


# --- the result -------------------------------------------------------------------------


@dataclass
class WindowStats:
    name: str
    seconds: float = 0.0
    offered: int = 0
    not_sent: int = 0
    requests: int = 0
    ok: int = 0
    c409: int = 0
    c429: int = 0
    c4xx: int = 0
    c503: int = 0
    c5xx: int = 0
    refused: int = 0
    dropped: int = 0
    timeout: int = 0
    doubt_applied: int = 0
    doubt_not_applied: int = 0
    recovery_write: float | None = None
    recovery_apply: float | None = None


@dataclass
class Result:
    windows: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    samples: dict = field(default_factory=dict)


def count(ledger, users, timeline, starts, graceful_window, late_registrations, settle_timeout=60):
    """Settles the stack, reads it and returns a Result (counts, per-window stats, the
    failed checks with examples)."""
    res = Result()
    uids = {u.uid for u in users}
    writes = list(ledger.writes)

    # 1. Every command of these users on task-commands since the start.
    cmd_recs = [r for r in read_topic(COMMANDS_TOPIC, starts[COMMANDS_TOPIC])
                if isinstance(r["value"], dict) and r["value"].get("user_id") in uids]
    rid2cids, cid_info = {}, {}
    for r in cmd_recs:
        v = r["value"]
        cid = v.get("command_id")
        rid2cids.setdefault(v.get("request_id"), set()).add(cid)
        info = cid_info.setdefault(cid, {"type": v.get("type"), "task_id": v.get("task_id"),
                                         "user_id": v.get("user_id"), "messages": 0})
        info["messages"] += 1
    cids = sorted(cid_info)

    # 2. Every produced command applied (or rejected) by the writer.
    rows, settled = wait_pg(
        "SELECT command_id::text, status, task_version, extract(epoch FROM applied_at)::float8, task_id::text,"
        " status = 'rejected' AND problem->>'type' = '/problems/service-unavailable'"
        " FROM commands WHERE command_id = ANY(%s::uuid[])", (cids,),
        lambda rows: len(rows) >= len(cids), settle_timeout, "commands applied")
    applied = {c: (s, v, t, tid) for c, s, v, t, tid, _f in rows}
    # The API's fences (api/command_send.c): rows of commands it answered 503 for.
    fenced = {c for c, _s, _v, _t, _tid, f in rows if f}
    if not settled:
        res.notes.append(f"{len(cids) - len(applied)} produced commands were still unapplied after {settle_timeout} s")

    # 3. The writer's after-commit effects delivered, and the outbox published.
    _, ok_effects = wait_pg("SELECT count(*) FROM writer_pending_effects", (), lambda r: r[0][0] == 0, 30,
                            "writer journal")
    if not ok_effects:
        res.notes.append("the writer's journal of Redis effects was not empty after 30 s")
    _, ok_outbox = wait_pg("SELECT count(*) FROM outbox WHERE published_at IS NULL", (), lambda r: r[0][0] == 0,
                           OUTBOX_PUBLISHED_TIMEOUT_S, "outbox published")
    if not ok_outbox:
        res.notes.append(f"the outbox still held unpublished events after {OUTBOX_PUBLISHED_TIMEOUT_S} s")

    # 4. Events of these users on task-events since the start.
    ev_recs = [r for r in read_topic(EVENTS_TOPIC, starts[EVENTS_TOPIC]) if r["key"] in uids]
    events_of = {}
    for r in ev_recs:
        v = r["value"]
        if not isinstance(v, dict) or not isinstance(v.get("data"), dict):
            res.notes.append(f"a record on {EVENTS_TOPIC} is not an event: {str(v)[:120]}")
            continue
        events_of.setdefault(v["data"].get("command_id"), set()).add(v.get("id"))

    # 5. Tasks of these users.
    with pg() as conn:
        trows = conn.execute("SELECT id::text, owner_id::text, title, version FROM tasks"
                             " WHERE owner_id = ANY(%s::uuid[])", (list(uids),)).fetchall()
    tasks = {tid: (owner, title, version) for tid, owner, title, version in trows}

    # --- per logical write ---
    c = {k: 0 for k in ("accepted", "applied", "lost", "lost_events", "dup_title", "dup_command", "dup_key",
                        "stale", "ghost", "doubt_applied", "doubt_not_applied", "stuck", "stuck_applied",
                        "refused", "unanswered", "graceful_dropped", "probes", "probes_resolved",
                        "redelivered_events", "cache_behind", "final_reads")}
    examples = {k: [] for k in c}

    def ex(kind, text):
        c[kind] += 1
        if len(examples[kind]) < 5:
            examples[kind].append(text)

    for w in writes:
        answered = {cid for _, cid, _ in w.answers if cid}
        mine = set(answered)
        for a in w.attempts:
            mine |= rid2cids.get(a.request_id, set())
        mine.discard(None)
        done = [cid for cid in mine if cid in applied]
        # Applied for real: a commands row can also be the API's fence of a command Kafka
        # did not confirm ('rejected', never applied), and a keyed retry after that
        # fence gets a new command id by design (api/command_send.c).
        took = [cid for cid in done if applied[cid][0] == "applied"]
        label = f"{w.kind} {w.title or w.task_id} (key {w.key})" if w.keyed else f"{w.kind} {w.title or w.task_id}"
        if w.probe:
            c["probes"] += 1
        if len(took) > 1:
            ex("dup_command", f"{label}: {len(took)} command ids applied {sorted(took)} (of {sorted(mine)})")
        if w.state == "accepted":
            c["accepted"] += 1
            if w.probe:
                c["probes_resolved"] += 1
            tids = {tid for _, _, tid in w.answers if tid}
            if len(tids) > 1:
                ex("dup_key", f"{label}: answers name tasks {sorted(tids)}")
            if not [cid for cid in done if cid not in fenced]:
                # A fence row alone is an accepted write that vanished: the API fenced a
                # command it had answered 2xx for.
                ex("lost", f"{label}: answered {[s for s, _, _ in w.answers]} but no command applied "
                           f"(commands {sorted(mine)}, fenced {sorted(set(done) & fenced)})")
                continue
            c["applied"] += 1
            if w.kind == "create":
                st = [applied[cid][0] for cid in done]
                if "applied" in st and w.task_id not in tasks:
                    ex("lost", f"{label}: applied but task {w.task_id} is not in tasks")
        elif w.keyed and w.state not in ("unexpected", "rejected"):
            # A key is retried until answered: one that never was is stuck, whatever its
            # last answer was.
            ex("stuck", f"{label}: unanswered after {len(w.attempts)} attempts, last "
                        f"{_attempt_text(w.attempts[-1]) if w.attempts else '-'}")
            if took:
                c["stuck_applied"] += 1
        elif w.state in ("in_doubt",):
            if took:
                c["doubt_applied"] += 1
            else:
                c["doubt_not_applied"] += 1
        elif w.state == "refused":
            c["refused"] += 1
            if took:
                ex("ghost", f"{label}: answered {[_attempt_text(a) for a in w.attempts]} yet applied "
                            f"({sorted(took)})")

    # Produced but never applied: the writer lost a command it was given.
    for cid in cids:
        if cid not in applied:
            ex("lost", f"command {cid} ({cid_info[cid]['type']}) on {COMMANDS_TOPIC} never applied")
    # Applied without an event.
    for cid, (status, _v, _t, _tid) in applied.items():
        if status == "applied" and not events_of.get(cid):
            ex("lost_events", f"command {cid} applied, no event on {EVENTS_TOPIC}")
    for cid, ids in events_of.items():
        if len(ids) > 1:
            ex("dup_command", f"command {cid}: {len(ids)} different events {sorted(ids)[:3]}")
    c["redelivered_events"] = len(ev_recs) - sum(len(v) for v in events_of.values())
    by_title = {}
    for tid, (_owner, title, _v) in tasks.items():
        by_title.setdefault(title, []).append(tid)
    for title, tids in by_title.items():
        if len(tids) > 1 and title.startswith(f"flt-{ledger.run_id}-"):
            ex("dup_title", f"{title}: {len(tids)} tasks {sorted(tids)}")

    # Stale reads the load saw.
    for s in ledger.stale:
        ex("stale", s)

    # Redis: a cached task older than Postgres (its effects delivered) would be served.
    r = redis_conn()
    items = list(tasks.items())
    for i in range(0, len(items), 500):
        chunk = items[i:i + 500]
        pipe = r.pipeline(transaction=False)
        for tid, (owner, _t, _v) in chunk:
            pipe.get("{u:%s}:task:%s" % (owner, tid))
        for (tid, (_o, _t, version)), raw in zip(chunk, pipe.execute()):
            if raw is None:
                continue
            try:
                cached = json.loads(raw)
            except ValueError:
                ex("cache_behind", f"task {tid}: unreadable cache entry {raw[:80]!r}")
                continue
            cv = cached.get("version") if isinstance(cached, dict) else None
            if not isinstance(cv, int) or cv < version:
                ex("cache_behind", f"task {tid}: Redis holds version {cv}, Postgres {version}")
    r.close()
    for s in examples["cache_behind"]:
        if len(examples["stale"]) < 5:
            examples["stale"].append("(cache) " + s)
    c["stale"] += c["cache_behind"]

    # The graceful stop: nothing that was read goes unanswered. A lost connection is
    # counted (shown); one whose request is proven processed is a failure.
    for a in ledger.attempts:
        if a.window == graceful_window and a.error in ("dropped", "timeout"):
            ex("graceful_dropped", f"{a.request_id}: {a.error}")
    for w in writes:
        for a in w.attempts:
            if a.error is not None and any(cid in applied for cid in rid2cids.get(a.request_id, ())):
                if a.window == graceful_window:
                    ex("unanswered", f"{a.request_id} ({w.kind} {w.title or w.task_id}): {a.error}, yet applied")
    by_rid = {a.request_id: a for a in ledger.attempts}
    lost_answers = {rid: email for rid, email in late_registrations.items()
                    if by_rid.get(rid) is not None and by_rid[rid].error is not None}
    if lost_answers:
        with pg() as conn:
            made = {e for (e,) in conn.execute("SELECT email FROM pending_registrations WHERE email = ANY(%s)",
                                               (list(lost_answers.values()),)).fetchall()}
        for rid, email in lost_answers.items():
            if email in made:
                ex("unanswered", f"{rid} (register {email}): {by_rid[rid].error}, yet the registration is stored")

    # --- per window ---
    write_attempts = {a.request_id: w for w in writes for a in w.attempts}
    for wd in timeline:
        st = WindowStats(wd["name"], seconds=round(wd["end"] - wd["start"], 1))
        st.offered = ledger.offered.get(wd["name"], 0)
        st.not_sent = ledger.dropped_tickets.get(wd["name"], 0)
        first_ok, first_applied = None, None
        for a in ledger.attempts:
            if a.window != wd["name"]:
                continue
            st.requests += 1
            if a.error == "refused":
                st.refused += 1
            elif a.error == "dropped":
                st.dropped += 1
            elif a.error == "timeout":
                st.timeout += 1
            elif a.status is not None:
                if 200 <= a.status < 300:
                    st.ok += 1
                elif a.status == 409:
                    st.c409 += 1
                elif a.status == 429:
                    st.c429 += 1
                elif a.status == 503:
                    st.c503 += 1
                elif a.status >= 500:
                    st.c5xx += 1
                else:
                    st.c4xx += 1
            w = write_attempts.get(a.request_id)
            if w is None or wd.get("inject") is None or a.sent < wd["inject"]:
                continue
            if a.status is not None and 200 <= a.status < 300:
                first_ok = a.done if first_ok is None else min(first_ok, a.done)
            for cid in rid2cids.get(a.request_id, ()):
                if cid in applied:
                    t = applied[cid][2]
                    first_applied = t if first_applied is None else min(first_applied, t)
        for w in writes:
            if w.state == "in_doubt" and w.attempts and w.attempts[0].window == wd["name"]:
                mine = set()
                for a in w.attempts:
                    mine |= rid2cids.get(a.request_id, set())
                if any(cid in applied for cid in mine):
                    st.doubt_applied += 1
                else:
                    st.doubt_not_applied += 1
        if wd.get("inject") is not None:
            st.recovery_write = None if first_ok is None else round(first_ok - wd["inject"], 2)
            st.recovery_apply = None if first_applied is None else round(first_applied - wd["inject"], 2)
        res.windows.append(st)

    # Answers that are neither 2xx nor a refusal, by window and route (shown, not checked).
    odd = {}
    for a in ledger.attempts:
        if a.status is not None and a.status >= 400 and a.status not in (429, 503):
            k = (a.window, a.route, a.status)
            odd[k] = odd.get(k, 0) + 1
    for (window, route, status), n in sorted(odd.items()):
        res.notes.append(f"{window}: {route} answered {status} {n} time(s)")

    res.counts = c
    res.samples = examples
    res.counts["commands_produced"] = len(cids)
    res.counts["command_messages"] = len(cmd_recs)
    res.counts["events"] = len(ev_recs)
    res.counts["tasks"] = len(tasks)
    res.counts["reads"] = len(ledger.reads)
    res.counts["writes"] = len(writes)
    res.counts["unexpected"] = len(ledger.unexpected)
    return res


def final_reads(api_url, users, per_user=10):
    """After everything settled: the last tasks each user touched, read through the API,
    against Postgres. Returns ([stale descriptions], number read)."""
    from helpers.api import Client

    stale, n = [], 0
    with pg() as conn:
        for u in users:
            tids = u.known[-per_user:]
            if not tids:
                continue
            pgv = dict(conn.execute("SELECT id::text, version FROM tasks WHERE id = ANY(%s::uuid[])",
                                    (tids,)).fetchall())
            c = Client(api_url)
            for tid in tids:
                resp = c.get(f"/api/v1/tasks/{tid}", token=u.token, timeout=15)
                n += 1
                want = pgv.get(tid)
                if resp.status_code == 200:
                    got = resp.json().get("version")
                    if want is None or got != want:
                        stale.append(f"final GET {tid}: version {got}, Postgres {want}")
                elif resp.status_code == 404:
                    if want is not None:
                        stale.append(f"final GET {tid}: 404, Postgres has version {want}")
                else:
                    stale.append(f"final GET {tid}: {resp.status_code} {resp.text[:120]}")
    return stale, n


def _attempt_text(a):
    return f"{a.status}" if a.error is None else a.error
