#!/usr/bin/env python3
"""taskbus task-events -> DuckDB: the daily aggregates of taskbus-analytics, rebuilt from the
event contract alone (schemas/events/, docs/analytics.md), without reading taskbus's C.

Owns: reading the Kafka topics task-events and user-events from offset 0 (or from where
this DuckDB file stopped), keeping every counted task event once (de-duplicated by the
CloudEvent id), the erasure of deleted users, and the table analytics_daily(user_id, day,
created, completed, median_seconds_to_complete).

Rules (each one is a rule of the contract; docs/analytics.md "The daily aggregates"):
- Values are structured-mode CloudEvents (JSON); the Kafka key is the owner's user id, so
  one user's events are in order; taskbus's relay delivers at least once, so the same
  event (same id) may come twice: it counts once. As in taskbus-analytics, only the ids
  of counted events (created, completed) are remembered (seen_events).
- created counts taskbus.task.created events on the UTC day of data.created_at; completed
  counts taskbus.task.completed events on the UTC day of data.completed_at (a task
  completed, reopened and completed again counts twice; a task created with status done
  is no completion: no completed event is published for it); the median is the
  continuous median (percentile_cont(0.5)) of data.completed_at - data.created_at in
  seconds over the day's completions, null without any. Deletions and updates change no
  count. Nothing depends on when an event is read, so a rebuild gives the same rows.
  Times are read as Postgres reads them for taskbus-analytics (utc_micros).
- Erasure (schemas/events/taskbus.user.deleted.json): a taskbus.user.deleted event on
  user-events (keyed by the user id) records data.user_id in erased_users and deletes the
  user's task_events and analytics_daily rows, in the transaction of its batch and before
  that batch's task events are counted (as taskbus-analytics applies a batch's erasures
  first). From then on a task event of an erased user is counted nowhere and kept nowhere:
  only its id goes into seen_events, so what is seen stays a function of the task events
  alone, as in taskbus-analytics. There is no order between the two topics, so a user's
  task events read before or after the erasure, in one batch or another run, leave the
  same rows: none. No personal data of the user stays in the file (the user id and the
  Inbox project id in erased_users, bare event ids in seen_events). Every other type on
  user-events is ignored.
- A record that is no readable counted event or erasure (not JSON, whatever exception
  reading it raises, no UUID id or data.user_id, a counted event without its RFC 3339
  times; a taskbus.user.deleted whose data is no object, whose data.inbox_project_id is
  present and neither null nor a UUID, or with neither data.deleted_at nor time an RFC
  3339 time) is skipped and reported on stderr, never fatal: taskbus's own consumer does
  the same, so one bad record cannot stop a partition.
- Each batch touches only what it changes: new ids go through the primary key of
  seen_events, and the (user, day) rows they count on are updated in place (running
  counts; the median again from that row's own list of times to complete), so the cost of
  a batch does not grow with the stream. An erasure (rare) deletes its user's rows with a
  scan of task_events and analytics_daily; the counting looks users up in erased_users.
- Exactly once into DuckDB without Kafka commits: the offsets this reader resumes from
  live in DuckDB (table kafka_offsets, per topic and partition, for both topics) and are
  written in the same DuckDB transaction as the events, erasures and aggregates of the
  batch they close. A crash between batches loses nothing and counts nothing twice. The
  Kafka group's commits are made after the DuckDB commit for lag monitoring only; they are
  never read back.
- The whole stream or nothing, on each of the two topics: a partition this file has no
  offset for is read from offset 0, and if the topic no longer starts at 0 there
  (retention deleted the oldest records), the reader refuses (exit 2) instead of silently
  counting less (or keeping what an erasure it missed would have dropped), unless
  --accept-partial. A stored offset below the log start refuses the same way, also when
  retention deletes it while the reader runs (auto.offset.reset=error; exit 2, with a
  message, and the unfinished batch is not stored).
- One process per DuckDB file (DuckDB locks it); the partitions of both topics are read by
  assign(), all of them, so the group never rebalances work away from this process.

Usage: python consumer.py --bootstrap-servers HOST:PORT --db analytics.duckdb
       [--group NAME] [--topic task-events] [--user-topic user-events] [--until-caught-up]
       [-X key=value ...]
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
USER_DELETED = "taskbus.user.deleted"

SCHEMA = """
CREATE TABLE IF NOT EXISTS kafka_offsets (
    topic       VARCHAR NOT NULL,
    partition   INTEGER NOT NULL,
    next_offset BIGINT  NOT NULL,
    PRIMARY KEY (topic, partition)
);
-- The id of every counted event (created, completed) read, once, for the life of the file,
-- those of erased users included (ids only): a copy of an id seen before counts nothing.
-- The ids of other types are not kept, as taskbus-analytics keeps none (an id reused by a
-- counted event after an update of that id still counts there).
CREATE TABLE IF NOT EXISTS seen_events (
    event_id UUID PRIMARY KEY
);
-- Every counted event of a user not erased, once: the first copy read. Times are UTC
-- microseconds since 1970-01-01, as Postgres stores them (an instant before year 1 or
-- after 9999 included).
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
-- The users a taskbus.user.deleted event erased (the first erasure of a user stays): ids
-- only. erased_us is data.deleted_at (the event's time when that is unreadable) in UTC
-- microseconds since 1970-01-01.
CREATE TABLE IF NOT EXISTS erased_users (
    user_id          UUID PRIMARY KEY,
    inbox_project_id UUID,
    erased_us        BIGINT NOT NULL
);
"""

# One batch's erasures, staged, in the order read.
STAGE_ERASURES = """
CREATE OR REPLACE TEMP TABLE erasures AS
SELECT * FROM (SELECT
    unnest(?::UUID[])    AS user_id,
    unnest(?::UUID[])    AS inbox_project_id,
    unnest(?::BIGINT[])  AS erased_us,
    unnest(?::INTEGER[]) AS kafka_partition,
    unnest(?::BIGINT[])  AS kafka_offset)
"""

# The erasures of a batch, applied before its task events are counted: the users recorded
# (one user's erasures are on one partition, in order: the first read stays), their rows
# gone. seen_events keeps their ids.
ERASE = """
INSERT INTO erased_users
SELECT DISTINCT ON (user_id) user_id, inbox_project_id, erased_us
FROM erasures ORDER BY user_id, kafka_partition, kafka_offset
ON CONFLICT (user_id) DO NOTHING;
DELETE FROM task_events WHERE user_id IN (SELECT user_id FROM erasures);
DELETE FROM analytics_daily WHERE user_id IN (SELECT user_id FROM erasures);
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

# The batch's ids not seen before, each once, recorded as seen whoever's they are (those of
# erased users too). The primary key's index decides, so this touches the batch's ids only,
# never the table.
SEE_NEW = """
INSERT INTO seen_events SELECT DISTINCT event_id FROM batch
ON CONFLICT DO NOTHING
RETURNING CAST(event_id AS VARCHAR)
"""

STAGE_NEW_IDS = """
CREATE OR REPLACE TEMP TABLE new_ids AS SELECT unnest(?::UUID[]) AS event_id
"""

# The new events of users not erased, each once (the first copy in the batch), and only
# those: an event of an erased user counts nowhere and is kept nowhere (its id is seen).
INSERT_NEW = """
INSERT INTO task_events
SELECT DISTINCT ON (event_id) event_id, type, user_id, task_id, version, created_us, completed_us,
       DATE '1970-01-01' + day,
       CASE WHEN type = 'taskbus.task.completed' THEN
            CAST(completed_us - created_us AS DOUBLE) / 1000000.0::DOUBLE
       END,
       kafka_partition, kafka_offset
FROM batch
WHERE event_id IN (SELECT event_id FROM new_ids)
  AND user_id NOT IN (SELECT user_id FROM erased_users)
ORDER BY event_id, kafka_partition, kafka_offset
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


def read_erasure(raw):
    """The erasure of one user-events record's value: {user_id, inbox_project_id,
    erased_us}; None when it is of another type (taskbus.user.registered, ...); raises
    ValueError when it is no readable event, or a taskbus.user.deleted that cannot be read
    (the rules of taskbus's shared/user_erasure_event.h, from its schema)."""
    if raw is None:
        raise ValueError("no value (a tombstone)")
    ev = json.loads(raw)
    if not isinstance(ev, dict) or not isinstance(ev.get("type"), str):
        raise ValueError("not a CloudEvent object with a type")
    if ev["type"] != USER_DELETED:
        return None
    data = ev.get("data")
    if not isinstance(data, dict):
        raise ValueError("no data object")
    user_id = uuid_text(data.get("user_id"))
    if uuid_text(ev.get("id")) is None or user_id is None:
        raise ValueError("no UUID id or data.user_id")
    inbox = data.get("inbox_project_id")  # absent or null: the user had no Inbox
    if inbox is not None and uuid_text(inbox) is None:
        raise ValueError("data.inbox_project_id is neither null nor a UUID")
    erased_us = utc_micros(data.get("deleted_at"))
    if erased_us is None:
        erased_us = utc_micros(ev.get("time"))
    if erased_us is None:
        raise ValueError("neither data.deleted_at nor time is an RFC 3339 time")
    return {"user_id": user_id, "inbox_project_id": inbox, "erased_us": erased_us}


def open_db(path):
    """The DuckDB file with its tables. A file of the version before erasure (task_events
    but no seen_events) gets the ids of its task_events as seen; it has no offsets of the
    user topic, so it reads that topic from offset 0."""
    db = duckdb.connect(path)
    had = {name for (name,) in db.execute(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_catalog = current_database() AND table_schema = 'main'").fetchall()}
    db.execute("BEGIN TRANSACTION")
    try:
        db.execute(SCHEMA)
        if "task_events" in had and "seen_events" not in had:
            db.execute("INSERT INTO seen_events SELECT event_id FROM task_events")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        db.close()
        raise
    return db


class Reader:
    def __init__(self, args):
        self.args = args
        self.task_topic, self.user_topic = args.topic, args.user_topic
        self.topics = (self.task_topic, self.user_topic)
        self.db = open_db(args.db)
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
        self.stats = {"records": 0, "new_events": 0, "duplicates": 0, "skipped": 0, "batches": 0,
                      "erasures": 0, "events_of_erased_users": 0}

    def stored_offsets(self):
        """{(topic, partition): next offset} of both topics, as this file holds them."""
        rows = self.db.execute("SELECT topic, partition, next_offset FROM kafka_offsets"
                               " WHERE topic IN (?, ?)", list(self.topics)).fetchall()
        return {(t, p): o for t, p, o in rows}

    def by_topic(self, offsets):
        """{topic: {partition: offset}} of {(topic, partition): offset}, every topic named
        (the shape of the JSON lines)."""
        out = {t: {} for t in self.topics}
        for (t, p), o in sorted(offsets.items()):
            out[t][p] = o
        return out

    def partitions(self, topic):
        md = self.consumer.list_topics(topic, timeout=30)
        tmd = md.topics.get(topic)
        if tmd is None or tmd.error is not None or not tmd.partitions:
            raise Refused(f"topic {topic!r} not found at {self.args.bootstrap_servers}: "
                          f"{tmd.error if tmd is not None else 'no metadata'}")
        return sorted(tmd.partitions)

    def start(self):
        """Assigns every partition of both topics at this file's offsets (0 when it has
        none); returns {(topic, partition): (start offset, high watermark at start)}."""
        stored = self.stored_offsets()
        plan = {}
        for topic in self.topics:
            for p in self.partitions(topic):
                low, high = self.consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
                have = (topic, p) in stored
                want = stored.get((topic, p), 0)
                if want < low:
                    what = f"stopped at {want} and the topic" if have else "has no offset here and the topic"
                    msg = (f"partition {p} of {topic}: this DuckDB file {what} now starts at offset "
                           f"{low} (records {want}..{low - 1} were deleted by retention): the aggregates "
                           f"would silently miss them")
                    if not self.args.accept_partial:
                        raise Refused(msg + "; rebuild from an archive, or pass --accept-partial")
                    print(f"warning: {msg}; reading from {low} (--accept-partial)", file=sys.stderr)
                    want = low
                plan[(topic, p)] = (want, high)
        self.consumer.assign([TopicPartition(t, p, start) for (t, p), (start, _) in plan.items()])
        return plan

    def skip(self, msg, what, e):
        self.stats["skipped"] += 1
        print(f"skipped: {msg.topic()}/{msg.partition()}@{msg.offset()} is no readable {what} "
              f"({type(e).__name__}: {str(e)[:200]})", file=sys.stderr)

    def apply(self, records):
        """One DuckDB transaction: the batch's erasures first, then its new events of users
        not erased, the (user, day) rows they change and the next offset of every partition
        (of either topic) the batch read."""
        rows, erasures, next_offsets = [], [], {}
        for msg in records:
            topic = msg.topic()
            next_offsets[(topic, msg.partition())] = msg.offset() + 1
            erasure = topic == self.user_topic
            try:
                row = read_erasure(msg.value()) if erasure else read_event(msg.value())
            except Exception as e:  # noqa: BLE001 - whatever a record holds, it is skipped, never fatal
                self.skip(msg, "user event" if erasure else "task event", e)
                continue
            if row is None:
                continue  # a type that counts or erases nothing
            row["kafka_partition"], row["kafka_offset"] = msg.partition(), msg.offset()
            (erasures if erasure else rows).append(row)
        cols = ("event_id", "type", "user_id", "task_id", "version", "created_us", "completed_us", "day",
                "kafka_partition", "kafka_offset")
        erasure_cols = ("user_id", "inbox_project_id", "erased_us", "kafka_partition", "kafka_offset")
        db = self.db
        db.execute("BEGIN TRANSACTION")
        try:
            if erasures:
                db.execute(STAGE_ERASURES, [[r[c] for r in erasures] for c in erasure_cols])
                db.execute(ERASE)
            new_ids, fresh = [], []
            if rows:
                db.execute(STAGE, [[r[c] for r in rows] for c in cols])
                new_ids = [i for (i,) in db.execute(SEE_NEW).fetchall()]
            if new_ids:
                db.execute(STAGE_NEW_IDS, [new_ids])
                fresh = db.execute(INSERT_NEW).fetchall()
            if fresh:
                db.execute(STAGE_FRESH, [list(col) for col in zip(*fresh)])
                db.execute(UPSERT_DAYS)
            for (t, p), off in next_offsets.items():
                db.execute(STORE_OFFSET, [t, p, off])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.stats["records"] += len(records)
        self.stats["new_events"] += len(fresh)
        self.stats["duplicates"] += len(rows) - len(new_ids)
        self.stats["events_of_erased_users"] += len(new_ids) - len(fresh)
        self.stats["erasures"] += len(erasures)
        self.stats["batches"] += 1
        # For lag monitoring only (kafka-consumer-groups --describe); never read back.
        self.consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in next_offsets.items()],
                             asynchronous=True)

    def run(self):
        plan = self.start()
        target = {tp: high for tp, (_, high) in plan.items()}
        pos = {tp: start for tp, (start, _) in plan.items()}
        print(json.dumps({"start_offsets": self.by_topic(pos), "high_watermarks": self.by_topic(target)}),
              file=sys.stderr)
        while True:
            if self.args.until_caught_up and all(pos[tp] >= target[tp] for tp in pos):
                break
            batch = []
            for msg in self.consumer.consume(num_messages=self.args.batch_size, timeout=1.0):
                err = msg.error()
                tp = (msg.topic(), msg.partition())
                if err is None:
                    batch.append(msg)
                elif err.code() == KafkaError._PARTITION_EOF:
                    # The end of a partition: its position is the end, even when the last
                    # offsets held no record for us (transaction markers).
                    pos[tp] = max(pos.get(tp, 0), msg.offset())
                elif err.code() in GAP_ERRORS:
                    # The position this file needs was deleted while it ran (retention):
                    # auto.offset.reset=error brings it here. The batch read so far is not
                    # stored; the refusal is the same as at start.
                    raise Refused(f"partition {tp[1]} of {tp[0]}: offset {pos.get(tp)} is not on the broker "
                                  f"any more ({err.str()}): records were deleted while this reader ran "
                                  f"(retention), or the topic was recreated; the aggregates would silently "
                                  f"miss records: rebuild from an archive, or run again with --accept-partial")
                elif err.fatal() or err.code() in STOP_ERRORS:
                    # A topic that is gone or refused: stop loudly, never skip.
                    raise Refused(f"{tp[0] or ' and '.join(self.topics)}: {err.str()}")
                else:
                    # Transient (a broker restarting): librdkafka retries by itself.
                    print(f"kafka: {err}", file=sys.stderr)
            if batch:
                self.apply(batch)
                for msg in batch:
                    tp = (msg.topic(), msg.partition())
                    pos[tp] = max(pos[tp], msg.offset() + 1)
        return {**self.stats, "end_offsets": self.by_topic(self.stored_offsets())}

    def close(self):
        self.consumer.close()
        self.db.close()


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap-servers", default=os.environ.get("KAFKA_BROKERS", "localhost:9092"),
                    help="Kafka brokers (default: $KAFKA_BROKERS or localhost:9092)")
    ap.add_argument("--topic", default="task-events", help="the task events topic (default: task-events)")
    ap.add_argument("--user-topic", default="user-events",
                    help="the user events topic, read for taskbus.user.deleted (default: user-events)")
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
    args = ap.parse_args(argv)
    if args.topic == args.user_topic:
        ap.error("--topic and --user-topic name the same topic")
    return args


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
