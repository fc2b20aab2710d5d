"""The fault suite's report: the Markdown table a run prints and keeps in
tests/faults/results/last.md.

Owns: the checks of the verdict (each a count that must be exactly 0) and the rendering
of one run: parameters, one row per window (client errors by kind, in-doubt writes,
recovery times), the totals, the verdict with examples of every failed check, and notes.
Rules: the verdict never depends on timing: recovery times and rates are shown, never
checked.
"""

import time

# (count key, what it means): each must be 0 for the run to pass.
CHECKS = (
    ("lost", "accepted writes (2xx) not applied, or produced commands never applied"),
    ("lost_events", "applied commands without an event on task-events"),
    ("dup_title", "titles with two tasks"),
    ("dup_command", "writes with two applied command ids, or commands with two event ids"),
    ("dup_key", "keyed creates whose answers name two tasks"),
    ("stale", "reads older than a version already reported applied or read (read: by one API "
              "instance; load, final reads, Redis vs Postgres)"),
    ("ghost", "writes refused with 503/429 that were applied anyway"),
    ("stuck", "keyed creates no retry could get answered (e.g. 409 in flight after the API died)"),
    ("unanswered", "requests read and processed during the SIGTERM of the API (their task command or "
                   "account is in the stack) whose answer never came"),
)


def failures(counts):
    return [(k, counts.get(k, 0), what) for k, what in CHECKS if counts.get(k, 0) != 0]


def _f(v):
    return "-" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))


def render(res, params, started, elapsed, ledger_unexpected):
    c = res.counts
    out = []
    fails = failures(c)
    out.append(f"# Fault run {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(started))}"
               f" — {'PASSED' if not fails else 'FAILED'}")
    out.append("")
    sent = sum(w.requests for w in res.windows)
    load_s = sum(w.seconds for w in res.windows) or 1.0
    out.append(f"Parameters: offered {params['rate']:.0f} requests/s over {params['users']} users "
               f"({params['write_workers']} write + {params['read_workers']} read clients, keep-alive), "
               f"kill -9 down {params['down_s']:.0f} s, {params['settle_s']:.0f} s of load after each "
               f"restart, {params['probes']} keyed creates in flight at the API kill. "
               f"Sent {sent} requests in {load_s:.0f} s ({sent / load_s:.0f}/s); whole run {elapsed:.0f} s.")
    out.append("")
    out.append("| window | s | offered | not sent | requests | 2xx | 409 | 429 | other 4xx | 503 | other 5xx "
               "| refused | dropped | timeout | in doubt: applied / not | first 2xx write (s) | first applied (s) |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for w in res.windows:
        out.append(f"| {w.name} | {w.seconds:.0f} | {w.offered} | {w.not_sent} | {w.requests} | {w.ok} | {w.c409} "
                   f"| {w.c429} | {w.c4xx} | {w.c503} | {w.c5xx} | {w.refused} | {w.dropped} | {w.timeout} "
                   f"| {w.doubt_applied} / {w.doubt_not_applied} | {_f(w.recovery_write)} | {_f(w.recovery_apply)} |")
    out.append("")
    out.append("Recovery: seconds from the fault to the first 2xx answer of a write sent after it, and to "
               "the first such write applied by the writer (`commands.applied_at`). refused: no connection "
               "(never read); dropped: an open connection broke before the answer; not sent: tickets "
               "that found every client busy.")
    out.append("")
    out.append("| writes | accepted | applied | lost | lost events | dup (title) | dup (command) | dup (key) "
               "| stale | ghosts | stuck keys | graceful stop: unanswered | in doubt applied once | in doubt not "
               "applied | refused (503/429) | reads |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    out.append(f"| {c['writes']} | {c['accepted']} | {c['applied']} | {c['lost']} | {c['lost_events']} "
               f"| {c['dup_title']} | {c['dup_command']} | {c['dup_key']} | {c['stale']} | {c['ghost']} "
               f"| {c['stuck']} | {c['unanswered']} | {c['doubt_applied']} | {c['doubt_not_applied']} "
               f"| {c['refused']} | {c['reads']} |")
    out.append("")
    out.append(f"Kafka: {c['commands_produced']} commands ({c['command_messages']} messages) on task-commands, "
               f"{c['events']} records on task-events ({c['redelivered_events']} redeliveries of an event id); "
               f"{c['tasks']} tasks in Postgres; {c['final_reads']} final reads. Keyed creates in flight at the "
               f"API kill: {c['probes']}, answered by a retry: {c['probes_resolved']}. "
               f"SIGTERM window: {c['graceful_dropped']} request(s) lost their connection before an answer "
               f"(shown, not checked: one sent as the server closes an idle keep-alive connection is "
               f"never read, and no client can tell it from one that was; the check counts those "
               f"proven processed).")
    out.append("")
    out.append("## Verdict")
    out.append("")
    for k, what in CHECKS:
        v = c.get(k, 0)
        out.append(f"- {'ok  ' if v == 0 else 'FAIL'} {k} = {v}: {what}")
        for s in res.samples.get(k, [])[:5] if v else []:
            out.append(f"  - {s}")
    if res.notes or ledger_unexpected:
        out.append("")
        out.append("## Notes")
        out.append("")
        for n in res.notes:
            out.append(f"- {n}")
        if ledger_unexpected:
            out.append(f"- {len(ledger_unexpected)} answers no rule expects (shown, not checked), e.g.:")
            for u in ledger_unexpected[:8]:
                out.append(f"  - {u}")
    out.append("")
    return "\n".join(out)
