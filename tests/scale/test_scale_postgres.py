"""Postgres under load: the streaming replica stopped and started (reads keep succeeding,
none stale), then the primary restarted (writes wait or are refused, never lost, and
resume).

Owns: the scenario's schedule and its own checks: no read fails while the replica is
down (the API reads the primary instead; a read still in flight when the primary is
stopped next and refused with 503 is judged with the primary's window), and during the primary's restart a plain
create (no `Prefer: wait`, no `Idempotency-Key`) is never answered 503: it needs only
Kafka and is accepted (202), applied once the primary is back. Writes that need Postgres
to be answered may be refused with 503 and Retry-After, and are counted apart
(docs/decisions.md, "Writes while the primary is down"): `Prefer: wait` (the outcome is
read from Postgres), keyed creates (the key's claim is a Postgres row) and PATCHes (the
target is read from Postgres once the near-cache lease, which checks the writer's journal
in Postgres, has lapsed).
Rules (scale_run.scenario): 0 lost, 0 duplicated, 0 stale, no failed request.
"""

import glob
import os
import time

import scale_stack
from helpers import stack_control
from scale_run import BASELINE_S, DOWN_S, RATE, READ_HEAVY, SETTLE_S, pause, scenario

REPLICA_WINDOW = "stop postgres-replica, start"
PRIMARY_WINDOW = "restart postgres (primary)"


def api_log_lines(request_ids, most=12):
    """The API instances' log lines naming any of request_ids (at most `most`, each cut
    short): what a failure's message carries, since CI keeps the output, not the logs."""
    ids = {r for r in request_ids if r}
    logs = os.path.join(os.environ.get("TASKBUS_DATA_DIR", ""), "logs")
    found = []
    for path in sorted(glob.glob(os.path.join(logs, "api-*.log"))):
        with open(path, errors="replace") as f:
            found += [f"{os.path.basename(path)}: {line.strip()[:400]}" for line in f
                      if any(r in line for r in ids)]
    return found[:most]


def test_replica_stopped_and_primary_restarted(api_url, pool):
    replica = {}  # the replica window's timeline entry: its "end" is when the primary's opened

    def drive(s):
        s.open_window("baseline")
        pause(BASELINE_S)
        wd = replica["window"] = s.open_window(REPLICA_WINDOW)
        stack_control.stop("postgres-replica")
        wd["inject"] = time.time()
        pause(DOWN_S * 2)
        stack_control.start("postgres-replica")
        scale_stack.wait_replica_streaming()
        wd["back"] = time.time()
        pause(SETTLE_S)
        wd = s.open_window(PRIMARY_WINDOW)
        stack_control.stop("postgres")
        wd["inject"] = time.time()
        pause(DOWN_S)
        stack_control.start("postgres")
        wd["back"] = time.time()
        scale_stack.wait_replica_streaming()
        pause(SETTLE_S)

    def checks(run):
        led = run.ledger
        # A read sent in the replica's window but refused (503) after the primary's window
        # opened (the primary is stopped right then) may have needed the primary: it is
        # judged as a read of that window, where Postgres being down may refuse it. Any
        # other failure (a timeout, a 500) counts, whenever it ended.
        primary_from = replica["window"]["end"]
        failed_reads = [a for a, _op in led.reads if a.window == REPLICA_WINDOW
                        and (a.error is not None or not (200 <= (a.status or 0) < 300 or a.status == 429))]
        bad_reads = [a for a in failed_reads if not (a.status == 503 and a.done > primary_from)]
        across = len(failed_reads) - len(bad_reads)
        in_restart = [(w, a) for w in led.writes for a in w.attempts
                      if a.window == PRIMARY_WINDOW and a.status == 503]
        plain_503 = [a for w, a in in_restart
                     if w.kind == "create" and not w.keyed and "Prefer" not in w.headers]
        v = []
        if bad_reads:
            v.append(("replica_read_failed", len(bad_reads), f"reads that failed while the replica was down, e.g. "
                      f"{[(a.route, a.status or a.error, a.request_id, a.problem) for a in bad_reads[:3]]}"))
        if plain_503:
            v.append(("plain_create_503", len(plain_503), "creates without Prefer: wait or Idempotency-Key "
                      f"answered 503 during the primary's restart, e.g. "
                      f"{[(a.route, a.request_id, a.problem) for a in plain_503[:3]]}; the APIs' log "
                      f"lines of those: {api_log_lines([a.request_id for a in plain_503[:3]])}"))
        reads_in = sum(1 for a, _ in led.reads if a.window == REPLICA_WINDOW)
        waits_503 = sum(1 for w, _ in in_restart if "Prefer" in w.headers)
        keyed_503 = sum(1 for w, _ in in_restart if w.keyed and "Prefer" not in w.headers)
        patch_503 = sum(1 for w, _ in in_restart if w.kind == "patch" and "Prefer" not in w.headers)
        plain_ok = sum(1 for w in led.writes if w.kind == "create" and not w.keyed and "Prefer" not in w.headers
                       for a in w.attempts if a.window == PRIMARY_WINDOW and 200 <= (a.status or 0) < 300)
        return v, {"reads while the replica was down": reads_in,
                   "reads of the replica's window refused once the primary was stopped": across,
                   "plain creates accepted during the primary's restart": plain_ok,
                   "Prefer: wait writes answered 503 during the primary's restart": waits_503,
                   "keyed creates answered 503 during the primary's restart (the claim needs Postgres)": keyed_503,
                   "PATCHes answered 503 during the primary's restart (the target needs Postgres)": patch_503}

    scenario("Postgres: replica stop, primary restart", pool, api_url, RATE, READ_HEAVY, drive, checks=checks)
