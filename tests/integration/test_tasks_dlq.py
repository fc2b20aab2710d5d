"""A command the writer cannot parse, or of an unknown type, goes to task-commands.dlq
with its reason, and never stops its partition: a valid command behind it, on the same
key and so the same partition, is still applied."""

import json
import uuid

import pytest

from helpers.kafka_events import EventCollector
from helpers.stack_control import env
from helpers.tasks import pg, produce, task_of, task_user

GARBAGE = b"\x00\xff\xfenot json at all {"


def collecting(topic):
    """A module-scoped fixture collecting a topic's records for the module's tests."""
    @pytest.fixture(scope="module")
    def fixture(api_url):
        c = EventCollector(env("KAFKA_BROKERS"), topic)
        yield c
        c.close()

    return fixture


dlq = collecting("task-commands.dlq")
commands = collecting("task-commands")
task_events = collecting("task-events")


def test_bad_commands_go_to_the_dlq_and_the_partition_moves_on(api_url, dlq, commands):
    api = task_user(api_url, "tasks-dlq")
    garbage = GARBAGE + uuid.uuid4().hex.encode()
    unknown = json.dumps({
        "command_id": str(uuid.uuid4()), "type": "task.explode", "user_id": api.id,
        "task_id": str(uuid.uuid4()), "issued_at": "2030-01-01T00:00:00.000Z",
        "request_id": "it-dlq", "expected_version": None, "task": {"title": "boom"},
    }).encode()
    missing = json.dumps({"type": "task.create", "user_id": api.id}).encode()
    placed = {}
    for name, value in (("garbage", garbage), ("unknown", unknown), ("missing", missing)):
        placed[name] = produce("task-commands", api.id.encode(), value, headers=[("request_id", b"it-dlq")])

    # A valid command behind them on the same key (the API keys by user id, as we did).
    r = api.create({"title": "after the poison"})
    assert r.status_code == 202, r.text
    cid = r.json()["command_id"]
    valid = commands.wait_for(lambda m: isinstance(m["value"], dict) and m["value"].get("command_id") == cid, timeout=30)
    assert valid["partition"] == placed["garbage"][0] and valid["offset"] > placed["missing"][1], \
        "the valid command is not behind the poison on its partition: the test proves nothing"
    api.wait_command(cid, timeout=60)
    assert api.get(r.json()["task"]["id"]).status_code == 200

    for name, value in (("garbage", garbage), ("unknown", unknown), ("missing", missing)):
        m = dlq.wait_for(lambda m, v=value: m["raw"] == v, timeout=30)
        h = m["headers"]
        assert h.get("dlq_reason"), f"{name}: no dlq_reason header: {h}"
        assert h.get("dlq_topic") == "task-commands", h
        part, off = placed[name]
        assert h.get("dlq_partition") == str(part) and h.get("dlq_offset") == str(off), (name, h, placed[name])
        assert m["key"] == api.id, m["key"]
    # Each poison message is parked once, not once per retry.
    for value in (garbage, unknown, missing):
        assert len(dlq.matching(lambda m, v=value: m["raw"] == v)) == 1


def test_a_command_postgres_refuses_goes_to_the_dlq_alone(api_url, dlq, task_events):
    """The careful path (workers/writer/writer_batch.c): a command the writer decides to apply but
    Postgres refuses with a data error (here a CHECK constraint that refuses one title,
    added for the test) is undone and isolated by halving its batch inside savepoints;
    it alone goes to the DLQ with its reason, and every other command, before and after
    it on the same partition, is applied once, its events in order."""
    api = task_user(api_url, "tasks-dlq-careful")
    poison = f"poison {uuid.uuid4().hex}"
    constraint = f"it_poison_{uuid.uuid4().hex[:12]}"
    with pg() as conn:
        conn.execute(f"ALTER TABLE tasks ADD CONSTRAINT {constraint} "
                     f"CHECK (title <> '{poison}') NOT VALID")
    try:
        sent = [api.create({"title": "before the poison"}),
                api.create({"title": poison}),
                api.create({"title": "after the poison"})]
        assert all(r.status_code == 202 for r in sent), [r.text for r in sent]
        first, bad, last = (r.json() for r in sent)
        api.wait_command(first["command_id"], timeout=60)  # the API checks the task exists
        fixed = api.patch(task_of(first)["id"], {"status": "done"})
        assert fixed.status_code == 202, fixed.text
        applied = [first, last, fixed.json()]
        for body in applied:
            api.wait_command(body["command_id"], timeout=60)

        m = dlq.wait_for(lambda m: bad["command_id"].encode() in (m["raw"] or b""), timeout=60)
        reason = m["headers"].get("dlq_reason", "")
        assert reason.startswith("apply:") and constraint in reason, m["headers"]
        assert m["key"] == api.id, m["key"]
        assert len(dlq.matching(lambda m: bad["command_id"].encode() in (m["raw"] or b""))) == 1
        with pg() as conn:
            rows = conn.execute("SELECT command_id::text, status FROM commands WHERE user_id = %s",
                                (api.id,)).fetchall()
            poisoned = conn.execute("SELECT count(*) FROM tasks WHERE id = %s",
                                    (task_of(bad)["id"],)).fetchone()[0]
        assert sorted(rows) == sorted((b["command_id"], "applied") for b in applied), rows
        assert poisoned == 0
        def mine(m):
            return m["key"] == api.id and isinstance(m["value"], dict)

        task_events.wait_for(lambda m: mine(m) and m["value"]["type"] == "taskbus.task.completed",
                             timeout=60)
        firsts = {}  # the relay delivers at least once: an event id counts at its first copy
        for m in task_events.matching(mine):
            firsts.setdefault(m["value"]["id"], m["value"])
        events = [(v["type"], v["subject"], v["data"]["command_id"]) for v in firsts.values()]
        assert events == [
            ("taskbus.task.created", f"tasks/{task_of(first)['id']}", first["command_id"]),
            ("taskbus.task.created", f"tasks/{task_of(last)['id']}", last["command_id"]),
            ("taskbus.task.completed", f"tasks/{task_of(first)['id']}", fixed.json()["command_id"]),
        ], events
    finally:
        with pg() as conn:
            conn.execute(f"ALTER TABLE tasks DROP CONSTRAINT IF EXISTS {constraint}")
