"""Kafka side of the integration tests: a collector of one topic's messages.

Owns: opening a reader of every partition of a topic at its watermarks (assigned_reader,
which helpers/tasks.py's TopicReader uses too), a consumed message as a record
(record_of), and the collector: one consumer (unique group id, auto.offset.reset=earliest,
no commits) assigned to every partition of the topic from the high watermarks seen when it
starts, read by a background thread into a list that tests wait on with a bounded timeout.
Rules: starting at the watermarks read before any test acts means every event a test
causes is seen, while a long-lived topic's history is not re-read; the thread stops on
close(); a consumer error is kept and raised to the waiting test, never swallowed.
wait_caught_up() is the fence for "nothing more will come": once the producer side is
known to be done (e.g. the outbox published), every message it produced is below the
high watermark, and the collector has read up to it.
"""

import json
import threading
import time
import uuid

from confluent_kafka import Consumer, KafkaException, TopicPartition


def assigned_reader(brokers: str, topic: str, from_beginning: bool, group_prefix: str = "itests"):
    """A consumer of every partition of `topic` (a unique group, no commits), assigned at each
    partition's low watermark (from_beginning) or high one; returns (consumer, {partition:
    next offset}). A missing topic raises, naming it."""
    consumer = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": f"{group_prefix}-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "fetch.wait.max.ms": 50,
        }
    )
    md = consumer.list_topics(topic, timeout=15)
    tmd = md.topics.get(topic)
    if tmd is None or tmd.error is not None or not tmd.partitions:
        consumer.close()
        raise RuntimeError(f"Kafka topic {topic!r} is missing at {brokers}: {tmd and tmd.error}")
    parts, pos = [], {}
    for p in sorted(tmd.partitions):
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15)
        start = low if from_beginning else high
        parts.append(TopicPartition(topic, p, start))
        pos[p] = start
    consumer.assign(parts)
    return consumer, pos


def record_of(msg, header_errors="strict"):
    """A consumed message as the tests read it: key, headers (decoded with header_errors),
    raw value, partition, offset and the value parsed as JSON (None when it is not JSON)."""
    rec = {
        "key": msg.key().decode() if msg.key() is not None else None,
        "headers": {k: (v.decode(errors=header_errors) if v is not None else None) for k, v in (msg.headers() or [])},
        "raw": msg.value(),
        "partition": msg.partition(),
        "offset": msg.offset(),
    }
    try:
        rec["value"] = json.loads(msg.value())
    except (TypeError, ValueError):
        rec["value"] = None
    return rec


class EventCollector:
    def __init__(self, brokers: str, topic: str):
        self.topic = topic
        self._cond = threading.Condition()  # guards _msgs and _error
        self._msgs: list = []
        self._error = None
        self._stop = threading.Event()
        self._brokers = brokers
        # partition -> next offset read; guarded by _cond
        self._consumer, self._pos = assigned_reader(brokers, topic, from_beginning=False)
        self._thread = threading.Thread(target=self._run, name=f"collect-{topic}", daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                msg = self._consumer.poll(0.1)
            except KafkaException as e:  # pragma: no cover - reported to the waiter
                with self._cond:
                    self._error = e
                    self._cond.notify_all()
                return
            if msg is None:
                continue
            if msg.error():
                if msg.error().fatal():
                    with self._cond:
                        self._error = msg.error()
                        self._cond.notify_all()
                    return
                continue  # partition EOF and the like
            rec = record_of(msg)
            with self._cond:
                self._msgs.append(rec)
                self._pos[rec["partition"]] = rec["offset"] + 1
                self._cond.notify_all()

    def matching(self, pred) -> list:
        with self._cond:
            if self._error is not None:
                raise AssertionError(f"Kafka consumer failed: {self._error}")
            return [m for m in self._msgs if pred(m)]

    def wait_for(self, pred, timeout=30.0) -> dict:
        """The first message pred accepts; fails after timeout seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._error is not None:
                    raise AssertionError(f"Kafka consumer failed: {self._error}")
                for m in self._msgs:
                    if pred(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching event on {self.topic} within {timeout} s "
                                         f"({len(self._msgs)} messages seen)")
                self._cond.wait(left)

    def wait_caught_up(self, timeout=30.0):
        """Waits until the collector has read every message the topic holds now (up to
        each partition's high watermark, taken on entry)."""
        probe = Consumer({"bootstrap.servers": self._brokers, "group.id": f"itests-{uuid.uuid4()}",
                          "enable.auto.commit": False})
        try:
            ends = {p: probe.get_watermark_offsets(TopicPartition(self.topic, p), timeout=15)[1]
                    for p in self._pos}
        finally:
            probe.close()
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._error is not None:
                    raise AssertionError(f"Kafka consumer failed: {self._error}")
                behind = {p: (self._pos[p], e) for p, e in ends.items() if self._pos[p] < e}
                if not behind:
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.topic}: not read up to the end within {timeout} s "
                                         f"(partition: (read, end)) {behind}")
                self._cond.wait(min(left, 0.2))

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self._consumer.close()


def event_of(subject: str, type_: str):
    """A predicate: the CloudEvent with this subject and type."""

    def pred(m):
        v = m["value"]
        return isinstance(v, dict) and v.get("subject") == subject and v.get("type") == type_

    return pred
