"""Setup of the scale suite (tests/scale): the import path, the stack under test and the
results table.

Owns: making tests/integration's helpers and tests/faults' load, schedule, counting and
table importable from here (the suite reuses them, never copies them); the session's
fixtures (the public URL through nginx, the pool of registered users); printing the
summary table at the end and writing tests/scale/results/last-run.md.
Rules: the suite runs only against the scaled stack (`compose/local up --scale`, which
`tests/run --scale` starts): anything else FAILS (never a skip), since a green run must
mean the scaled topology was tested. The stack is restored before the first scenario.
"""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "faults"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import scale_report  # noqa: E402
import scale_stack  # noqa: E402
from helpers.stack_control import env  # noqa: E402


@pytest.fixture(scope="session")
def api_url():
    if not scale_stack.is_scaled():
        pytest.fail("tests/scale needs the scaled stack: run it through `tests/run --scale` "
                    "(TASKBUS_SCALE=1 with `compose/local up --scale`)", pytrace=False)
    for name in ("KAFKA_BROKERS", "DATABASE_URL", "DATABASE_READ_URL", "REDIS_URL", "TASKBUS_DATA_DIR",
                 "TASKBUS_HTTP_PORT", "TASKBUS_REDIS_PORT", "TASKBUS_PG_PORT"):
        env(name)
    url = env("TASKBUS_API_URL").rstrip("/")
    scale_stack.restore(url)
    return url


@pytest.fixture(scope="session")
def pool(api_url):
    from scale_run import UserPool

    return UserPool(api_url)


def pytest_terminal_summary(terminalreporter):
    text = scale_report.write()
    if text is not None:
        terminalreporter.write_sep("=", "scale results (tests/scale/results/last-run.md)")
        # The summary table; the detail of every scenario is in the file.
        terminalreporter.write_line(text.split("\n## ", 1)[0])
