"""The deployment files as the deploy tests read them (tests/integration/test_deploy_*.py).

Owns: where the files are (compose/docker-compose.yml, compose/Dockerfile, compose/nginx.conf,
the Helm chart helm/taskbus, schemas/openapi.json), the facts several of those tests share
(the daemons and their binaries, the import path and its 16 MiB body limit, the event
stream's path), the environment variables the binaries read (the `config_vars` fixture),
the parsed compose file (the `compose` fixture) and the parsers of each file's syntax:
a compose service's environment, start order and volumes, the Dockerfile's stages and apt
packages, nginx sizes, times and exact-match locations.
Rules: every environment variable these files give a taskbus binary must be one the
binaries read: the list comes from `$TASKBUS_BUILD_DIR/taskbus-api --help`, or from the
table in docs/decisions.md when no binary was built. Nothing here needs a stack; a file
that cannot be parsed FAILS the test that asked for it. A test module takes the fixtures
by importing them (`from helpers.deploy_files import compose, config_vars`).
"""

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from helpers.stack_control import repo_root

REPO = Path(repo_root())
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


# ---------------------------------------------------------------- compose


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


# ---------------------------------------------------------------- Dockerfile


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


# ---------------------------------------------------------------- nginx


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
