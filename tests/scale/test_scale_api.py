"""A rolling restart of the three API instances behind nginx under mixed reads and writes:
SIGTERM one at a time, start it, wait until it answers /ready 200, next.

Owns: the scenario's schedule.
Rules: no request fails: every answer is 2xx or 429 (a rate limit, the client's own
doing), none is lost on the way (refused, dropped or timed out), and the writes are
counted as everywhere (lost, duplicated, stale = 0). The offered rate
(TASKBUS_SCALE_API_RATE, 500/s) is a target, the rate reached is shown.
"""

import time

import scale_stack
from fault_load import MIX
from helpers import stack_control
from scale_report import only_2xx_and_429
from scale_run import API_RATE, BASELINE_S, SETTLE_S, pause, scenario


def test_rolling_restart_of_the_apis_fails_no_request(api_url, pool):
    def drive(s):
        s.open_window("baseline")
        pause(BASELINE_S)
        for name in scale_stack.APIS:
            wd = s.open_window(f"SIGTERM {name}, start")
            wd["inject"] = time.time()
            stack_control.stop(name)  # SIGTERM; returns once the process has exited
            stack_control.start(name)
            scale_stack.wait_api_ready(name)
            wd["back"] = time.time()
            pause(SETTLE_S)

    scenario("API: rolling restart", pool, api_url, API_RATE, MIX, drive, fails=only_2xx_and_429)
