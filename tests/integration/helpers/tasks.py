"""Task-side helpers of the black-box tests of issue 3 (tests/integration/test_tasks_*.py
and every test that creates tasks or reads what the writer left).

Owns: a per-user task client (TaskApi) over the conftest Client, the waits on command
outcomes, the wait for an API instance to be ready again, Postgres, Redis and Kafka access for counting what was accepted against what was applied, the
event-schema validators and a Server-Sent Events reader.
Rules: every wait is bounded and fails with what it last saw; nothing is mocked; a 429
is retried only after the server's Retry-After and a bounded number of times (the tests
are about tasks, not the limiter, but they never hide a refusal: the last answer is
returned as it is); nothing here skips a test.
"""

import json
import os
import queue
import socket
import threading
import time
import uuid
from datetime import datetime, timezone

import requests

from helpers.api import API, Client, register_user
from helpers.kafka_events import assigned_reader, record_of
from helpers.stack_control import env, repo_root

TASKS = f"{API}/tasks"
COMMANDS = f"{API}/commands"
IMPORT = f"{API}/tasks/import"
EVENTS = f"{API}/events"

EVENT_TYPES = ("taskbus.task.created", "taskbus.task.updated", "taskbus.task.completed",
               "taskbus.task.deleted")
PRIORITY_RANK = {"low": 0, "medium": 1, "high": 2, "urgent": 3}
# The members of a task in an event's data (and in the 202 prediction of a create); an
# applied task the API answers also names its project (API_TASK_KEYS).
TASK_KEYS = {"id", "title", "description", "status", "priority", "due_at", "tags", "created_at",
             "updated_at", "completed_at", "version"}
API_TASK_KEYS = TASK_KEYS | {"project_id"}



# --- time ---------------------------------------------------------------------------------


def parse_time(s):
    """An RFC 3339 timestamp of the API as an aware datetime (None stays None)."""
    if s is None:
        return None
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def rfc3339(dt):
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def etag_version(resp):
    tag = resp.headers.get("ETag")
    assert tag, f"no ETag on {resp.request.method} {resp.request.url} -> {resp.status_code}"
    t = tag[2:] if tag.startswith("W/") else tag
    assert t.startswith('"') and t.endswith('"'), f"ETag {tag!r} is not a quoted string"
    return int(t[1:-1])


def task_of(body):
    """The task in a write answer ({command_id, status, task}) or a plain task body."""
    assert isinstance(body, dict), body
    return body["task"] if isinstance(body.get("task"), dict) else body


def unique(prefix="t"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# --- the task client ------------------------------------------------------------------------


class TaskApi:
    """One user's view of the task API, from one client address."""

    def __init__(self, user, client=None):
        self.user = user
        self.id = user.id
        self.token = user.access
        self.c = client or user.client

    def clone(self):
        """The same user from a new client address (its own per-IP bucket)."""
        return TaskApi(self.user, Client(self.c.base))

    def on(self, base_url):
        """The same user from the same address, through another API instance."""
        return TaskApi(self.user, self.c.twin(base_url))

    def req(self, method, path, headers=None, retries=3, **kw):
        for _ in range(retries + 1):
            r = self.c.request(method, path, token=self.token, headers=headers, **kw)
            if r.status_code != 429:
                return r
            time.sleep(min(float(r.headers.get("Retry-After", "1") or 1), 5.0))
        return r

    @staticmethod
    def _hdrs(wait=None, if_match=None, key=None, headers=None):
        h = dict(headers or {})
        if wait is not None:
            h["Prefer"] = f"wait={wait}"
        if if_match is not None:
            h["If-Match"] = if_match if if_match == "*" else f'"{if_match}"'
        if key is not None:
            h["Idempotency-Key"] = key
        return h

    def create(self, body, wait=None, key=None, headers=None, **kw):
        return self.req("POST", TASKS, json=body, headers=self._hdrs(wait, None, key, headers), **kw)

    def patch(self, tid, body, if_match=None, wait=None, headers=None, **kw):
        return self.req("PATCH", f"{TASKS}/{tid}", json=body,
                        headers=self._hdrs(wait, if_match, None, headers), **kw)

    def delete(self, tid, if_match=None, wait=None, headers=None, **kw):
        return self.req("DELETE", f"{TASKS}/{tid}", headers=self._hdrs(wait, if_match, None, headers), **kw)

    def get(self, tid, **kw):
        return self.req("GET", f"{TASKS}/{tid}", **kw)

    def list(self, params=None, **kw):
        return self.req("GET", TASKS, params=params, **kw)

    def stats(self):
        return self.req("GET", f"{TASKS}/stats")

    def command(self, cid):
        return self.req("GET", f"{COMMANDS}/{cid}")

    # --- composite steps ---

    def create_applied(self, body, timeout=30):
        """Creates a task and waits until it is applied; returns the applied task."""
        r = self.create(body, wait=5)
        assert r.status_code in (201, 202), f"create: {r.status_code} {r.text[:300]}"
        if r.status_code == 202:
            self.wait_command(r.json()["command_id"], timeout=timeout)
            g = self.get(task_of(r.json())["id"])
            assert g.status_code == 200, f"GET after apply: {g.status_code} {g.text[:300]}"
            return g.json()
        return task_of(r.json())

    def wait_command(self, cid, timeout=30, want="applied"):
        """Polls GET /commands/{cid} until it is no longer pending; asserts it is `want`."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            r = self.command(cid)
            last = r
            if r.status_code == 200 and r.json().get("status") != "pending":
                body = r.json()
                assert body.get("status") == want, f"command {cid}: expected {want}, got {body}"
                return body
            assert r.status_code in (200, 404, 503), f"GET command {cid}: {r.status_code} {r.text[:300]}"
            time.sleep(0.05)
        raise AssertionError(f"command {cid} not {want} within {timeout} s; last answer "
                             f"{last.status_code if last is not None else None} "
                             f"{last.text[:300] if last is not None else ''}")

    def list_all(self, params=None, limit=100, max_pages=500):
        """Every item over all pages, in the order the pages give them."""
        p = dict(params or {})
        p["limit"] = limit
        items, pages = [], 0
        while True:
            r = self.list(p)
            assert r.status_code == 200, f"list {p}: {r.status_code} {r.text[:300]}"
            body = r.json()
            assert set(body) >= {"items", "next_cursor"}, body
            assert len(body["items"]) <= limit, (limit, len(body["items"]))
            items.extend(body["items"])
            pages += 1
            assert pages <= max_pages, "the cursor never ends"
            if not body["next_cursor"]:
                return items
            p["cursor"] = body["next_cursor"]


def task_user(api_url, tag):
    return TaskApi(register_user(api_url, tag=tag))


def wait_until(pred, timeout, what, interval=0.1):
    """Polls pred() until it returns a true value (returned); fails after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not reached within {timeout} s (last: {last!r})")


# --- the stack ------------------------------------------------------------------------------


def wait_api_ready(api_url, timeout=90):
    def ready():
        try:
            return requests.get(api_url + "/ready", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_until(ready, timeout, f"{api_url}/ready answers 200", interval=0.2)


def pg():
    import psycopg

    return psycopg.connect(env("DATABASE_URL"), autocommit=True, connect_timeout=10)


def wait_outbox_published(keys, timeout=30, topic=None):
    """Waits until the outbox holds no unpublished row keyed by one of `keys` (on `topic`,
    when given): from then on every event those keys caused so far is on Kafka, below the
    high watermark. The fence that replaces "wait a little for a late duplicate"."""
    sql = "SELECT count(*) FROM outbox WHERE published_at IS NULL AND key = ANY(%s)"
    params = [list(keys)]
    if topic is not None:
        sql += " AND topic = %s"
        params.append(topic)

    def published():
        with pg() as conn:
            return conn.execute(sql, params).fetchone()[0] == 0

    wait_until(published, timeout, f"the outbox published every event of {len(keys)} key(s)", interval=0.1)


def redis_conn():
    """The stack's Redis (REDIS_URL), answers decoded; for reading what the writer left.
    Several hosts in REDIS_URL (`redis://[:pw@]h1:p1,h2:p2,...`, the scaled stack's
    Redis Cluster seeds) give a cluster client that routes every key to its node."""
    import redis
    from urllib.parse import urlsplit

    url = env("REDIS_URL")
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    hosts = netloc[-1]
    if "," not in hosts:
        return redis.Redis.from_url(url, decode_responses=True, socket_timeout=10)
    from redis.cluster import ClusterNode, RedisCluster

    password = None
    if len(netloc) == 2:
        password = netloc[0].split(":", 1)[-1] or None
    nodes = []
    for hp in hosts.split(","):
        host, _, port = hp.rpartition(":")
        nodes.append(ClusterNode(host or "127.0.0.1", int(port)))
    return RedisCluster(startup_nodes=nodes, password=password, decode_responses=True, socket_timeout=10)


# --- Kafka ----------------------------------------------------------------------------------


def wait_group_caught_up(group, topic, timeout=60):
    """Waits until consumer group `group` has stored (in Postgres, with its effects) next
    offsets that reach the current end of every partition of `topic`: everything on the
    topic now has been processed, and nothing of it will be processed again. The fence
    that replaces "wait a little for a second mail/delivery"."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": env("KAFKA_BROKERS"), "group.id": f"itests-ends-{uuid.uuid4()}",
                  "enable.auto.commit": False})
    try:
        md = c.list_topics(topic, timeout=15).topics[topic]
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=15)[1] for p in md.partitions}
    finally:
        c.close()

    def reached():
        with pg() as conn:
            stored = dict(conn.execute("SELECT partition, next_offset FROM kafka_consumer_offsets"
                                       " WHERE group_id = %s AND topic = %s", (group, topic)).fetchall())
        behind = {p: (stored.get(p, 0), e) for p, e in ends.items() if stored.get(p, 0) < e}
        return True if not behind else None

    wait_until(reached, timeout, f"group {group} has processed {topic} up to {ends}", interval=0.1)


class TopicReader:
    """A topic read from its first offset (a unique group, no commits), kept open so that
    drain() can be called again for what arrived since."""

    def __init__(self, topic, from_beginning=True):
        self.topic = topic
        self._consumer, self._pos = assigned_reader(env("KAFKA_BROKERS"), topic, from_beginning, "itests-tasks")
        self.partitions = sorted(self._pos)
        self.records = []

    def drain(self, timeout=30):
        """Reads until every partition reached the high watermark seen on entry."""
        from confluent_kafka import TopicPartition

        target = {}
        for p in self.partitions:
            _low, high = self._consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=15)
            target[p] = high
        deadline = time.monotonic() + timeout
        while any(self._pos[p] < target[p] for p in self.partitions):
            assert time.monotonic() < deadline, f"could not read {self.topic} up to {target} (at {self._pos})"
            msg = self._consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                assert not msg.error().fatal(), msg.error()
                continue
            self._pos[msg.partition()] = msg.offset() + 1
            self.records.append(record_of(msg, header_errors="replace"))
        return self.records

    def close(self):
        self._consumer.close()


def produce(topic, key, value, headers=None):
    """Produces one message and waits for its delivery; returns (partition, offset)."""
    from confluent_kafka import Producer

    prod = Producer({"bootstrap.servers": env("KAFKA_BROKERS"), "enable.idempotence": True})
    out = {}

    def report(err, msg):
        out["err"] = err
        out["msg"] = msg

    prod.produce(topic, key=key, value=value, headers=headers or [], on_delivery=report)
    left = prod.flush(15)
    assert left == 0 and out.get("err") is None and "msg" in out, f"produce to {topic}: {out.get('err')}"
    return out["msg"].partition(), out["msg"].offset()


# --- event schemas --------------------------------------------------------------------------


_validators = {}


def event_validator(type_):
    import jsonschema

    if type_ not in _validators:
        path = os.path.join(repo_root(), "schemas", "events", f"{type_}.json")
        assert os.path.isfile(path), f"no schema {path}"
        with open(path) as f:
            schema = json.load(f)
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        cls.check_schema(schema)
        _validators[type_] = cls(schema, format_checker=cls.FORMAT_CHECKER)
    return _validators[type_]


def event_schema_id(type_):
    """The $id of schemas/events/<type>.json: what the events of that type carry as dataschema."""
    return event_validator(type_).schema["$id"]


def undocumented_data_members(ev, schema):
    """The members of ev's data that schema does not list as properties. The schemas leave
    data open (readers must accept fields a later release adds under the same dataschema,
    docs/event-schemas.md), so a validator accepts them: this keeps our producers strict,
    every field they write is documented."""
    data = ev.get("data")
    documented = schema["properties"]["data"].get("properties", {})
    return sorted(set(data) - set(documented)) if isinstance(data, dict) else []


def assert_event_valid(ev):
    assert isinstance(ev, dict) and ev.get("type") in EVENT_TYPES, f"not a task event: {ev}"
    errors = sorted(event_validator(ev["type"]).iter_errors(ev), key=str)
    assert not errors, f"{ev['type']} does not match its schema: {[e.message for e in errors]}\n{ev}"
    extra = undocumented_data_members(ev, event_validator(ev["type"]).schema)
    assert not extra, f"{ev['type']} writes data members its schema does not document: {extra}"
    # Optional in the schema (older releases' events lack it); every event written now has it.
    assert ev.get("dataschema") == event_schema_id(ev["type"]), (ev.get("dataschema"), ev["type"])


# --- Server-Sent Events ---------------------------------------------------------------------


class SseReader:
    """GET /api/v1/events read by a thread into a queue of frames {event, id, data}."""

    def __init__(self, api, last_event_id=None, params=None, connect_timeout=10, token=True):
        """token=False sends no Authorization header (a ticket in params instead)."""
        self.frames = queue.Queue()
        self.error = None
        self.last_comment = None  # the server's last comment line (a stream's end says why)
        hdrs = {"Accept": "text/event-stream", "X-Forwarded-For": api.c.ip}
        if token:
            hdrs["Authorization"] = f"Bearer {api.token}"
        if last_event_id is not None:
            hdrs["Last-Event-ID"] = last_event_id
        self.resp = requests.get(api.c.base + EVENTS, headers=hdrs, params=params, stream=True,
                                 timeout=(connect_timeout, 40))
        self.status = self.resp.status_code
        self.content_type = self.resp.headers.get("Content-Type", "")
        self._thread = threading.Thread(target=self._run, daemon=True)
        if self.status == 200:
            self._thread.start()

    def _run(self):
        frame = {}
        try:
            for raw in self.resp.iter_lines(decode_unicode=False):
                line = raw.decode("utf-8")
                if line == "":
                    if "data" in frame or "event" in frame:
                        self.frames.put(frame)
                    frame = {}
                    continue
                if line.startswith(":"):
                    self.last_comment = line[1:].strip()
                    continue
                name, _, val = line.partition(":")
                val = val[1:] if val.startswith(" ") else val
                if name == "data":
                    frame["data"] = frame["data"] + "\n" + val if "data" in frame else val
                elif name in ("event", "id", "retry"):
                    frame[name] = val
        except Exception as e:  # noqa: BLE001 - a closed stream ends the reader; kept for the test
            self.error = e

    def next(self, timeout):
        try:
            f = self.frames.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no SSE frame within {timeout} s (reader error: {self.error})") from None
        if "data" in f:
            try:
                f["json"] = json.loads(f["data"])
            except ValueError:
                f["json"] = None
        return f

    def collect(self, seconds):
        """Every frame that arrives within `seconds`."""
        out = []
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            try:
                out.append(self.next(left))
            except AssertionError:
                return out

    def ended(self, timeout):
        """Whether the server ended the stream within timeout seconds (the reader's end)."""
        self._thread.join(timeout=timeout)
        return not self._thread.is_alive()

    def close(self):
        # A recv() blocked in the reader thread is woken by shutdown(), not by close().
        try:
            sock = self.resp.raw._fp.fp.raw._sock  # urllib3 -> http.client -> socket
            sock.shutdown(socket.SHUT_RDWR)
        except (AttributeError, OSError):
            pass
        self.resp.close()
        if self._thread.is_alive():
            self._thread.join(timeout=2)


def stream_id_key(sid):
    """A Redis stream id "ms-seq" as a comparable tuple."""
    ms, _, seq = sid.partition("-")
    return int(ms), int(seq or 0)
