"""The scaled stack as the scale suite sees it (contracts section 1: `compose/local up
--scale`): its instances, their readiness, and the conditions a scenario waits for.

Owns: the instance names and direct URLs (api-1..3 on TASKBUS_HTTP_PORT + 10 + i, the six
Redis Cluster nodes on TASKBUS_REDIS_PORT + i, the Kafka brokers of KAFKA_BROKERS, the
replica on TASKBUS_PG_PORT + 1), the waits (every API ready, every partition's ISR full,
the Redis Cluster ok on every node, the replica streaming), finding the active relay,
which instance nginx sent a request to (its access log), and restore() (the fault suite's restore, then every one of the above).
Rules: every wait has a deadline and says what it last saw; instances are started,
stopped and killed only through `compose/local` (helpers.stack_control), with the
stack's environment.
"""

import json
import os
import re
import time

import requests

import fault_schedule as fs
from helpers import stack_control
from helpers.stack_control import env
from helpers.tasks import pg

APIS = ("api-1", "api-2", "api-3")
BROKERS = ("kafka-1", "kafka-2", "kafka-3")
REDIS_NODES = 6
TOPICS = ("task-commands", "task-events")
WRITER_GROUP = "taskbus-writer"  # shared/bus.h WRITER_GROUP
# shared/bus.h: every consumer group of ours and its topic (offsets kept in Postgres,
# kafka_consumer_offsets, with the effects).
GROUPS = (("taskbus-writer", "task-commands"), ("taskbus-webhooks", "task-events"),
          ("taskbus-analytics", "task-events"), ("taskbus-activity", "task-events"),
          ("taskbus-notifier", "notifications"))
PG_LOCK_RELAY_LEADER = 7264002  # shared/pg_locks.h


def is_scaled():
    return os.environ.get("TASKBUS_SCALE") == "1"


def api_url(name):
    """The direct URL of api-<i> (bypassing nginx)."""
    i = int(name.rsplit("-", 1)[1])
    return f"http://127.0.0.1:{int(env('TASKBUS_HTTP_PORT')) + 10 + i}"


def nginx_access_log():
    return os.path.join(os.environ.get("TASKBUS_DATA_DIR") or os.path.join(env("TASKBUS_REPO"), ".local"),
                        "logs", "nginx-access.log")


_REQUEST_ID = re.compile(r'"request_id":\s*"([^"]*)"')


def served_by(request_ids, timeout=15):
    """request id -> the API instance (upstream address) nginx sent it to, the last one
    tried, read from nginx's access log (compose/nginx.conf's taskbus_json;
    compose/lib/nginx.sh buffers it up to a second). Reads on from where it stopped until
    every id is there or the deadline passes; ids never found, or all of them when the log
    cannot be read, are left out, and a caller must treat them as unknown."""
    want, found, offset = set(request_ids), {}, 0
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(nginx_access_log(), "rb") as f:
                f.seek(offset)
                for raw in iter(f.readline, b""):
                    if not raw.endswith(b"\n"):
                        break  # a line still being written: read it whole next time
                    offset += len(raw)
                    line = raw.decode("utf-8", errors="replace")
                    m = _REQUEST_ID.search(line)
                    if m is None or m.group(1) not in want:
                        continue
                    try:
                        upstream = json.loads(line).get("upstream") or ""
                    except ValueError:
                        continue
                    last = re.split(r"\s*[,:]\s+", upstream.strip())[-1]  # ", " tries, " : " redirects
                    if last and last != "-":
                        found[m.group(1)] = last
        except OSError:
            return found
        if want <= found.keys() or time.monotonic() >= deadline:
            return found
        time.sleep(0.5)


def wait(pred, timeout, what, interval=0.2):
    """Polls pred() until it returns a true value (returned); raises with the last value."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = pred()
        except Exception as e:  # noqa: BLE001 - a service coming back may refuse; asked again
            last = e
        if last and not isinstance(last, Exception):
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout} s (last: {last!r})")
        time.sleep(interval)


def ready(url):
    try:
        return requests.get(url + "/ready", timeout=3).status_code == 200
    except requests.RequestException:
        return False


def wait_api_ready(name, timeout=120):
    wait(lambda: ready(api_url(name)), timeout, f"{name} /ready 200")


# --- Kafka --------------------------------------------------------------------------------


_admin = None  # one AdminClient for the session (a new one per poll bootstraps every time)


def admin():
    global _admin
    if _admin is None:
        from confluent_kafka.admin import AdminClient

        _admin = AdminClient({"bootstrap.servers": env("KAFKA_BROKERS")})
    return _admin


def isr_state():
    """{(topic, partition): (number of replicas, number in sync, leader)} of the suite's topics."""
    md = admin().list_topics(timeout=10)
    out = {}
    for t in TOPICS:
        tmd = md.topics.get(t)
        assert tmd is not None and tmd.error is None, f"topic {t}: {tmd and tmd.error}"
        for p, pmd in tmd.partitions.items():
            out[(t, p)] = (len(pmd.replicas), len(pmd.isrs), pmd.leader)
    return out


def leaders_preferred(timeout=180):
    """Every partition of the suite's topics led by its preferred replica (the first of
    its list), by a preferred-leader election where one is not. After brokers were killed
    and started the leaders stay where the failover put them, and Kafka's own rebalance
    (auto.leader.rebalance.enable, every leader.imbalance.check.interval.seconds, 300 s)
    would move them back in the middle of a later scenario: a leader move under load is
    that scenario's fault, not its own. So the restore moves them, and waits."""
    from confluent_kafka import ElectionType, TopicPartition

    def misplaced():
        md = admin().list_topics(timeout=10)
        return [TopicPartition(t, p) for t in TOPICS for p, pmd in md.topics[t].partitions.items()
                if pmd.replicas and pmd.leader != pmd.replicas[0]]

    def settled():
        moved = misplaced()
        if not moved:
            return True
        try:
            admin().elect_leaders(ElectionType.PREFERRED, moved).result(timeout=10)
        except Exception:  # noqa: BLE001 - some already moved, or the election is still on: look again
            pass
        return None
    wait(settled, timeout, "every partition led by its preferred replica", interval=1.0)


def wait_isr_full(timeout=180):
    """Every partition of the suite's topics has all its replicas in sync and a leader."""
    def full():
        st = isr_state()
        behind = {k: v for k, v in st.items() if v[1] < v[0] or v[2] < 0}
        return True if not behind else None
    wait(full, timeout, "every partition's ISR full again", interval=0.5)


# --- Redis Cluster --------------------------------------------------------------------------


def redis_cluster():
    """True when the stack's Redis is the cluster (REDIS_URL lists several seeds); False
    for TASKBUS_SCALE_REDIS=standalone (compose/lib/scale.sh: one plain Redis)."""
    return "," in env("REDIS_URL")


def redis_ports():
    base = int(env("TASKBUS_REDIS_PORT"))
    return [base + i for i in range(REDIS_NODES)]


def redis_node_name(port):
    return f"redis-{port - int(env('TASKBUS_REDIS_PORT')) + 1}"


def _node(port):
    import redis

    return redis.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_timeout=3)


def redis_roles():
    """{port: "master" | "slave" | None (unreachable)}."""
    out = {}
    for port in redis_ports():
        try:
            r = _node(port)
            out[port] = r.execute_command("ROLE")[0]
            r.close()
        except Exception:  # noqa: BLE001 - a dead node
            out[port] = None
    return out


def cluster_ok(ports=None):
    """True when every given (default: every) node says cluster_state:ok and three masters
    answer."""
    for port in ports or redis_ports():
        r = _node(port)
        try:
            raw = r.execute_command("CLUSTER", "INFO")
        finally:
            r.close()
        text = raw if isinstance(raw, str) else "\n".join(f"{k}:{v}" for k, v in dict(raw).items())
        if "cluster_state:ok" not in text:
            return False
    return sum(1 for role in redis_roles().values() if role == "master") == 3


def wait_cluster_ok(ports=None, timeout=120):
    wait(lambda: cluster_ok(ports), timeout, "Redis Cluster state ok with three masters", interval=0.25)


# --- Postgres -------------------------------------------------------------------------------


def replica_streaming():
    """True when the primary has a streaming replica."""
    with pg() as conn:
        rows = conn.execute("SELECT state FROM pg_stat_replication").fetchall()
    return any(s == "streaming" for (s,) in rows)


def wait_replica_streaming(timeout=120):
    wait(replica_streaming, timeout, "the replica streaming from the primary", interval=0.5)


def active_relay():
    """The relay instance (relay-1 or relay-2) that holds the publishing lock: the backend
    holding PG_LOCK_RELAY_LEADER, its client port, the relay process owning that socket."""
    with pg() as conn:
        rows = conn.execute(
            "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.objid = %s", (PG_LOCK_RELAY_LEADER,)).fetchall()
    if not rows or rows[0][0] is None:
        return None
    port = rows[0][0]
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as f:
                for line in list(f)[1:]:
                    cols = line.split()
                    if int(cols[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(cols[9])
        except OSError:
            continue
    status = stack_control.status()
    for name in ("relay-1", "relay-2"):
        state, pid = status.get(name, ("down", None))
        if state != "up" or not pid:
            continue
        for p in [pid, *_children(pid)]:
            try:
                for fd in os.listdir(f"/proc/{p}/fd"):
                    link = os.readlink(f"/proc/{p}/fd/{fd}")
                    if link.startswith("socket:[") and link[8:-1] in inodes:
                        return name
            except OSError:
                continue
    return None


def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


# --- the whole stack ------------------------------------------------------------------------


def restore(api_url_, timeout=240):
    """The fault suite's restore (every service and daemon that is down is started, /ready
    200 through nginx), then every API instance ready, every partition's ISR full, the
    Redis Cluster ok and the replica streaming."""
    fs.restore(api_url_, timeout=timeout)
    for name in APIS:
        wait_api_ready(name, timeout)
    wait_isr_full(timeout)
    leaders_preferred(timeout)
    if redis_cluster():
        wait_cluster_ok(timeout=timeout)
    wait_replica_streaming(timeout)
