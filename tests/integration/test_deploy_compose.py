"""compose/docker-compose.yml, checked without a Docker engine.

Owns: the services and their images, the start order (depends_on conditions, no cycles),
the migrate job, the writer and importer daemons, the issue-4 daemons with the Mailpit SMTP
catcher the notifier sends to and the reports volume the API and the reporter share, two
API replicas behind nginx on 8080, and an environment that is real configuration.
Issue 11: a healthcheck on every service (the one-shot migrate job excepted), every
image but the one built here pinned to an exact version, and the `monitoring` profile
(Prometheus with the chart's rule file, Grafana with the dashboard).
Rules: every environment variable the file gives a taskbus binary must be one the binaries
read (helpers/deploy_files.py, `config_vars`).
"""

import re
from urllib.parse import urlsplit

import pytest
import yaml

from helpers.deploy_files import (COMPOSE_DIR, DAEMON_SERVICES, DOCKERFILE, IMPORT_MAX_BODY, REPO, STREAM_DAEMONS,
                                  TASKBUS_SERVICES, depends_of, env_of, volume_mounts)
from helpers.deploy_files import compose, config_vars  # noqa: F401 (fixtures)
from helpers.monitoring import DAEMON_PORT_OFFSETS, DASHBOARD, METRICS_BASE_PORT, PROMETHEUS_CONFIG, RULES

pytestmark = pytest.mark.stack_independent


def test_compose_has_the_services_and_images(compose):
    services = compose["services"]
    for name in ("postgres", "redis", "kafka", "nginx", *TASKBUS_SERVICES):
        assert name in services, f"docker-compose.yml has no service {name}"
    # The releases compose/local runs from Debian 12: Postgres 15, Redis 7.0.
    assert re.fullmatch(r"postgres:15\.\d+(-\S+)?", services["postgres"]["image"]), services["postgres"]["image"]
    assert re.fullmatch(r"redis:7\.0\.\d+(-\S+)?", services["redis"]["image"]), services["redis"]["image"]
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


def check_background_daemon(name, svc, api_env, also_shared=()):
    """A daemon without an HTTP port (writer, importer, the issue-4 daemons) as compose runs it:
    no health probe, restarted, no published port or fixed name (replicas), started after
    Kafka is healthy, time to finish its work on SIGTERM, and the API's Kafka cluster and
    database (plus the variables in also_shared)."""
    # /health on the daemon's own metrics port (the image's HEALTHCHECK probes the API's).
    test = " ".join((svc.get("healthcheck") or {}).get("test") or [])
    port = METRICS_BASE_PORT + DAEMON_PORT_OFFSETS[name]
    assert re.search(rf"\bcurl -fsS\b.*http://127\.0\.0\.1:{port}/health\b", test), (
        f"{name} must probe /health on its metrics port {port}: {test}")
    assert svc.get("restart") in ("unless-stopped", "always", "on-failure"), f"{name} is not restarted"
    assert not svc.get("ports") and not svc.get("container_name"), name
    assert depends_of(svc).get("kafka", {}).get("condition") == "service_healthy", f"{name} must wait for Kafka"
    grace = str(svc.get("stop_grace_period", "10s"))
    assert re.fullmatch(r"\d+s", grace) and int(grace[:-1]) >= 20, f"{name}: SIGTERM needs time to finish its work"
    env = env_of(svc)
    # One Kafka cluster and one database for every daemon.
    for var in ("DATABASE_URL", "REDIS_URL", "KAFKA_BROKERS", "TASKBUS_KAFKA_PARTITIONS", *also_shared):
        assert env.get(var) == api_env.get(var), f"{name}: {var} differs from the API's"


def test_compose_runs_the_writer_and_importer(compose):
    services = compose["services"]
    shared = env_of(services["api"])
    partitions = int(shared.get("TASKBUS_KAFKA_PARTITIONS", "6"))
    for name in ("writer", "importer"):
        check_background_daemon(name, services[name], shared)
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


def test_compose_runs_the_stream_daemons(compose, config_vars):
    services = compose["services"]
    shared = env_of(services["api"])
    for name in STREAM_DAEMONS:
        svc = services[name]
        check_background_daemon(name, svc, shared, also_shared=("TASKBUS_PUBLIC_URL",))
        assert ((svc.get("deploy") or {}).get("resources") or {}).get("limits", {}).get("memory"), name
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


def test_compose_every_service_has_a_healthcheck(compose):
    services = compose["services"]
    for name, svc in services.items():
        hc = svc.get("healthcheck") or {}
        if name == "migrate":
            # A one-shot job: the image's HEALTHCHECK (the API's port) would mark it unhealthy.
            assert hc.get("disable") is True and str(svc.get("restart")) == "no", name
            continue
        assert not hc.get("disable") and hc.get("test"), f"{name} has no healthcheck"
        assert hc["test"][0] in ("CMD", "CMD-SHELL"), f"{name}: {hc['test']}"
        for key in ("interval", "timeout", "retries"):
            assert hc.get(key), f"{name}: healthcheck without {key}"
    for name in DAEMON_SERVICES:
        port = METRICS_BASE_PORT + DAEMON_PORT_OFFSETS[name]
        test = " ".join(services[name]["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}/health" in test, f"{name} must probe /health on its metrics port {port}"
    api = services["api"]["healthcheck"]["test"]
    assert "http://127.0.0.1:8080/health" in " ".join(api), api
    nginx = " ".join(services["nginx"]["healthcheck"]["test"])
    assert "/nginx-health" in nginx and "location = /nginx-health" in (COMPOSE_DIR / "nginx.conf").read_text()


def test_compose_images_are_pinned(compose):
    built = {svc["image"] for svc in compose["services"].values() if svc.get("build")}
    assert len(built) == 1, built
    for name, svc in compose["services"].items():
        image = svc["image"]
        if image in built:
            continue
        repo, _, tag = image.rpartition(":")
        assert repo and "/" not in tag, f"{name}: {image} has no tag"
        # An exact release: at least major.minor (patch where the project has one), never
        # a moving tag such as latest, 15 or 7.
        assert re.fullmatch(r"v?\d+\.\d+(\.\d+)?(-[\w.]+)?", tag), f"{name}: {image} is not pinned to a release"
        assert "latest" not in tag, image


def test_compose_monitoring_profile(compose):
    services = compose["services"]
    prom, graf = services["prometheus"], services["grafana"]
    for name, svc in (("prometheus", prom), ("grafana", graf)):
        assert svc.get("profiles") == ["monitoring"], f"{name} must start only with --profile monitoring"
        assert all(str(p).startswith("127.0.0.1:") for p in svc.get("ports", [])), f"{name} is for this host only"
    mounts = volume_mounts(prom)
    conf_dir = "/etc/prometheus"
    assert (COMPOSE_DIR / mounts[f"{conf_dir}/prometheus.yml"]).resolve() == PROMETHEUS_CONFIG.resolve()
    # prometheus.yml loads its rule file from beside itself: the chart's one copy.
    assert (COMPOSE_DIR / mounts[f"{conf_dir}/{RULES.name}"]).resolve() == RULES.resolve()
    # Every taskbus service is a scrape target at the port it listens on.
    cfg = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    for job in cfg["scrape_configs"]:
        (sd,) = job["dns_sd_configs"]
        (host,) = sd["names"]
        assert host in services and job["job_name"] == f"taskbus-{host}", job
    # Prometheus's release is the one whose promtool tests the rules (Debian 12's).
    assert re.fullmatch(r"prom/prometheus:v2\.42\.\d+", prom["image"]), prom["image"]
    # Grafana: the provisioned datasource is this Prometheus, the dashboard is mounted
    # where the provisioned provider reads.
    gmounts = volume_mounts(graf)
    prov = COMPOSE_DIR / gmounts["/etc/grafana/provisioning"]
    ds = yaml.safe_load((prov / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert [d["url"] for d in ds if d.get("isDefault")] == ["http://prometheus:9090"], ds
    (provider,) = yaml.safe_load((prov / "dashboards" / "taskbus.yml").read_text())["providers"]
    target = next(t for t, src in gmounts.items() if (COMPOSE_DIR / src).resolve() == DASHBOARD.resolve())
    assert target.rsplit("/", 1)[0] == provider["options"]["path"], (target, provider)
    assert depends_of(graf).get("prometheus", {}).get("condition") == "service_healthy"
