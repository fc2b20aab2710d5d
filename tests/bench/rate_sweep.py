"""The highest create rate at which accepted -> applied p99 stays under a limit (tests/bench/run).

Owns: a short sweep of fixed-rate runs (applied_latency.measure: same client, same
subscriber, same users), rising rates, each a few seconds, stopping at the first rate
whose p99 is over the limit; writes <work>/sweep.json.
Rules: before each step the writer is idle and the relay and consumers have caught up
(bounded), so a step does not pay for the one before; "under the limit" is judged on the
p99 of 202 held -> applied at the rate the client achieved (a step that could not send
at its rate says so). Nothing is judged here; the page says reached / not reached.
"""

import argparse
import json
import time

import psycopg

from applied_latency import measure
from bench_common import env, work_dir, write_result
from stack_lag import StackLag
from writer_drain import wait_idle


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="250,500,1000,1500,2000")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--limit-ms", type=float, default=50)
    ap.add_argument("--settle", type=float, default=30)
    a = ap.parse_args()
    rates = [float(r) for r in a.rates.replace(" ", ",").split(",") if r]
    with open(f"{work_dir()}/latency_users.json") as f:
        users = json.load(f)
    steps, best, stopped = [], None, None
    lag = StackLag()
    try:
        with psycopg.connect(env("DATABASE_URL"), autocommit=True,
                             application_name="taskbus-bench") as conn:
            for rate in rates:
                wait_idle(conn, quiet_s=1.0)
                lag.wait_all(time.monotonic(), 30)
                f = measure(conn, users, rate, a.seconds, a.connections, a.settle)
                p99 = f["accepted_to_applied"]["p99_ms"]
                lost = f["accepted_202"] - f["accepted_to_applied"]["n"]
                ok = p99 is not None and p99 <= a.limit_ms and lost == 0
                steps.append({"rate": rate, "achieved_rate": f["achieved_rate"],
                              "sent": f["sent"], "accepted_202": f["accepted_202"],
                              "not_seen_applied": lost, "other_status": f["other_status"],
                              "ack_p99_ms": f["ack_latency_from_schedule"]["p99_ms"],
                              "applied": f["accepted_to_applied"], "under_limit": ok})
                print(f"[bench] sweep {rate:.0f}/s: achieved {f['achieved_rate']}/s, "
                      f"accepted -> applied p99 {p99} ms", flush=True)
                if not ok:
                    stopped = rate
                    break
                best = rate
    finally:
        lag.close()
    write_result("sweep", {"rates": rates, "seconds": a.seconds, "limit_ms": a.limit_ms,
                           "steps": steps, "highest_rate_under_limit": best,
                           "first_rate_over_limit": stopped})


if __name__ == "__main__":
    main()
