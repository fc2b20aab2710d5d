"""One run of load under a schedule of faults, counted: the skeleton the fault suite
(tests/faults/test_faults.py) and the scale suite (tests/scale) share.

Owns: the order of a run: the topics' start offsets, the Ledger and the Workers (the load,
fault_load.py), the Schedule's windows (fault_schedule.py) driven by the caller's
`drive(schedule)`, restoring the stack whatever happened, the keyed creates' last retries,
joining the load threads, and the count (fault_count.py) with the final reads.
Rules: the stack is restored (the caller's `restore()`) before anything is counted, also
when `drive` raised; then `drive`'s exception is raised (the run is not counted); load
threads that do not end fail the run. Nothing here decides a verdict: the caller checks
the counts (fault_table.failures, or its own rules).
"""

import time
import uuid
from dataclasses import dataclass

import fault_schedule as fs
from fault_count import COMMANDS_TOPIC, EVENTS_TOPIC, count, final_reads, topic_ends
from fault_load import MIX, Ledger, Workers


@dataclass
class Run:
    res: object  # fault_count.Result
    ledger: Ledger
    schedule: fs.Schedule
    started: float  # time.time() at the start
    elapsed: float  # seconds, start to counted


def run_load(api_url, users, rate, drive, restore, *, seed=7, write_workers=32, read_workers=8,
             key_grace_s=fs.KEY_GRACE_S, graceful_window=fs.GRACEFUL_WINDOW, mix=MIX,
             settle_timeout=60, read_floor_binds=True, log=print):
    """Runs the load on `users` (fault_load.UserState) at `rate` requests/s while
    `drive(schedule)` breaks the stack window by window; returns a counted Run.
    read_floor_binds: see fault_load.Ledger."""
    started = time.time()
    starts = {t: topic_ends(t) for t in (COMMANDS_TOPIC, EVENTS_TOPIC)}
    ledger = Ledger(uuid.uuid4().hex[:8])
    ledger.read_floor_binds = read_floor_binds
    workers = Workers(api_url, users, ledger, rate, seed=seed, write_workers=write_workers,
                      read_workers=read_workers, mix=mix)
    schedule = fs.Schedule(ledger, workers, users, log=log)
    drive_error = None
    workers.start()
    try:
        drive(schedule)
    except Exception as e:  # noqa: BLE001 - the stack is restored first, then this fails the run
        drive_error = e
    finally:
        schedule.close()
        workers.stop_clock()
        restore()
    # Unanswered keys keep being retried a while; then everything stops.
    workers.finish_retries(time.time() + key_grace_s)
    deadline = time.monotonic() + key_grace_s + 90
    while workers.retries_left() and time.monotonic() < deadline:
        time.sleep(0.2)
    alive = workers.join(timeout=60)
    if drive_error is not None:
        raise drive_error
    assert not alive, f"load threads did not end: {alive}"

    res = count(ledger, users, schedule.timeline, starts, graceful_window, schedule.late_registrations,
                settle_timeout=settle_timeout)
    stale, n = final_reads(api_url, users)
    res.counts["final_reads"] = n
    for s in stale:
        res.counts["stale"] += 1
        if len(res.samples["stale"]) < 5:
            res.samples["stale"].append(s)
    return Run(res, ledger, schedule, started, time.time() - started)
