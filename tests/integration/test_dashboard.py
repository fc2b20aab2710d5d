"""The Grafana dashboard deploy/grafana/taskbus.json, without a stack or a Grafana.

Owns: valid JSON with the dashboard model's required fields (uid, title, schemaVersion,
panels), panels with unique ids and a gridPos inside the 24-column grid that overlaps no
other panel, every data panel with a datasource and targets (unique refIds, an expr);
every expression parsing (`promtool check rules` on a recording rule per expression,
Grafana's interval variables replaced by a duration) and naming only the contract's
metric families (helpers/monitoring.py); the panels the issue asks for (API rate, errors
and latency, consumer lag, outbox backlog and age, DLQ, webhooks, e-mails, reports,
process CPU and memory per service).
Rules: promtool's absence FAILS.
"""

import json
import re

import pytest

from helpers.monitoring import DASHBOARD, check_exprs, contract_names, load_rules, promql_metric_names, recording_names

pytestmark = pytest.mark.stack_independent

GRAFANA_VARS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


@pytest.fixture(scope="module")
def dashboard():
    doc = json.loads(DASHBOARD.read_text())
    assert isinstance(doc, dict)
    return doc


def data_panels(doc):
    out = []
    for p in doc["panels"]:
        if p.get("type") == "row":
            out += p.get("panels", [])
        else:
            out.append(p)
    return out


def exprs_of(doc):
    return [(p["title"], t["expr"]) for p in data_panels(doc) for t in p["targets"]]


def grafana_free(expr):
    for var, value in GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    assert "$" not in expr, f"an unknown Grafana variable in {expr}"
    return expr


def test_dashboard_model_is_complete(dashboard):
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", dashboard.get("uid", "")), dashboard.get("uid")
    assert dashboard.get("title", "").strip()
    assert isinstance(dashboard.get("schemaVersion"), int) and dashboard["schemaVersion"] >= 36
    panels = dashboard.get("panels")
    assert isinstance(panels, list) and panels
    ids = [p["id"] for p in panels] + [c["id"] for p in panels for c in p.get("panels", [])]
    assert all(isinstance(i, int) for i in ids) and len(ids) == len(set(ids)), f"panel ids not unique: {ids}"
    cells = {}
    for p in panels:
        g = p.get("gridPos") or {}
        assert all(isinstance(g.get(k), int) for k in ("x", "y", "w", "h")), f"{p.get('title')}: gridPos {g}"
        assert 0 <= g["x"] and g["w"] >= 1 and g["x"] + g["w"] <= 24 and g["h"] >= 1, f"{p['title']}: {g}"
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = p["title"]
    variables = {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}
    for p in data_panels(dashboard):
        assert p.get("type") and p.get("title"), p
        ds = p.get("datasource") or {}
        assert ds.get("type") == "prometheus", f"{p['title']}: datasource {ds}"
        m = re.fullmatch(r"\$\{(\w+)\}", ds.get("uid", ""))
        assert m and variables.get(m.group(1), {}).get("type") == "datasource", (
            f"{p['title']}: the datasource must be the dashboard's datasource variable, not {ds}")
        targets = p.get("targets") or []
        assert targets, f"{p['title']} has no targets"
        refs = [t.get("refId") for t in targets]
        assert all(refs) and len(refs) == len(set(refs)), f"{p['title']}: refIds {refs}"
        assert all(str(t.get("expr", "")).strip() for t in targets), f"{p['title']}: a target without expr"


def test_dashboard_expressions_parse_and_name_contract_metrics(dashboard, tmp_path):
    exprs = exprs_of(dashboard)
    check_exprs([grafana_free(e) for _, e in exprs], tmp_path)
    allowed = contract_names() | recording_names(load_rules())
    for title, e in exprs:
        unknown = promql_metric_names(grafana_free(e)) - allowed
        assert not unknown, f"panel {title!r} selects series no taskbus process exports: {sorted(unknown)}"


def test_dashboard_shows_what_operators_watch(dashboard):
    used = set()
    for _, e in exprs_of(dashboard):
        used |= promql_metric_names(grafana_free(e))
    wanted = {
        "API rate and errors": "taskbus_http_requests_total",
        "API latency": "taskbus_http_request_duration_seconds_bucket",
        "consumer lag": "taskbus_consumer_lag",
        "outbox backlog": "taskbus_outbox_backlog",
        "outbox age": "taskbus_outbox_oldest_age_seconds",
        "dead letters": "taskbus_dlq_records_total",
        "webhooks": "taskbus_webhook_deliveries_total",
        "e-mails": "taskbus_emails_total",
        "reports": "taskbus_reports_built_total",
        "process CPU": "process_cpu_seconds_total",
        "process memory": "process_resident_memory_bytes",
    }
    missing = {what: name for what, name in wanted.items() if name not in used}
    assert not missing, f"the dashboard shows no {missing}"
    # Per service: the process panels split by scrape job (taskbus-<service>).
    for _, e in exprs_of(dashboard):
        if "process_cpu_seconds_total" in e or "process_resident_memory_bytes" in e:
            assert re.search(r"by \([^)]*\bjob\b", e), f"not per service: {e}"
