"""The fault schedule of issue 7 as one test: under a steady mixed load, kill -9 the
writer, the relay, the API (with keyed creates in flight), Kafka, Postgres and Redis in
turn, then SIGTERM the API; then count through Postgres, task-events and Redis what was
accepted against what was applied.

Owns: the run's parameters (users, clients), the table (printed, and kept in
tests/faults/results/last.md) and the verdict; the run itself (load, schedule, settling,
counting) is fault_run.run_load, shared with tests/scale.
Rules: the verdict is exact counts only, each of which must be 0: lost, lost events,
duplicated (by title, by command, by key), stale reads, ghosts (refused yet applied),
stuck keys (a keyed create no retry can get answered) and requests processed but never
answered during the graceful stop; rates and recovery times are shown, never checked.
Whatever happens, the stack is restored (every service up, /ready 200) before the test
ends.
Parameters: fault_schedule.py (TASKBUS_FAULTS_* overrides); docs/decisions.md, "Fault suite".
"""

import os
from concurrent.futures import ThreadPoolExecutor

import fault_schedule as fs
from fault_load import UserState
from fault_run import run_load
from fault_table import failures, render
from helpers.api import register_user
from helpers.stack_control import env

WRITE_WORKERS = 32
READ_WORKERS = 8
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def test_fault_schedule():
    api_url = env("TASKBUS_API_URL").rstrip("/")
    for name in ("KAFKA_BROKERS", "DATABASE_URL", "REDIS_URL", "TASKBUS_DATA_DIR"):
        env(name)
    fs.restore(api_url)  # a previous stage may have left something down

    with ThreadPoolExecutor(4) as pool:
        registered = list(pool.map(lambda k: register_user(api_url, tag=f"faults-{k}"), range(fs.USERS)))
    users = [UserState(u.id, u.access) for u in registered]

    run = run_load(api_url, users, fs.RATE, lambda schedule: schedule.run(), lambda: fs.restore(api_url),
                   seed=7, write_workers=WRITE_WORKERS, read_workers=READ_WORKERS)
    res = run.res
    params = {"rate": fs.RATE, "users": fs.USERS, "write_workers": WRITE_WORKERS, "read_workers": READ_WORKERS,
              "down_s": fs.DOWN_S, "settle_s": fs.SETTLE_S, "probes": fs.PROBES}
    table = render(res, params, run.started, run.elapsed, run.ledger.unexpected)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "last.md.tmp"), "w", encoding="utf-8") as f:
        f.write(table)
    os.replace(os.path.join(RESULTS, "last.md.tmp"), os.path.join(RESULTS, "last.md"))
    bad = failures(res.counts)
    assert not bad, "fault run FAILED: " + ", ".join(f"{k}={v}" for k, v, _ in bad) + "\n\n" + table
    print("\n" + table)  # shown with -s; tests/run prints the kept copy
