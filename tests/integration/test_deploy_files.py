"""The deployment files, checked without a Docker engine or a helm binary.

Owns: compose/docker-compose.yml (services, images, start order, environment), the
Dockerfile (non-root, health check, the same CMake build, the Debian packages the build
and the binaries really need), compose/nginx.conf (`nginx -t`, then a real nginx in front
of a small local backend: X-Forwarded-For, X-Request-ID, the 1 MiB limit, problem+json
when no replica answers), the Helm chart (parses, every .Values reference exists, balanced
template actions, probes, hooks, Secret vs ConfigMap) and schemas/openapi.json (valid
OpenAPI 3.1, and every path in it answered by the running API with something other than
404).
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
from helpers.api import fresh_ip

REPO = Path(os.environ.get("TASKBUS_REPO") or Path(__file__).resolve().parents[2])
COMPOSE_DIR = REPO / "compose"
CHART = REPO / "helm" / "taskbus"
OPENAPI = REPO / "schemas" / "openapi.json"
DOCKERFILE = COMPOSE_DIR / "Dockerfile"

CONFIG_VAR_RE = re.compile(r"\b(TASKBUS_[A-Z0-9_]+|DATABASE_URL|DATABASE_READ_URL|REDIS_URL|KAFKA_BROKERS)\b")
BINARIES = ("taskbus-api", "taskbus-relay", "taskbus-admin")
TASKBUS_SERVICES = ("migrate", "api", "relay")
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
    for n in ("api", "relay"):
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
    assert "taskbus-relay" in " ".join(compose["services"]["relay"]["command"])
    assert "taskbus-api" in " ".join(compose["services"]["api"]["command"])


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


def test_dockerfile_builds_the_binaries_with_the_repository_cmake():
    cmake = (REPO / "CMakeLists.txt").read_text()
    targets = set(re.findall(r"add_executable\((taskbus-[a-z]+)", cmake))
    for daemons in re.findall(r"foreach\(daemon\s+([^)]*)\)", cmake):
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
    m = re.search(r"client_max_body_size\s+(\d+)([kKmM]?)\s*;", text)
    assert m, "no client_max_body_size"
    limit = int(m.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2).lower()]
    assert limit == int(api_env.get("TASKBUS_MAX_BODY_BYTES", "1048576")) == 1048576
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


class EchoHandler(http.server.BaseHTTPRequestHandler):
    """Answers every request with the headers it received, as JSON."""

    protocol_version = "HTTP/1.1"

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps({"headers": {k.lower(): v for k, v in self.headers.items()},
                           "version": self.request_version, "path": self.path}).encode()
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
    assert kinds.count("Deployment") >= 2, "API and relay Deployments"
    api = next(v for v in t.values() if re.search(r"kind:\s*Deployment", v) and "taskbus-api" in v)
    assert re.search(r"readinessProbe:\s*\n\s*httpGet:\s*\n\s*path:\s*/ready", api), "API readiness must probe /ready"
    assert re.search(r"livenessProbe:\s*\n\s*httpGet:\s*\n\s*path:\s*/health", api), "API liveness must probe /health"
    assert re.search(r"preStop:\s*\n\s*exec:\s*\n\s*command:\s*\[\"sleep\"", api), "no preStop sleep"
    assert "maxUnavailable: 0" in api, "a rolling update must not drop capacity"
    relay = next(v for v in t.values() if re.search(r"kind:\s*Deployment", v) and "taskbus-relay" in v)
    assert "replicas:" in relay
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
                assert list(content) == ["application/json"], f"{method.upper()} {path}: {list(content)}"
                schema = resolve(content["application/json"]["schema"])
                assert schema.get("type") == "object" and schema.get("additionalProperties") is False, path
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
    for path, item in openapi["paths"].items():
        for method in set(item) & HTTP_METHODS:
            kw = {"json": {}} if "requestBody" in item[method] else {}
            r = s.request(method.upper(), base + path, timeout=30, **kw)
            assert r.status_code not in (404, 405), f"{method.upper()} {path} answered {r.status_code}: {r.text[:300]}"
            assert r.headers.get("X-Request-ID"), f"{method.upper()} {path}: no X-Request-ID"
            documented = set(item[method]["responses"])
            assert str(r.status_code) in documented or "default" in documented, (
                f"{method.upper()} {path} answered {r.status_code}, documented {sorted(documented)}: {r.text[:300]}")


def test_the_api_serves_this_document(openapi):
    base = os.environ.get("TASKBUS_API_URL")
    if not base:
        pytest.fail("TASKBUS_API_URL is not set", pytrace=False)
    r = requests.get(base.rstrip("/") + "/openapi.json", timeout=30,
                     headers={"X-Forwarded-For": fresh_ip()})
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    assert r.json() == openapi, "GET /openapi.json differs from schemas/openapi.json"
