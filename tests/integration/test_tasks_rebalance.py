"""Several writers in one consumer group share the partitions; a rebalance loses and
duplicates nothing (issue 3, "Writer").

The stack runs one taskbus-writer. Under a steady stream of creates from users whose keys
cover all six partitions of `task-commands`, two more writers join the group (the group
must settle with three members, each holding partitions, and each extra's own log must
name its assignment); one leaves gracefully (SIGTERM: the group settles with two), the
other is killed (SIGKILL: its partitions move back after the 10 s session timeout, while
creates keep coming). Afterwards every accepted (202) create is applied exactly once:
Postgres holds exactly the accepted tasks of these users, each at version 1, `commands`
has one applied row per accepted command, the group's stored offsets reach the end of
every partition, and `task-events` carries one event id per command (the relay is
at-least-once, so the same event id twice is allowed; two different event ids for one
command would be a command applied twice).
"""

import os
import signal
import subprocess
import threading
import time

import pytest
import zlib

import requests

from helpers.stack_control import env
from helpers.tasks import (TopicReader, assert_event_valid, pg, task_of, task_user, wait_outbox_published,
                           wait_until)

pytestmark = pytest.mark.single_stack_only(reason="expects one writer in the group (the scaled stack runs three)")

PARTITIONS = 6
USERS_PER_PARTITION = 2
# Users are registered until every partition has its share: about 25 on average. The cap
# only stops a runaway loop (a partitioner other than the one computed below): with 300
# users, a partition short of two has a probability under 1e-20.
MAX_USERS = 300
STREAMS = 3
PAUSE = 0.03  # between two creates of one stream: some 50-80 creates/s in all
TOPIC = os.environ.get("TASKBUS_WRITER_TOPIC") or "task-commands"
GROUP = os.environ.get("TASKBUS_WRITER_GROUP") or "taskbus-writer"
ASSIGNED = f"consumer {GROUP}: assigned "


def partition_of(key):
    """The partition librdkafka's default partitioner (`consistent_random`: CRC-32 of a
    non-empty key, modulo the partition count) gives a key; shared/kafka_producer.c keeps
    that default (it sets no `partitioner`)."""
    return zlib.crc32(key.encode()) % PARTITIONS


def spread_users(api_url):
    """Users whose ids (the command key) land on every partition, USERS_PER_PARTITION each:
    registered until every partition has its share (ids are the server's, so they are
    chosen by where they land, not by luck). The test checks the spread against the topic
    afterwards, so a different partitioner fails loudly, not silently."""
    by_part = {p: [] for p in range(PARTITIONS)}
    for k in range(MAX_USERS):
        if all(len(v) >= USERS_PER_PARTITION for v in by_part.values()):
            break
        api = task_user(api_url, f"tasks-rebalance-{k}")
        part = partition_of(api.id)
        if len(by_part[part]) < USERS_PER_PARTITION:
            by_part[part].append(api)
    apis = [a for v in by_part.values() for a in v]
    assert len(apis) == PARTITIONS * USERS_PER_PARTITION, \
        f"{MAX_USERS} users did not cover {PARTITIONS} partitions: {[len(v) for v in by_part.values()]}"
    return apis


class ExtraWriter:
    """A taskbus-writer this test starts, with the stack's environment (sanitizer options
    included, so a report lands where tests/run looks), logging to its own file."""

    def __init__(self, n):
        build = env("TASKBUS_BUILD_DIR")
        logs = os.path.join(env("TASKBUS_DATA_DIR"), "logs")
        os.makedirs(logs, exist_ok=True)
        self.log_path = os.path.join(logs, f"writer-extra-{n}.log")
        binary = os.path.join(build, "taskbus-writer")
        assert os.access(binary, os.X_OK), f"{binary} is not built"
        self._log = open(self.log_path, "ab")
        self._log_start = os.fstat(self._log.fileno()).st_size  # a rerun on the same stack appends; read only this run
        # Port 0: no /health, /ready, /metrics listener (the stack's own daemon holds the
        # port of the offset scheme; docs/decisions.md "Every daemon observable").
        self.proc = subprocess.Popen([binary], env={**os.environ, "TASKBUS_WRITER_METRICS_PORT": "0"}, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def assignments(self):
        """The partition counts of every "assigned N partition(s)" line of its log."""
        with open(self.log_path, "rb") as f:
            f.seek(self._log_start)
            text = f.read().decode(errors="replace")
        out = []
        for line in text.splitlines():
            i = line.find(ASSIGNED)
            if i >= 0:
                out.append(int(line[i + len(ASSIGNED):].split()[0]))
        return out

    def stop(self):
        """Ends it whatever state it is in: SIGTERM, then SIGKILL after 20 s."""
        if self.alive():
            self.signal(signal.SIGTERM)
            if self.wait(20) is None:
                self.signal(signal.SIGKILL)
                self.wait(10)
        self._log.close()


def describe_group(admin):
    """(state name, [partition count of each member]) of the writers' group."""
    desc = admin.describe_consumer_groups([GROUP], request_timeout=10)[GROUP].result()
    counts = []
    for m in desc.members:
        tps = m.assignment.topic_partitions if m.assignment is not None else []
        counts.append(len([tp for tp in tps if tp.topic == TOPIC]))
    return desc.state.name, sorted(counts)


def wait_group(admin, members, timeout, what):
    """Waits until the group is stable with `members` members, each holding partitions,
    all of them held; returns the partition counts."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = describe_group(admin)
        except Exception as e:  # noqa: BLE001 - a coordinator moving answers an error; asked again
            last = repr(e)
        else:
            state, counts = last
            if state == "STABLE" and len(counts) == members and min(counts) > 0 and sum(counts) == PARTITIONS:
                return counts
        time.sleep(0.3)
    raise AssertionError(f"{what}: group {GROUP} not stable with {members} member(s) holding all "
                         f"{PARTITIONS} partitions within {timeout} s (last: {last})")


def test_writers_share_partitions_and_a_rebalance_loses_and_duplicates_nothing(api_url):
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": env("KAFKA_BROKERS")})
    wait_group(admin, 1, 30, "before the test (only the stack's writer)")
    apis = spread_users(api_url)
    user_ids = [a.id for a in apis]
    commands_topic = TopicReader(TOPIC, from_beginning=False)
    events_topic = TopicReader("task-events", from_beginning=False)

    accepted = {}  # task id -> (command id, user id, title)
    refused = []  # answers other than 202, and transport errors (the API is never touched)
    lock = threading.Lock()  # guards the two above
    stop = threading.Event()

    def stream(k):
        mine = [a.clone() for a in apis]
        i = 0
        while not stop.is_set():
            api = mine[(i + k) % len(mine)]
            title = f"rebalance-{k}-{i:05d}"
            i += 1
            try:
                r = api.create({"title": title}, timeout=15)
            except requests.RequestException as e:
                with lock:
                    refused.append(("transport", repr(e)[:200]))
                continue
            with lock:
                if r.status_code == 202:
                    b = r.json()
                    accepted[task_of(b)["id"]] = (b["command_id"], api.id, title)
                else:
                    refused.append((r.status_code, r.text[:200]))
            time.sleep(PAUSE)

    def load_goes_on(more, what):
        """Waits until `more` further creates were accepted (or one was refused, which the
        assertions below report): each phase meets real load, however slow the machine."""
        with lock:
            target = len(accepted) + more

        def reached():
            with lock:
                return len(accepted) >= target or bool(refused)

        wait_until(reached, 90, f"{more} more creates accepted {what}", interval=0.05)

    threads = [threading.Thread(target=stream, args=(k,), daemon=True) for k in range(STREAMS)]
    extras = []
    phases = {}
    try:
        for th in threads:
            th.start()
        load_goes_on(30, "before the extra writers start")
        extras = [ExtraWriter(1), ExtraWriter(2)]
        phases["three"] = wait_group(admin, 3, 40, "after two writers joined")
        for x in extras:
            assert x.alive(), f"an extra writer exited ({x.proc.returncode}); see {x.log_path}"
        load_goes_on(100, "with three writers")
        phases["accepted_with_three"] = len(accepted)

        extras[0].signal(signal.SIGTERM)
        rc = extras[0].wait(20)
        assert rc == 0, f"the extra writer stopped by SIGTERM exited {rc}; see {extras[0].log_path}"
        phases["two"] = wait_group(admin, 2, 30, "after one writer left (SIGTERM)")
        load_goes_on(60, "with two writers")

        extras[1].signal(signal.SIGKILL)
        assert extras[1].wait(10) == -signal.SIGKILL
        t_kill = time.monotonic()
        phases["one"] = wait_group(admin, 1, 40, "after one writer was killed (SIGKILL)")
        phases["seconds_to_recover"] = round(time.monotonic() - t_kill, 1)
        load_goes_on(60, "after the killed writer's partitions moved back")
    finally:
        stop.set()
        for th in threads:
            th.join(timeout=30)
        for x in extras:
            x.stop()
    # Shown with a failure: how the group moved and how much load it met.
    print(f"rebalance: {len(accepted)} accepted; group phases {phases}")
    assert not any(th.is_alive() for th in threads)
    assert not refused, f"creates refused while writers came and went: {refused[:5]}"
    for x in extras:
        took = x.assignments()
        assert took and max(took) > 0, f"{x.log_path} never logged an assignment of partitions: {took}"

    cids = {v[0] for v in accepted.values()}
    with pg() as conn:
        deadline = time.monotonic() + 60
        while True:
            rows = conn.execute("SELECT command_id::text, status FROM commands WHERE command_id = ANY(%s::uuid[])",
                                (list(cids),)).fetchall()
            if len(rows) >= len(cids):
                break
            assert time.monotonic() < deadline, \
                f"{len(cids) - len(rows)} of {len(cids)} accepted commands never applied"
            time.sleep(0.5)
        assert len(rows) == len(cids) and {c for c, _ in rows} == cids, "a command was recorded twice"
        assert {s for _, s in rows} == {"applied"}, f"accepted creates were not all applied: {set(s for _, s in rows)}"

        tasks = conn.execute("SELECT id::text, owner_id::text, title, version FROM tasks "
                             "WHERE owner_id = ANY(%s::uuid[])", (user_ids,)).fetchall()
        in_pg = {tid: (owner, title, version) for tid, owner, title, version in tasks}
        assert len(in_pg) == len(tasks)
        missing = set(accepted) - set(in_pg)
        extra = set(in_pg) - set(accepted)
        assert not missing, f"{len(missing)} accepted tasks are not in Postgres: {sorted(missing)[:5]}"
        assert not extra, f"{len(extra)} tasks in Postgres were never accepted: {sorted(extra)[:5]}"
        for tid, (cid, uid, title) in accepted.items():
            assert in_pg[tid] == (uid, title, 1), (tid, in_pg[tid], uid, title)
        mine = conn.execute("SELECT count(*) FROM commands WHERE user_id = ANY(%s::uuid[])", (user_ids,)).fetchone()[0]
        assert mine == len(cids), f"{mine} commands recorded for these users, {len(cids)} accepted"

    # Every command these users sent went to the partition of its key, and they covered all.
    sent = [m for m in commands_topic.drain() if m["key"] in user_ids]
    commands_topic.close()
    assert {m["partition"] for m in sent} == set(range(PARTITIONS)), \
        f"the creates did not cover every partition: {sorted({m['partition'] for m in sent})}"
    assert len(sent) == len(cids), f"{len(sent)} commands on {TOPIC} for these users, {len(cids)} accepted"
    check_offsets_reach_the_end()

    try:
        # Every command is applied (above), so once the outbox has published every event of
        # these users, task-events holds all of them (and any second event of a command)
        # below its high watermark, which drain() reads up to.
        wait_outbox_published(user_ids, timeout=60, topic="task-events")
        recs = [m for m in events_topic.drain() if m["key"] in user_ids]
    finally:
        events_topic.close()
    ids_by_cid = {}
    for m in recs:
        ev = m["value"]
        assert isinstance(ev, dict), f"not JSON on task-events: {m['raw'][:200]!r}"
        assert_event_valid(ev)
        assert ev["type"] == "taskbus.task.created", ev
        ids_by_cid.setdefault(ev["data"]["command_id"], set()).add(ev["id"])
    missing = cids - set(ids_by_cid)
    assert not missing, f"{len(missing)} accepted commands have no event: {sorted(missing)[:5]}"
    assert set(ids_by_cid) == cids, f"events for commands never accepted: {sorted(set(ids_by_cid) - cids)[:5]}"
    doubled = {c: i for c, i in ids_by_cid.items() if len(i) > 1}
    assert not doubled, f"{len(doubled)} commands were applied twice (two event ids): {list(doubled.items())[:3]}"


def check_offsets_reach_the_end():
    """The group's offsets in Postgres (written with each batch) reach the end of every
    partition: no record was skipped over by a writer that took a partition over."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": env("KAFKA_BROKERS"), "group.id": f"itests-offsets-{time.time_ns()}",
                  "enable.auto.commit": False})
    try:
        ends = {p: c.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=15)[1] for p in range(PARTITIONS)}
    finally:
        c.close()
    with pg() as conn:
        deadline = time.monotonic() + 30
        while True:
            stored = dict(conn.execute("SELECT partition, next_offset FROM kafka_consumer_offsets "
                                       "WHERE group_id = %s AND topic = %s", (GROUP, TOPIC)).fetchall())
            if all(stored.get(p, -1) >= ends[p] for p in range(PARTITIONS)):
                break
            assert time.monotonic() < deadline, f"stored offsets {stored} never reached the ends {ends}"
            time.sleep(0.5)
