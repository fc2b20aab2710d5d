"""Task events read back from Kafka `task-events`: one per applied command, each valid
against schemas/events/<type>.json, with the type the operation implies, keyed by the
owner, in the order the commands were applied, carrying the request id."""

import json
import os
import uuid

import pytest

from helpers.api import is_uuid
from helpers.kafka_events import EventCollector
from helpers.stack_control import env, repo_root
from helpers.tasks import (EVENT_TYPES, assert_event_valid, event_validator, task_of, task_user,
                           wait_outbox_published)


@pytest.fixture(scope="module")
def task_events(api_url):
    c = EventCollector(env("KAFKA_BROKERS"), "task-events")
    yield c
    c.close()


@pytest.mark.parametrize("type_", EVENT_TYPES)
def test_every_task_event_type_has_a_schema(type_):
    assert os.path.isfile(os.path.join(repo_root(), "schemas", "events", f"{type_}.json"))
    event_validator(type_)


def test_operations_produce_their_events(api_url, task_events):
    api = task_user(api_url, "tasks-events")
    rids = [f"it-tev-{k}-{uuid.uuid4().hex}" for k in range(4)]
    r = api.create({"title": "ev", "priority": "high", "tags": ["e"]}, wait=5, headers={"X-Request-ID": rids[0]})
    assert r.status_code == 201, r.text
    t = task_of(r.json())
    types = ["taskbus.task.created"]
    for k, (body, type_) in enumerate([({"title": "ev-renamed"}, "taskbus.task.updated"),
                                       ({"status": "done"}, "taskbus.task.completed")], start=1):
        u = api.patch(t["id"], body, wait=5, headers={"X-Request-ID": rids[k]})
        assert u.status_code == 200, u.text
        types.append(type_)
    d = api.delete(t["id"], wait=5, headers={"X-Request-ID": rids[3]})
    assert d.status_code == 204, d.text
    types.append("taskbus.task.deleted")

    def mine(m):
        return m["key"] == api.id

    # All four were applied (wait=5 answered): once the outbox has published this user's
    # events and the collector has read the topic to its end, every event (and any
    # duplicate) of these writes is in hand.
    wait_outbox_published([api.id], topic="task-events")
    task_events.wait_caught_up()
    seen = sorted(task_events.matching(mine), key=lambda m: (m["partition"], m["offset"]))
    assert len({m["partition"] for m in seen}) == 1, "one user's events span partitions"
    by_id = {}
    for m in seen:
        by_id.setdefault(m["value"]["id"], m)
    events = list(by_id.values())
    assert [m["value"]["type"] for m in events] == types, [m["value"] for m in events]
    cids = set()
    for m, rid in zip(events, rids):
        ev = m["value"]
        assert_event_valid(ev)
        assert ev["specversion"] == "1.0" and is_uuid(ev["id"], 7), ev
        assert m["headers"].get("request_id") == rid, (m["headers"], rid)
        assert m["headers"].get("content-type") == "application/cloudevents+json", m["headers"]
        assert not any(h.startswith("ce_") for h in m["headers"]), m["headers"]
        assert m["headers"].get("traceparent") == ev["traceparent"], (m["headers"], ev)
        data = ev["data"]
        assert is_uuid(data["command_id"], 7), data
        cids.add(data["command_id"])
        assert t["id"] in json.dumps(ev), "the event does not name its task"
    assert len(cids) == 4, "two events carry one command id"
    # Reading one user's events is all one needs to rebuild the task's last version.
    last_update = events[2]["value"]["data"]
    assert "done" in json.dumps(last_update)
