"""Every daemon observable (issue 11; docs/decisions.md "Every daemon observable").

Each daemon of the stack (writer ... activity) listens on TASKBUS_METRICS_PORT + its offset
(or TASKBUS_<DAEMON>_METRICS_PORT) and serves GET /health, /ready and /metrics; /metrics is
read by prometheus_client's parser and accepted by `promtool check metrics` without a lint
problem, and carries taskbus_build_info with the commit of this checkout and the process_*
families. Every binary answers --version. The writer's /ready follows Redis: 503 naming
redis while it is stopped, 200 once it is back (the relay, which does not use Redis, stays
ready meanwhile). Unknown paths are 404 and other methods 405, as problem+json.
"""

import os
import re
import shutil
import subprocess
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from helpers import stack_control
from helpers.stack_control import env, repo_root

# The contract's offsets (shared/daemon_port.h).
DAEMONS = {"writer": 1, "relay": 2, "importer": 3, "notifier": 4, "webhooks": 5, "scheduler": 6,
           "reporter": 7, "analytics": 8, "activity": 9}
# What each one's /ready checks: Postgres and Kafka everywhere (the scheduler's lag observer
# reads the brokers' watermarks), Redis only for the writer.
NEEDS = {name: {"postgres", "kafka"} for name in DAEMONS}
NEEDS["writer"] = {"postgres", "kafka", "redis"}
BINARIES = [f"taskbus-{n}" for n in DAEMONS] + ["taskbus-api", "taskbus-admin"]
PROCESS_FAMILIES = ("process_cpu_seconds_total", "process_resident_memory_bytes",
                    "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                    "process_start_time_seconds")
PROBLEM_TYPE = "application/problem+json"
READY_TIMEOUT = 60


def host():
    h = os.environ.get("TASKBUS_METRICS_HOST") or "127.0.0.1"
    return "127.0.0.1" if h in ("0.0.0.0", "::", "*") else h


def port(name):
    override = os.environ.get(f"TASKBUS_{name.upper()}_METRICS_PORT")
    return int(override) if override else int(env("TASKBUS_METRICS_PORT")) + DAEMONS[name]


def url(name, path):
    return f"http://{host()}:{port(name)}{path}"


def expected_version():
    with open(os.path.join(repo_root(), "CMakeLists.txt")) as f:
        m = re.search(r"project\(taskbus VERSION (\S+)", f.read())
    assert m, "CMakeLists.txt names no project version"
    return m.group(1)


def expected_commit():
    p = subprocess.run(["git", "-C", repo_root(), "rev-parse", "--short", "HEAD"],
                       capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 and p.stdout.strip() else "unknown"


def wait_ready(name, want=200, timeout=READY_TIMEOUT):
    """The first /ready answer with status `want` before the deadline (fails otherwise)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            r = requests.get(url(name, "/ready"), timeout=10)
            if r.status_code == want:
                return r
            last = f"{r.status_code} {r.text[:300]}"
        except requests.RequestException as e:
            last = repr(e)
        if time.monotonic() > deadline:
            pytest.fail(f"{name} /ready did not answer {want} within {timeout}s; last: {last}")
        time.sleep(0.2)


def assert_problem(r, status):
    assert r.status_code == status, f"{r.status_code} {r.text[:300]}"
    assert r.headers["Content-Type"].startswith(PROBLEM_TYPE), r.headers
    body = r.json()
    assert body["status"] == status and body["type"].startswith("/problems/") and body["title"], body
    return body


@pytest.mark.parametrize("name", list(DAEMONS))
def test_health_and_ready(name):
    r = requests.get(url(name, "/health"), timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    assert r.json() == {"status": "ok"}
    body = wait_ready(name).json()
    assert body["status"] == "ready", body
    assert set(body["checks"]) == NEEDS[name], body
    assert all(v == "ok" for v in body["checks"].values()), body


@pytest.mark.parametrize("name", list(DAEMONS))
def test_metrics_parse_and_lint(name):
    r = requests.get(url(name, "/metrics"), timeout=10)
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    # prometheus_client names a counter family without its _total suffix.
    for fam in PROCESS_FAMILIES:
        key = fam[:-len("_total")] if fam.endswith("_total") else fam
        assert key in families and families[key].samples, f"{name}: {fam} missing"
    assert families["process_cpu_seconds"].type == "counter"
    rss = families["process_resident_memory_bytes"].samples[0].value
    assert rss > 1024 * 1024, f"{name}: resident memory {rss} bytes is not plausible"
    fds = families["process_open_fds"].samples[0].value
    assert 3 <= fds <= families["process_max_fds"].samples[0].value, fds
    started = families["process_start_time_seconds"].samples[0].value
    assert time.time() - 86400 < started <= time.time() + 5, started
    info = families["taskbus_build_info"].samples
    assert len(info) == 1 and info[0].value == 1, info
    assert info[0].labels == {"service": name, "version": expected_version(),
                              "commit": expected_commit()}, info[0].labels

    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed (compose/lib/packages.sh installs prometheus)"
    p = subprocess.run([promtool, "check", "metrics"], input=r.text, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(), \
        f"{name}: promtool check metrics exited {p.returncode}:\n{p.stdout}\n{p.stderr}"


def test_api_metrics_have_process_and_build_info(api_url):
    r = requests.get(api_url + "/metrics", timeout=10)
    assert r.status_code == 200, r.text[:300]
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    for fam in PROCESS_FAMILIES:
        assert (fam[:-len("_total")] if fam.endswith("_total") else fam) in families, fam
    info = families["taskbus_build_info"].samples
    assert [s.labels for s in info] == [{"service": "api", "version": expected_version(),
                                         "commit": expected_commit()}], info


@pytest.mark.parametrize("name", ["writer", "scheduler"])
def test_unknown_path_and_method_are_problems(name):
    body = assert_problem(requests.get(url(name, "/nope"), timeout=10), 404)
    assert body["type"] == "/problems/not-found", body
    for method in ("POST", "PUT", "DELETE"):
        r = requests.request(method, url(name, "/metrics"), data=b"x", timeout=10)
        body = assert_problem(r, 405)
        assert body["type"] == "/problems/method-not-allowed", body
        assert r.headers["Allow"] == "GET, HEAD", r.headers
    assert requests.head(url(name, "/health"), timeout=10).status_code == 200


@pytest.mark.parametrize("binary", BINARIES)
def test_version_of_every_binary(binary):
    path = os.path.join(env("TASKBUS_BUILD_DIR"), binary)
    assert os.access(path, os.X_OK), f"{path} is not built"
    p = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30,
                       env={**os.environ, "TASKBUS_METRICS_PORT": "0"})
    assert p.returncode == 0, p.stderr
    assert p.stdout == f"{binary} {expected_version()} ({expected_commit()})\n", p.stdout
    h = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=30)
    assert h.returncode == 0 and "--version" in h.stdout, h.stdout[:400]


@pytest.mark.single_stack_only
def test_writer_ready_follows_redis():
    wait_ready("writer")
    wait_ready("relay")
    stack_control.stop("redis")
    try:
        r = wait_ready("writer", want=503)
        body = assert_problem(r, 503)
        assert "redis" in body["detail"], body
        assert body["checks"]["redis"] != "ok" and body["checks"]["postgres"] == "ok", body
        # Liveness is not readiness: the writer's loop still turns.
        assert requests.get(url("writer", "/health"), timeout=10).status_code == 200
        # Only a daemon's own dependencies count: the relay does not use Redis.
        relay = requests.get(url("relay", "/ready"), timeout=10)
        assert relay.status_code == 200, relay.text
    finally:
        stack_control.start("redis")
    body = wait_ready("writer").json()
    assert body["checks"]["redis"] == "ok", body
