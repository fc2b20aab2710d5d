"""compose/nginx.conf: `nginx -t`, then a real nginx in front of a small local backend.

Owns: the configuration's consistency with compose (upstream hosts and port, the 1 MiB body
limit and the 16 MiB one of the import path, timeouts, the upstream keep-alive pool), and
what a client sees through it: X-Forwarded-For and X-Request-ID passed on (a bad id
replaced), the 1 MiB limit and the 16 MiB one of the import path as problem+json 413, an
unbuffered event stream, problem+json 503 when no replica answers.
Rules: everything a test starts (nginx, the echo backend) it stops itself; nginx missing
FAILS the test (apt-get install nginx).
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

import pytest
import requests

from helpers.deploy_files import (COMPOSE_DIR, EVENTS_PATH, IMPORT_MAX_BODY, IMPORT_PATH, env_of, nginx_locations,
                                  nginx_seconds, nginx_size)
from helpers.deploy_files import compose, config_vars  # noqa: F401 (fixtures)

pytestmark = pytest.mark.stack_independent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


NGINX_ORIGIN = "https://app.nginx.test"  # the browser origins of the copies here
LONG_ORIGIN = "https://" + "a" * 200 + ".nginx.test"  # longer than nginx's default map bucket


def nginx_copy(tmp_path, backend, listen=None):
    """nginx.conf with the upstream pointed at backend (host:port) and its own prefix."""
    text = (COMPOSE_DIR / "nginx.conf").read_text()
    servers = re.findall(r"^\s*server\s+([A-Za-z0-9_.-]+):(\d+)", text, re.M)
    assert servers, "nginx.conf has no upstream server"
    text = re.sub(r"(^\s*server\s+)[A-Za-z0-9_.-]+:\d+", rf"\g<1>{backend}", text, flags=re.M)
    # `resolve` (re-resolving Docker's DNS name) is nginx 1.27.3+; Debian 12's is 1.22, and
    # the backend here is an address anyway.
    text = re.sub(r"^(\s*server\s+\S+.*?)\s+resolve\s*;", r"\1;", text, flags=re.M)
    if listen:
        text = re.sub(r"(^\s*listen\s+)\d+", rf"\g<1>127.0.0.1:{listen}", text, flags=re.M)
    # The browser origins of the answers nginx makes itself, written as the image's
    # entrypoint writes them (compose/nginx-cors-origins.sh), beside this copy.
    text = text.replace("/etc/nginx/taskbus-cors-origins*.conf", f"{tmp_path}/taskbus-cors-origins*.conf")
    subprocess.run(["sh", str(COMPOSE_DIR / "nginx-cors-origins.sh"), str(tmp_path / "taskbus-cors-origins.conf")],
                   env={**os.environ, "TASKBUS_CORS_ORIGINS": f"{NGINX_ORIGIN},{LONG_ORIGIN}"}, check=True)
    # The access log to a file the tests read (the image's goes to stdout).
    text = re.sub(r"(^\s*access_log\s+)/dev/stdout(\s+taskbus_json;)", rf"\g<1>{tmp_path}/access.log\2", text,
                  flags=re.M)
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
    # ... and before a stopping API closes its idle ones (issue 13: a POST nginx sent on a
    # connection the drain closed was answered 503), with a second's margin for timers.
    server_c = (COMPOSE_DIR.parent / "api" / "http_server.c").read_text()
    grace = re.search(r"#define IDLE_CLOSE_GRACE_MS (\d+)", server_c)
    assert grace, "api/http_server.c has no IDLE_CLOSE_GRACE_MS"
    assert (int(m.group(1)) + 1) * 1000 <= int(grace.group(1)), \
        "upstream keepalive_timeout must end a second before a stopping API's idle-close grace"


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
    backend.access_log = tmp_path / "access.log"
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


def test_answers_made_by_nginx_carry_the_cors_headers_of_a_listed_origin(nginx_in_front_of_echo):
    base, _ = nginx_in_front_of_echo
    big = b" " * (1024 * 1024 + 1)
    hdrs = {"Content-Type": "application/json"}
    r = requests.post(base + "/api/v1/tasks", data=big, headers={**hdrs, "Origin": NGINX_ORIGIN}, timeout=30)
    assert r.status_code == 413
    assert r.headers.get("Access-Control-Allow-Origin") == NGINX_ORIGIN, r.headers
    assert r.headers.get("Access-Control-Allow-Credentials") == "true", r.headers
    exposed = {h.strip().lower() for h in r.headers.get("Access-Control-Expose-Headers", "").split(",")}
    assert {"x-request-id", "retry-after", "ratelimit-remaining"} <= exposed, r.headers
    assert "Origin" in r.headers.get("Vary", ""), r.headers
    for origin in ("https://evil.nginx.test", NGINX_ORIGIN + ":8443", None):
        h = {**hdrs, "Origin": origin} if origin else hdrs
        r = requests.post(base + "/api/v1/tasks", data=big, headers=h, timeout=30)
        assert r.status_code == 413
        assert not [k for k in r.headers if k.lower().startswith("access-control-")], (origin, r.headers)
    # The API's own answers pass through as they are: the echo backend's carry no CORS.
    r = requests.get(base + "/health", headers={"Origin": NGINX_ORIGIN}, timeout=10)
    assert r.status_code == 200 and "Access-Control-Allow-Origin" not in r.headers, r.headers


def test_a_bad_cors_origin_stops_nginx_from_starting(tmp_path):
    for bad in ("*", "https://app.example.com/", "app.example.com", "https://a.example.com:0",
                "https://a.example.com:443", "https://a.example.com:99999", "https://a b.example.com",
                "https://ok.example.com"):
        r = subprocess.run(["sh", str(COMPOSE_DIR / "nginx-cors-origins.sh"), str(tmp_path / "o.conf")],
                           env={**os.environ, "TASKBUS_CORS_ORIGINS": f"https://ok.example.com,{bad}"},
                           capture_output=True, text=True)
        assert r.returncode == 1 and bad in r.stderr, (bad, r.stderr)  # the last one: listed twice
        assert not (tmp_path / "o.conf").exists()


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
    r = requests.get(base + "/api/v1/users/me", headers={"Origin": LONG_ORIGIN}, timeout=30)
    assert r.status_code == 503, r.text
    assert r.headers["Content-Type"].startswith("application/problem+json"), r.headers
    body = r.json()
    assert body["type"] == "/problems/service-unavailable" and body["status"] == 503, body
    assert r.headers.get("Retry-After")
    assert r.headers.get("Access-Control-Allow-Origin") == LONG_ORIGIN, r.headers
    assert "retry-after" in r.headers.get("Access-Control-Expose-Headers", "").lower(), r.headers


def test_nginx_logs_no_ticket_and_no_mailed_token(nginx_in_front_of_echo):
    """A ticket opens a stream and a reset link's token sets a password: the access log
    keeps their names, never their values."""
    base, backend = nginx_in_front_of_echo
    backend.release.set()  # the echo's event stream ends at once
    secrets_sent = {}
    for path, name in (("/reset-password?token=", "reset"), ("/confirm-registration?lang=en&token=", "register"),
                       ("/api/v1/auth/verify?token=", "verify"), ("/api/v1/events?ticket=", "ticket")):
        secret = uuid.uuid4().hex
        secrets_sent[name] = secret
        r = requests.get(f"{base}{path}{secret}&after=1", timeout=10)
        assert r.status_code in (200, 503), (path, r.status_code)
    log = backend.access_log.read_text()
    for name, secret in secrets_sent.items():
        assert secret not in log, f"the {name} value is in nginx's access log"
    for logged in ("/reset-password?token=-&after=1", "/confirm-registration?lang=en&token=-&after=1",
                   "/api/v1/auth/verify?token=-&after=1", "/api/v1/events?ticket=-&after=1"):
        assert logged in log, f"{logged} is not in the log:\n{log}"
