"""Liveness, readiness and metrics, as a load balancer and Prometheus see them."""

import json
import re
import shutil
import subprocess

from prometheus_client.parser import text_string_to_metric_families

from helpers.api import Client, assert_request_id


def test_health_is_200(client):
    r = client.get("/health")
    assert r.status_code == 200, r.text
    assert_request_id(r)


def test_ready_reports_every_dependency(client):
    r = client.get("/ready")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    body = r.json()
    assert "checks" in body, body
    text = json.dumps(body["checks"]).lower()
    for dep in ("postgres", "redis", "kafka"):
        assert dep in text, f"/ready checks do not mention {dep}: {body}"


def test_metrics_is_prometheus_text(client):
    # A request first, so the counter has at least one sample.
    assert client.get("/health").status_code == 200
    r = client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain"), r.headers
    text = r.text
    assert "# TYPE taskbus_http_requests_total counter" in text, text[:2000]
    samples = [ln for ln in text.splitlines() if ln.startswith("taskbus_http_requests_total")]
    assert samples, "no taskbus_http_requests_total sample"
    for ln in samples:
        assert re.fullmatch(r'taskbus_http_requests_total(\{[^}]*\})? [0-9.e+]+( [0-9]+)?', ln), ln
    assert any(float(ln.split()[1]) >= 1 for ln in samples), samples
    # Every line is a comment, a blank or a sample: the text format has no other kind.
    for ln in text.splitlines():
        if ln and not ln.startswith("#"):
            assert re.fullmatch(r'[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? \S+( \S+)?', ln), f"bad line {ln!r}"


# The API's families (issue 11, /work contracts: the names every helper uses), each with
# the labels it had before the taskbus_ prefix.
API_FAMILIES = {
    "taskbus_http_requests_total": ("counter", {"method", "route", "status"}),
    "taskbus_http_request_duration_seconds": ("histogram", {"method", "route"}),
    "taskbus_cache_requests_total": ("counter", {"cache", "result"}),
    # Issue 13: reads that may use the replica, by pool and reason (api/read_replica.h).
    "taskbus_db_reads_total": ("counter", {"pool", "reason"}),
    "taskbus_ratelimit_limited_total": ("counter", {"bucket"}),
    "taskbus_ratelimit_unavailable_total": ("counter", {"bucket"}),
    "taskbus_ratelimit_local_buckets": ("gauge", set()),
    "taskbus_ratelimit_local_evictions_total": ("counter", {"result"}),
    "taskbus_ratelimit_sync_rounds_total": ("counter", {"result"}),
    "taskbus_ratelimit_sync_seconds": ("histogram", {"result"}),
    "taskbus_ratelimit_sync_buckets_total": ("counter", {"result"}),
}
OLD_NAMES = {name.removeprefix("taskbus_") for name in API_FAMILIES}


def test_metrics_are_prefixed_and_pass_promtool(api_url, make_user):
    """Every family of the API's /metrics is taskbus_-prefixed (or a standard process_
    one), has HELP text, parses with prometheus_client's parser and passes
    `promtool check metrics` without a lint finding; the renamed families carry their
    labels."""
    c = Client(api_url)
    u = make_user()
    # Traffic that makes the families appear: requests (a 404 too), a cached list (the
    # cache counter), and a 429 from the sign-in bucket of a fresh address.
    assert c.get("/health").status_code == 200
    assert c.get("/no/such/path").status_code == 404
    assert c.get("/api/v1/tasks", token=u.access).status_code == 200
    for _ in range(100):
        if c.refresh("x" * 43).status_code == 429:
            break
    else:
        raise AssertionError("no 429 from the sign-in bucket after 100 refreshes")
    text = c.get("/metrics").text

    families = {f.name: f for f in text_string_to_metric_families(text)}
    helps = dict(re.findall(r"^# HELP (\S+) (.+)$", text, re.M))
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    for name in types:
        assert name.startswith(("taskbus_", "process_")), f"unprefixed family {name}"
        assert helps.get(name, "").strip(), f"{name} has no HELP text"
    for old in OLD_NAMES:
        assert old not in types, f"{old} is still exported under its old name"
    for name in ("taskbus_http_requests_total", "taskbus_http_request_duration_seconds",
                 "taskbus_cache_requests_total", "taskbus_ratelimit_limited_total",
                 "taskbus_db_reads_total", "taskbus_ratelimit_local_buckets", "taskbus_ratelimit_sync_rounds_total"):
        assert name in types, f"{name} missing from /metrics"
    for name, (kind, labels) in API_FAMILIES.items():
        if name not in types:
            continue  # e.g. evictions, unavailable: only once they happened
        assert types[name] == kind, (name, types[name])
        parsed = families[name.removesuffix("_total")]
        assert parsed.samples, name
        for sample in parsed.samples:
            assert set(sample.labels) - {"le"} == labels, (name, sample)

    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed (compose/lib/packages.sh installs it)"
    run = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and not run.stdout.strip() and not run.stderr.strip(), \
        f"promtool check metrics: rc {run.returncode}\n{run.stdout}\n{run.stderr}"
