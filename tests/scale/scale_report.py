"""The scale suite's results: one row per scenario (fault, requests sent, failed, lost,
duplicated, recovery time), the detail of each run (the fault suite's table,
tests/faults/fault_table.render), printed at the end of the session and written to
tests/scale/results/last-run.md.

Owns: what counts as sent, failed, lost and duplicated in a row, the summary table and
the file.
Rules: a row is added by every scenario that ran its load, passed or failed (the verdict
is the test's; the row says which rules failed). Rates and recovery times are shown,
never checked. The file is written only when at least one scenario ran, so a run that
could not start the stack keeps the previous table.
"""

import os
import threading
import time

from fault_table import render

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
LAST_RUN = os.path.join(RESULTS, "last-run.md")

_lock = threading.Lock()
_rows = []  # dicts, in the order the scenarios ran
_details = []  # (scenario, markdown)
_started = time.time()


def server_errors(status):
    """The default rule: a 5xx other than 503 (503: the API says nothing was queued) fails;
    a 4xx is the fault suite's business (stale reads, ghosts, stuck keys, notes)."""
    return status >= 500 and status != 503


def only_2xx_and_429(status):
    """The rolling restart's rule: anything but 2xx and 429 fails."""
    return not (200 <= status < 300) and status != 429


def failed_attempts(ledger, fails=server_errors):
    """Attempts that failed under a scenario's rule: a transport failure (no answer), or an
    answer whose status `fails`. [(window, route, status or error)]."""
    out = []
    for a in ledger.attempts:
        if a.error is not None:
            out.append((a.window, a.route, a.error))
        elif a.status is not None and fails(a.status):
            out.append((a.window, a.route, a.status))
    return out


def add(scenario, run, params, failed, violations, extra=None):
    """Records one scenario's run. `failed`: failed_attempts(); `violations`: [(rule,
    value, what)] that fail the scenario (empty when it passed); extra: {name: value}
    shown with the row."""
    c = run.res.counts
    sent = sum(w.requests for w in run.res.windows)
    load_s = sum(w.seconds for w in run.res.windows) or 1.0
    refused = sum(w.c503 + w.c429 for w in run.res.windows)
    recovery = [f"{w.name}: {w.recovery_write:.1f} s" for w in run.res.windows
                if w.recovery_write is not None]
    row = {
        "scenario": scenario,
        "faults": ", ".join(w.name for w in run.res.windows if w.name != "baseline"),
        "sent": sent,
        "rate": sent / load_s,
        "offered": params.get("rate"),
        "failed": len(failed),
        "refused": refused,
        "lost": c.get("lost", 0) + c.get("lost_events", 0),
        "duplicated": c.get("dup_title", 0) + c.get("dup_command", 0) + c.get("dup_key", 0),
        "stale": c.get("stale", 0),
        "recovery": "; ".join(recovery) or "-",
        "verdict": "PASSED" if not violations else "FAILED: " + ", ".join(f"{k}={v}" for k, v, _ in violations),
        "extra": extra or {},
    }
    detail = [f"## {scenario}", ""]
    detail.append(f"Verdict: {row['verdict']}")
    for k, v, what in violations:
        detail.append(f"- FAIL {k} = {v}: {what}")
    if failed:
        by = {}
        for window, route, what in failed:
            by[(window, route, what)] = by.get((window, route, what), 0) + 1
        detail.append("")
        detail.append("Failed requests (window, route, answer: count):")
        for (window, route, what), n in sorted(by.items(), key=lambda kv: -kv[1])[:15]:
            detail.append(f"- {window}, {route}, {what}: {n}")
    if extra:
        detail.append("")
        for k, v in extra.items():
            detail.append(f"- {k}: {v}")
    detail.append("")
    # The fault suite's table, one level down.
    # The fault suite's table, one level down; its title's verdict covers its own checks
    # only, so the title says where the table comes from instead.
    table = render(run.res, params, run.started, run.elapsed, run.ledger.unexpected).split("\n", 1)[1]
    detail.append("### The load's counts (tests/faults/fault_table.py)")
    detail.append(table.replace("\n## ", "\n#### "))
    with _lock:
        _rows.append(row)
        _details.append((scenario, "\n".join(detail)))
    return row


def summary():
    """The summary table (Markdown), or None when no scenario ran."""
    with _lock:
        rows = list(_rows)
        details = list(_details)
    if not rows:
        return None
    ok = all(r["verdict"] == "PASSED" for r in rows)
    out = [f"# Scale run {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(_started))} — "
           f"{'PASSED' if ok else 'FAILED'}", ""]
    redis = ("Redis Cluster 3 masters + 3 replicas" if "," in os.environ.get("REDIS_URL", "")
             else "one Redis (TASKBUS_SCALE_REDIS=standalone)")
    out.append("Stack: `compose/local up --scale` (3 Kafka brokers, RF 3, min.insync 2; Postgres primary + "
               f"streaming replica; {redis}; 3 APIs behind nginx; 3 writers, "
               "2 relays, 2 of each consumer) on one box, "
               f"{os.cpu_count()} CPUs, sanitizers {os.environ.get('TASKBUS_SANITIZE', '?')}.")
    out.append("")
    out.append("| scenario | faults | requests sent | rate reached (offered) /s | failed | refused (503/429) "
               "| lost | duplicated | stale | recovery (fault to first 2xx write) | verdict |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for r in rows:
        offered = f"{r['offered']:.0f}" if r["offered"] else "-"
        out.append(f"| {r['scenario']} | {r['faults']} | {r['sent']} | {r['rate']:.0f} ({offered}) | {r['failed']} "
                   f"| {r['refused']} | {r['lost']} | {r['duplicated']} | {r['stale']} | {r['recovery']} "
                   f"| {r['verdict']} |")
    out.append("")
    out.append("failed: no answer (refused, dropped, timed out) or an answer the scenario's rule does not allow "
               "(docs/decisions.md, \"The scale suite\"); lost: accepted (2xx) writes never "
               "applied, and applied commands without their event on task-events; duplicated: a write applied "
               "twice (two tasks with one title, two applied command ids for one write, two events for one command, "
               "two tasks for one Idempotency-Key).")
    out.append("")
    for _scenario, d in details:
        out.append(d)
        out.append("")
    return "\n".join(out)


def write():
    """Writes last-run.md (atomically); returns the summary or None."""
    text = summary()
    if text is None:
        return None
    os.makedirs(RESULTS, exist_ok=True)
    tmp = LAST_RUN + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, LAST_RUN)
    return text
