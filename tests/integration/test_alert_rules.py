"""The Prometheus rules (helm/taskbus/files/prometheus/taskbus-rules.yml), without a stack.

Owns: `promtool check rules` and `promtool test rules` (deploy/prometheus/tests/*.yml)
passing (three times: promtool evaluates groups in no fixed order, so an order-dependent
result shows); every alert tested both firing and not firing; alerts reading only
records made before them in their own group; every alert carrying severity,
summary, description and a runbook_url whose section exists in docs/runbook.md; the
expressions naming only the contract's metric families (helpers/monitoring.py) and only
histogram buckets shared/metrics.c renders; the example Prometheus configuration
(deploy/prometheus/prometheus.yml) passing `promtool check config` and naming its scrape
jobs as the rules expect (taskbus-<service>).
Rules: promtool's absence FAILS (helpers/monitoring.py); any non-zero exit FAILS.
"""

import re
import shutil

import pytest
import yaml

from helpers.monitoring import (DAEMON_PORT_OFFSETS, METRICS_BASE_PORT, PROMETHEUS_CONFIG, RULE_TESTS, RULES, alerting_rules, contract_names, load_rules,
                                metrics_c_buckets, promql_metric_names, recording_names, run_promtool,
                                runbook_anchors)

pytestmark = pytest.mark.stack_independent

SERVICES = ("api", *DAEMON_PORT_OFFSETS)


def rule_test_files():
    files = sorted(RULE_TESTS.glob("*.yml"))
    assert files, f"no promtool tests in {RULE_TESTS}"
    return files


def test_alert_rules_pass_promtool_check_and_unit_tests():
    r = run_promtool("check", "rules", RULES)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout, r.stdout
    for _ in range(3):
        r = run_promtool("test", "rules", *rule_test_files(), timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "SUCCESS" in r.stdout and "FAILED" not in r.stdout, r.stdout


def test_every_alert_is_tested_firing_and_not_firing():
    names = {r["alert"] for r in alerting_rules(load_rules())}
    fired, silent = set(), set()
    for f in rule_test_files():
        doc = yaml.safe_load(f.read_text())
        rel = [str(p) for p in doc.get("rule_files", [])]
        assert any((f.parent / p).resolve() == RULES.resolve() for p in rel), f"{f.name} does not test {RULES}"
        for case in doc["tests"]:
            for t in case.get("alert_rule_test", []):
                (fired if t.get("exp_alerts") else silent).add(t["alertname"])
    assert names, "the rule file has no alerts"
    assert not names - fired, f"alerts never seen firing in a promtool test: {sorted(names - fired)}"
    assert not names - silent, f"alerts never seen NOT firing in a promtool test: {sorted(names - silent)}"
    assert not (fired | silent) - names, f"tests name alerts the rules lack: {sorted((fired | silent) - names)}"


def test_every_alert_is_actionable():
    anchors = runbook_anchors()
    for rule in alerting_rules(load_rules()):
        name = rule["alert"]
        assert rule.get("labels", {}).get("severity") in ("critical", "warning", "info"), f"{name}: severity"
        ann = rule.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            assert str(ann.get(key, "")).strip(), f"{name} has no {key}"
        m = re.fullmatch(r"docs/runbook\.md#([\w-]+)", ann["runbook_url"])
        assert m, f"{name}: runbook_url {ann['runbook_url']} is not a section of docs/runbook.md"
        assert m.group(1) in anchors, f"{name}: docs/runbook.md has no section #{m.group(1)}"


def test_rules_name_only_contract_metrics_and_real_buckets():
    doc = load_rules()
    allowed = contract_names() | recording_names(doc)
    buckets = metrics_c_buckets()
    assert "0.25" in buckets, buckets
    for group in doc["groups"]:
        for rule in group["rules"]:
            name = rule.get("alert") or rule.get("record")
            unknown = promql_metric_names(rule["expr"]) - allowed
            assert not unknown, f"{name} selects series no taskbus process exports: {sorted(unknown)}"
            for le in re.findall(r'le="([^"]+)"', rule["expr"]):
                assert le in buckets, f"{name}: le=\"{le}\" is no bucket of shared/metrics.c ({sorted(buckets)})"
    for name in recording_names(doc):
        assert re.fullmatch(r"taskbus:[a-z_]+:[a-z0-9_]+", name), name


def test_alerts_read_only_records_of_their_own_group_made_before_them():
    # Groups run independently (promtool too, in no fixed order): a record of another
    # group may be this evaluation's or the last one's. Within a group, rules run in order.
    doc = load_rules()
    owner = {r["record"]: g["name"] for g in doc["groups"] for r in g["rules"] if "record" in r}
    for group in doc["groups"]:
        seen = set()
        for rule in group["rules"]:
            for name in promql_metric_names(rule["expr"]) & set(owner):
                assert name in seen, (
                    f"{rule.get('alert') or rule.get('record')} reads {name}, recorded in {owner[name]} "
                    f"{'after it' if owner[name] == group['name'] else 'another group'}")
            if "record" in rule:
                seen.add(rule["record"])


def test_promql_reader_finds_names():
    # The reader the checks above and the dashboard test rely on.
    assert promql_metric_names('sum by (group) (rate(a_total{x="b{c}"}[5m])) / on(job) b_seconds > 0.5') == {
        "a_total", "b_seconds"}
    assert promql_metric_names('histogram_quantile(0.99, sum by (le) (rate(h_bucket[1m])))') == {"h_bucket"}
    assert promql_metric_names('absent(up{job="x"} == 1) or time() - c') == {"up", "c"}


def test_example_prometheus_config_scrapes_every_service_and_loads_the_rules(tmp_path):
    # compose mounts the rule file beside the configuration (/etc/prometheus); so here.
    cfg = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    assert cfg.get("rule_files") == [RULES.name], cfg.get("rule_files")
    shutil.copy(PROMETHEUS_CONFIG, tmp_path / "prometheus.yml")
    shutil.copy(RULES, tmp_path / RULES.name)
    r = run_promtool("check", "config", tmp_path / "prometheus.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 rule files found" in r.stdout, r.stdout
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    assert set(jobs) == {f"taskbus-{s}" for s in SERVICES}, sorted(jobs)
    for service, offset in DAEMON_PORT_OFFSETS.items():
        (sd,) = jobs[f"taskbus-{service}"]["dns_sd_configs"]
        assert sd["names"] == [service] and sd["port"] == METRICS_BASE_PORT + offset, (service, sd)
    (sd,) = jobs["taskbus-api"]["dns_sd_configs"]
    assert sd["names"] == ["api"] and sd["port"] == 8080, sd
