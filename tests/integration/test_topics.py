"""What each topic keeps (issue 12, "Kept"; shared/topic_policy.c, shared/kafka_admin.c).

The stack's `taskbus-admin topics` made every topic of the bus with its policy: task-events,
user-events and project-events forever (retention.ms=-1), commands 7 days, dead letters 30
days, task-state compacted and kept forever with tombstones kept 1 day, min.insync.replicas
on each, and no size limit on any (retention.bytes=-1), all as the topic's own (dynamic)
configs. An existing topic is altered back to its policy (an operator's retention.bytes
included), and a config taskbus does not manage that an operator set on it is kept. A topic
with fewer replicas than TASKBUS_KAFKA_MIN_INSYNC_REPLICAS is refused before anything is
altered. A bad duration stops the command (exit 2, as any bad configuration) with a message
naming the variable; a partition count that differs from TASKBUS_KAFKA_PARTITIONS is
reported, never changed.
"""

import json
import os
import re
import subprocess

import pytest
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,
                                   ConfigSource, ResourceType)

from helpers.stack_control import env, repo_root
from helpers.tasks import wait_until

DAY_MS = 86_400_000
TIMEOUT = 30
# Topic -> (class, retention.ms, cleanup.policy, delete.retention.ms or None) under the
# stack's configuration: tests/run leaves the retention variables at their defaults.
EXPECTED = {
    "task-events": ("events", "-1", "delete", None),
    "task-events.v2": ("events", "-1", "delete", None),
    "user-events": ("events", "-1", "delete", None),
    "project-events": ("events", "-1", "delete", None),
    "task-commands": ("commands", str(7 * DAY_MS), "delete", None),
    "notifications": ("commands", str(7 * DAY_MS), "delete", None),
    "reports": ("commands", str(7 * DAY_MS), "delete", None),
    "task-commands.dlq": ("dlq", str(30 * DAY_MS), "delete", None),
    "notifications.dlq": ("dlq", str(30 * DAY_MS), "delete", None),
    "task-state": ("state", "-1", "compact", str(DAY_MS)),
}
UNMANAGED = ("max.message.bytes", "2097152")


@pytest.fixture(scope="module")
def kadmin():
    for var in ("TASKBUS_EVENTS_RETENTION", "TASKBUS_COMMANDS_RETENTION", "TASKBUS_DLQ_RETENTION",
                "TASKBUS_STATE_TOMBSTONE_RETENTION", "TASKBUS_KAFKA_MIN_INSYNC_REPLICAS"):
        if os.environ.get(var):
            pytest.skip(f"{var} is set: the expectations here are the defaults")
    return AdminClient({"bootstrap.servers": env("KAFKA_BROKERS")})


def admin(*args, expect=0, **extra_env):
    binary = os.path.join(env("TASKBUS_BUILD_DIR"), "taskbus-admin")
    p = subprocess.run([binary, *args], env={**os.environ, **extra_env}, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == expect, \
        f"taskbus-admin {' '.join(args)}: exit {p.returncode}, wanted {expect}\n{p.stdout}\n{p.stderr}"
    return p


def configs(kadmin, topic):
    res = ConfigResource(ResourceType.TOPIC, topic)
    return kadmin.describe_configs([res], request_timeout=TIMEOUT)[res].result(timeout=TIMEOUT)


def dynamic(entries, name):
    """The topic's own value of config `name`, or None when it follows the broker."""
    e = entries.get(name)
    return e.value if e is not None and e.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value else None


def incremental(kadmin, topic, *ops):
    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry(name, value, incremental_operation=op) for name, value, op in ops])
    kadmin.incremental_alter_configs([res], request_timeout=TIMEOUT)[res].result(timeout=TIMEOUT)


def line_of(stdout, topic):
    lines = [ln for ln in stdout.splitlines() if ln.startswith(topic + ":")]
    assert len(lines) == 1, f"one line for {topic} wanted:\n{stdout}"
    return lines[0]


def test_every_topic_has_its_policy(kadmin):
    insync = os.environ.get("TASKBUS_KAFKA_MIN_INSYNC_REPLICAS") or "1"
    for topic, (_, retention, cleanup, tombstones) in EXPECTED.items():
        entries = configs(kadmin, topic)
        got = {name: dynamic(entries, name) for name in
               ("retention.ms", "cleanup.policy", "delete.retention.ms", "min.insync.replicas",
                "retention.bytes")}
        assert got == {"retention.ms": retention, "cleanup.policy": cleanup,
                       "delete.retention.ms": tombstones, "min.insync.replicas": insync,
                       "retention.bytes": "-1"}, topic


def test_admin_topics_prints_each_topic_and_its_policy(kadmin):
    p = admin("topics")
    for topic, (cls, retention, cleanup, tombstones) in EXPECTED.items():
        line = line_of(p.stdout, topic)
        assert f"({cls})" in line and f"retention.ms={retention}" in line, line
        assert f"cleanup.policy={cleanup}" in line, line
        assert (f"delete.retention.ms={tombstones}" in line) == (tombstones is not None), line
        assert "retention.bytes=-1" in line, line
    # A second run finds nothing to change.
    for topic in EXPECTED:
        assert ": unchanged " in line_of(admin("topics").stdout, topic)


def test_existing_topics_are_altered_and_operator_configs_kept(kadmin):
    topic = "task-events"
    # A huge finite retention, so nothing is expired while the test runs.
    # Everything below runs in the try: the finally puts the shared stack's task-events back
    # to its policy even when taskbus-admin or an assertion fails midway.
    try:
        incremental(kadmin, topic, ("retention.ms", str(3650 * DAY_MS), AlterConfigOpType.SET),
                    ("cleanup.policy", "compact", AlterConfigOpType.SET),
                    ("retention.bytes", str(1 << 40), AlterConfigOpType.SET),
                    (UNMANAGED[0], UNMANAGED[1], AlterConfigOpType.SET))
        wait_until(lambda: dynamic(configs(kadmin, topic), UNMANAGED[0]) == UNMANAGED[1]
                   and dynamic(configs(kadmin, topic), "retention.ms") == str(3650 * DAY_MS),
                   TIMEOUT, "the operator's change is visible")
        p = admin("topics")
        line = line_of(p.stdout, topic)
        assert ": altered (events)" in line and "1 other config(s) kept" in line, line
        assert ": unchanged " in line_of(p.stdout, "user-events")

        def restored():
            e = configs(kadmin, topic)
            return (dynamic(e, "retention.ms"), dynamic(e, "cleanup.policy"),
                    dynamic(e, "retention.bytes"), dynamic(e, UNMANAGED[0]),
                    dynamic(e, "min.insync.replicas"))
        # The operator's retention.bytes is overridden: taskbus owns it (no size limit).
        wait_until(lambda: restored() == ("-1", "delete", "-1", UNMANAGED[1], "1"), TIMEOUT,
                   "task-events back to its policy with the operator's config kept")
    finally:
        incremental(kadmin, topic, ("retention.ms", "-1", AlterConfigOpType.SET),
                    ("cleanup.policy", "delete", AlterConfigOpType.SET),
                    ("retention.bytes", "-1", AlterConfigOpType.SET),
                    (UNMANAGED[0], None, AlterConfigOpType.DELETE))
    wait_until(lambda: dynamic(configs(kadmin, topic), UNMANAGED[0]) is None, TIMEOUT,
               "the test's own config removed")
    assert dynamic(configs(kadmin, topic), "retention.ms") == "-1"


def test_topics_with_fewer_replicas_than_min_insync_refuse(kadmin):
    """The stack's topics have one replica: min.insync.replicas=2 would make every acks=all
    write fail, so the command refuses before it alters any topic. (REPLICATION=2 passes the
    configuration check min <= replication; the topics exist, so nothing is created.)"""
    md = kadmin.list_topics(timeout=TIMEOUT)
    assert {len(p.replicas) for t in EXPECTED for p in md.topics[t].partitions.values()} == {1}
    p = admin("topics", expect=1, TASKBUS_KAFKA_MIN_INSYNC_REPLICAS="2",
              TASKBUS_KAFKA_REPLICATION="2")
    assert "replication factor 1, below min.insync.replicas=2" in p.stderr, p.stderr
    assert "no topic altered" in p.stderr, p.stderr
    assert p.stdout == "", "nothing was done"
    for topic in EXPECTED:
        assert dynamic(configs(kadmin, topic), "min.insync.replicas") == "1", topic


@pytest.mark.parametrize("var,value", [("TASKBUS_EVENTS_RETENTION", "7 days"),
                                       ("TASKBUS_EVENTS_RETENTION", "7"),
                                       ("TASKBUS_DLQ_RETENTION", "99999999999999999999d"),
                                       ("TASKBUS_STATE_TOMBSTONE_RETENTION", "forever"),
                                       ("TASKBUS_KAFKA_MIN_INSYNC_REPLICAS", "5")])
def test_bad_retention_configuration_refuses(kadmin, var, value):
    before = dynamic(configs(kadmin, "task-events"), "retention.ms")
    # 2: the exit code of every taskbus binary for bad configuration (1: a job that failed).
    p = admin("topics", expect=2, **{var: value})
    assert p.stderr.startswith("taskbus-admin: ") and var in p.stderr, p.stderr
    assert p.stdout == "", "nothing was done"
    assert dynamic(configs(kadmin, "task-events"), "retention.ms") == before


def test_partition_count_is_reported_not_changed(kadmin):
    md = kadmin.list_topics(timeout=TIMEOUT)
    counts = {t: len(md.topics[t].partitions) for t in EXPECTED}
    wanted = max(counts.values()) + 1
    p = admin("topics", TASKBUS_KAFKA_PARTITIONS=str(wanted))
    for topic, n in counts.items():
        assert f"warning: {topic} has {n} partition(s), TASKBUS_KAFKA_PARTITIONS is {wanted}" \
            in p.stderr, p.stderr
        assert f", {n} partition(s)" in line_of(p.stdout, topic)
    md = kadmin.list_topics(timeout=TIMEOUT)
    assert {t: len(md.topics[t].partitions) for t in EXPECTED} == counts


def help_defaults():
    """The defaults `taskbus-admin --help` prints (the configuration table of shared/config.c)."""
    out = admin("--help").stdout
    return dict(re.findall(r"^\s+(TASKBUS_\w+)\s+default: (\S+)", out, re.M))


def test_asyncapi_bindings_are_what_taskbus_admin_sets(kadmin):
    """schemas/asyncapi.json states the topic configs as literals (the defaults): each
    channel's Kafka binding must be what `taskbus-admin topics` set on the stack's topic
    under the default configuration, config for config, so the document cannot drift from
    shared/topic_policy.c; partitions and replicas are the --help defaults."""
    with open(os.path.join(repo_root(), "schemas", "asyncapi.json"), encoding="utf-8") as f:
        channels = json.load(f)["channels"]
    defaults = help_defaults()
    managed = ("retention.ms", "retention.bytes", "cleanup.policy", "delete.retention.ms",
               "min.insync.replicas")
    seen = set()
    for cid, ch in channels.items():
        kafka = ch["bindings"]["kafka"]
        topic = kafka["topic"]
        assert topic == ch["address"] and topic in EXPECTED, cid
        seen.add(topic)
        assert str(kafka["partitions"]) == defaults["TASKBUS_KAFKA_PARTITIONS"], cid
        assert str(kafka["replicas"]) == defaults["TASKBUS_KAFKA_REPLICATION"], cid
        entries = configs(kadmin, topic)
        actual = {n: dynamic(entries, n) for n in managed if dynamic(entries, n) is not None}
        stated = {n: ",".join(v) if isinstance(v, list) else str(v)
                  for n, v in kafka["topicConfiguration"].items()}
        assert stated == actual, f"{cid}: AsyncAPI says {stated}, the topic has {actual}"
    assert seen == set(EXPECTED)
