"""Trace context and request ids, end to end (issue 11): one write sent with an X-Request-ID
and a W3C traceparent is found by both ids in the API's, the writer's, the relay's and a
consumer's log (tests/run's stack writes them to $TASKBUS_DATA_DIR/logs/<daemon>.log), on
the command's and the event's Kafka headers, and in the event's CloudEvents traceparent
attribute; an absent or invalid traceparent starts a new trace and is never an error.

Every wait is a condition with a deadline: a log line is looked for until it is there, a
Kafka message until the collector has it."""

import json
import os
import re
import secrets
import time
import uuid

import pytest

from helpers.api import Client
from helpers.kafka_events import EventCollector
from helpers.stack_control import env
from helpers.tasks import task_of, task_user, wait_outbox_published

pytestmark = pytest.mark.single_stack_only(reason="reads logs/<daemon>.log of the one instance of each daemon")

TRACEPARENT_RE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
# The daemons that consume task-events through the shared consumer loop.
CONSUMERS = ("activity", "analytics", "webhooks")


def new_traceparent(flags="01"):
    """A fresh client traceparent: (header value, trace id, parent id)."""
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{parent_id}-{flags}", trace_id, parent_id


def log_path(daemon):
    return os.path.join(env("TASKBUS_DATA_DIR"), "logs", f"{daemon}.log")


def log_sizes(daemons):
    """Where each log ends now: lines of this test's write come after."""
    return {d: os.path.getsize(log_path(d)) if os.path.exists(log_path(d)) else 0 for d in daemons}


def lines_since(daemon, offset):
    """The JSON lines daemon's log gained after offset (other lines skipped)."""
    path = log_path(daemon)
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read()
    out = []
    for raw in data.split(b"\n"):
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict):
            out.append(line)
    return out


def names_ids(line, rid, tid):
    """True when the line carries both ids: its own (a line about one record or request) or
    in the lists of a line about a batch."""
    own = line.get("request_id") == rid and line.get("trace_id") == tid
    listed = rid in (line.get("request_ids") or []) and tid in (line.get("trace_ids") or [])
    return own or listed


def wait_log_line(daemons, offsets, rid, tid, timeout=30.0):
    """The first line of one of daemons' logs naming both ids, as (daemon, line); fails after
    timeout seconds, saying what the logs held."""
    deadline = time.monotonic() + timeout
    while True:
        for d in daemons:
            for line in lines_since(d, offsets[d]):
                if names_ids(line, rid, tid):
                    return d, line
        if time.monotonic() >= deadline:
            tails = {d: lines_since(d, offsets[d])[-3:] for d in daemons}
            raise AssertionError(f"no line naming request {rid} and trace {tid} in {daemons} "
                                 f"within {timeout} s; last lines: {tails}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def commands():
    c = EventCollector(env("KAFKA_BROKERS"), "task-commands")
    yield c
    c.close()


@pytest.fixture(scope="module")
def task_events():
    c = EventCollector(env("KAFKA_BROKERS"), "task-events")
    yield c
    c.close()


def with_request_id(rid):
    return lambda m: m["headers"].get("request_id") == rid


def test_one_write_found_by_its_ids_everywhere(api_url, commands, task_events):
    api = task_user(api_url, "trace-logs")
    rid = f"it-trace-{uuid.uuid4().hex}"
    tp, tid, parent = new_traceparent()
    daemons = ("api", "writer", "relay") + CONSUMERS
    offsets = log_sizes(daemons)

    r = api.create({"title": "traced"}, wait=5, headers={"X-Request-ID": rid, "traceparent": tp})
    assert r.status_code == 201, r.text
    assert r.headers.get("X-Request-ID") == rid
    task = task_of(r.json())

    # The command: both headers; the trace goes on, from the API's own span.
    cmd = commands.wait_for(with_request_id(rid), timeout=30)
    m = TRACEPARENT_RE.match(cmd["headers"].get("traceparent") or "")
    assert m, cmd["headers"]
    assert m.group(1) == tid and m.group(3) == "01", cmd["headers"]
    assert m.group(2) != parent, "the API's span must be a child, not the caller's span"
    api_span = m.group(2)

    # The event: request_id and traceparent headers, the traceparent attribute, the same
    # trace (and the API's span: the writer records no span of its own).
    wait_outbox_published([api.id], topic="task-events")
    ev = task_events.wait_for(lambda x: isinstance(x["value"], dict)
                              and x["value"].get("subject") == f"tasks/{task['id']}", timeout=30)
    assert ev["headers"].get("request_id") == rid, ev["headers"]
    assert ev["headers"].get("traceparent") == cmd["headers"]["traceparent"], ev["headers"]
    assert ev["value"].get("traceparent") == cmd["headers"]["traceparent"], ev["value"]
    assert TRACEPARENT_RE.match(ev["value"]["traceparent"]).group(2) == api_span

    # The logs: the API's access line carries both ids itself; the writer, the relay and
    # a consumer name them in the line about the batch that held the write.
    _, access = wait_log_line(("api",), offsets, rid, tid)
    assert access.get("request_id") == rid and access.get("trace_id") == tid, access
    for daemon in ("writer", "relay"):
        wait_log_line((daemon,), offsets, rid, tid)
    found, line = wait_log_line(CONSUMERS, offsets, rid, tid)
    assert found in CONSUMERS, (found, line)


def test_invalid_or_absent_traceparent_starts_a_new_trace(api_url, commands):
    api = task_user(api_url, "trace-new")
    offsets = log_sizes(("api",))
    bad = [None, "", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"]
    seen_traces = set()
    for value in bad:
        rid = f"it-trace-new-{uuid.uuid4().hex}"
        headers = {"X-Request-ID": rid}
        if value is not None:
            headers["traceparent"] = value
        r = api.create({"title": "new trace"}, headers=headers)
        assert r.status_code in (201, 202), (value, r.status_code, r.text)
        cmd = commands.wait_for(with_request_id(rid), timeout=30)
        m = TRACEPARENT_RE.match(cmd["headers"].get("traceparent") or "")
        assert m, (value, cmd["headers"])
        assert m.group(1) != "4bf92f3577b34da6a3ce929d0e0e4736", (value, cmd["headers"])
        assert m.group(3) == "00", "a new trace is not sampled"
        seen_traces.add(m.group(1))
        _, access = wait_log_line(("api",), offsets, rid, m.group(1))
        assert access.get("trace_id") == m.group(1)
    assert len(seen_traces) == len(bad), "every new trace has its own id"


def test_a_read_logs_its_trace_too(api_url):
    """Not only writes: every request's access line carries the trace id it was sent."""
    offsets = log_sizes(("api",))
    rid = f"it-trace-read-{uuid.uuid4().hex}"
    tp, tid, _ = new_traceparent("00")
    r = Client(api_url).get("/health", headers={"X-Request-ID": rid, "traceparent": tp})
    assert r.status_code == 200, r.text
    wait_log_line(("api",), offsets, rid, tid)
