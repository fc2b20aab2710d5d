"""Dead letters one by one (taskbus-admin dlq, tools/admin/admin_dlq.c): a poison message
and two commands Postgres refused land in task-commands.dlq; `dlq list` shows each with its
reason, `dlq show` prints one whole, `dlq skip` records the poison, `dlq replay --offset`
replays exactly one command, and `dlq replay --all` replays the other and never the
skipped poison (nor the one replayed alone): what reaches task-commands and what the
writer applies prove it. Exit codes: 2 for usage, 1 for a dead letter that is not there or
a replay of a skipped one."""

import json
import os
import subprocess
import uuid

import pytest

from helpers.kafka_events import EventCollector
from helpers.stack_control import env
from helpers.tasks import pg, produce, task_of, task_user, wait_until

GARBAGE = b"\x00\xff\xfepoison, not json {"
APPLY_TIMEOUT = 60


def admin(*args, expect=0):
    binary = os.path.join(env("TASKBUS_BUILD_DIR"), "taskbus-admin")
    p = subprocess.run([binary, *args], env=os.environ.copy(), capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == expect, \
        f"taskbus-admin {' '.join(args)}: exit {p.returncode}, wanted {expect}\n{p.stdout}\n{p.stderr}"
    return p


@pytest.fixture(scope="module")
def dlq(api_url):
    c = EventCollector(env("KAFKA_BROKERS"), "task-commands.dlq")
    yield c
    c.close()


@pytest.fixture(scope="module")
def commands(api_url):
    c = EventCollector(env("KAFKA_BROKERS"), "task-commands")
    yield c
    c.close()


def position(m):
    return f"{m['partition']}:{m['offset']}"


def command_status(cid):
    with pg() as conn:
        row = conn.execute("SELECT status FROM commands WHERE command_id = %s", (cid,)).fetchone()
    return row[0] if row else None


def copies(collector, cid):
    """The messages on a topic carrying command id cid."""
    return collector.matching(lambda m: cid.encode() in (m["raw"] or b""))


def test_list_show_skip_and_replay_one_by_one(api_url, dlq, commands):
    api = task_user(api_url, "dlq-admin")
    token = uuid.uuid4().hex
    constraint = f"it_dlq_admin_{token[:12]}"
    titles = {"one": f"refused one {token}", "all": f"refused all {token}"}
    with pg() as conn:
        conn.execute(f"ALTER TABLE tasks ADD CONSTRAINT {constraint} "
                     f"CHECK (title NOT LIKE '%{token}%') NOT VALID")
    try:
        sent = {name: api.create({"title": t}) for name, t in titles.items()}
        assert all(r.status_code == 202 for r in sent.values()), [r.text for r in sent.values()]
        cids = {name: r.json()["command_id"] for name, r in sent.items()}
        dead = {name: dlq.wait_for(lambda m, c=cid: c.encode() in (m["raw"] or b""), timeout=APPLY_TIMEOUT)
                for name, cid in cids.items()}
    finally:
        with pg() as conn:
            conn.execute(f"ALTER TABLE tasks DROP CONSTRAINT IF EXISTS {constraint}")
    poison = GARBAGE + token.encode()
    produce("task-commands", api.id.encode(), poison, headers=[("request_id", b"it-dlq-admin")])
    dead["poison"] = dlq.wait_for(lambda m: m["raw"] == poison, timeout=APPLY_TIMEOUT)
    for name in ("one", "all"):
        assert command_status(cids[name]) is None, f"{name} was applied before any replay"
    # What task-commands holds before any replay: the originals (the API's and ours).
    commands.wait_caught_up()
    base = {name: len(copies(commands, cid)) for name, cid in cids.items()}
    assert base == {"one": 1, "all": 1}, base
    assert len(commands.matching(lambda m: m["raw"] == poison)) == 1

    # list: every one with its position, status, reason and the first bytes of its payload.
    listed = json.loads(admin("dlq", "list", "task-commands", "--json").stdout)
    assert listed["dlq_topic"] == "task-commands.dlq" and listed["topic"] == "task-commands", listed
    rows = {(r["partition"], r["offset"]): r for r in listed["dead_letters"]}
    for name, m in dead.items():
        row = rows.get((m["partition"], m["offset"]))
        assert row is not None, f"{name} ({position(m)}) missing from dlq list: {sorted(rows)}"
        assert row["status"] == "pending" and row["key"] == api.id, row
        assert row["reason"] == m["headers"]["dlq_reason"] and row["reason"], row
        assert row["attempts"] is None, row  # the writer does not retry: no dlq_attempts header
        assert row["payload_bytes"] == len(m["raw"]), row
    assert rows[(dead["one"]["partition"], dead["one"]["offset"])]["reason"].startswith("apply:")
    assert constraint in rows[(dead["one"]["partition"], dead["one"]["offset"])]["reason"]
    assert rows[(dead["poison"]["partition"], dead["poison"]["offset"])]["payload_head"].startswith(
        "\\x00\\xff\\xfepoison, not json {"), rows
    # The same list for people: one line per dead letter, the poison's escaped.
    text = admin("dlq", "list", "task-commands.dlq").stdout
    line = next((l for l in text.splitlines() if l.startswith(position(dead["poison"]) + " ")), None)
    assert line is not None, text
    assert "pending" in line and f"key={api.id}" in line and "\\x00\\xff\\xfepoison" in line, line
    assert f'reason="{dead["poison"]["headers"]["dlq_reason"][:40]}' in line, line

    # show: the whole record, headers and payload.
    shown = admin("dlq", "show", "task-commands", position(dead["poison"])).stdout
    assert f"dead letter task-commands.dlq {position(dead['poison'])}" in shown, shown
    for header in ("dlq_reason", "dlq_topic", "dlq_partition", "dlq_offset", "request_id"):
        assert f"  {header}: " in shown, shown
    assert "  request_id: it-dlq-admin" in shown and f"{token}" in shown, shown
    doc = json.loads(admin("dlq", "show", "task-commands", position(dead["one"]), "--json").stdout)
    assert json.loads(doc["payload"])["command_id"] == cids["one"], doc
    assert {h["name"]: h["value"] for h in doc["headers"]}["dlq_reason"] == dead["one"]["headers"]["dlq_reason"]
    poison_doc = json.loads(admin("dlq", "show", "task-commands", position(dead["poison"]), "--json").stdout)
    assert "payload" not in poison_doc and poison_doc["payload_escaped"].startswith("\\x00\\xff"), poison_doc

    # skip: recorded, shown, and refused to a replay of that one.
    out = admin("dlq", "skip", "task-commands", position(dead["poison"])).stdout
    assert out.startswith(f"skipped task-commands.dlq {position(dead['poison'])}"), out
    with pg() as conn:
        mark = conn.execute('SELECT action FROM dlq_marks WHERE dlq_topic = %s AND partition = %s '
                            'AND "offset" = %s', ("task-commands.dlq", dead["poison"]["partition"],
                                                  dead["poison"]["offset"])).fetchone()
    assert mark == ("skipped",), mark
    refused = admin("dlq", "replay", "task-commands", "--offset", position(dead["poison"]), expect=1)
    assert "skipped" in refused.stderr, refused.stderr

    # replay --offset: exactly that one reaches task-commands and is applied.
    out = admin("dlq", "replay", "task-commands", "--offset", position(dead["one"])).stdout
    assert out.startswith(f"replayed task-commands.dlq {position(dead['one'])} to task-commands"), out
    wait_until(lambda: command_status(cids["one"]) == "applied", APPLY_TIMEOUT, "the replayed command applied")
    assert api.get(task_of(sent["one"].json())["id"]).status_code == 200
    commands.wait_caught_up()
    assert len(copies(commands, cids["one"])) == 2, "dlq replay --offset did not produce one copy"
    assert len(copies(commands, cids["all"])) == 1, "dlq replay --offset replayed another dead letter"
    assert command_status(cids["all"]) is None

    # replay --all: the other one, never the skipped poison nor the one replayed alone.
    out = json.loads(admin("dlq", "replay", "task-commands", "--all", "--json").stdout)
    wait_until(lambda: command_status(cids["all"]) == "applied", APPLY_TIMEOUT, "replay --all applied")
    commands.wait_caught_up()
    assert len(copies(commands, cids["all"])) == 2, "replay --all did not produce exactly one copy"
    assert len(copies(commands, cids["one"])) == 2, "replay --all replayed the one replayed alone"
    assert len(commands.matching(lambda m: m["raw"] == poison)) == 1, \
        "replay --all replayed the skipped poison"
    assert out["replayed"] >= 1 and out["passed_over"] >= 2, out

    # The statuses say what happened; a second --all finds nothing of ours.
    listed = json.loads(admin("dlq", "list", "task-commands", "--json").stdout)
    status = {(r["partition"], r["offset"]): r["status"] for r in listed["dead_letters"]}
    assert status[(dead["poison"]["partition"], dead["poison"]["offset"])] == "skipped"
    assert status[(dead["one"]["partition"], dead["one"]["offset"])] == "replayed"
    assert status[(dead["all"]["partition"], dead["all"]["offset"])] == "replayed"
    admin("replay-dlq", "task-commands")  # the old spelling still works
    commands.wait_caught_up()
    assert len(commands.matching(lambda m: m["raw"] == poison)) == 1
    assert len(copies(commands, cids["all"])) == 2 and len(copies(commands, cids["one"])) == 2


def test_dlq_usage_and_missing_dead_letters(api_url):
    for args in (("dlq",), ("dlq", "list"), ("dlq", "replay", "task-commands"),
                 ("dlq", "show", "task-commands", "x:1"),
                 ("dlq", "replay", "task-commands", "--all", "--offset", "0:0")):
        p = admin(*args, expect=2)
        assert p.stderr.startswith("taskbus-admin: "), p.stderr
    # A bare offset names no partition when the dead-letter topic has several.
    p = admin("dlq", "show", "task-commands", "0", expect=2)
    assert "PARTITION:OFFSET" in p.stderr, p.stderr
    p = admin("dlq", "list", "no such topic", expect=2)
    assert "bad topic name" in p.stderr, p.stderr
    # A position past the end of the partition: nothing there.
    for verb in ("show", "skip"):
        p = admin("dlq", verb, "task-commands", "0:999999999", expect=1)
        assert "no dead letter at task-commands.dlq 0:999999999" in p.stderr, p.stderr
    p = admin("dlq", "replay", "task-commands", "--offset", "0:999999999", expect=1)
    assert "no dead letter" in p.stderr, p.stderr
    with pg() as conn:
        n = conn.execute('SELECT count(*) FROM dlq_marks WHERE "offset" = 999999999').fetchone()[0]
    assert n == 0, "a dead letter that does not exist was marked"


def test_a_one_partition_topic_takes_a_bare_offset_and_all_passes_over_the_skipped(api_url):
    """A dead-letter topic of one partition (made for the test, with a source topic): a bare
    OFFSET names its record; attempts come from dlq_attempts (the notifier's header); of
    three dead letters, --all re-produces to the source exactly the two not skipped, in
    order, with their keys and payloads and only the request_id header."""
    from confluent_kafka import Consumer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    source = f"it-dlq-{uuid.uuid4().hex[:12]}"
    dead_topic = f"{source}.dlq"
    kafka = AdminClient({"bootstrap.servers": env("KAFKA_BROKERS")})
    for f in kafka.create_topics([NewTopic(source, 1, 1), NewTopic(dead_topic, 1, 1)]).values():
        f.result(timeout=30)
    letters = [(b"k0", b"first"), (b"k1", b"\x01second"), (b"k2", b"third")]
    for i, (key, value) in enumerate(letters):
        placed = produce(dead_topic, key, value, headers=[
            ("dlq_reason", f"smtp 554 number {i}".encode()), ("dlq_attempts", b"3"),
            ("dlq_topic", source.encode()), ("request_id", f"it-one-{i}".encode())])
        assert placed == (0, i), placed

    listed = json.loads(admin("dlq", "list", source, "--json").stdout)["dead_letters"]
    assert [(r["partition"], r["offset"], r["key"], r["attempts"], r["reason"], r["status"])
            for r in listed] == [(0, i, k.decode(), 3, f"smtp 554 number {i}", "pending")
                                 for i, (k, _) in enumerate(letters)], listed
    assert listed[1]["payload_head"] == "\\x01second", listed
    shown = admin("dlq", "show", dead_topic, "1").stdout
    assert f"dead letter {dead_topic} 0:1" in shown and "  dlq_attempts: 3" in shown, shown
    assert shown.rstrip().endswith("\\x01second"), shown

    assert admin("dlq", "skip", source, "1").stdout.startswith(f"skipped {dead_topic} 0:1")
    out = json.loads(admin("dlq", "replay", source, "--all", "--json").stdout)
    assert (out["replayed"], out["passed_over"]) == (2, 1), out

    reader = Consumer({"bootstrap.servers": env("KAFKA_BROKERS"), "group.id": f"itests-{uuid.uuid4()}",
                       "enable.auto.commit": False})
    try:
        low, high = reader.get_watermark_offsets(TopicPartition(source, 0), timeout=15)
        assert (low, high) == (0, 2), (low, high)  # the replay's sends were acknowledged
        reader.assign([TopicPartition(source, 0, 0)])
        got = []
        polls_left = 300  # 30 s at most: both records are known to be there (the watermark)
        while len(got) < 2 and polls_left > 0:
            polls_left -= 1
            m = reader.poll(0.1)
            if m is not None and not m.error():
                got.append((m.key(), m.value(), m.headers() or []))
    finally:
        reader.close()
    assert got == [(b"k0", b"first", [("request_id", b"it-one-0")]),
                   (b"k2", b"third", [("request_id", b"it-one-2")])], got
    # Nothing left to replay; the statuses say why.
    out = json.loads(admin("dlq", "replay", dead_topic, "--all", "--json").stdout)
    assert (out["replayed"], out["passed_over"]) == (0, 0), out
    listed = json.loads(admin("dlq", "list", source, "--json").stdout)["dead_letters"]
    assert [r["status"] for r in listed] == ["replayed", "skipped", "replayed"], listed
