#!/usr/bin/env python3
"""taskbus task-events -> DuckDB: the daily aggregates of taskbus-analytics, rebuilt from the
event contract alone (schemas/events/, docs/analytics.md), without reading taskbus's C.

Owns: reading the Kafka topic task-events from offset 0 (or from where this DuckDB file
stopped), keeping every counted task event once (de-duplicated by the CloudEvent id), and the
table analytics_daily(user_id, day, created, completed, median_seconds_to_complete).

Rules (each one is a rule of the contract; docs/analytics.md "The daily aggregates"):
- Values are structured-mode CloudEvents (JSON); the Kafka key is the owner's user id, so
  one user's events are in order; taskbus's relay delivers at least once, so the same
  event (same id) may come twice: it counts once. As in taskbus-analytics, only the ids
  of counted events (created, completed) are remembered.
- created counts taskbus.task.created events on the UTC day of data.created_at; completed
  counts taskbus.task.completed events on the UTC day of data.completed_at (a task
  completed, reopened and completed again counts twice; a task created with status done
  is no completion: no completed event is published for it); the median is the
  continuous median (percentile_cont(0.5)) of data.completed_at - data.created_at in
  seconds over the day's completions, null without any. Deletions and updates change no
  count. Nothing depends on when an event is read, so a rebuild gives the same rows.
  Times are read as Postgres reads them for taskbus-analytics (utc_micros).
- A record that is no readable counted event (not JSON, whatever exception reading it
  raises, no UUID id or data.user_id, a counted event without its RFC 3339 times) is
  skipped and reported on stderr, never fatal: taskbus's own consumer does the same, so
  one bad record cannot stop a partition.
- Each batch touches only what it changes: new ids go through the primary key, and the
  (user, day) rows they count on are updated in place (running counts; the median again
  from that row's own list of times to complete), so the cost of a batch does not grow
  with the stream.
- Exactly once into DuckDB without Kafka commits: the offsets this reader resumes from
  live in DuckDB (table kafka_offsets) and are written in the same DuckDB transaction as
  the events and aggregates of the batch they close. A crash between batches loses
  nothing and counts nothing twice. The Kafka group's commits are made after the DuckDB
  commit for lag monitoring only; they are never read back.
- The whole stream or nothing: a partition this file has no offset for is read from
  offset 0, and if the topic no longer starts at 0 there (retention deleted the oldest
  records), the reader refuses (exit 2) instead of silently counting less, unless
  --accept-partial. A stored offset below the log start refuses the same way, also
  when retention deletes it while the reader runs (auto.offset.reset=error; exit 2, with
  a message, and the unfinished batch is not stored).
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
from datetime import date

import duckdb
from confluent_kafka import Consumer, KafkaError, TopicPartition

CREATED = "taskbus.task.created"
COMPLETED = "taskbus.task.completed"

SCHEMA = """
CREATE TABLE IF NOT EXISTS kafka_offsets (
    topic       VARCHAR NOT NULL,
    partition   INTEGER NOT NULL,
    next_offset BIGINT  NOT NULL,
    PRIMARY KEY (topic, partition)
);
-- Every counted event (created, completed) once: the first copy read. The ids of other
-- types are not kept, as taskbus-analytics keeps none (an id reused by a counted event
-- after an update of that id still counts there). Times are UTC microseconds since
-- 1970-01-01, as Postgres stores them (an instant before year 1 or after 9999 included).
CREATE TABLE IF NOT EXISTS task_events (
    event_id            UUID PRIMARY KEY,
    type                VARCHAR NOT NULL,
    user_id             UUID NOT NULL,
    task_id             UUID,
    version             BIGINT,
    created_us          BIGINT NOT NULL,
    completed_us        BIGINT,
    day                 DATE NOT NULL,
    seconds_to_complete DOUBLE,
    kafka_partition     INTEGER NOT NULL,
    kafka_offset        BIGINT NOT NULL
);
-- Per user and UTC day with at least one creation or completion. completion_seconds holds
-- the day's times to complete, so a batch recomputes the median of the rows it touches
-- from those rows alone.
CREATE TABLE IF NOT EXISTS analytics_daily (
    user_id                    UUID NOT NULL,
    day                        DATE NOT NULL,
    created                    BIGINT NOT NULL,
    completed                  BIGINT NOT NULL,
    median_seconds_to_complete DOUBLE,
    completion_seconds         DOUBLE[] NOT NULL,
    PRIMARY KEY (user_id, day)
);
"""

# One batch, staged: the counted events of the batch that were readable. day is the UTC
# day the event counts on, in days since 1970-01-01 (a DATE may lie outside Python's).
STAGE = """
CREATE OR REPLACE TEMP TABLE batch AS
SELECT * FROM (SELECT
    unnest(?::UUID[])      AS event_id,
    unnest(?::VARCHAR[])   AS type,
    unnest(?::UUID[])      AS user_id,
    unnest(?::UUID[])      AS task_id,
    unnest(?::BIGINT[])    AS version,
    unnest(?::BIGINT[])    AS created_us,
    unnest(?::BIGINT[])    AS completed_us,
    unnest(?::INTEGER[])   AS day,
    unnest(?::INTEGER[])   AS kafka_partition,
    unnest(?::BIGINT[])    AS kafka_offset)
"""

# The batch's events not seen before, each once (the first copy in the batch). The
# primary key's index decides, so this touches the batch's ids only, never the table.
INSERT_NEW = """
INSERT INTO task_events
SELECT DISTINCT ON (event_id) event_id, type, user_id, task_id, version, created_us, completed_us,
       DATE '1970-01-01' + day,
       CASE WHEN type = 'taskbus.task.completed' THEN
            CAST(completed_us - created_us AS DOUBLE) / 1000000.0::DOUBLE
       END,
       kafka_partition, kafka_offset
FROM batch ORDER BY event_id, kafka_partition, kafka_offset
ON CONFLICT DO NOTHING
RETURNING user_id, CAST(day - DATE '1970-01-01' AS INTEGER), type, seconds_to_complete
"""

STAGE_FRESH = """
CREATE OR REPLACE TEMP TABLE fresh AS
SELECT * FROM (SELECT
    unnest(?::UUID[])    AS user_id,
    DATE '1970-01-01' + unnest(?::INTEGER[]) AS day,
    unnest(?::VARCHAR[]) AS type,
    unnest(?::DOUBLE[])  AS seconds)
"""

# The (user, day) rows the new events touch, and only those: running counts, and the
# median of the day's completions (percentile_cont(0.5) there, quantile_cont here).
UPSERT_DAYS = """
INSERT INTO analytics_daily
SELECT user_id, day, created, completed, list_aggregate(seconds, 'quantile_cont', 0.5), seconds
FROM (SELECT user_id, day,
             count(*) FILTER (WHERE type = 'taskbus.task.created') AS created,
             count(*) FILTER (WHERE type = 'taskbus.task.completed') AS completed,
             coalesce(list(seconds) FILTER (WHERE type = 'taskbus.task.completed'), []::DOUBLE[]) AS seconds
      FROM fresh GROUP BY user_id, day)
ON CONFLICT (user_id, day) DO UPDATE SET
    created = analytics_daily.created + excluded.created,
    completed = analytics_daily.completed + excluded.completed,
    completion_seconds = list_concat(analytics_daily.completion_seconds, excluded.completion_seconds),
    median_seconds_to_complete = list_aggregate(
        list_concat(analytics_daily.completion_seconds, excluded.completion_seconds), 'quantile_cont', 0.5)
"""

STORE_OFFSET = """
INSERT INTO kafka_offsets VALUES (?, ?, ?)
ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset
"""

# A position that is gone (auto.offset.reset=error) while running: the same refusal as at
# start (exit 2).
GAP_ERRORS = {KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE}
STOP_ERRORS = {
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
}

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# RFC 3339 date-time: 'T'/'Z' either case, 1-9 fraction digits, Z or +hh:mm/-hh:mm.
TIME_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?"
                     r"(?:([Zz])|([+-])(\d{2}):(\d{2}))$")
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
DAY_US = 86_400_000_000


class Refused(Exception):
    """The stream cannot be read whole from where this file stands."""


def utc_micros(value):
    """An RFC 3339 date-time as UTC microseconds since 1970-01-01, exactly as Postgres
    (which taskbus-analytics hands the text to) stores it, or None when value is not one.
    The date must exist in years 0001-9999; the instant, the offset applied, is not bounded
    (0001-01-01T00:00:00+01:00 lies in year 1 BC), as taskbus's parser does not bound it and
    Postgres stores it. The fraction rounds like Postgres's ParseFractionalSecond:
    rint(fraction * 1e6) on the double, so a seventh-digit tie goes to even."""
    if not isinstance(value, str):
        return None
    m = TIME_RE.match(value)
    if m is None:
        return None
    year, month, day, hh, mi, ss = (int(m.group(i)) for i in range(1, 7))
    if hh > 23 or mi > 59 or ss > 59:
        return None
    try:
        days = date(year, month, day).toordinal() - EPOCH_ORDINAL
    except ValueError:
        return None
    seconds = days * 86400 + hh * 3600 + mi * 60 + ss
    if m.group(9) is not None:
        oh, om = int(m.group(10)), int(m.group(11))
        if oh > 23 or om > 59:
            return None
        shift = oh * 3600 + om * 60
        seconds += -shift if m.group(9) == "+" else shift
    micros = round(float(m.group(7)) * 1_000_000) if m.group(7) else 0  # round(): half even, as rint
    return seconds * 1_000_000 + micros


def uuid_text(value):
    return value if isinstance(value, str) and UUID_RE.match(value) else None


def read_event(raw):
    """The stored row of one record's value; None when it is of a type that is not counted
    (taskbus.task.updated, .deleted, ...); raises ValueError when it is no readable counted
    event."""
    if raw is None:
        raise ValueError("no value (a tombstone)")
    ev = json.loads(raw)
    if not isinstance(ev, dict) or not isinstance(ev.get("type"), str):
        raise ValueError("not a CloudEvent object with a type")
    etype = ev["type"]
    if etype not in (CREATED, COMPLETED):
        return None
    data = ev.get("data")
    if not isinstance(data, dict):
        raise ValueError("no data object")
    event_id, user_id = uuid_text(ev.get("id")), uuid_text(data.get("user_id"))
    if event_id is None or user_id is None:
        raise ValueError("no UUID id or data.user_id")
    created_us = utc_micros(data.get("created_at"))
    completed_us = utc_micros(data.get("completed_at")) if etype == COMPLETED else None
    if created_us is None or (etype == COMPLETED and completed_us is None):
        raise ValueError("a counted event without its RFC 3339 times")
    version = data.get("version")
    return {
        "event_id": event_id,
        "type": etype,
        "user_id": user_id,
        "task_id": uuid_text(data.get("id")),
        "version": version if isinstance(version, int) and not isinstance(version, bool)
        and -2**63 <= version < 2**63 else None,
        "created_us": created_us,
        "completed_us": completed_us,
        "day": (completed_us if etype == COMPLETED else created_us) // DAY_US,
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
        """One DuckDB transaction: the batch's new events, the (user, day) rows they change
        and the next offset of every partition the batch read."""
        rows, next_offsets = [], {}
        for msg in records:
            next_offsets[msg.partition()] = msg.offset() + 1
            try:
                row = read_event(msg.value())
            except Exception as e:  # noqa: BLE001 - whatever a record holds, it is skipped, never fatal
                self.stats["skipped"] += 1
                print(f"skipped: {self.topic}/{msg.partition()}@{msg.offset()} is no readable task event "
                      f"({type(e).__name__}: {str(e)[:200]})", file=sys.stderr)
                continue
            if row is None:
                continue  # a type that counts nothing
            row["kafka_partition"], row["kafka_offset"] = msg.partition(), msg.offset()
            rows.append(row)
        cols = ("event_id", "type", "user_id", "task_id", "version", "created_us", "completed_us", "day",
                "kafka_partition", "kafka_offset")
        db = self.db
        db.execute("BEGIN TRANSACTION")
        try:
            fresh = []
            if rows:
                db.execute(STAGE, [[r[c] for r in rows] for c in cols])
                fresh = db.execute(INSERT_NEW).fetchall()
            if fresh:
                db.execute(STAGE_FRESH, [list(col) for col in zip(*fresh)])
                db.execute(UPSERT_DAYS)
            for p, off in next_offsets.items():
                db.execute(STORE_OFFSET, [self.topic, p, off])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.stats["records"] += len(records)
        self.stats["new_events"] += len(fresh)
        self.stats["duplicates"] += len(rows) - len(fresh)
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
                elif err.code() in GAP_ERRORS:
                    # The position this file needs was deleted while it ran (retention):
                    # auto.offset.reset=error brings it here. The batch read so far is not
                    # stored; the refusal is the same as at start.
                    p = msg.partition()
                    raise Refused(f"partition {p} of {self.topic}: offset {pos.get(p)} is not on the broker "
                                  f"any more ({err.str()}): records were deleted while this reader ran "
                                  f"(retention), or the topic was recreated; the aggregates would silently "
                                  f"miss records: rebuild from an archive, or run again with --accept-partial")
                elif err.fatal() or err.code() in STOP_ERRORS:
                    # A topic that is gone or refused: stop loudly, never skip.
                    raise Refused(f"{self.topic}: {err.str()}")
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
