"""The relay keeps one batch in flight while it reads the next (workers/relay/relay_outbox.h):
a burst larger than several batches is published once, in order per key, and its rows are
deleted; a row that commits late with a lower id than rows already published (or in flight)
is still published. Rows are written to the outbox directly, on `user-events` (a topic no
daemon consumes), as a writer would: in a transaction that also NOTIFYs the relay.
Rules: every wait is bounded; nothing is slept for.
"""

import json
import uuid

import psycopg

from helpers.kafka_events import EventCollector
from helpers.stack_control import env
from helpers.tasks import pg, wait_outbox_published

TOPIC = "user-events"
TYPE = "taskbus.test.relay"
INSERT = ("INSERT INTO outbox (event_id, topic, key, payload, headers)"
          " SELECT e, %s::text, %s::text,"
          " jsonb_build_object('id', e, 'type', %s::text, 'key', %s::text, 'seq', s),"
          " jsonb_build_object('ce_id', e::text, 'ce_type', %s::text)"
          " FROM (SELECT gen_random_uuid() AS e, s FROM generate_series(%s::int, %s::int) AS s ORDER BY s) x"
          " ORDER BY s")


def insert(conn, key, first, last):
    conn.execute(INSERT, (TOPIC, key, TYPE, key, TYPE, first, last))
    conn.execute("SELECT pg_notify('outbox', '')")


def copies(collector, key):
    """The seq numbers of key's messages, every copy, in the order they were read."""
    return [m["value"]["seq"] for m in collector.matching(lambda m: m["key"] == key)]


def test_a_burst_goes_out_once_in_order_and_leaves_no_row():
    collector = EventCollector(env("KAFKA_BROKERS"), TOPIC)
    try:
        keys = [f"relay-burst-{uuid.uuid4()}" for _ in range(3)]
        per_key = 600  # 1 800 rows: several batches of RELAY_BATCH_MAX (500)
        with psycopg.connect(env("DATABASE_URL"), autocommit=False) as conn:
            for lo in range(0, per_key, 200):  # interleaved keys, several transactions
                for k in keys:
                    insert(conn, k, lo, lo + 199)
                conn.commit()
        wait_outbox_published(keys, timeout=60, topic=TOPIC)
        collector.wait_caught_up()
        for k in keys:
            assert copies(collector, k) == list(range(per_key)), f"{k}: not once and in order"
        with pg() as conn:
            left = conn.execute("SELECT count(*) FROM outbox WHERE key = ANY(%s)", (keys,)).fetchone()[0]
        assert left == 0, f"{left} published row(s) still in the outbox"
    finally:
        collector.close()


def test_a_row_that_commits_late_with_a_lower_id_is_published():
    collector = EventCollector(env("KAFKA_BROKERS"), TOPIC)
    late_key, early_key = f"relay-late-{uuid.uuid4()}", f"relay-early-{uuid.uuid4()}"
    late = psycopg.connect(env("DATABASE_URL"), autocommit=False)
    try:
        with psycopg.connect(env("DATABASE_URL"), autocommit=True) as early:
            insert(early, early_key, 0, 299)
            insert(late, late_key, 0, 0)  # takes its id now, commits at the end
            late_id = late.execute("SELECT max(id) FROM outbox WHERE key = %s", (late_key,)).fetchone()[0]
            insert(early, early_key, 300, 1199)  # higher ids, committed first
            early_last = early.execute("SELECT currval('outbox_id_seq')").fetchone()[0]
        assert late_id < early_last - 500, "the late row is not below a whole batch of the others"
        wait_outbox_published([early_key], timeout=60, topic=TOPIC)
        late.commit()
        wait_outbox_published([late_key], timeout=30, topic=TOPIC)
        collector.wait_caught_up()
        assert copies(collector, late_key) == [0]
        assert copies(collector, early_key) == list(range(1200))
    finally:
        late.close()
        collector.close()


def test_published_rows_carry_their_headers():
    collector = EventCollector(env("KAFKA_BROKERS"), TOPIC)
    try:
        key = f"relay-headers-{uuid.uuid4()}"
        with psycopg.connect(env("DATABASE_URL"), autocommit=True) as conn:
            insert(conn, key, 0, 0)
        wait_outbox_published([key], timeout=30, topic=TOPIC)
        collector.wait_caught_up()
        [msg] = collector.matching(lambda m: m["key"] == key)
        assert msg["headers"]["ce_type"] == TYPE and msg["headers"]["ce_id"] == msg["value"]["id"], msg
        assert json.loads(msg["raw"])["seq"] == 0
    finally:
        collector.close()
