"""The monitoring files as the tests read them (test_alert_rules.py, test_dashboard.py).

Owns: where the files are (the one Prometheus rule file in the chart, its promtool tests,
the example Prometheus configuration, the Grafana dashboard, the runbook), the metric
families the processes export (the issue-11 contract, docs/decisions.md "Alerts,
dashboards and probes"), the histogram buckets shared/metrics.c renders, the promtool
binary, and a small PromQL reader that lists the metric names an expression selects.
Rules: promtool is the Debian `prometheus` package (compose/lib/packages.sh); its absence
FAILS the test that needs it. The PromQL reader is no parser: promtool checks the syntax
(`check_exprs`); the reader only finds names, after strings, label matchers, ranges and
grouping clauses are taken out.
"""

import re
import shutil
import subprocess

import pytest
import yaml

from helpers.deploy_files import CHART, REPO

RULES = CHART / "files" / "prometheus" / "taskbus-rules.yml"
RULE_TESTS = REPO / "deploy" / "prometheus" / "tests"
PROMETHEUS_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "taskbus.json"
RUNBOOK = REPO / "docs" / "runbook.md"

# The daemons' metrics ports: TASKBUS_METRICS_PORT (default 9400) + this offset, unless
# TASKBUS_<DAEMON>_METRICS_PORT is set (the issue-11 contract). The API serves /metrics,
# /health and /ready on its HTTP port.
METRICS_BASE_PORT = 9400
DAEMON_PORT_OFFSETS = {"writer": 1, "relay": 2, "importer": 3, "notifier": 4, "webhooks": 5, "scheduler": 6,
                       "reporter": 7, "analytics": 8, "activity": 9}

# The metric families of the issue-11 contract (docs/decisions.md, "Alerts, dashboards
# and probes"). Histograms are listed by family name; _bucket, _sum, _count are theirs.
PROCESS_FAMILIES = {"process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes",
                    "process_open_fds", "process_max_fds", "process_start_time_seconds", "taskbus_build_info"}
API_FAMILIES = {"taskbus_http_requests_total", "taskbus_cache_requests_total", "taskbus_ratelimit_limited_total",
                "taskbus_ratelimit_unavailable_total", "taskbus_ratelimit_local_buckets",
                "taskbus_ratelimit_local_evictions_total", "taskbus_ratelimit_sync_rounds_total",
                "taskbus_ratelimit_sync_buckets_total"}
DAEMON_FAMILIES = {"taskbus_consumer_records_total", "taskbus_consumer_batches_total", "taskbus_consumer_lag",
                   "taskbus_dlq_records_total", "taskbus_dlq_pending", "taskbus_outbox_backlog",
                   "taskbus_outbox_oldest_age_seconds", "taskbus_webhook_deliveries_total", "taskbus_emails_total",
                   "taskbus_reminders_fired_total", "taskbus_reports_built_total", "taskbus_import_lines_total"}
HISTOGRAMS = {"taskbus_http_request_duration_seconds", "taskbus_consumer_batch_duration_seconds",
              "taskbus_ratelimit_sync_seconds"}
# `up` is Prometheus's own series for every scrape target.
SYNTHETIC = {"up"}

PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
                "offset", "inf", "nan", "Inf", "NaN"}


def contract_names():
    """Every series name an expression may select: contract families, histogram series, up."""
    names = PROCESS_FAMILIES | API_FAMILIES | DAEMON_FAMILIES | SYNTHETIC
    for h in HISTOGRAMS:
        names |= {h + "_bucket", h + "_sum", h + "_count"}
    return names


def promtool():
    exe = shutil.which("promtool")
    if not exe:
        pytest.fail("promtool is not installed (the Debian package prometheus; compose/lib/packages.sh)")
    return exe


def run_promtool(*args, timeout=120):
    return subprocess.run([promtool(), *map(str, args)], capture_output=True, text=True, timeout=timeout)


def load_rules():
    doc = yaml.safe_load(RULES.read_text())
    assert isinstance(doc, dict) and doc.get("groups"), f"{RULES} has no rule groups"
    return doc


def alerting_rules(doc):
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def recording_names(doc):
    return {r["record"] for g in doc["groups"] for r in g["rules"] if "record" in r}


def metrics_c_buckets():
    """The `le` values shared/metrics.c renders, as it formats them ("%.15g")."""
    text = (REPO / "shared" / "metrics.c").read_text()
    m = re.search(r"BUCKETS\[\]\s*=\s*\{([^}]*)\}", text)
    assert m, "shared/metrics.c has no BUCKETS table"
    return {"%.15g" % float(v) for v in m.group(1).replace("\n", " ").split(",") if v.strip()}


def promql_metric_names(expr):
    """The metric names an expression selects (PromQL identifiers that are no function,
    aggregation, keyword, label or duration)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for m in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", s):
        if s[m.end():].lstrip().startswith("(") or m.group(0) in PROMQL_WORDS:
            continue
        names.add(m.group(0))
    return names


def check_exprs(exprs, tmp_path):
    """Runs `promtool check rules` on a recording rule per expression; asserts it passes."""
    rules = {"groups": [{"name": "exprs", "rules": [{"record": f"check:expr_{i}", "expr": e}
                                                    for i, e in enumerate(exprs)]}]}
    path = tmp_path / "exprs.rules.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    r = run_promtool("check", "rules", path)
    assert r.returncode == 0, f"promtool check rules on the expressions:\n{r.stdout}{r.stderr}"


def github_anchor(heading):
    """The anchor GitHub gives a markdown heading."""
    a = heading.strip().lower()
    a = re.sub(r"[^\w\- ]", "", a)
    return a.replace(" ", "-")


def runbook_anchors():
    return {github_anchor(h) for h in re.findall(r"^#{1,6}\s+(.+)$", RUNBOOK.read_text(), re.M)}
