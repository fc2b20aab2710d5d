"""The stack's real Prometheus (compose/lib/prometheus.sh) scrapes every process and
evaluates the shipped rule file: what an operator watches is what production alerts on.

1. Every taskbus scrape job (the API and each daemon) has its targets up, and the rule
   file loaded without errors.
2. An operator stops the writer: the writer's lag, as Prometheus records it
   (taskbus:consumer_lag:sum), rises to at least the commands sent meanwhile and
   TaskbusWriterLagGrowing becomes pending; once the writer is back, the lag returns to
   0, the alert is gone and every command is applied.
The rule's `for:` (minutes) is not waited out: `promtool test rules`
(tests/integration/test_alert_rules.py) proves the firing; this proves the live path from
the daemons to the rule. Every wait polls the condition with a deadline.
"""

import pytest
import requests

from helpers import stack_control
from helpers.tasks import task_user, unique, wait_until

JOBS = ("api", "writer", "relay", "importer", "notifier", "webhooks", "scheduler", "reporter",
        "analytics", "activity")
WRITER_GROUP = "taskbus-writer"
LAG_ALERT = "TaskbusWriterLagGrowing"
COMMANDS = 150  # above the alert's threshold of 100


def prometheus_url():
    return f"http://127.0.0.1:{stack_control.env('TASKBUS_PROMETHEUS_PORT')}"


def query(expr):
    """The instant vector of expr as [(labels, value)]; fails the test on a query error."""
    r = requests.get(f"{prometheus_url()}/api/v1/query", params={"query": expr}, timeout=10)
    assert r.status_code == 200, r.text[:500]
    body = r.json()
    assert body["status"] == "success", body
    return [(s["metric"], float(s["value"][1])) for s in body["data"]["result"]]


def writer_lag():
    """The writer group's lag as the recording rule sees it, or None before its first sample."""
    rows = query(f'taskbus:consumer_lag:sum{{group="{WRITER_GROUP}"}}')
    return rows[0][1] if rows else None


def lag_alert_states():
    return {labels.get("alertstate") for labels, _ in query(f'ALERTS{{alertname="{LAG_ALERT}"}}')}


def test_every_process_is_scraped_and_the_rules_load():
    def all_up():
        up = {labels["job"]: value for labels, value in query('up{job=~"taskbus-.+"}')}
        return up if all(up.get(f"taskbus-{job}") == 1.0 for job in JOBS) else None

    up = wait_until(all_up, 30, "every taskbus job scraped and up")
    assert set(up) >= {f"taskbus-{job}" for job in JOBS}, up

    r = requests.get(f"{prometheus_url()}/api/v1/rules", timeout=10)
    assert r.status_code == 200, r.text[:500]
    groups = r.json()["data"]["groups"]
    rules = {rule["name"]: rule for group in groups for rule in group["rules"]}
    assert LAG_ALERT in rules and "taskbus:consumer_lag:sum" in rules, sorted(rules)
    broken = {name: rule.get("lastError") for name, rule in rules.items() if rule.get("health") == "err"}
    assert not broken, broken


@pytest.mark.single_stack_only
def test_a_stopped_writer_shows_lag_and_its_alert_in_prometheus(api_url):
    wait_until(lambda: writer_lag() == 0, 60, "the writer's lag recorded at 0 before the test")
    assert LAG_ALERT not in {labels["alertname"] for labels, _ in query("ALERTS")}
    user = task_user(api_url, "prom-lag")
    stack_control.stop("writer")
    commands = []
    try:
        for i in range(COMMANDS):
            r = user.create({"title": unique(f"prom-lag-{i}")})
            assert r.status_code == 202, r.text[:300]
            commands.append(r.json()["command_id"])
        lag = wait_until(lambda: (v := writer_lag()) is not None and v >= COMMANDS and v, 60,
                         f"Prometheus records a writer lag of at least {COMMANDS}")
        assert lag >= COMMANDS
        wait_until(lambda: lag_alert_states() & {"pending", "firing"}, 60,
                   f"{LAG_ALERT} pending while the writer is stopped")
    finally:
        stack_control.start("writer")
    wait_until(lambda: writer_lag() == 0, 120, "the writer's lag back to 0 in Prometheus")
    wait_until(lambda: not lag_alert_states(), 60, f"{LAG_ALERT} gone once the writer caught up")
    for cid in commands:
        user.wait_command(cid, timeout=60)
