#!/usr/bin/env python3
"""taskbus task-events -> DuckDB: the daily aggregates of taskbus-analytics, rebuilt from the
event contract alone (schemas/events/, docs/analytics.md), without reading taskbus's C.

Owns: reading the Kafka topic task-events from offset 0 (or from where this DuckDB file
stopped), keeping every task event once (de-duplicated by the CloudEvent id), and the
table analytics_daily(user_id, day, created, completed, median_seconds_to_complete).

Rules (each one is a rule of the contract; docs/analytics.md "The daily aggregates"):
- Values are structured-mode CloudEvents (JSON); the Kafka key is the owner's user id, so
  one user's events are in order; taskbus's relay delivers at least once, so the same
  event (same id, same bytes) may come twice: it counts once.
- created counts taskbus.task.created events on the UTC day of data.created_at; completed
  counts taskbus.task.completed events on the UTC day of data.completed_at (a task
  completed, reopened and completed again counts twice; a task created with status done
  is no completion: no completed event is published for it); the median is the
  continuous median (percentile_cont(0.5)) of data.completed_at - data.created_at in
  seconds over the day's completions, null without any. Deletions and updates change no
  count. Nothing depends on when an event is read, so a rebuild gives the same rows.
- A record that is no readable task event (not JSON, no UUID id or data.user_id, a counted
  event without its RFC 3339 times) is skipped and reported, never fatal: taskbus's own
  consumer does the same, so one bad record cannot stop a partition.
- Exactly once into DuckDB without Kafka commits: the offsets this reader resumes from
  live in DuckDB (table kafka_offsets) and are written in the same DuckDB transaction as
  the events and aggregates of the batch they close. A crash between batches loses
  nothing and counts nothing twice. The Kafka group's commits are made after the DuckDB
  commit for lag monitoring only; they are never read back.
- The whole stream or nothing: a partition this file has no offset for is read from
  offset 0, and if the topic no longer starts at 0 there (retention deleted the oldest
  records), the reader refuses (exit 2) instead of silently counting less, unless
  --accept-partial. A stored offset below the log start refuses the same way.
- One process per DuckDB file (DuckDB locks it); the partitions are read by assign(), all
  of them, so the group never rebalances work away from this process.

Usage: python consumer.py --bootstrap-servers HOST:PORT --db analytics.duckdb
       [--group NAME] [--topic task-events] [--until-caught-up] [-X key=value ...]
"""

import argparse
import json
import os
import re
import sys
import time
from datetime import datetime, timedelta, timezone

import duckdb
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

CREATED = "taskbus.task.created"
COMPLETED = "taskbus.task.completed"

SCHEMA = """
CREATE TABLE IF NOT EXISTS kafka_offsets (
    topic       VARCHAR NOT NULL,
    partition   INTEGER NOT NULL,
    next_offset BIGINT  NOT NULL,
    PRIMARY KEY (topic, partition)
);
-- Every task event once (the first copy read). Times are UTC (TIMESTAMP without zone).
-- seconds_to_complete: completed events only, completed_at - created_at in seconds.
CREATE TABLE IF NOT EXISTS task_events (
    event_id            UUID PRIMARY KEY,
    type                VARCHAR NOT NULL,
    user_id             UUID NOT NULL,
    task_id             UUID,
    version             BIGINT,
    created_at          TIMESTAMP,
    completed_at        TIMESTAMP,
    seconds_to_complete DOUBLE,
    kafka_partition     INTEGER NOT NULL,
    kafka_offset        BIGINT NOT NULL
);
-- Per user and UTC day with at least one creation or completion.
CREATE TABLE IF NOT EXISTS analytics_daily (
    user_id                    UUID NOT NULL,
    day                        DATE NOT NULL,
    created                    BIGINT NOT NULL,
    completed                  BIGINT NOT NULL,
    median_seconds_to_complete DOUBLE
);
"""

# One batch, staged: the events of the batch that were readable.
STAGE = """
CREATE OR REPLACE TEMP TABLE batch AS
SELECT * FROM (SELECT
    unnest(?::UUID[])      AS event_id,
    unnest(?::VARCHAR[])   AS type,
    unnest(?::UUID[])      AS user_id,
    unnest(?::UUID[])      AS task_id,
    unnest(?::BIGINT[])    AS version,
    unnest(?::TIMESTAMP[]) AS created_at,
    unnest(?::TIMESTAMP[]) AS completed_at,
    unnest(?::INTEGER[])   AS kafka_partition,
    unnest(?::BIGINT[])    AS kafka_offset)
"""

# The batch's events not seen before, each once (the first copy in the batch).
KEEP_NEW = """
CREATE OR REPLACE TEMP TABLE fresh AS
SELECT DISTINCT ON (b.event_id) b.* FROM batch b
WHERE NOT EXISTS (SELECT 1 FROM task_events e WHERE e.event_id = b.event_id)
ORDER BY b.event_id, b.kafka_partition, b.kafka_offset
"""

INSERT_NEW = """
INSERT INTO task_events
SELECT event_id, type, user_id, task_id, version, created_at, completed_at,
       CASE WHEN type = 'taskbus.task.completed' THEN
            CAST(epoch_us(completed_at) - epoch_us(created_at) AS DOUBLE) / 1000000.0::DOUBLE
       END,
       kafka_partition, kafka_offset
FROM fresh
"""

# The (user, day) rows the new events touch are computed again from task_events: a median
# cannot be kept as a running aggregate, and DuckDB scans a user's events quickly.
REFRESH_DAYS = """
CREATE OR REPLACE TEMP TABLE touched AS
SELECT DISTINCT user_id, CAST(created_at AS DATE) AS day FROM fresh WHERE type = 'taskbus.task.created'
UNION
SELECT DISTINCT user_id, CAST(completed_at AS DATE) FROM fresh WHERE type = 'taskbus.task.completed';
DELETE FROM analytics_daily d USING touched t WHERE d.user_id = t.user_id AND d.day = t.day;
INSERT INTO analytics_daily
SELECT user_id, day, sum(c), sum(d), quantile_cont(seconds, 0.5) FILTER (WHERE d = 1)
FROM (
    SELECT e.user_id, t.day, 1 AS c, 0 AS d, NULL::DOUBLE AS seconds
    FROM task_events e JOIN touched t ON e.user_id = t.user_id AND CAST(e.created_at AS DATE) = t.day
    WHERE e.type = 'taskbus.task.created'
    UNION ALL
    SELECT e.user_id, t.day, 0, 1, e.seconds_to_complete
    FROM task_events e JOIN touched t ON e.user_id = t.user_id AND CAST(e.completed_at AS DATE) = t.day
    WHERE e.type = 'taskbus.task.completed'
) GROUP BY user_id, day;
"""

STORE_OFFSET = """
INSERT INTO kafka_offsets VALUES (?, ?, ?)
ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset
"""

STOP_ERRORS = {
    KafkaError._AUTO_OFFSET_RESET,
    KafkaError.OFFSET_OUT_OF_RANGE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
}

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# RFC 3339 date-time: 'T'/'Z' either case, 1-9 fraction digits, Z or +hh:mm/-hh:mm.
TIME_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
                     r"(?:([Zz])|([+-])(\d{2}):(\d{2}))$")


class Refused(Exception):
    """The stream cannot be read whole from where this file stands."""


def utc_time(value):
    """An RFC 3339 date-time as a naive UTC datetime (microseconds, the seventh fraction
    digit rounding half up, as Postgres stores it), or None when value is not one."""
    if not isinstance(value, str):
        return None
    m = TIME_RE.match(value)
    if m is None:
        return None
    year, month, day, hh, mi, ss = (int(m.group(i)) for i in range(1, 7))
    frac = (m.group(7) or "").ljust(7, "0")
    if hh > 23 or mi > 59 or ss > 59:
        return None
    try:
        at = datetime(year, month, day, hh, mi, ss, tzinfo=timezone.utc)
    except ValueError:
        return None
    micros = int(frac[:6]) + (1 if frac[6] >= "5" else 0)
    at += timedelta(microseconds=micros)
    if m.group(9) is not None:
        oh, om = int(m.group(10)), int(m.group(11))
        if oh > 23 or om > 59:
            return None
        shift = timedelta(hours=oh, minutes=om)
        at = at - shift if m.group(9) == "+" else at + shift
    return at.replace(tzinfo=None)


def uuid_text(value):
    return value if isinstance(value, str) and UUID_RE.match(value) else None


def read_event(raw):
    """The stored row of one record's value, or None when it is no readable task event."""
    try:
        ev = json.loads(raw)
    except (TypeError, ValueError):
        return None
    if not isinstance(ev, dict) or not isinstance(ev.get("type"), str) or not isinstance(ev.get("data"), dict):
        return None
    data = ev["data"]
    event_id, user_id, etype = uuid_text(ev.get("id")), uuid_text(data.get("user_id")), ev["type"]
    if event_id is None or user_id is None:
        return None
    created_at = utc_time(data.get("created_at"))
    completed_at = utc_time(data.get("completed_at"))
    if etype in (CREATED, COMPLETED) and created_at is None:
        return None
    if etype == COMPLETED and completed_at is None:
        return None
    version = data.get("version")
    return {
        "event_id": event_id,
        "type": etype,
        "user_id": user_id,
        "task_id": uuid_text(data.get("id")),
        "version": version if isinstance(version, int) and not isinstance(version, bool) else None,
        "created_at": created_at,
        "completed_at": completed_at if etype == COMPLETED else None,
    }


class Reader:
    def __init__(self, args):
        self.args = args
        self.topic = args.topic
        self.db = duckdb.connect(args.db)
        self.db.execute(SCHEMA)
        conf = {
            "bootstrap.servers": args.bootstrap_servers,
            "group.id": args.group,
            # Positions come from DuckDB; the group's commits are for lag tools only.
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            # Never jump silently: an offset that is gone is an error, not "earliest".
            "auto.offset.reset": "error",
            # taskbus's relay is not transactional today; read_committed costs nothing and
            # keeps aborted records out should a producer ever use transactions.
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
        }
        for kv in args.X or []:
            key, _, value = kv.partition("=")
            conf[key] = value
        self.consumer = Consumer(conf)
        self.stats = {"records": 0, "new_events": 0, "duplicates": 0, "skipped": 0, "batches": 0}

    def stored_offsets(self):
        rows = self.db.execute("SELECT partition, next_offset FROM kafka_offsets WHERE topic = ?",
                               [self.topic]).fetchall()
        return dict(rows)

    def partitions(self):
        md = self.consumer.list_topics(self.topic, timeout=30)
        tmd = md.topics.get(self.topic)
        if tmd is None or tmd.error is not None or not tmd.partitions:
            raise Refused(f"topic {self.topic!r} not found at {self.args.bootstrap_servers}: "
                          f"{tmd.error if tmd is not None else 'no metadata'}")
        return sorted(tmd.partitions)

    def start(self):
        """Assigns every partition at this file's offsets (0 when it has none); returns
        {partition: (start offset, high watermark at start)}."""
        stored = self.stored_offsets()
        plan = {}
        for p in self.partitions():
            low, high = self.consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=30)
            want = stored.get(p, 0)
            if want < low:
                what = "has no offset here and the topic" if p not in stored else f"stopped at {want} and the topic"
                msg = (f"partition {p} of {self.topic}: this DuckDB file {what} now starts at offset "
                       f"{low} (records {want}..{low - 1} were deleted by retention): the aggregates "
                       f"would silently miss them")
                if not self.args.accept_partial:
                    raise Refused(msg + "; rebuild from an archive, or pass --accept-partial")
                print(f"warning: {msg}; reading from {low} (--accept-partial)", file=sys.stderr)
                want = low
            plan[p] = (want, high)
        self.consumer.assign([TopicPartition(self.topic, p, start) for p, (start, _) in plan.items()])
        return plan

    def apply(self, records):
        """One DuckDB transaction: the batch's new events, the days they touch and the next
        offset of every partition the batch read."""
        rows, next_offsets = [], {}
        for msg in records:
            next_offsets[msg.partition()] = msg.offset() + 1
            row = read_event(msg.value())
            if row is None:
                self.stats["skipped"] += 1
                print(f"skipped: {self.topic}/{msg.partition()}@{msg.offset()} is no readable task event",
                      file=sys.stderr)
                continue
            row["kafka_partition"], row["kafka_offset"] = msg.partition(), msg.offset()
            rows.append(row)
        cols = ("event_id", "type", "user_id", "task_id", "version", "created_at", "completed_at",
                "kafka_partition", "kafka_offset")
        db = self.db
        db.execute("BEGIN TRANSACTION")
        try:
            db.execute(STAGE, [[r[c] for r in rows] for c in cols])
            db.execute(KEEP_NEW)
            fresh = db.execute("SELECT count(*) FROM fresh").fetchone()[0]
            db.execute(INSERT_NEW)
            db.execute(REFRESH_DAYS)
            for p, off in next_offsets.items():
                db.execute(STORE_OFFSET, [self.topic, p, off])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.stats["records"] += len(records)
        self.stats["new_events"] += fresh
        self.stats["duplicates"] += len(rows) - fresh
        self.stats["batches"] += 1
        # For lag monitoring only (kafka-consumer-groups --describe); never read back.
        self.consumer.commit(offsets=[TopicPartition(self.topic, p, o) for p, o in next_offsets.items()],
                             asynchronous=True)

    def run(self):
        plan = self.start()
        target = {p: high for p, (_, high) in plan.items()}
        pos = {p: start for p, (start, _) in plan.items()}
        print(json.dumps({"start_offsets": pos, "high_watermarks": target}), file=sys.stderr)
        while True:
            if self.args.until_caught_up and all(pos[p] >= target[p] for p in pos):
                break
            batch = []
            for msg in self.consumer.consume(num_messages=self.args.batch_size, timeout=1.0):
                err = msg.error()
                if err is None:
                    batch.append(msg)
                elif err.code() == KafkaError._PARTITION_EOF:
                    # The end of a partition: its position is the end, even when the last
                    # offsets held no record for us (transaction markers).
                    pos[msg.partition()] = max(pos[msg.partition()], msg.offset())
                elif err.fatal() or err.code() in STOP_ERRORS:
                    # A position that is gone (auto.offset.reset=error), a topic that is
                    # gone or refused: stop loudly, never skip.
                    raise KafkaException(err)
                else:
                    # Transient (a broker restarting): librdkafka retries by itself.
                    print(f"kafka: {err}", file=sys.stderr)
            if batch:
                self.apply(batch)
                for msg in batch:
                    pos[msg.partition()] = max(pos[msg.partition()], msg.offset() + 1)
        return {**self.stats, "end_offsets": self.stored_offsets()}

    def close(self):
        self.consumer.close()
        self.db.close()


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap-servers", default=os.environ.get("KAFKA_BROKERS", "localhost:9092"),
                    help="Kafka brokers (default: $KAFKA_BROKERS or localhost:9092)")
    ap.add_argument("--topic", default="task-events")
    ap.add_argument("--group", default="analytics-duckdb-example",
                    help="Kafka consumer group (only named to the brokers: positions live in DuckDB)")
    ap.add_argument("--db", default="analytics.duckdb", help="the DuckDB file (created when missing)")
    ap.add_argument("--batch-size", type=int, default=2000, help="records per DuckDB transaction")
    ap.add_argument("--until-caught-up", action="store_true",
                    help="stop once every partition reached the high watermark seen at start")
    ap.add_argument("--accept-partial", action="store_true",
                    help="read from the log start when older records were deleted (the aggregates miss them)")
    ap.add_argument("-X", action="append", metavar="KEY=VALUE",
                    help="extra librdkafka setting (e.g. security.protocol=SASL_SSL); repeatable")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    reader = Reader(args)
    started = time.monotonic()
    try:
        summary = reader.run()
    except Refused as e:
        print(f"refused: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        summary = {**reader.stats, "interrupted": True}
    finally:
        reader.close()
    summary["seconds"] = round(time.monotonic() - started, 3)
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
