"""The stack under test: its environment, its repository, and driving it from fault tests
(stop, start, kill -9 or restart one service).

Owns: reading the stack's environment (env(): TASKBUS_API_URL, DATABASE_URL, KAFKA_BROKERS,
... as tests/run or `eval "$(compose/local env)"` gave pytest), the repository root
(TASKBUS_REPO, else this checkout), and calling `compose/local <action> <service>` with
that environment, so the command acts on the stack under test and not on a developer's.
Services: the daemons (api, relay, ...) and postgres, redis, kafka.
Rules: a missing variable FAILS the test (never a skip); every call checks the exit code
and raises with compose/local's output (unless check=False: the clean-up after a test,
which must not hide the test's own failure); `start` and `restart` return only when the
service is ready again (the API answers /ready 200, Kafka logged "Kafka Server started",
Postgres accepts connections, Redis answers PING); after Redis comes back, they also wait
until every running API instance's Server-Sent Events hub has subscribed again
(taskbus_sse_hub_connected 1: its reconnect backs off up to 5 s), so the next test's
event stream does not meet a hub still waiting out its backoff.
"""

import os
import re
import subprocess
import time

import pytest
import requests

_ACTIONS = ("start", "stop", "kill", "restart")


class StackControlError(RuntimeError):
    pass


def env(name):
    """The stack's environment variable `name`; fails the test when it is not set."""
    v = os.environ.get(name)
    if not v:
        pytest.fail(f"{name} is not set: run through tests/run, or eval \"$(compose/local env)\" "
                    f"against a running stack", pytrace=False)
    return v


def repo_root():
    return os.environ.get("TASKBUS_REPO") or os.path.abspath(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))


def compose_local(*args, timeout=300, check=True):
    """Runs compose/local with the given arguments; returns its CompletedProcess."""
    cmd = [os.path.join(repo_root(), "compose", "local"), *args]
    p = subprocess.run(cmd, env=os.environ.copy(), capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise StackControlError(f"{' '.join(cmd)} exited {p.returncode}\n"
                                f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


_HUB_CONNECTED = re.compile(r"^taskbus_sse_hub_connected (\S+)$", re.M)


def _hub_state(url):
    """1.0/0.0 from the instance's taskbus_sse_hub_connected, None when it does not answer."""
    try:
        r = requests.get(url + "/metrics", timeout=2)
    except requests.RequestException:
        return None
    m = _HUB_CONNECTED.search(r.text) if r.status_code == 200 else None
    return float(m.group(1)) if m else 0.0


def wait_sse_hubs_connected(timeout=30):
    """Returns once every API instance that answers has its SSE hub subscribed to Redis."""
    urls = [os.environ[n] for n in ("TASKBUS_API_URL", "TASKBUS_API2_URL") if os.environ.get(n)]
    deadline = time.monotonic() + timeout
    while True:
        waiting = [u for u in urls if _hub_state(u) == 0.0]
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise StackControlError(f"the SSE hub of {waiting} did not reconnect to Redis "
                                    f"within {timeout} s")
        time.sleep(0.1)


def _act(action, service, timeout, check):
    if action not in _ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    p = compose_local(action, service, timeout=timeout, check=check)
    if service == "redis" and action in ("start", "restart") and p.returncode == 0:
        try:
            wait_sse_hubs_connected()
        except StackControlError:
            if check:
                raise
    return p


def start(service, timeout=300, check=True):
    return _act("start", service, timeout, check)


def stop(service, timeout=120, check=True):
    """SIGTERM, then SIGKILL after 20 s for the daemons (Kafka gets 60 s)."""
    return _act("stop", service, timeout, check)


def kill(service, timeout=60, check=True):
    """SIGKILL at once: a crash."""
    return _act("kill", service, timeout, check)


def restart(service, timeout=300, check=True):
    return _act("restart", service, timeout, check)


def status():
    """{service: (state, pid)} from `compose/local status`, e.g. {"api": ("up", 1234)}."""
    out = compose_local("status", timeout=60).stdout
    result = {}
    for line in out.splitlines():
        parts = line.split()
        # "<name> <up|down> pid <pid|-> port <port|-> <where>"
        if len(parts) >= 4 and parts[1] in ("up", "down") and parts[2] == "pid":
            result[parts[0]] = (parts[1], int(parts[3]) if parts[3].isdigit() else None)
    return result
