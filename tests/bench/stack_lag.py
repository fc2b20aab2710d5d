"""How far the stack's pipeline is behind: the relay's outbox and every consumer group's lag.

Owns: the relay's backlog (outbox rows not yet published, per topic) and each consumer
group's lag (Kafka's end offsets minus the group's next offsets, which the consumers store
in Postgres, kafka_consumer_offsets: shared/kafka_consumer.c; a partition without a row
is consumed from its beginning), and waiting until all of it is zero.
Rules: one Postgres connection for the object's life (its backend pid is `pg_pid`, so a
CPU window can leave it out) and one AdminClient (ListOffsets for every partition in one
request per poll); every wait is bounded and says what it last saw. The groups are the
known consumers (GROUPS) plus any other group found in kafka_consumer_offsets, except the
operator's DLQ replay. A task-events group counts as caught up only once the relay has
published every task-events row too (lag 0 of a topic still being filled means nothing).
"""

import os
import time

import psycopg
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

import stack_cpu
from bench_common import env

# group -> (topic, daemon that runs it); other groups found in Postgres are added
GROUPS = {os.environ.get("TASKBUS_WRITER_GROUP") or "taskbus-writer":
          (os.environ.get("TASKBUS_WRITER_TOPIC") or "task-commands", "writer"),
          "taskbus-webhooks": ("task-events", "webhooks"),
          "taskbus-analytics": ("task-events", "analytics"),
          "taskbus-activity": ("task-events", "activity"),
          "taskbus-notifier": ("notifications", "notifier"),
          "taskbus-reporter": ("reports", "reporter")}
IGNORED_GROUPS = {"taskbus-dlq-replay"}  # an operator's one-off (admin replay-dlq)
RELAY = "relay (outbox -> Kafka)"


class StackLag:
    def __init__(self):
        self.conn = psycopg.connect(env("DATABASE_URL"), autocommit=True,
                                    application_name="taskbus-bench-lag")
        self.pg_pid = self.conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        self.admin = AdminClient({"bootstrap.servers": env("KAFKA_BROKERS")})
        self.groups = dict(GROUPS)
        for g, t in self.conn.execute(
                "SELECT DISTINCT group_id, topic FROM kafka_consumer_offsets").fetchall():
            if g not in IGNORED_GROUPS and g not in self.groups:
                self.groups[g] = (t, None)
        topics = sorted({t for t, _ in self.groups.values()})
        md = self.admin.list_topics(timeout=10).topics
        self.parts = [TopicPartition(t, p) for t in topics if t in md
                      for p in sorted(md[t].partitions)]
        self.earliest = self._offsets(OffsetSpec.earliest())

    def close(self):
        self.conn.close()

    def _offsets(self, spec):
        futs = self.admin.list_offsets({tp: spec for tp in self.parts}, request_timeout=10)
        return {(tp.topic, tp.partition): f.result().offset for tp, f in futs.items()}

    def sample(self):
        """{"relay": {topic: unpublished rows}, "groups": {group: lag}}."""
        relay = dict(self.conn.execute(
            "SELECT topic, count(*) FROM outbox WHERE published_at IS NULL GROUP BY topic"
        ).fetchall())
        end = self._offsets(OffsetSpec.latest())
        stored = {}
        for g, t, p, n in self.conn.execute(
                "SELECT group_id, topic, partition, next_offset FROM kafka_consumer_offsets "
                "WHERE group_id = ANY(%s)", (list(self.groups),)).fetchall():
            stored[(g, t, p)] = n
        lags = {}
        for g, (topic, _) in self.groups.items():
            lag = 0
            for (t, p), hw in end.items():
                if t == topic:
                    lag += max(0, hw - stored.get((g, t, p), self.earliest.get((t, p), 0)))
            lags[g] = lag
        return {"relay": relay, "groups": lags}

    def caught_up(self, s):
        """{name: True/False} for the relay and each group in sample s."""
        out = {RELAY: sum(s["relay"].values()) == 0}
        for g, (topic, _) in self.groups.items():
            out[g] = s["groups"][g] == 0 and s["relay"].get(topic, 0) == 0
        return out

    def wait_all(self, t_ref, timeout_s, poll_s=0.1):
        """Polls until the relay and every group are caught up (or timeout_s after t_ref,
        a time.monotonic()). {"first": first sample, "last": last sample, "seconds": {name:
        seconds after t_ref when first caught up, None if never}, "all_zero": bool}."""
        first = last = self.sample()
        when = {}
        deadline = t_ref + timeout_s
        while True:
            now = time.monotonic()
            for name, ok in self.caught_up(last).items():
                if ok and name not in when:
                    when[name] = round(max(0.0, now - t_ref), 2)
            if len(when) == len(self.groups) + 1 or now >= deadline:
                break
            time.sleep(poll_s)
            last = self.sample()
        names = [RELAY] + list(self.groups)
        return {"first": first, "last": last, "all_zero": len(when) == len(names),
                "seconds": {n: when.get(n) for n in names}}

    def daemons_running(self):
        """{daemon of each known group: running?} from compose/local's pid files."""
        running = stack_cpu.roots()
        return {d: d in running for _, d in self.groups.values() if d}
