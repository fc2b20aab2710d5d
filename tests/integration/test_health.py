"""Liveness, readiness and metrics, as a load balancer and Prometheus see them."""

import json
import re

from helpers.api import assert_request_id


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
    assert "# TYPE http_requests_total counter" in text, text[:2000]
    samples = [ln for ln in text.splitlines() if ln.startswith("http_requests_total")]
    assert samples, "no http_requests_total sample"
    for ln in samples:
        assert re.fullmatch(r'http_requests_total(\{[^}]*\})? [0-9.e+]+( [0-9]+)?', ln), ln
    assert any(float(ln.split()[1]) >= 1 for ln in samples), samples
    # Every line is a comment, a blank or a sample: the text format has no other kind.
    for ln in text.splitlines():
        if ln and not ln.startswith("#"):
            assert re.fullmatch(r'[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? \S+( \S+)?', ln), f"bad line {ln!r}"
