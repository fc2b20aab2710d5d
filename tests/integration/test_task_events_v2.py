"""Task events v2 (docs/event-schemas.md, "Task events v2"; docs/decisions.md, "Task events
v2 (slice 7)").

Against the real stack: every task event the writer puts on `task-events` has its v2 twin
on `task-events.v2`, with the same key and the same command: a create, a change by
another member, a completion (and the next occurrence it inserts), a move out of a team
project into an Inbox, a delete. The v2 data is the task as the API shows it (project_id,
assignee_id and recurrence when set) plus the actor; a delete names the project the task
was deleted from. Every v2 event matches its schema and writes no undocumented member; the
v1 events are unchanged.

Rules: every test registers its own users; every wait is on a condition (Prefer: wait,
wait_command, the outbox fence, the collectors' high watermarks), never a sleep.
"""

import pytest

from helpers import stack_control

from helpers.kafka_events import EventCollector
from helpers.stack_control import env
from helpers.tasks import (event_schema_id, event_validator, pg, undocumented_data_members,
                           wait_outbox_published)
from test_notifications import mail_dir  # noqa: F401 - the fixture
from test_team_tasks import created_in, team_of

V1, V2 = "task-events", "task-events.v2"
V2_ONLY = {"project_id", "assignee_id", "recurrence", "actor_id"}


@pytest.fixture(scope="module")
def topics(api_url):
    cs = {t: EventCollector(env("KAFKA_BROKERS"), t) for t in (V1, V2)}
    yield cs
    for c in cs.values():
        c.close()


def assert_v2_valid(ev):
    errors = sorted(event_validator(ev["type"]).iter_errors(ev), key=str)
    assert not errors, f"{ev['type']}: {[e.message for e in errors]}\n{ev}"
    extra = undocumented_data_members(ev, event_validator(ev["type"]).schema)
    assert not extra, f"{ev['type']} writes data members its schema does not document: {extra}"
    assert ev["dataschema"] == event_schema_id(ev["type"]), ev


def applied(who, r):
    assert r.status_code == 202, f"{r.status_code} {r.text[:300]}"
    who.wait_command(r.json()["command_id"])
    return r.json()["command_id"]


def test_every_task_event_has_its_v2_twin(make_user, mail_dir, topics):
    owner, pid, (editor,) = team_of(make_user, mail_dir, "events-v2", "editor")
    inbox = owner.inbox()["id"]
    rec = {"rule": "FREQ=WEEKLY", "time_zone": "Europe/Berlin"}
    t = created_in(editor, pid, "evented", assignee_id=owner.id, due_at="2030-03-25T08:00:00.000Z",
                   recurrence=rec)
    renamed = applied(owner, owner.patch(t["id"], {"title": "evented, renamed"}))
    completed = applied(owner, owner.patch(t["id"], {"status": "done"}))
    moved = applied(owner, owner.patch(t["id"], {"project_id": inbox}))
    deleted = applied(owner, owner.delete(t["id"]))
    keys = [pid, owner.id]
    for topic in (V1, V2):
        wait_outbox_published(keys, topic=topic)
        topics[topic].wait_caught_up()

    with pg() as conn:  # the next occurrence the completion inserted
        [(next_id,)] = conn.execute("SELECT id::text FROM tasks WHERE project_id = %s AND status = 'todo'",
                                    (pid,)).fetchall()
    ids = {t["id"], next_id}

    def mine(m):
        return m["key"] in keys and m["value"]["data"].get("id") in ids
    # Delivery is at least once: one message per event id.
    v1 = list({m["value"]["id"]: m for m in topics[V1].matching(mine)}.values())
    v2 = list({m["value"]["id"]: m for m in topics[V2].matching(mine)}.values())
    assert len(v1) == 6 and len(v2) == 6, ([m["value"]["type"] for m in v1], [m["value"]["type"] for m in v2])

    # One twin per v1 event: the same key, command, subject and trace, the type + ".v2".
    twins = {(m["value"]["data"]["command_id"], m["value"]["data"]["id"]): m for m in v2}
    for m in v1:
        ev = m["value"]
        twin = twins[(ev["data"]["command_id"], ev["data"]["id"])]
        ev2 = twin["value"]
        assert_v2_valid(ev2)
        assert ev2["type"] == ev["type"] + ".v2" and twin["key"] == m["key"], (ev2, ev)
        assert ev2["subject"] == ev["subject"] and ev2.get("traceparent") == ev.get("traceparent")
        assert ev2["data"]["actor_id"] == ev["data"]["user_id"], (ev2, ev)
        if not ev["type"].endswith(".deleted"):
            same = {k: v for k, v in ev2["data"].items() if k not in V2_ONLY}
            want = {k: v for k, v in ev["data"].items() if k != "user_id"}
            assert same == want, (ev2["data"], ev["data"])

    by_command = {(e["data"]["command_id"], e["data"]["id"]): e for e in (m["value"] for m in v2)}
    created = [e for e in by_command.values() if e["data"]["id"] == t["id"] and e["type"].endswith("created.v2")][0]
    assert created["data"]["actor_id"] == editor.id
    assert created["data"]["project_id"] == pid and created["data"]["assignee_id"] == owner.id
    assert created["data"]["recurrence"]["time_zone"] == "Europe/Berlin", created
    assert by_command[(renamed, t["id"])]["data"]["actor_id"] == owner.id
    done = by_command[(completed, t["id"])]
    assert done["type"] == "taskbus.task.completed.v2" and "recurrence" not in done["data"], done
    [nxt] = [e for (cid, tid), e in by_command.items() if tid == next_id]
    assert nxt["type"] == "taskbus.task.created.v2" and nxt["data"]["actor_id"] == owner.id, nxt
    assert nxt["data"]["project_id"] == pid and nxt["data"]["assignee_id"] == owner.id, nxt
    assert by_command[(moved, t["id"])]["data"]["project_id"] == inbox
    gone = by_command[(deleted, t["id"])]
    assert gone["type"] == "taskbus.task.deleted.v2", gone
    assert gone["data"] == {"id": t["id"], "project_id": inbox, "version": 5, "actor_id": owner.id,
                            "command_id": deleted}, gone


@pytest.mark.single_stack_only
def test_deletes_applied_together_name_each_its_own_project(make_user, mail_dir, topics):
    """Deletes of Inbox and team tasks queued while the writer is stopped are applied in as
    few batches as the writer takes them; each deleted.v2 names the project its task was
    deleted from (the writer reads it back from the deleted row)."""
    owner, pid, _ = team_of(make_user, mail_dir, "events-v2-deletes")
    inbox = owner.inbox()["id"]
    team = [created_in(owner, pid, f"team {i}")["id"] for i in range(3)]
    mine = [owner.create_applied({"title": f"inbox {i}"})["id"] for i in range(3)]
    stack_control.stop("writer")
    try:
        cids = []
        for tid in team + mine:
            r = owner.delete(tid)
            assert r.status_code == 202, r.text
            cids.append(r.json()["command_id"])
    finally:
        stack_control.start("writer")
    for cid in cids:
        owner.wait_command(cid)
    wait_outbox_published([pid, owner.id], topic=V2)
    topics[V2].wait_caught_up()
    gone = {m["value"]["data"]["id"]: m["value"]["data"]["project_id"]
            for m in topics[V2].matching(lambda m: m["value"]["type"] == "taskbus.task.deleted.v2"
                                         and m["value"]["data"]["command_id"] in cids)}
    assert gone == {**{t: pid for t in team}, **{t: inbox for t in mine}}, gone
