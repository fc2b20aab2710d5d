"""state_mirror: a copy of taskbus's tasks kept from Kafka alone (issue 12; see README.md).

Owns: bootstrapping a dict task id -> task from the compacted topic `task-state`, then
following `task-events` (and `task-state`, for tasks removed without an event) so the
dict stays equal to the tasks in Postgres.
Rules (docs/decisions.md "Issue 12"):
- Bootstrap: (1) note task-events' high watermarks, (2) read task-state from its start to
  its high watermarks (a value is the task's latest CloudEvent, a tombstone removes the
  key), (3) follow task-events from the offsets of (1) AND task-state from those of (2).
  Following task-state is not optional: a task removed without a command (an account
  deleted, an operator's DELETE or TRUNCATE) has no task-events event at all; its
  tombstone on task-state is the only signal. (follow_state=False exists for tests that
  prove the task-events half alone.) The relay produces a task-events record only after the same row's task-state record was
  delivered, so every event below the watermarks of (1) is already in what (2) read.
- An event is applied only when its data.version is newer than the held one; a delete
  when it is not older. Deleted ids are remembered with their version, so an event
  older than the delete never resurrects one; a task-state tombstone carries no version
  and means the task is gone for good (task ids are UUIDv7s, never reused). An EMPTY
  task-state value means gone too: a relay older than migration 0016 publishes a removal
  row that way (docs/decisions.md "Tombstones for every way a task leaves Postgres"). A
  value that is not a JSON CloudEvent is skipped with a warning on stderr, never a crash.
- Delivery is at-least-once: the version rule makes a repeated event harmless.
- Nothing is committed: the mirror lives in memory and bootstraps again on restart.
"""

import argparse
import json
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

EVENTS_TOPIC = "task-events"
STATE_TOPIC = "task-state"
EXISTING = ("taskbus.task.created", "taskbus.task.updated", "taskbus.task.completed")
DELETED = "taskbus.task.deleted"
GONE = float("inf")  # the version of a task-state tombstone: no event resurrects the task


class StateMirror:
    """The tasks as Kafka tells them. tasks: id -> the event's data (the task's full
    representation plus user_id and command_id)."""

    def __init__(self, brokers, group_id=None, events_topic=EVENTS_TOPIC, state_topic=STATE_TOPIC,
                 extra_config=None, follow_state=True):
        self.events_topic = events_topic
        self.follow_state = follow_state
        self.state_topic = state_topic
        self.group_id = group_id or f"state-mirror-{uuid.uuid4()}"
        conf = {
            "bootstrap.servers": brokers,
            "group.id": self.group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "error",  # offsets are always given; never a silent jump
            "fetch.wait.max.ms": 100,
            "enable.partition.eof": True,  # the end of a partition is reported (see _poll_one)
        }
        conf.update(extra_config or {})
        self._consumer = Consumer(conf)
        self.tasks = {}
        self.deleted = {}  # id -> version of the delete (GONE: a task-state tombstone)
        self.positions = {}  # (topic, partition) -> next offset to read
        self.applied = 0
        self.skipped = 0

    # --- applying ------------------------------------------------------------------------

    def apply_value(self, data):
        """A created/updated/completed event's data (or a task-state value's)."""
        tid, version = data["id"], data["version"]
        if self.deleted.get(tid, -1) >= version:
            self.skipped += 1
            return
        held = self.tasks.get(tid)
        if held is not None and held["version"] >= version:
            self.skipped += 1
            return
        self.tasks[tid] = data
        self.applied += 1

    def apply_delete(self, tid, version):
        """A taskbus.task.deleted event (version) or a task-state tombstone (GONE)."""
        held = self.tasks.get(tid)
        if held is not None and held["version"] > version:
            self.skipped += 1
            return
        self.tasks.pop(tid, None)
        self.deleted[tid] = max(self.deleted.get(tid, -1), version)
        self.applied += 1

    def apply_record(self, topic, key, value):
        """One Kafka record of task-events or task-state (value None or empty on task-state:
        the task is gone)."""
        if not value:
            if topic == self.state_topic and key is not None:
                self.apply_delete(key.decode(), GONE)
            return
        try:
            ev = json.loads(value)
        except ValueError as e:
            print(f"state_mirror: skipping a {topic} record (key {key!r}) that is not JSON: {e}",
                  file=sys.stderr)
            self.skipped += 1
            return
        if not isinstance(ev, dict):
            self.skipped += 1
            return
        typ, data = ev.get("type"), ev.get("data")
        if not isinstance(data, dict) or "id" not in data or "version" not in data:
            return
        if typ in EXISTING:
            self.apply_value(data)
        elif typ == DELETED:
            self.apply_delete(data["id"], data["version"])

    # --- reading -------------------------------------------------------------------------

    def _partitions(self, topic, timeout):
        md = self._consumer.list_topics(topic, timeout=timeout)
        tmd = md.topics.get(topic)
        if tmd is None or tmd.error is not None or not tmd.partitions:
            raise RuntimeError(f"Kafka topic {topic!r} is missing: {tmd and tmd.error}")
        return sorted(tmd.partitions)

    def watermarks(self, topic, timeout=15):
        """{partition: (low, high)} of topic, as the broker says now."""
        return {p: self._consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
                for p in self._partitions(topic, timeout)}

    def _poll_one(self, timeout):
        msg = self._consumer.poll(timeout)
        if msg is None:
            return False
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                # The end of what the partition holds: the position is its high watermark
                # even when the last offsets hold no record any more (compaction).
                tp = (msg.topic(), msg.partition())
                self.positions[tp] = max(self.positions.get(tp, 0), msg.offset())
                return False
            if msg.error().fatal() or not msg.error().retriable():
                raise KafkaException(msg.error())
            return False
        self.apply_record(msg.topic(), msg.key(), msg.value())
        self.positions[(msg.topic(), msg.partition())] = msg.offset() + 1
        return True

    def _read_until(self, ends, deadline):
        """Polls until every (topic, partition) of ends was read up to its end offset."""
        while any(self.positions.get(tp, 0) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                behind = {tp: (self.positions.get(tp), end) for tp, end in ends.items()
                          if self.positions.get(tp, 0) < end}
                raise TimeoutError(f"not read up to the watermarks: {behind}")
            self._poll_one(0.2)

    def bootstrap(self, timeout=120.0):
        """Steps (1)-(2) of the module's rules, then assigns both topics for following."""
        deadline = time.monotonic() + timeout
        events_start = {p: hw for p, (_, hw) in self.watermarks(self.events_topic).items()}
        state_marks = self.watermarks(self.state_topic)
        self._consumer.assign([TopicPartition(self.state_topic, p, low)
                               for p, (low, _) in state_marks.items()])
        for p, (low, _) in state_marks.items():
            self.positions[(self.state_topic, p)] = low
        self._read_until({(self.state_topic, p): hw for p, (_, hw) in state_marks.items()}, deadline)
        # Follow: task-events from (1), task-state from where the bootstrap stopped.
        follow = [TopicPartition(self.state_topic, p, self.positions[(self.state_topic, p)])
                  for p in state_marks] if self.follow_state else []
        follow += [TopicPartition(self.events_topic, p, off) for p, off in events_start.items()]
        for p, off in events_start.items():
            self.positions[(self.events_topic, p)] = off
        self._consumer.assign(follow)
        return len(self.tasks)

    def poll(self, timeout=1.0):
        """Applies what arrives within timeout seconds (after bootstrap). Records read."""
        deadline = time.monotonic() + timeout
        n = 0
        while time.monotonic() < deadline:
            if self._poll_one(max(0.0, min(0.2, deadline - time.monotonic()))):
                n += 1
        return n

    def catch_up(self, timeout=60.0):
        """Reads the followed topics up to the high watermarks they have now."""
        deadline = time.monotonic() + timeout
        ends = {}
        for topic in (self.events_topic, self.state_topic) if self.follow_state else (self.events_topic,):
            for p, (_, hw) in self.watermarks(topic).items():
                ends[(topic, p)] = hw
        self._read_until(ends, deadline)

    def close(self):
        self._consumer.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description="Bootstrap taskbus's tasks from task-state, then "
                                             "follow task-events and task-state; print the state "
                                             "as JSON lines.")
    ap.add_argument("--brokers", required=True, help="Kafka bootstrap servers (host:port,...)")
    ap.add_argument("--group", default=None, help="consumer group id (default: a new one)")
    ap.add_argument("--user", default=None, help="print only this user's tasks")
    ap.add_argument("--follow", type=float, default=0.0,
                    help="seconds to follow the stream after the bootstrap (default 0)")
    args = ap.parse_args(argv)
    m = StateMirror(args.brokers, args.group)
    try:
        n = m.bootstrap()
        print(f"bootstrapped {n} tasks from {STATE_TOPIC}", file=sys.stderr)
        if args.follow > 0:
            m.poll(args.follow)
        for tid in sorted(m.tasks):
            t = m.tasks[tid]
            if args.user is None or t.get("user_id") == args.user:
                print(json.dumps(t, sort_keys=True))
    finally:
        m.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
