"""Fixtures of the black-box integration tests (tests/integration).

Owns: the connection to the stack under test (TASKBUS_API_URL, TASKBUS_API2_URL (the
second API instance, `api2`), KAFKA_BROKERS, TASKBUS_REPO, TASKBUS_JWT_SECRET from
tests/run or `compose/local env`), clients with
their own X-Forwarded-For, fresh users and the `user-events` collector.
Rules: a missing or unreachable stack FAILS every test that needs it (never a skip: a
green run must mean the stack was tested); fixtures that touch the stack are opt-in, so a
test of files only (test_deploy_*.py) runs without one.
Scale mode (TASKBUS_SCALE=1, `tests/run --scale`, the scaled stack of
`compose/local up --scale`): tests marked `single_stack_only` (they kill or stop a
service by its one-process name, or read the one instance's log or group) and
`stack_independent` (they check files, not the running stack: the normal run has
checked them) are skipped with their reason; every other test runs against the scaled
stack (docs/decisions.md, "The scale suite").
"""

import os
import sys

import pytest
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from helpers.api import Client, register_user, unverified_user  # noqa: E402
from helpers.kafka_events import EventCollector  # noqa: E402
from helpers.stack_control import env, repo_root  # noqa: E402


SINGLE_STACK_ONLY = ("kills, stops or restarts a service or daemon by its single-stack name; the scaled "
                     "stack runs several of each, and tests/scale covers those faults")


def pytest_configure(config):
    config.addinivalue_line("markers", "single_stack_only(reason=...): skipped against the scaled stack "
                                       "(TASKBUS_SCALE=1); the reason defaults to SINGLE_STACK_ONLY")
    config.addinivalue_line("markers", "stack_independent: checks files only; skipped against the scaled stack")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("TASKBUS_SCALE") != "1":
        return
    for item in items:
        m = item.get_closest_marker("single_stack_only")
        if m is not None:
            why = m.kwargs.get("reason") or (m.args[0] if m.args else SINGLE_STACK_ONLY)
            item.add_marker(pytest.mark.skip(reason=f"single-stack only: {why}"))
        elif item.get_closest_marker("stack_independent") is not None:
            item.add_marker(pytest.mark.skip(reason="checks files, not the stack: the normal tests/run ran it"))


def _reachable_api(name):
    """The base URL in environment variable `name`, once its API answers /health 200."""
    url = env(name).rstrip("/")
    try:
        r = requests.get(url + "/health", timeout=10)
    except requests.RequestException as e:
        pytest.fail(f"the API at {url} ({name}) is unreachable: {e}", pytrace=False)
    if r.status_code != 200:
        pytest.fail(f"the API at {url} ({name}) answers /health with {r.status_code}: {r.text[:300]}",
                    pytrace=False)
    return url


@pytest.fixture(scope="session")
def api_url():
    return _reachable_api("TASKBUS_API_URL")


@pytest.fixture(scope="session")
def api2_url(api_url):
    """The second API instance of the same stack (`compose/local`'s api2; tests/run starts
    it on TASKBUS_TEST_API2_PORT, 18081): same Postgres, Redis, Kafka and JWT secret."""
    url = _reachable_api("TASKBUS_API2_URL")
    assert url != api_url, f"TASKBUS_API2_URL is the first instance's URL {api_url}"
    return url


@pytest.fixture(scope="session")
def repo():
    path = repo_root()
    assert os.path.isdir(os.path.join(path, "schemas")), f"TASKBUS_REPO {path} has no schemas/"
    return path


@pytest.fixture(scope="session")
def jwt_secret():
    s = env("TASKBUS_JWT_SECRET")
    assert len(s.encode()) >= 32, "TASKBUS_JWT_SECRET shorter than 32 bytes"
    return s.encode()


@pytest.fixture(scope="session")
def jwt_claims_expect():
    return {
        "iss": os.environ.get("TASKBUS_JWT_ISSUER") or "taskbus",
        "aud": os.environ.get("TASKBUS_JWT_AUDIENCE") or "taskbus-api",
    }


@pytest.fixture
def client(api_url):
    """A client with its own address (its own per-IP rate-limit buckets)."""
    return Client(api_url)


@pytest.fixture
def new_client(api_url):
    """A factory of clients, each with its own address."""
    return lambda ip=None: Client(api_url, ip)


@pytest.fixture
def make_user(api_url, request):
    """A factory of freshly registered users, each registered from its own address;
    verified=False makes one whose address is not verified (helpers/api.py)."""
    tag = request.node.name

    def make(verified=True, **kw):
        return (register_user if verified else unverified_user)(api_url, tag=kw.pop("tag", tag), **kw)

    return make


@pytest.fixture(scope="session")
def user_events(api_url):
    """Every message of `user-events` produced after the first test that asks for it."""
    brokers = env("KAFKA_BROKERS")
    try:
        collector = EventCollector(brokers, "user-events")
    except Exception as e:  # noqa: BLE001 - reported as a failure with its cause
        pytest.fail(f"cannot read Kafka topic user-events at {brokers}: {e}", pytrace=False)
    yield collector
    collector.close()
