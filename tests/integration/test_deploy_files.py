"""The deployment files, checked without a Docker engine or a helm binary.

Owns: compose/docker-compose.yml (services, images, start order, environment; the writer
and importer daemons; the issue-4 daemons, the Mailpit SMTP catcher the notifier sends to
and the reports volume the API and the reporter share), the Dockerfile (non-root, health check, the same CMake build of
every daemon, stripped, the Debian packages the build and the binaries really need),
compose/nginx.conf (`nginx -t`, then a real nginx in front of a small local backend:
X-Forwarded-For, X-Request-ID, the 1 MiB limit and the 16 MiB one of the import path,
an unbuffered event stream, problem+json when no replica answers), the Helm chart
(parses, every .Values reference exists, balanced template actions, probes, hooks, Secret
vs ConfigMap, a Deployment per daemon, the SMTP URL in the Secret, the reports claim
mounted by the API and the reporter, `helm lint` and `helm template`) and
schemas/openapi.json (valid OpenAPI 3.1, the task endpoints and those of issue 4 with their
headers and status codes, and every path in it answered by the running API with a documented status: 401
without a token, and with a real user's token for the task paths, 404 for a random id).
Rules: every environment variable these files give a taskbus binary must be one the
binaries read: the list comes from `$TASKBUS_BUILD_DIR/taskbus-api --help`, or from the
table in docs/decisions.md when no binary was built. The live checks need TASKBUS_API_URL
and FAIL without it. Everything a test starts (nginx, the backend) it stops itself.
"""

import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import yaml
from helpers.api import fresh_ip, register_user

REPO = Path(os.environ.get("TASKBUS_REPO") or Path(__file__).resolve().parents[2])
COMPOSE_DIR = REPO / "compose"
CHART = REPO / "helm" / "taskbus"
OPENAPI = REPO / "schemas" / "openapi.json"
DOCKERFILE = COMPOSE_DIR / "Dockerfile"

CONFIG_VAR_RE = re.compile(r"\b(TASKBUS_[A-Z0-9_]+|DATABASE_URL|DATABASE_READ_URL|REDIS_URL|KAFKA_BROKERS)\b")
# The daemons of issue 4 (workers/ and consumers/): compose service name -> binary.
STREAM_DAEMONS = {"notifier": "taskbus-notifier", "webhooks": "taskbus-webhooks", "scheduler": "taskbus-scheduler",
                  "reporter": "taskbus-reporter", "analytics": "taskbus-analytics", "activity": "taskbus-activity"}
BINARIES = ("taskbus-api", "taskbus-relay", "taskbus-admin", "taskbus-writer", "taskbus-importer",
            *STREAM_DAEMONS.values())
TASKBUS_SERVICES = ("migrate", "api", "relay", "writer", "importer", *STREAM_DAEMONS)
# The long-running daemons besides the API: each starts after the migrate job succeeded.
DAEMON_SERVICES = {"relay": "taskbus-relay", "writer": "taskbus-writer", "importer": "taskbus-importer",
                   **STREAM_DAEMONS}
IMPORT_PATH = "/api/v1/tasks/import"
EVENTS_PATH = "/api/v1/events"
IMPORT_MAX_BODY = 16 * 1024 * 1024
# The endpoints docs/decisions.md and DESIGN.md name so far.
EXPECTED_PATHS = {
    "/health": {"get"},
    "/ready": {"get"},
    "/metrics": {"get"},
    "/openapi.json": {"get"},
    "/api/v1/auth/register": {"post"},
    "/api/v1/auth/login": {"post"},
    "/api/v1/auth/refresh": {"post"},
    "/api/v1/auth/logout": {"post"},
    "/api/v1/auth/logout-all": {"post"},
    "/api/v1/auth/password": {"put"},
    "/api/v1/users/me": {"get", "patch"},
    "/api/v1/tasks": {"get", "post"},
    "/api/v1/tasks/{id}": {"get", "patch", "delete"},
    "/api/v1/tasks/stats": {"get"},
    "/api/v1/commands/{id}": {"get"},
    "/api/v1/tasks/import": {"post"},
    "/api/v1/tasks/import/{id}": {"get"},
    "/api/v1/events": {"get"},
    "/api/v1/auth/verify": {"get"},
    "/api/v1/webhooks": {"get", "post"},
    "/api/v1/webhooks/{id}": {"delete"},
    "/api/v1/webhooks/{id}/deliveries": {"get"},
    "/api/v1/reports": {"get", "post"},
    "/api/v1/reports/{id}": {"get"},
    "/api/v1/reports/{id}/download": {"get"},
    "/api/v1/analytics/daily": {"get"},
    "/api/v1/activity": {"get"},
}
# Every status the task handlers can answer (docs/decisions.md "Tasks (issue 3)", read off
# api/routes_tasks_*.c, routes_import.c, routes_events.c and the router's checks).
TASK_STATUS_CODES = {
    ("post", "/api/v1/tasks"): {"201", "202", "400", "401", "404", "409", "413", "415", "422", "429", "503"},
    ("get", "/api/v1/tasks"): {"200", "401", "422", "429", "503"},
    ("get", "/api/v1/tasks/{id}"): {"200", "304", "401", "404", "429", "503"},
    ("patch", "/api/v1/tasks/{id}"): {"200", "202", "400", "401", "404", "412", "413", "415", "422", "429", "503"},
    ("delete", "/api/v1/tasks/{id}"): {"202", "204", "401", "404", "412", "429", "503"},
    ("get", "/api/v1/tasks/stats"): {"200", "401", "429", "503"},
    ("get", "/api/v1/commands/{id}"): {"200", "401", "404", "429", "503"},
    ("post", "/api/v1/tasks/import"): {"202", "400", "401", "409", "413", "415", "422", "429", "503"},
    ("get", "/api/v1/tasks/import/{id}"): {"200", "401", "404", "429", "503"},
    ("get", "/api/v1/events"): {"200", "401", "422", "429", "503"},
}
# Every status the issue-4 handlers can answer (docs/decisions.md "The stream's other side",
# read off api/routes_verify.c, routes_webhooks.c, routes_reports.c, report_filters.c,
# routes_insights.c and the router's checks: 413/415/400 for JSON bodies, 401 and 429 for
# token routes, 429 for the per-address limit of every route).
STREAM_STATUS_CODES = {
    ("get", "/api/v1/auth/verify"): {"200", "400", "429", "503"},
    ("post", "/api/v1/webhooks"): {"201", "400", "401", "413", "415", "422", "429", "503"},
    ("get", "/api/v1/webhooks"): {"200", "401", "429", "503"},
    ("delete", "/api/v1/webhooks/{id}"): {"204", "401", "404", "429", "503"},
    ("get", "/api/v1/webhooks/{id}/deliveries"): {"200", "401", "404", "422", "429", "503"},
    ("post", "/api/v1/reports"): {"202", "400", "401", "413", "415", "422", "429", "503"},
    ("get", "/api/v1/reports"): {"200", "401", "422", "429", "503"},
    ("get", "/api/v1/reports/{id}"): {"200", "401", "404", "429", "503"},
    ("get", "/api/v1/reports/{id}/download"): {"200", "401", "404", "409", "429", "500", "503"},
    ("get", "/api/v1/analytics/daily"): {"200", "401", "422", "429", "503"},
    ("get", "/api/v1/activity"): {"200", "401", "422", "429", "503"},
}
# Media types a request body may have besides application/json, by operation.
EXTRA_BODY_TYPES = {
    ("patch", "/api/v1/tasks/{id}"): {"application/merge-patch+json"},
    ("post", "/api/v1/tasks/import"): {"application/x-ndjson"},
}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


# ---------------------------------------------------------------- shared facts


def build_dir():
    d = os.environ.get("TASKBUS_BUILD_DIR")
    if not d:
        return None
    p = Path(d)
    return p if p.is_absolute() else REPO / p


@pytest.fixture(scope="module")
def config_vars():
    """The environment variables the binaries read."""
    bdir = build_dir()
    exe = bdir / "taskbus-api" if bdir else None
    if exe and exe.is_file() and os.access(exe, os.X_OK):
        out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=30)
        names = set(CONFIG_VAR_RE.findall(out.stdout + out.stderr))
        assert {"DATABASE_URL", "REDIS_URL", "KAFKA_BROKERS"} <= names, (
            f"{exe} --help does not list the basic variables:\n{out.stdout}{out.stderr}")
        return names
    text = (REPO / "docs" / "decisions.md").read_text()
    section = text.split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    names = set(re.findall(r"^\|\s*`([A-Z][A-Z0-9_]+)`\s*\|", section, re.M))
    assert {"DATABASE_URL", "REDIS_URL", "KAFKA_BROKERS", "TASKBUS_JWT_SECRET"} <= names, section
    return names


@pytest.fixture(scope="module")
def compose():
    doc = yaml.safe_load((COMPOSE_DIR / "docker-compose.yml").read_text())
    assert isinstance(doc, dict) and isinstance(doc.get("services"), dict), "no services in docker-compose.yml"
    return doc


def env_of(service):
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {k: ("" if v is None else str(v)) for k, v in env.items()}


def depends_of(service):
    dep = service.get("depends_on") or {}
    if isinstance(dep, list):
        return {name: {"condition": "service_started"} for name in dep}
    return dep


def join_continuations(text):
    return re.sub(r"\\\n", " ", text)


def dockerfile_stages():
    """[(from line, [instructions])] with continuation lines joined and comments dropped."""
    stages = []
    for line in join_continuations(DOCKERFILE.read_text()).splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if re.match(r"FROM\s", line, re.I):
            stages.append((line, []))
        elif stages:
            stages[-1][1].append(line)
    assert stages, "Dockerfile has no FROM"
    return stages


def apt_packages(instructions):
    pkgs = set()
    for ins in instructions:
        for m in re.finditer(r"apt-get\s+install\s+(.*?)(?:&&|;|$)", ins):
            pkgs |= {t for t in m.group(1).split() if not t.startswith("-")}
    return pkgs


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- compose


def test_compose_has_the_services_and_images(compose):
    services = compose["services"]
    for name in ("postgres", "redis", "kafka", "nginx", *TASKBUS_SERVICES):
        assert name in services, f"docker-compose.yml has no service {name}"
    assert services["postgres"]["image"] == "postgres:15"
    assert re.fullmatch(r"redis:7(\.\d+)*(-\S+)?", services["redis"]["image"]), services["redis"]["image"]
    assert services["kafka"]["image"] == "apache/kafka:3.9.1"
    assert services["nginx"]["image"].startswith("nginx:")
    images = {services[n]["image"] for n in TASKBUS_SERVICES}
    assert len(images) == 1, f"the taskbus services use different images: {images}"
    for n in TASKBUS_SERVICES:
        build = services[n].get("build")
        assert isinstance(build, dict), f"{n} has no build section"
        assert (COMPOSE_DIR / build["context"]).resolve() == REPO.resolve(), f"{n}: context is not the repo root"
        assert (COMPOSE_DIR / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE.resolve()


def test_compose_start_order(compose):
    services = compose["services"]
    for name, svc in services.items():
        for dep, spec in depends_of(svc).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            if spec.get("condition") == "service_healthy":
                hc = services[dep].get("healthcheck") or {}
                assert hc.get("test") and not hc.get("disable"), f"{name} waits for {dep} healthy, but it has no healthcheck"
    # No cycles (compose refuses them).
    seen, done = set(), set()

    def visit(n, path):
        assert n not in seen or n in done, f"depends_on cycle: {' -> '.join(path + [n])}"
        if n in done:
            return
        seen.add(n)
        for d in depends_of(services[n]):
            visit(d, path + [n])
        done.add(n)

    for n in services:
        visit(n, [])
    for n in ("api", *DAEMON_SERVICES):
        assert depends_of(services[n]).get("migrate", {}).get("condition") == "service_completed_successfully", (
            f"{n} must start only after the migrate job succeeded")
    mig = depends_of(services["migrate"])
    for n in ("postgres", "kafka"):
        assert mig.get(n, {}).get("condition") == "service_healthy", f"migrate must wait for {n} to be healthy"
    assert depends_of(services["nginx"]).get("api"), "nginx must start after the API"


def test_compose_migrate_job_runs_migrate_and_topics(compose):
    mig = compose["services"]["migrate"]
    cmd = mig["command"]
    cmd = " ".join(cmd) if isinstance(cmd, list) else cmd
    assert "taskbus-admin migrate" in cmd and "taskbus-admin topics" in cmd, cmd
    assert cmd.index("taskbus-admin migrate") < cmd.index("taskbus-admin topics") or "&&" in cmd
    assert str(mig.get("restart", "no")) == "no", "a one-shot job must not restart"
    for service, binary in (("api", "taskbus-api"), *DAEMON_SERVICES.items()):
        cmd = compose["services"][service]["command"]
        assert (cmd if isinstance(cmd, list) else cmd.split())[0] == binary, f"{service} runs {cmd}, not {binary}"


def test_compose_runs_the_writer_and_importer(compose):
    services = compose["services"]
    shared = env_of(services["api"])
    partitions = int(shared.get("TASKBUS_KAFKA_PARTITIONS", "6"))
    for name in ("writer", "importer"):
        svc = services[name]
        # The image's HEALTHCHECK probes the API's port, which these daemons do not have.
        assert (svc.get("healthcheck") or {}).get("disable") is True, f"{name} would be marked unhealthy"
        assert svc.get("restart") in ("unless-stopped", "always", "on-failure"), f"{name} is not restarted"
        assert not svc.get("ports") and not svc.get("container_name"), name
        assert depends_of(svc).get("kafka", {}).get("condition") == "service_healthy", f"{name} must wait for Kafka"
        grace = str(svc.get("stop_grace_period", "10s"))
        assert re.fullmatch(r"\d+s", grace) and int(grace[:-1]) >= 20, f"{name}: SIGTERM needs time to finish a batch"
        env = env_of(svc)
        # One Kafka cluster and one database for every daemon.
        for var in ("DATABASE_URL", "REDIS_URL", "KAFKA_BROKERS", "TASKBUS_KAFKA_PARTITIONS"):
            assert env.get(var) == shared.get(var), f"{name}: {var} differs from the API's"
    writer = services["writer"]
    assert depends_of(writer).get("redis", {}).get("condition") == "service_healthy", "the writer needs Redis"
    replicas = (writer.get("deploy") or {}).get("replicas", 1)
    assert 2 <= replicas <= partitions, f"writer replicas {replicas}: one consumer group over {partitions} partitions"
    # What the importer produces must be what the writer consumes.
    wt = env_of(writer).get("TASKBUS_WRITER_TOPIC", "task-commands")
    it = env_of(services["importer"]).get("TASKBUS_IMPORT_TOPIC", "task-commands")
    assert wt == it == "task-commands", (wt, it)
    rate = env_of(services["importer"]).get("TASKBUS_IMPORT_MAX_RATE", "20000")
    assert rate.isdigit() and int(rate) >= 1, rate
    assert int(shared.get("TASKBUS_IMPORT_MAX_BODY_BYTES", "0")) == IMPORT_MAX_BODY, (
        "the API's import body limit must be set, and be the one nginx.conf allows on the import path")


def volume_mounts(service):
    """{target: source} of a service's volumes (short syntax or long)."""
    out = {}
    for v in service.get("volumes") or []:
        if isinstance(v, dict):
            out[v["target"]] = v.get("source", "")
        else:
            parts = str(v).split(":")
            out[parts[1]] = parts[0]
    return out


def test_compose_runs_the_stream_daemons(compose, config_vars):
    services = compose["services"]
    shared = env_of(services["api"])
    for name, binary in STREAM_DAEMONS.items():
        svc = services[name]
        assert (svc.get("healthcheck") or {}).get("disable") is True, f"{name} has no HTTP port to probe"
        assert svc.get("restart") in ("unless-stopped", "always", "on-failure"), f"{name} is not restarted"
        assert not svc.get("ports") and not svc.get("container_name"), name
        assert depends_of(svc).get("kafka", {}).get("condition") == "service_healthy", f"{name} must wait for Kafka"
        grace = str(svc.get("stop_grace_period", "10s"))
        assert re.fullmatch(r"\d+s", grace) and int(grace[:-1]) >= 20, f"{name}: SIGTERM needs time"
        assert ((svc.get("deploy") or {}).get("resources") or {}).get("limits", {}).get("memory"), name
        env = env_of(svc)
        for var in ("DATABASE_URL", "REDIS_URL", "KAFKA_BROKERS", "TASKBUS_KAFKA_PARTITIONS", "TASKBUS_PUBLIC_URL"):
            assert env.get(var) == shared.get(var), f"{name}: {var} differs from the API's"
    # The notifier sends to the SMTP catcher of this compose file, once it is up.
    notifier = services["notifier"]
    smtp = env_of(notifier).get("TASKBUS_SMTP_URL", "")
    m = re.fullmatch(r"\$\{TASKBUS_SMTP_URL:-([^}]+)\}", smtp)
    url = urlsplit(m.group(1) if m else smtp)
    assert url.scheme in ("smtp", "smtps") and url.hostname in services, f"TASKBUS_SMTP_URL {smtp} is no service here"
    catcher = services[url.hostname]
    assert catcher["image"].startswith("axllent/mailpit:") and catcher["image"] != "axllent/mailpit:latest", (
        f"a pinned Mailpit image: {catcher['image']}")
    assert (url.port or 25) == 1025, "Mailpit takes SMTP on 1025"
    assert depends_of(notifier).get(url.hostname, {}).get("condition") == "service_healthy"
    assert all(p.startswith("127.0.0.1:") for p in map(str, catcher.get("ports", []))), (
        "the mail catcher's UI is for this host only")
    assert env_of(notifier).get("TASKBUS_SMTP_FROM"), "the notifier needs a From address"
    # The API streams the files the reporter writes: one named volume, mounted at
    # TASKBUS_REPORTS_DIR in both.
    api_dir = env_of(services["api"]).get("TASKBUS_REPORTS_DIR")
    rep_dir = env_of(services["reporter"]).get("TASKBUS_REPORTS_DIR")
    assert api_dir and api_dir == rep_dir, (api_dir, rep_dir)
    api_src = volume_mounts(services["api"]).get(api_dir)
    rep_src = volume_mounts(services["reporter"]).get(rep_dir)
    assert api_src and api_src == rep_src and "/" not in api_src, f"api mounts {api_src}, reporter {rep_src}"
    assert api_src in (compose.get("volumes") or {}), f"the volume {api_src} is not declared"
    for n in TASKBUS_SERVICES:
        for var, value in env_of(services[n]).items():
            assert var in config_vars, f"{n} sets {var}"
            assert not (var == "TASKBUS_SMTP_URL" and "@" in value), f"{n}: a password in TASKBUS_SMTP_URL"


def test_compose_two_api_replicas_behind_nginx_on_8080(compose):
    services = compose["services"]
    api, nginx = services["api"], services["nginx"]
    assert (api.get("deploy") or {}).get("replicas") == 2
    assert not api.get("ports"), "API replicas must not publish a host port (nginx does)"
    assert not api.get("container_name"), "a fixed container_name prevents replicas"
    ports = [str(p) for p in nginx.get("ports", [])]
    assert any(re.fullmatch(r"(\d+\.\d+\.\d+\.\d+:)?8080:8080(/tcp)?", p) for p in ports), ports
    mounts = [str(v) for v in nginx.get("volumes", [])]
    conf = [m for m in mounts if m.split(":")[1] == "/etc/nginx/nginx.conf"]
    assert conf, f"nginx does not mount nginx.conf: {mounts}"
    assert (COMPOSE_DIR / conf[0].split(":")[0]).resolve() == (COMPOSE_DIR / "nginx.conf").resolve()
    hc = api.get("healthcheck") or {}
    assert "/health" in " ".join(hc.get("test", [])), "the API's compose healthcheck must probe /health"


def test_compose_environment_is_real_configuration(compose, config_vars):
    services = compose["services"]
    for n in TASKBUS_SERVICES:
        env = env_of(services[n])
        unknown = set(env) - config_vars
        assert not unknown, f"{n} sets variables no taskbus binary reads: {sorted(unknown)}"
        for required in ("DATABASE_URL", "REDIS_URL", "KAFKA_BROKERS", "TASKBUS_JWT_SECRET"):
            assert env.get(required), f"{n} lacks {required}"
        # The JWT key comes from the caller's environment, never a literal in the repo,
        # and every replica gets the same one.
        assert re.fullmatch(r"\$\{TASKBUS_JWT_SECRET:\?[^}]*\}", env["TASKBUS_JWT_SECRET"]), env["TASKBUS_JWT_SECRET"]

    env = env_of(services["api"])
    pg_env = env_of(services["postgres"])
    db = urlsplit(env["DATABASE_URL"])
    assert db.scheme in ("postgresql", "postgres") and db.hostname == "postgres" and (db.port or 5432) == 5432
    assert db.username == pg_env["POSTGRES_USER"] and db.password == pg_env["POSTGRES_PASSWORD"]
    assert db.path.lstrip("/") == pg_env["POSTGRES_DB"]
    rd = urlsplit(env["REDIS_URL"])
    assert rd.scheme == "redis" and rd.hostname == "redis" and (rd.port or 6379) == 6379
    kafka_env = env_of(services["kafka"])
    advertised = kafka_env["KAFKA_ADVERTISED_LISTENERS"]
    for broker in env["KAFKA_BROKERS"].split(","):
        assert broker in advertised, f"KAFKA_BROKERS {broker} is not an advertised listener ({advertised})"
    assert kafka_env.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE") == "false", "topics are created by taskbus-admin topics"
    assert "broker" in kafka_env["KAFKA_PROCESS_ROLES"] and "controller" in kafka_env["KAFKA_PROCESS_ROLES"]
    assert env.get("TASKBUS_HTTP_HOST") == "0.0.0.0", "inside a container the API must listen on every interface"
    assert env.get("TASKBUS_TRUST_PROXY") == "1", "behind nginx the client address is the X-Forwarded-For hop"


# ---------------------------------------------------------------- Dockerfile


def test_dockerfile_runtime_is_non_root_with_a_health_check(compose):
    stages = dockerfile_stages()
    assert len(stages) >= 2, "the Dockerfile must be multi-stage"
    for from_line, _ in stages:
        assert re.search(r"debian:12|\$\{DEBIAN_IMAGE\}", from_line), from_line
    assert "debian:12" in DOCKERFILE.read_text()
    runtime = stages[-1][1]
    users = [ins.split(None, 1)[1].strip() for ins in runtime if re.match(r"USER\s", ins, re.I)]
    assert users, "the runtime stage has no USER"
    assert users[-1].split(":")[0] not in ("root", "0"), f"the runtime runs as {users[-1]}"
    has_healthcheck = any(re.match(r"HEALTHCHECK\s+(?!NONE)", ins, re.I) for ins in runtime)
    api_hc = compose["services"]["api"].get("healthcheck", {}).get("test")
    assert has_healthcheck or api_hc, "no HEALTHCHECK and no compose healthcheck for the API"
    # The runtime carries no compiler.
    runtime_pkgs = apt_packages(runtime)
    assert not {p for p in runtime_pkgs if p.endswith("-dev") or p in ("build-essential", "cmake", "gcc")}, runtime_pkgs
    copies = " ".join(ins for ins in runtime if ins.upper().startswith("COPY"))
    for b in BINARIES:
        assert b in copies or "/out/bin" in copies, f"the runtime stage does not get {b}"
    # taskbus-notifier reads <TASKBUS_SCHEMAS_DIR>/../workers/notifier/templates.
    env = " ".join(ins for ins in runtime if ins.upper().startswith("ENV"))
    m = re.search(r"TASKBUS_SCHEMAS_DIR=(\S+)", env)
    assert m, "the runtime sets no TASKBUS_SCHEMAS_DIR"
    templates_dir = str(Path(m.group(1)).parent / "workers" / "notifier" / "templates")
    assert re.search(rf"COPY\s+--from=\S+\s+/src/workers/notifier/templates/?\s+{re.escape(templates_dir)}/?(\s|$)", copies), (
        f"the e-mail templates are not copied to {templates_dir}")
    assert sorted(p.name for p in (REPO / "workers" / "notifier" / "templates").glob("*.txt")), "no e-mail templates"


def test_dockerfile_builds_the_binaries_with_the_repository_cmake():
    cmake = (REPO / "CMakeLists.txt").read_text()
    targets = set(re.findall(r"add_executable\((taskbus-[a-z]+)", cmake))
    for daemons in re.findall(r"foreach\((?:daemon|consumer)\s+([^)]*)\)", cmake):
        targets |= {f"taskbus-{d}" for d in daemons.split()}
    assert set(BINARIES) <= targets, f"CMakeLists.txt defines {targets}"
    build = " ".join(dockerfile_stages()[0][1])
    assert re.search(r"cmake\s+-S\s+\S+\s+-B\s+\S+", build), "the build stage does not configure with cmake -S/-B"
    m = re.search(r"cmake\s+--build\s+.*?--target\s+((?:taskbus-[a-z]+\s*)+)", build)
    assert m, "the build stage does not build named targets"
    built = set(m.group(1).split())
    assert built == set(BINARIES), built
    assert built <= targets, f"the Dockerfile builds targets CMakeLists.txt lacks: {built - targets}"
    assert "TASKBUS_SANITIZE=ON" not in build
    # Stripped on the way out of the build stage (install -s), every one of them.
    stripped = set()
    for step in re.split(r"&&|;|\bRUN\b", build):
        words = step.split()
        if words[:1] == ["install"] and ("-s" in words or "--strip" in words):
            stripped |= {Path(w).name for w in words if re.fullmatch(r"\S*/taskbus-[a-z]+", w)}
    assert stripped == set(BINARIES), f"binaries installed with -s (stripped): {sorted(stripped)}"


def owning_package(path):
    """The Debian package that installed the file at path (tries the /usr-merged twin)."""
    candidates = [str(path), os.path.realpath(path)]
    for c in list(candidates):
        if c.startswith("/usr/lib/"):
            candidates.append(c[4:])
        elif c.startswith("/lib/"):
            candidates.append("/usr" + c)
    for c in candidates:
        r = subprocess.run(["dpkg-query", "-S", c], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.split(":", 1)[0].strip()
    return None


def test_dockerfile_build_stage_installs_every_pkg_config_module():
    if not shutil.which("pkg-config") or not shutil.which("dpkg-query"):
        pytest.fail("pkg-config and dpkg-query are needed (Debian 12 with the build packages)")
    cmake = (REPO / "CMakeLists.txt").read_text()
    modules = []
    for block in re.findall(r"pkg_check_modules\(\s*\w+\s+REQUIRED\s+(?:IMPORTED_TARGET\s+)?([^)]*)\)", cmake):
        modules += block.split()
    assert "libpq" in modules and "rdkafka" in modules, modules
    installed = apt_packages(dockerfile_stages()[0][1])
    for mod in modules:
        r = subprocess.run(["pkg-config", "--variable=pcfiledir", mod], capture_output=True, text=True)
        assert r.returncode == 0, f"pkg-config does not know {mod}"
        pkg = owning_package(Path(r.stdout.strip()) / f"{mod}.pc")
        assert pkg, f"no Debian package owns {mod}.pc"
        assert pkg.split(":")[0] in installed, f"the build stage does not install {pkg} (for {mod}); it installs {sorted(installed)}"


def package_depends(pkgs):
    """Direct Depends of installed packages (names only), plus the packages themselves."""
    out = set(pkgs)
    for p in pkgs:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Depends}", p], capture_output=True, text=True)
        for alt in r.stdout.split(","):
            for name in alt.split("|"):
                name = name.strip().split(" ")[0].split(":")[0]
                if name:
                    out.add(name)
    return out


def test_dockerfile_runtime_has_every_library_the_binaries_load():
    bdir = build_dir()
    exes = [bdir / b for b in BINARIES] if bdir else []
    exes = [e for e in exes if e.is_file()]
    if not exes:
        pytest.fail("no built binaries in TASKBUS_BUILD_DIR (tests/run builds them first)")
    if not shutil.which("readelf") or not shutil.which("dpkg-query"):
        pytest.fail("readelf and dpkg-query are needed")
    runtime = apt_packages(dockerfile_stages()[-1][1])
    provided = package_depends(runtime) | {"libc6", "libgcc-s1"}
    ldconfig = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    for exe in exes:
        dyn = subprocess.run(["readelf", "-d", str(exe)], capture_output=True, text=True, check=True).stdout
        for soname in re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn):
            if re.match(r"lib(asan|ubsan|lsan|tsan)\.", soname):
                continue  # sanitizer builds (tests/run); the image builds without them
            m = re.search(rf"^\s*{re.escape(soname)} \(.*?x86-64.*?\) => (\S+)$", ldconfig, re.M) or re.search(
                rf"^\s*{re.escape(soname)} .*=> (\S+)$", ldconfig, re.M)
            assert m, f"{exe.name} needs {soname}, which ldconfig does not know"
            pkg = owning_package(m.group(1))
            assert pkg, f"no Debian package owns {m.group(1)}"
            assert pkg.split(":")[0] in provided, (
                f"{exe.name} needs {soname} from {pkg}, which the runtime stage does not install")


# ---------------------------------------------------------------- nginx


def nginx_copy(tmp_path, backend, listen=None):
    """nginx.conf with the upstream pointed at backend (host:port) and its own prefix."""
    text = (COMPOSE_DIR / "nginx.conf").read_text()
    servers = re.findall(r"^\s*server\s+([A-Za-z0-9_.-]+):(\d+)", text, re.M)
    assert servers, "nginx.conf has no upstream server"
    text = re.sub(r"(^\s*server\s+)[A-Za-z0-9_.-]+:\d+", rf"\g<1>{backend}", text, flags=re.M)
    if listen:
        text = re.sub(r"(^\s*listen\s+)\d+", rf"\g<1>127.0.0.1:{listen}", text, flags=re.M)
    # The temp folders of the distribution's build may not be writable by this user.
    temps = "".join(f"    {d}_temp_path {tmp_path}/{d};\n" for d in
                    ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    text = text.replace("http {\n", "http {\n" + temps, 1)
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    return conf


def nginx_cmd(tmp_path, conf, *extra):
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(exe):
        pytest.fail("nginx is not installed (apt-get install nginx)")
    return [exe, "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(conf), *extra]


def test_nginx_conf_is_valid_and_consistent(tmp_path, compose, config_vars):
    text = (COMPOSE_DIR / "nginx.conf").read_text()
    conf = nginx_copy(tmp_path, "127.0.0.1:8080")
    r = subprocess.run(nginx_cmd(tmp_path, conf, "-t", "-g", f"pid {tmp_path}/nginx.pid;"),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    api_env = env_of(compose["services"]["api"])
    api_port = int(api_env.get("TASKBUS_HTTP_PORT", "8080"))
    for host, port in re.findall(r"^\s*server\s+([A-Za-z0-9_.-]+):(\d+)", text, re.M):
        assert host in compose["services"], f"upstream host {host} is not a compose service"
        assert int(port) == api_port
    # The server-wide limit is the API's; only the import path raises it, to the API's
    # import limit.
    server_level = re.sub(r"location\s[^{]*\{[^}]*\}", "", text)
    limits = [nginx_size(s) for s in re.findall(r"client_max_body_size\s+(\w+)\s*;", server_level)]
    assert limits == [int(api_env.get("TASKBUS_MAX_BODY_BYTES", "1048576"))] == [1048576], limits
    raised = {path: nginx_size(m.group(1)) for path, block in nginx_locations(text).items()
              if (m := re.search(r"client_max_body_size\s+(\w+)\s*;", block))}
    assert raised == {IMPORT_PATH: IMPORT_MAX_BODY}, f"locations with their own body limit: {raised}"
    assert int(api_env["TASKBUS_IMPORT_MAX_BODY_BYTES"]) == IMPORT_MAX_BODY
    # A location that sets error_page inherits none of the server's: it must name the 5xx one.
    for path, block in nginx_locations(text).items():
        if "error_page" in block and "proxy_pass" in block:
            assert re.search(r"error_page\s+502\s+503\s+504\s", block), f"{path} loses the 503 problem"
    # The event stream: unbuffered, and open far longer than the API's 15 s keep-alive.
    events = nginx_locations(text).get(EVENTS_PATH)
    assert events, f"no location = {EVENTS_PATH}"
    assert re.search(r"proxy_buffering\s+off\s*;", events), "SSE must not be buffered"
    m = re.search(r"proxy_read_timeout\s+(\w+)\s*;", events)
    assert m and nginx_seconds(m.group(1)) >= 600, "SSE needs a long proxy_read_timeout"
    assert re.search(r"^\s*keepalive\s+\d+\s*;", text, re.M), "no upstream keepalive pool"
    assert re.search(r"proxy_set_header\s+X-Forwarded-For\s+\$proxy_add_x_forwarded_for\s*;", text)
    assert re.search(r"proxy_set_header\s+X-Request-ID\s+", text)
    assert re.search(r"proxy_set_header\s+Connection\s+\"\"\s*;", text), "upstream keep-alive needs Connection \"\""
    for d in ("proxy_connect_timeout", "proxy_read_timeout", "proxy_send_timeout", "client_body_timeout"):
        assert re.search(rf"{d}\s+\d+[smh]?\s*;", text), f"no {d}"
    # Upstream connections must idle out before the API closes them.
    m = re.search(r"upstream\s+\w+\s*\{[^}]*keepalive_timeout\s+(\d+)s?\s*;", text, re.S)
    idle = int(api_env.get("TASKBUS_HTTP_IDLE_TIMEOUT_SECONDS", "30"))
    assert m and int(m.group(1)) < idle, "upstream keepalive_timeout must be below the API's idle timeout"


def nginx_size(text):
    m = re.fullmatch(r"(\d+)([kKmMgG]?)", text)
    assert m, f"not an nginx size: {text}"
    return int(m.group(1)) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]


def nginx_seconds(text):
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", text)
    assert m, f"not an nginx time: {text}"
    return int(m.group(1)) * {None: 1, "ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def nginx_locations(text):
    """{path: block text} of the exact-match locations (`location = /path { ... }`)."""
    return dict(re.findall(r"location\s*=\s*(\S+)\s*\{([^}]*)\}", text))


# How long the echo backend holds its event stream open for the first frame to arrive at
# the client: a deadline (a buffering proxy delivers nothing before it), not a target.
STREAM_PATIENCE_S = 30


class EchoHandler(http.server.BaseHTTPRequestHandler):
    """Answers every request with the headers it received, as JSON. GET /api/v1/events is
    an event stream instead: one frame, then (after server.release is set, or STREAM_PATIENCE_S)
    a second one, so a test sees whether the first one got through before the stream ended."""

    protocol_version = "HTTP/1.1"

    def _stream(self):
        # Ended by closing the connection, not chunked: nginx flushes each upstream chunk
        # even when buffering, so only a close-delimited body shows whether it buffers.
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"id: 1-0\nevent: task.created\ndata: {}\n\n")
        self.wfile.flush()
        self.server.stream_waited_out = not self.server.release.wait(STREAM_PATIENCE_S)
        self.wfile.write(b"id: 2-0\nevent: task.updated\ndata: {}\n\n")
        self.wfile.flush()

    def _answer(self):
        if self.command == "GET" and self.path.startswith(EVENTS_PATH):
            self._stream()
            return
        length = int(self.headers.get("Content-Length") or 0)
        received = 0
        while received < length:
            block = self.rfile.read(min(1 << 20, length - received))
            if not block:
                break
            received += len(block)
        body = json.dumps({"headers": {k.lower(): v for k, v in self.headers.items()},
                           "version": self.request_version, "path": self.path,
                           "body_bytes": received}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def nginx_prefix():
    """nginx's prefix folder. Not pytest's tmp_path: its parents are private to this user,
    and nginx's workers (nobody, when started as root) must reach the temp folders."""
    path = Path(tempfile.mkdtemp(prefix="taskbus-nginx-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def nginx_in_front_of_echo(nginx_prefix):
    tmp_path = nginx_prefix
    backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
    backend.release = threading.Event()
    backend.stream_waited_out = None
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    port = free_port()
    conf = nginx_copy(tmp_path, f"127.0.0.1:{backend.server_address[1]}", listen=port)
    proc = subprocess.Popen(nginx_cmd(tmp_path, conf, "-g", f"daemon off; pid {tmp_path}/nginx.pid;"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            requests.get(base + "/nginx-health", timeout=1)
            break
        except requests.RequestException:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                out = proc.communicate()[0].decode(errors="replace")
                backend.shutdown()
                pytest.fail(f"nginx did not start: {out} {(tmp_path / 'error.log').read_text(errors='replace')}")
            time.sleep(0.1)
    try:
        yield base, backend
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        backend.shutdown()
        backend.server_close()


def test_nginx_forwards_client_address_and_request_id(nginx_in_front_of_echo):
    base, _ = nginx_in_front_of_echo
    rid = "deploy-test." + uuid.uuid4().hex
    r = requests.get(base + "/api/v1/users/me", headers={"X-Request-ID": rid, "X-Forwarded-For": "198.18.7.7"},
                     timeout=10)
    assert r.status_code == 200, r.text
    seen = r.json()
    assert seen["headers"]["x-request-id"] == rid
    # The client's claim is kept, and the real peer appended last (what TRUST_PROXY reads).
    assert seen["headers"]["x-forwarded-for"] == "198.18.7.7, 127.0.0.1"
    assert seen["version"] == "HTTP/1.1"
    assert seen["headers"].get("connection", "").lower() != "close", "upstream connections are not kept alive"

    r = requests.get(base + "/health", timeout=10)
    generated = r.json()["headers"].get("x-request-id", "")
    assert re.fullmatch(r"[0-9a-f]{32}", generated), f"nginx did not make a request id: {generated!r}"
    again = requests.get(base + "/health", timeout=10).json()["headers"]["x-request-id"]
    assert again != generated
    # An id the API would refuse is replaced here too, never passed on raw.
    for bad in ('x" , "evil": "1', "a" * 129, "has space"):
        got = requests.get(base + "/health", headers={"X-Request-ID": bad}, timeout=10).json()["headers"]
        assert re.fullmatch(r"[0-9a-f]{32}", got["x-request-id"]), (bad, got["x-request-id"])


def test_nginx_limits_bodies_to_1_mib_with_a_problem(nginx_in_front_of_echo):
    base, _ = nginx_in_front_of_echo
    hdrs = {"Content-Type": "application/json", "X-Request-ID": "deploy-413"}
    ok = requests.post(base + "/api/v1/auth/register", data=b" " * (1024 * 1024), headers=hdrs, timeout=30)
    assert ok.status_code == 200, "a body of exactly 1 MiB must reach the API"
    r = requests.post(base + "/api/v1/auth/register", data=b" " * (1024 * 1024 + 1), headers=hdrs, timeout=30)
    assert r.status_code == 413
    assert r.headers["Content-Type"].startswith("application/problem+json"), r.headers
    body = r.json()
    assert body["type"] == "/problems/payload-too-large" and body["status"] == 413, body
    assert body["request_id"] == "deploy-413" and r.headers.get("X-Request-ID") == "deploy-413"


def test_nginx_allows_16_mib_on_the_import_path_only(nginx_in_front_of_echo):
    base, _ = nginx_in_front_of_echo
    hdrs = {"Content-Type": "application/x-ndjson", "X-Request-ID": "deploy-import-413"}
    r = requests.post(base + IMPORT_PATH, data=b" " * IMPORT_MAX_BODY, headers=hdrs, timeout=60)
    assert r.status_code == 200, f"a 16 MiB import must reach the API: {r.status_code} {r.text[:200]}"
    assert r.json()["body_bytes"] == IMPORT_MAX_BODY and r.json()["path"] == IMPORT_PATH
    r = requests.post(base + IMPORT_PATH, data=b" " * (IMPORT_MAX_BODY + 1), headers=hdrs, timeout=60)
    assert r.status_code == 413, r.text[:200]
    assert r.headers["Content-Type"].startswith("application/problem+json"), r.headers
    body = r.json()
    assert body["type"] == "/problems/payload-too-large" and body["status"] == 413, body
    assert str(IMPORT_MAX_BODY) in body["detail"], body
    assert body["request_id"] == "deploy-import-413" and r.headers.get("X-Request-ID") == "deploy-import-413"
    # Only that path: its neighbours keep the 1 MiB limit.
    over = b" " * (1024 * 1024 + 1)
    for path in ("/api/v1/tasks", IMPORT_PATH + "/" + str(uuid.uuid4()), IMPORT_PATH + "x"):
        r = requests.post(base + path, data=over, headers={"Content-Type": "application/json"}, timeout=60)
        assert r.status_code == 413 and "1048576" in r.json()["detail"], (path, r.status_code, r.text[:200])


def test_nginx_passes_the_event_stream_unbuffered(nginx_in_front_of_echo):
    base, backend = nginx_in_front_of_echo
    started = time.monotonic()
    with requests.get(base + EVENTS_PATH, stream=True, timeout=2 * STREAM_PATIENCE_S,
                      headers={"Accept": "text/event-stream"}) as r:
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream"), r.headers
        chunks = r.iter_content(chunk_size=None)
        first = next(chunks)
        waited = time.monotonic() - started
        # The backend holds the rest until the first frame arrived here: a buffering proxy
        # would deliver nothing until the backend gave up waiting and ended.
        backend.release.set()
        rest = b"".join(chunks)
    assert first.startswith(b"id: 1-0\n"), first
    assert b"id: 2-0" in first + rest, (first, rest)
    assert backend.stream_waited_out is False, f"the first frame took {waited:.1f}s: buffered"


def test_nginx_answers_503_problem_when_no_replica_answers(nginx_in_front_of_echo):
    base, backend = nginx_in_front_of_echo
    backend.shutdown()
    backend.server_close()
    r = requests.get(base + "/api/v1/users/me", timeout=30)
    assert r.status_code == 503, r.text
    assert r.headers["Content-Type"].startswith("application/problem+json"), r.headers
    body = r.json()
    assert body["type"] == "/problems/service-unavailable" and body["status"] == 503, body
    assert r.headers.get("Retry-After")


# ---------------------------------------------------------------- Helm


@pytest.fixture(scope="module")
def chart_values():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "taskbus", chart
    assert re.fullmatch(r"\d+\.\d+\.\d+(-[\w.]+)?", str(chart["version"])), chart["version"]
    assert chart.get("appVersion"), "Chart.yaml has no appVersion"
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert isinstance(values, dict)
    return values


def templates():
    files = sorted((CHART / "templates").glob("*"))
    assert files, "the chart has no templates"
    return {f.name: f.read_text() for f in files if f.is_file()}


def test_helm_templates_balance_and_reference_existing_values(chart_values):
    for name, text in templates().items():
        opens, closes = text.count("{{"), text.count("}}")
        assert opens == closes, f"{name}: {opens} '{{{{' but {closes} '}}}}'"
        actions = re.findall(r"\{\{-?\s*(.*?)\s*-?\}\}", text, re.S)
        assert len(actions) == opens, f"{name}: an action spans another"
        blocks = sum(1 for a in actions if re.match(r"(if|with|range|define|block)\b", a))
        ends = sum(1 for a in actions if re.fullmatch(r"end", a))
        assert blocks == ends, f"{name}: {blocks} blocks opened, {ends} ended"
        for ref in re.findall(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", text):
            node = chart_values
            for key in ref.strip(".").split("."):
                assert isinstance(node, dict) and key in node, f"{name}: .Values{ref} is not in values.yaml"
                node = node[key]


def test_helm_chart_has_the_workloads(chart_values):
    t = templates()
    every = "\n".join(t.values())
    kinds = re.findall(r"^kind:\s*(\w+)", every, re.M)
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Job", "Secret", "ConfigMap"):
        assert kind in kinds, f"the chart makes no {kind}"
    assert kinds.count("Deployment") >= 4, "API, relay, writer and importer Deployments"
    api = next(v for v in t.values() if re.search(r"kind:\s*Deployment", v) and "taskbus-api" in v)
    assert re.search(r"readinessProbe:\s*\n\s*httpGet:\s*\n\s*path:\s*/ready", api), "API readiness must probe /ready"
    assert re.search(r"livenessProbe:\s*\n\s*httpGet:\s*\n\s*path:\s*/health", api), "API liveness must probe /health"
    assert re.search(r"preStop:\s*\n\s*exec:\s*\n\s*command:\s*\[\"sleep\"", api), "no preStop sleep"
    assert "maxUnavailable: 0" in api, "a rolling update must not drop capacity"
    for binary in ("taskbus-relay", "taskbus-writer", "taskbus-importer"):
        dep = next((v for v in t.values() if re.search(r"kind:\s*Deployment", v)
                    and re.search(rf'command:\s*\["{binary}"\]', v)), None)
        assert dep, f"no Deployment runs {binary}"
        assert "replicas:" in dep and 'include "taskbus.envFrom"' in dep, f"{binary}: replicas, shared environment"
        assert "terminationGracePeriodSeconds" in dep and "resources:" in dep, binary
    # The issue-4 daemons share one Deployment template (taskbus.workerDeployment).
    for component, binary in STREAM_DAEMONS.items():
        dep = t.get(f"{component}-deployment.yaml", "")
        assert re.search(rf'include "taskbus.workerDeployment".*"binary" "{binary}"', dep), f"no Deployment runs {binary}"
        assert f".Values.{component}.enabled" in dep and component in chart_values, component
        for key in ("replicaCount", "resources", "terminationGracePeriodSeconds"):
            assert key in chart_values[component], f"values.yaml {component} lacks {key}"
    helpers = t["_helpers.tpl"]
    assert "replicas:" in helpers and 'include "taskbus.envFrom"' in helpers and "resources:" in helpers
    job = next(v for v in t.values() if re.search(r"kind:\s*Job", v))
    assert re.search(r"helm\.sh/hook:\s*pre-install,\s*pre-upgrade", job), "the migration job must be a pre-install/pre-upgrade hook"
    assert '"taskbus-admin", "migrate"' in job and '"taskbus-admin", "topics"' in job
    assert job.index('"migrate"') < job.index('"topics"'), "topics after migrations"
    # Anything the pre-install job reads must exist before it: hooks of a lower weight.
    for kind in ("Secret", "ConfigMap"):
        src = next(v for v in t.values() if re.search(rf"^kind:\s*{kind}", v, re.M))
        w = re.search(r"helm\.sh/hook-weight:\s*\"(-?\d+)\"", src)
        jw = re.search(r"helm\.sh/hook-weight:\s*\"(-?\d+)\"", job)
        assert "pre-install" in src and w and jw and int(w.group(1)) < int(jw.group(1)), (
            f"the {kind} must be a pre-install hook created before the migration job")


def test_helm_environment_is_real_configuration(chart_values, config_vars):
    t = templates()
    config = chart_values["config"]
    unknown = set(config) - config_vars
    assert not unknown, f"values.yaml config sets variables no binary reads: {sorted(unknown)}"
    assert not {"TASKBUS_JWT_SECRET", "DATABASE_URL", "DATABASE_READ_URL"} & set(config), "secrets belong in the Secret"
    secret = next(v for v in t.values() if re.search(r"^kind:\s*Secret", v, re.M))
    for key in re.findall(r"^\s+([A-Z][A-Z0-9_]+):", secret, re.M):
        assert key in config_vars, f"the Secret sets {key}, which no binary reads"
    assert re.search(r"^\s+TASKBUS_JWT_SECRET:", secret, re.M) and re.search(r"^\s+DATABASE_URL:", secret, re.M)
    for name, text in t.items():
        for var in re.findall(r"-\s*name:\s*([A-Z][A-Z0-9_]+)\s*$", text, re.M):
            assert var in config_vars, f"{name} sets {var}, which no binary reads"
    assert chart_values["secrets"]["jwtSecret"] == "", "no JWT secret may be committed in values.yaml"


def test_helm_lints_and_renders(tmp_path):
    # tests/run builds a pinned helm once (compose/lib/helm.sh) and passes it here.
    helm = os.environ.get("TASKBUS_HELM") or shutil.which("helm")
    assert helm and os.access(helm, os.X_OK), "no helm binary: tests/run builds one (compose/lib/helm.sh)"
    sets = ["--kube-version", "1.29.0", "--set", "secrets.jwtSecret=" + "x" * 40,
            "--set", "secrets.databaseUrl=postgresql://u:p@db/taskbus"]
    r = subprocess.run([helm, "lint", "--strict", str(CHART), *sets], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([helm, "template", "t", str(CHART), *sets], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    docs = [d for d in yaml.safe_load_all(r.stdout) if d]
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "HorizontalPodAutoscaler",
                                         "PodDisruptionBudget", "Job", "Secret", "ConfigMap"}
    r = subprocess.run([helm, "template", "t", str(CHART), "--kube-version", "1.29.0"], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "jwtSecret" in r.stderr, "the chart must refuse to render without a JWT secret"
    check_rendered_daemons(docs)
    # The SMTP URL (it may carry a password) goes to the Secret, never the ConfigMap.
    smtp = "smtp://mailer:s3cret@relay.example.com:587"
    r = subprocess.run([helm, "template", "t", str(CHART), *sets, "--set", "secrets.smtpUrl=" + smtp],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rendered = [d for d in yaml.safe_load_all(r.stdout) if d]
    assert next(d for d in rendered if d["kind"] == "Secret")["stringData"].get("TASKBUS_SMTP_URL") == smtp
    assert "TASKBUS_SMTP_URL" not in next(d for d in rendered if d["kind"] == "ConfigMap")["data"]
    # A claim of one's own replaces the chart's.
    r = subprocess.run([helm, "template", "t", str(CHART), *sets, "--set", "reports.persistence.existingClaim=nfs-reports"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rendered = [d for d in yaml.safe_load_all(r.stdout) if d]
    assert not [d for d in rendered if d["kind"] == "PersistentVolumeClaim"]
    claims = {v["persistentVolumeClaim"]["claimName"] for d in rendered if d["kind"] == "Deployment"
              for v in d["spec"]["template"]["spec"].get("volumes", []) if "persistentVolumeClaim" in v}
    assert claims == {"nfs-reports"}, claims
    # A writer beyond the partition count would sit idle in its consumer group.
    r = subprocess.run([helm, "template", "t", str(CHART), *sets, "--set", "writer.replicaCount=7"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "TASKBUS_KAFKA_PARTITIONS" in r.stderr, "7 writers over 6 partitions must be refused"
    r = subprocess.run([helm, "template", "t", str(CHART), *sets, "--set", "writer.replicaCount=7",
                        "--set-string", "config.TASKBUS_KAFKA_PARTITIONS=12"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    writer = next(d for d in yaml.safe_load_all(r.stdout) if d and d["kind"] == "Deployment"
                  and d["spec"]["template"]["spec"]["containers"][0]["command"] == ["taskbus-writer"])
    assert writer["spec"]["replicas"] == 7


def check_rendered_daemons(docs):
    """The rendered Deployments: one per daemon, each with the shared ConfigMap and Secret."""
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    secret = next(d for d in docs if d["kind"] == "Secret")
    data = config["data"]
    assert data.get("TASKBUS_IMPORT_MAX_BODY_BYTES") == str(IMPORT_MAX_BODY), data
    assert data.get("TASKBUS_WRITER_TOPIC") == data.get("TASKBUS_IMPORT_TOPIC") == "task-commands", data
    assert int(data.get("TASKBUS_IMPORT_MAX_RATE", "0")) >= 1, data
    deployments = {}
    for d in docs:
        if d["kind"] != "Deployment":
            continue
        (container,) = d["spec"]["template"]["spec"]["containers"]
        deployments[container["command"][0]] = (d, container)
    assert set(deployments) == {"taskbus-api", "taskbus-relay", "taskbus-writer", "taskbus-importer",
                                *STREAM_DAEMONS.values()}, set(deployments)
    for binary, (d, c) in deployments.items():
        refs = {(k, v["name"]) for src in c.get("envFrom", []) for k, v in src.items()}
        assert refs == {("configMapRef", config["metadata"]["name"]), ("secretRef", secret["metadata"]["name"])}, (
            f"{binary} does not take the shared environment: {refs}")
        res = c.get("resources") or {}
        assert res.get("requests", {}).get("memory") and res.get("limits", {}).get("memory"), f"{binary}: {res}"
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"].get("runAsNonRoot") is True, binary
        assert c["securityContext"].get("readOnlyRootFilesystem") is True, binary
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert all(labels.get(k) == v for k, v in d["spec"]["selector"]["matchLabels"].items()), binary
        assert "checksum/config" in d["spec"]["template"]["metadata"].get("annotations", {}), (
            f"{binary} pods must roll when the configuration changes")
    partitions = int(data["TASKBUS_KAFKA_PARTITIONS"])
    writers = deployments["taskbus-writer"][0]["spec"]["replicas"]
    assert 2 <= writers <= partitions, f"{writers} writers over {partitions} partitions"
    assert deployments["taskbus-importer"][0]["spec"]["replicas"] >= 1
    for binary in STREAM_DAEMONS.values():
        assert deployments[binary][0]["spec"]["replicas"] >= 1, binary
    for var in ("TASKBUS_PUBLIC_URL", "TASKBUS_SMTP_FROM", "TASKBUS_REPORTS_DIR", "TASKBUS_REMINDER_LEAD_SECONDS",
                "TASKBUS_SCHEDULER_INTERVAL_MS", "TASKBUS_WEBHOOK_MAX_ATTEMPTS", "TASKBUS_NOTIFY_MAX_ATTEMPTS"):
        assert data.get(var), f"the ConfigMap lacks {var}"
    assert "TASKBUS_SMTP_URL" not in data, "the SMTP URL may hold a password: it belongs in the Secret"
    # The API reads (read-only) what the reporter writes: the same claim, at TASKBUS_REPORTS_DIR.
    (pvc,) = [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    assert "ReadWriteMany" in pvc["spec"]["accessModes"], "pods on different nodes share the reports"
    mounts = {}
    for binary in ("taskbus-api", "taskbus-reporter"):
        d, c = deployments[binary]
        vols = {v["name"]: v for v in d["spec"]["template"]["spec"].get("volumes", [])}
        (m,) = [m for m in c.get("volumeMounts", []) if m["mountPath"] == data["TASKBUS_REPORTS_DIR"]]
        mounts[binary] = (vols[m["name"]].get("persistentVolumeClaim", {}).get("claimName"), m.get("readOnly", False))
    assert mounts == {"taskbus-api": (pvc["metadata"]["name"], True),
                      "taskbus-reporter": (pvc["metadata"]["name"], False)}, mounts


# ---------------------------------------------------------------- OpenAPI


@pytest.fixture(scope="module")
def openapi():
    return json.loads(OPENAPI.read_text())


def test_openapi_is_a_valid_3_1_document(openapi):
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

    assert openapi["openapi"].startswith("3.1."), openapi["openapi"]
    validate(openapi)
    # The validator must be able to say no: a broken copy is refused.
    broken = json.loads(json.dumps(openapi))
    broken["paths"]["/health"]["get"]["responses"]["200"] = {"content": {}}  # no description
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_openapi_documents_the_endpoints(openapi):
    paths = openapi["paths"]
    for path, methods in EXPECTED_PATHS.items():
        assert path in paths, f"openapi.json lacks {path}"
        assert methods <= set(paths[path]), f"{path}: documents {set(paths[path]) & HTTP_METHODS}, expected {methods}"
    comps = openapi["components"]
    assert comps["securitySchemes"]["bearerAuth"] == {**comps["securitySchemes"]["bearerAuth"],
                                                      "type": "http", "scheme": "bearer"}
    for h in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After", "X-Request-ID"):
        assert h in comps["headers"], f"no {h} header component"
    assert {"type", "title", "status"} <= set(comps["schemas"]["Problem"]["required"])

    def resolve(obj):
        while "$ref" in obj:
            kind, name = obj["$ref"].split("/")[-2:]
            obj = comps[kind][name]
        return obj

    for path, item in paths.items():
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            public = op.get("security", openapi.get("security")) == []
            codes = set(op["responses"])
            if not public:
                assert "401" in codes, f"{method.upper()} {path} needs a token but documents no 401"
            if "requestBody" in op:
                content = resolve(op["requestBody"])["content"]
                allowed = {"application/json"} | EXTRA_BODY_TYPES.get((method, path), set())
                assert set(content) == allowed, f"{method.upper()} {path}: {list(content)}, expected {allowed}"
                for media, spec in content.items():
                    schema = resolve(spec["schema"])
                    # An array body (import) or a line-per-item body (NDJSON) names its item;
                    # an array whose invalid items are reported rather than refused (the
                    # import) names it in x-item-schema, its items accepting any JSON value.
                    if schema.get("type") == "array":
                        assert 1 <= schema.get("maxItems", 0) <= 10000, (path, media)
                        schema = resolve(schema.get("x-item-schema", schema["items"]))
                    elif media == "application/x-ndjson":
                        assert schema.get("type") == "string", (path, media)
                        schema = resolve(schema["x-item-schema"])
                    assert schema.get("type") == "object" and schema.get("additionalProperties") is False, (path, media)
                assert {"400", "413", "415", "422"} <= codes, f"{method.upper()} {path} misses body errors"
            for code, resp in op["responses"].items():
                resp = resolve(resp)
                assert "X-Request-ID" in resp.get("headers", {}), f"{method.upper()} {path} {code} lacks X-Request-ID"
                if code.startswith(("4", "5")) and path.startswith("/api/"):
                    assert "application/problem+json" in resp.get("content", {}), f"{method.upper()} {path} {code}"
            if path.startswith("/api/"):
                assert "429" in codes, f"{method.upper()} {path} documents no 429"
                ok = resolve(op["responses"][min(c for c in codes if c.startswith("2"))])
                assert "RateLimit-Remaining" in ok["headers"], f"{method.upper()} {path} success lacks RateLimit headers"


def op_headers(openapi, method, path, code):
    """The header names a documented response carries, and the operation's parameters."""
    comps = openapi["components"]

    def resolve(obj):
        while "$ref" in obj:
            kind, name = obj["$ref"].split("/")[-2:]
            obj = comps[kind][name]
        return obj

    item = openapi["paths"][path]
    resp = resolve(item[method]["responses"][code])
    params = [resolve(p) for p in item.get("parameters", []) + item[method].get("parameters", [])]
    return set(resp.get("headers", {})), {(p["in"], p["name"]) for p in params}, resp


def test_openapi_documents_the_task_endpoints(openapi):
    comps = openapi["components"]
    for h in ("ETag", "Location", "Content-Location", "Preference-Applied", "Idempotent-Replayed"):
        assert h in comps["headers"], f"no {h} header component"
    for s in ("Task", "TaskList", "TaskStats", "CommandStatus", "ImportReport", "Problem",
              "TaskCreateRequest", "TaskPatchRequest"):
        assert s in comps["schemas"], f"no {s} schema"
    task = comps["schemas"]["Task"]
    assert set(task["required"]) == {"id", "title", "description", "status", "priority", "due_at", "tags",
                                     "created_at", "updated_at", "completed_at", "version"}
    create = comps["schemas"]["TaskCreateRequest"]
    assert create["required"] == ["title"] and set(create["properties"]) == set(task["required"]) - {
        "id", "created_at", "updated_at", "completed_at", "version"}
    # Every status each handler can answer, and nothing it cannot.
    for (method, path), expected in TASK_STATUS_CODES.items():
        got = set(openapi["paths"][path][method]["responses"])
        assert got == expected, f"{method.upper()} {path}: documents {sorted(got)}, answers {sorted(expected)}"

    def schema_of(method, path, code, media="application/json"):
        return op_headers(openapi, method, path, code)[2]["content"][media]["schema"]

    for method, path, code, name in (("get", "/api/v1/tasks", "200", "TaskList"),
                                     ("get", "/api/v1/tasks/{id}", "200", "Task"),
                                     ("post", "/api/v1/tasks", "201", "Task"),
                                     ("patch", "/api/v1/tasks/{id}", "200", "Task"),
                                     ("get", "/api/v1/tasks/stats", "200", "TaskStats"),
                                     ("get", "/api/v1/commands/{id}", "200", "CommandStatus"),
                                     ("post", "/api/v1/tasks/import", "202", "ImportReport")):
        assert schema_of(method, path, code) == {"$ref": f"#/components/schemas/{name}"}, (method, path, code)
    assert "text/event-stream" in op_headers(openapi, "get", EVENTS_PATH, "200")[2]["content"]

    def has(method, path, code, headers=(), params=()):
        hs, ps, _ = op_headers(openapi, method, path, code)
        assert set(headers) <= hs, f"{method.upper()} {path} {code} lacks headers {set(headers) - hs}"
        assert {("header", p) for p in params} <= ps, f"{method.upper()} {path} lacks parameters {params}"

    has("post", "/api/v1/tasks", "202", ("Location", "Content-Location", "ETag", "Idempotent-Replayed"),
        ("Prefer", "Idempotency-Key"))
    has("post", "/api/v1/tasks", "201", ("Location", "ETag", "Preference-Applied"))
    has("patch", "/api/v1/tasks/{id}", "202", ("Location", "Content-Location", "ETag"), ("If-Match", "Prefer"))
    has("patch", "/api/v1/tasks/{id}", "200", ("ETag", "Preference-Applied"))
    has("patch", "/api/v1/tasks/{id}", "412", ("ETag",))
    has("delete", "/api/v1/tasks/{id}", "202", ("Content-Location",), ("If-Match", "Prefer"))
    has("delete", "/api/v1/tasks/{id}", "204", ("Preference-Applied", "RateLimit-Remaining"))
    has("get", "/api/v1/tasks/{id}", "200", ("ETag",), ("If-None-Match",))
    has("get", "/api/v1/tasks/{id}", "304", ("ETag",))
    has("post", IMPORT_PATH, "202", ("Location", "Idempotent-Replayed"), ("Idempotency-Key",))
    has("post", IMPORT_PATH, "409", ("Retry-After",))
    has("get", EVENTS_PATH, "200", (), ("Last-Event-ID",))
    for method, path in TASK_STATUS_CODES:
        has(method, path, "429", ("Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"))
    # The list's query parameters, each one the parser knows.
    _, params, _ = op_headers(openapi, "get", "/api/v1/tasks", "200")
    assert {n for i, n in params if i == "query"} == {"status", "priority", "tag", "due_before", "due_after",
                                                      "q", "sort", "limit", "cursor"}, params


def test_openapi_documents_the_stream_endpoints(openapi):
    comps = openapi["components"]
    # Every status each handler can answer, and nothing it cannot.
    for (method, path), expected in STREAM_STATUS_CODES.items():
        got = set(openapi["paths"][path][method]["responses"])
        assert got == expected, f"{method.upper()} {path}: documents {sorted(got)}, answers {sorted(expected)}"
        hs, _, _ = op_headers(openapi, method, path, "429")
        assert {"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= hs, (method, path)
    assert openapi["paths"]["/api/v1/auth/verify"]["get"]["security"] == [], "the e-mail link carries no token"
    for method, path, code, name in (("get", "/api/v1/auth/verify", "200", "EmailVerified"),
                                     ("post", "/api/v1/webhooks", "201", "WebhookCreated"),
                                     ("get", "/api/v1/webhooks", "200", "WebhookList"),
                                     ("get", "/api/v1/webhooks/{id}/deliveries", "200", "WebhookDeliveryPage"),
                                     ("post", "/api/v1/reports", "202", "Report"),
                                     ("get", "/api/v1/reports", "200", "ReportList"),
                                     ("get", "/api/v1/reports/{id}", "200", "Report"),
                                     ("get", "/api/v1/analytics/daily", "200", "AnalyticsDaily"),
                                     ("get", "/api/v1/activity", "200", "ActivityPage")):
        schema = op_headers(openapi, method, path, code)[2]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{name}"}, (method, path, code)
    # The secret is in the 201 only; a listed webhook has none.
    assert "secret" not in comps["schemas"]["Webhook"]["properties"]
    created = schema_validator(openapi, {"$ref": "#/components/schemas/WebhookCreated"})
    hook = {"id": str(uuid.uuid4()), "url": "https://example.com/h", "event_types": ["taskbus.task.*"],
            "enabled": True, "created_at": "2026-01-02T03:04:05.000Z", "failing_since": None,
            "disabled_at": None, "disabled_reason": None}
    assert not list(created.iter_errors({**hook, "secret": "A" * 43}))
    assert list(created.iter_errors(hook)), "a 201 without its secret must not match"
    assert "Location" in op_headers(openapi, "post", "/api/v1/reports", "202")[0]
    hs, _, dl = op_headers(openapi, "get", "/api/v1/reports/{id}/download", "200")
    assert "Content-Disposition" in hs and {"text/csv", "application/json"} <= set(dl["content"])
    for path, names in (("/api/v1/analytics/daily", {"from", "to"}), ("/api/v1/activity", {"limit", "cursor"}),
                        ("/api/v1/reports", {"limit", "cursor"}), ("/api/v1/webhooks/{id}/deliveries", {"limit", "cursor"}),
                        ("/api/v1/auth/verify", {"token"})):
        _, params, _ = op_headers(openapi, "get", path, "200")
        assert {n for i, n in params if i == "query"} == names, (path, params)
    for name in ("WebhookCreateRequest", "ReportCreateRequest"):
        body = comps["schemas"][name]
        assert body["additionalProperties"] is False, name
    assert set(comps["schemas"]["ReportCreateRequest"]["properties"]) == {"format", "filters"}
    assert set(comps["schemas"]["ReportFilters"]["properties"]) == {"status", "priority", "tag", "due_before",
                                                                   "due_after", "q"}


def schema_validator(openapi, schema):
    """A JSON Schema 2020-12 validator of schema, whose refs resolve in openapi's components."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator({**schema, "components": openapi["components"]})


def check_answer(openapi, method, path, r):
    """r is documented for this operation, and its JSON body matches the documented schema."""
    item = openapi["paths"][path]
    documented = set(item[method]["responses"])
    label = f"{method.upper()} {path}"
    assert r.status_code not in (405, 500), f"{label} answered {r.status_code}: {r.text[:300]}"
    assert r.headers.get("X-Request-ID"), f"{label}: no X-Request-ID"
    assert str(r.status_code) in documented or "default" in documented, (
        f"{label} answered {r.status_code}, documented {sorted(documented)}: {r.text[:300]}")
    if str(r.status_code) not in documented:
        return
    _, _, resp = op_headers(openapi, method, path, str(r.status_code))
    media = r.headers.get("Content-Type", "").split(";")[0].strip()
    content = resp.get("content", {})
    if not content:
        return
    assert media in content, f"{label} {r.status_code} answered {media}, documented {list(content)}"
    if media.endswith("json"):
        errors = sorted(schema_validator(openapi, content[media]["schema"]).iter_errors(r.json()), key=str)
        assert not errors, f"{label} {r.status_code}: the body does not match its schema: {errors[0].message}"


def test_every_documented_path_is_served(openapi):
    base = os.environ.get("TASKBUS_API_URL")
    if not base:
        pytest.fail("TASKBUS_API_URL is not set: run through tests/run (or eval \"$(compose/local env)\")",
                    pytrace=False)
    base = base.rstrip("/")
    s = requests.Session()
    # An address of our own (only a header) so this test's requests use their own buckets.
    s.headers["X-Forwarded-For"] = fresh_ip()
    r = s.get(base + "/api/v1/no-such-route-" + uuid.uuid4().hex, timeout=30)
    assert r.status_code == 404, "an unknown path must answer 404, or this check proves nothing"
    # Without a token: public paths answer, every other one is 401 (before its id matters).
    for path, item in openapi["paths"].items():
        for method in set(item) & HTTP_METHODS:
            kw = {"json": {}} if "requestBody" in item[method] else {}
            with s.request(method.upper(), base + path, timeout=30, stream=True, **kw) as r:
                assert r.status_code not in (404, 405), f"{method.upper()} {path} answered {r.status_code}: {r.text[:300]}"
                check_answer(openapi, method, path, r)
                if item[method].get("security", openapi.get("security")) != []:
                    assert r.status_code == 401, f"{method.upper()} {path} without a token: {r.status_code}"

    # With a real user's token, outside the session endpoints (logout would end it): every
    # path is served, and a random id is the documented 404. Bodies are empty objects, so
    # nothing is created (a task needs a title; an import, an array).
    user = register_user(base, "deploy-openapi")
    auth = {"Authorization": f"Bearer {user.access}"}
    served = 0
    for path, item in openapi["paths"].items():
        if path.startswith("/api/v1/auth/"):
            continue
        for method in set(item) & HTTP_METHODS:
            if item[method].get("security", openapi.get("security")) == []:
                continue
            url = base + path.replace("{id}", str(uuid.uuid4()))
            kw = {"json": {}} if "requestBody" in item[method] else {}
            with s.request(method.upper(), url, headers=auth, timeout=30, stream=True, **kw) as r:
                check_answer(openapi, method, path, r)
                if "{id}" in path:
                    assert r.status_code == 404, f"{method.upper()} {path} with a random id: {r.status_code} {r.text[:300]}"
                else:
                    assert r.status_code not in (401, 404), (
                        f"{method.upper()} {path} with a token answered {r.status_code}: {r.text[:300]}")
                served += 1
    assert served >= len(TASK_STATUS_CODES), served


def test_the_api_serves_this_document(openapi):
    base = os.environ.get("TASKBUS_API_URL")
    if not base:
        pytest.fail("TASKBUS_API_URL is not set", pytrace=False)
    r = requests.get(base.rstrip("/") + "/openapi.json", timeout=30,
                     headers={"X-Forwarded-For": fresh_ip()})
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    assert r.json() == openapi, "GET /openapi.json differs from schemas/openapi.json"
