"""Turns one benchmark run's figures into tests/bench/results/<date>-<commit>.md.

Owns: the results page: whether the run was quiet (first thing on the page), machine,
date, commit, run time, the load other processes put on the machine in each phase, every
figure, the ratios against the two baselines (bare ulfius "hello" for reads, the bare
ulfius + Kafka "produce" server for POST) next to the aims of DESIGN.md section 9 and
issue 8, the Redis round trips per request against their targets, the issue 9 figures
(whole-stack CPU per applied command by component, the rate sweep, every consumer group's
time to zero lag after the drain, the imports) and the data-scale table (10 000 ->
300 000 tasks of one user). Usage: report.py OUT_FILE COMMIT (figures
come from BENCH_WORK_DIR); prints the page too.
Rules: a figure that is missing (its phase failed or was skipped) is shown as "n/a", never
invented; the page says "reached"/"not reached" for an aim, and nothing fails because of
it. "Quiet" is defined once, here (QUIET_OTHERS_PCT), from the machine-load table: a run is
quiet when, in every phase, the processes that are not this run's used at most that share
of one core; the page says which phase broke it otherwise.
"""

import json
import os
import re
import platform
import sys
from datetime import datetime, timezone

from bench_common import work_dir

# "Others" (busy time not of this run) at most this many percent of ONE core in every
# phase: 10 % of a core is 5 % of the 2-core box, a shell loop or an idle stack or two;
# a test suite or another benchmark is far above it.
QUIET_OTHERS_PCT = 10.0
SCALE_TARGET_MS = 20.0
LATENCY_TARGET_MS = 50.0
CPU_TARGET_MS = 0.3  # whole-stack core-ms per applied command
LAG_TARGET_S = 10.0  # every consumer group at zero lag this long after the writer's drain
IMPORT_TARGET_S = 2.0  # the small import applied on an idle stack

# (label, machine_load name) of every phase, in run order
PHASES = [("before the loads (stack idle)", "baseline"), ("Redis round trips", "redis"),
          ("hello (wrk)", "hello"), ("produce baseline (wrk)", "produce"),
          ("GET /tasks/{id} (wrk)", "get"), ("GET /tasks list page (wrk)", "list"),
          ("POST /tasks (wrk)", "post"), ("accepted -> applied", "latency"),
          ("rate sweep", "sweep"), ("writer drain", "drain"), ("imports", "imports"),
          ("idle connections", "idle"),
          ("data scale: load 1st step", "scale_load"), ("data scale: reads, small", "scale_small"),
          ("data scale: load 2nd step", "scale_load2"), ("data scale: reads, large", "scale_large")]


def load(name):
    path = os.path.join(work_dir(), f"{name}.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def fmt(v, unit=""):
    if v is None or v == {}:
        return "n/a"
    if isinstance(v, float):
        v = f"{v:,.1f}" if abs(v) >= 100 else f"{v:.2f}"
    elif isinstance(v, int):
        v = f"{v:,}"
    return f"{v}{unit}"


def machine():
    model, mem = "?", "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return model, os.cpu_count(), mem, f"{platform.system()} {platform.release()}"


def quiet_verdict():
    """(is quiet or None, the page's sentence)."""
    rows = [(label, load(f"cpu_{name}")) for label, name in PHASES]
    rows = [(label, c) for label, c in rows if c]
    if not rows:
        return None, "**Quiet run: unknown** (no machine-load figures were recorded)."
    worst_label, worst = max(rows, key=lambda r: r[1]["others_pct"])
    noisy = [f"{label} {fmt(c['others_pct'])} %" for label, c in rows
             if c["others_pct"] > QUIET_OTHERS_PCT]
    rule = (f"quiet = in every phase, processes not of this run used at most "
            f"{QUIET_OTHERS_PCT:.0f} % of one core (the \"others\" column below)")
    if not noisy:
        return True, (f"**Quiet run: yes.** Others used at most {fmt(worst['others_pct'])} % of "
                      f"one core ({worst_label}); {rule}. The figures can be judged.")
    return False, (f"**Quiet run: NO (noisy).** Others went over {QUIET_OTHERS_PCT:.0f} % of one "
                   f"core in {len(noisy)} of {len(rows)} phases ({', '.join(noisy)}); {rule}. "
                   "The figures show that the phases work; they do not judge the aims.")


def aim(label, figure, target, ok):
    state = "n/a" if ok is None else ("reached" if ok else "not reached")
    return f"| {label} | {figure} | {target} | {state} |"


def cpu_row(phase, name):
    c = load(f"cpu_{name}")
    if not c:
        return None
    return (f"| {phase} | {fmt(c['seconds'])} s | {fmt(c['machine_busy_pct'])} % | "
            f"{fmt(c['ours_pct'])} % | "
            f"{fmt(c['others_pct'])} % | "
            f"{', '.join(c.get('top_others', []))} |")


def ratio(w, base):
    return w["rps"] / base["rps"] if w and base and base.get("rps") else None


def pct(r):
    return "n/a" if r is None else f"{100 * r:.1f} %"


def wrk_row(label, w, hello, produce=None):
    if not w:
        return f"| {label} | n/a | | | | | | |"
    errors = (w["errors_connect"] + w["errors_read"] + w["errors_write"] + w["errors_timeout"])
    vs_produce = pct(ratio(w, produce)) if produce is not None else ""
    return (f"| {label} | {fmt(w['rps'])} | {pct(ratio(w, hello))} | {vs_produce} | "
            f"{w['p50_ms']} | {w['p99_ms']} | {w['max_ms']} | "
            f"{fmt(w['requests'])} / {w['non_2xx_3xx']} / {errors} |")


def lat_row(label, s):
    if not s or not s.get("n"):
        return f"| {label} | n/a | | | |"
    return f"| {label} | {fmt(s['n'])} | {s['p50_ms']} | {s['p99_ms']} | {s['max_ms']} |"


def ratio_aim(label, w, base, base_name, target):
    r = ratio(w, base)
    figure = f"{pct(r)} ({fmt(w['rps'])} / {fmt(base['rps'])} {base_name})" if r else "n/a"
    return aim(label, figure, f">= {100 * target:.0f} % of {base_name}",
               None if r is None else r >= target)


# Redis round trips per request: (label, key in redis_roundtrips.json, target, text)
REDIS_TARGETS = [("cached GET /tasks/{id}", "get_task", 0, "0"),
                 ("cached GET /tasks?limit=50", "list_tasks", 0, "0"),
                 ("POST /tasks (besides Kafka)", "post_task", 1, "<= 1")]


def redis_ok(d, target):
    # "0" means none at all; a stray background command that the subtraction left (a few
    # hundredths per request) is not a round trip of the request
    return d["api_round_trips_per_request"] <= target + 0.05


def scale_reads_over(scale):
    """(reads over the target uncached at the largest size, how many reads, size label)."""
    sizes = scale.get("sizes", {})
    label = "large" if "large" in sizes else ("small" if "small" in sizes else None)
    if label is None:
        return None, 0, None
    over = []
    for q, r in sizes[label]["reads"].items():
        ms = r["uncached"]["server_ms"]
        if ms is not None and ms > SCALE_TARGET_MS:
            over.append(f"{q} {ms:.0f} ms")
        elif failures(r["uncached"], r["cached"]):
            over.append(f"{q}{failures(r['uncached'], r['cached'])}")
    for q, r in sizes[label]["pages"].items():
        m = r["uncached"]["server_ms"]
        fails = r["uncached"].get("failed", []) + r["cached"].get("failed", [])
        if (m and m["max"] > SCALE_TARGET_MS) or fails:
            over.append(f"pages of {q} up to {(m or {}).get('max', 0):.0f} ms"
                        + "".join(f" (**{f['status']} at page {f['page']}**)" for f in fails))
    n = len(sizes[label]["reads"]) + len(sizes[label]["pages"])
    return over, n, label


def lag_slowest(drain):
    """(slowest name, its seconds or None when some never got there, all reached) of the
    drain's time to zero lag, or None when not measured."""
    lag = drain.get("lag")
    if not lag:
        return None
    secs = lag["seconds_after_writer"]
    missing = [n for n, v in secs.items() if v is None]
    if missing:
        return ", ".join(missing), None, False
    name = max(secs, key=lambda n: secs[n])
    return name, secs[name], True


def new_aims(lat, sweep, drain, imports):
    """The issue 9 rows of the aims table."""
    out = []
    sc = lat.get("stack_cpu") or {}
    per = sc.get("core_ms_per_command")
    out.append(aim(f"whole-stack CPU per applied command (latency phase, "
                   f"{fmt(sc.get('commands_applied'))} commands)",
                   fmt(per, " core-ms"), f"<= {CPU_TARGET_MS} core-ms",
                   None if per is None else per <= CPU_TARGET_MS))
    best = sweep.get("highest_rate_under_limit") if sweep else None
    over = sweep.get("first_rate_over_limit") if sweep else None
    if not sweep:
        figure = "n/a (sweep skipped or failed)"
    else:
        last = sweep["steps"][-1] if sweep.get("steps") else {}
        figure = (f"{fmt(best, '/s') if best else 'none of the rates'}"
                  + (f" (first over: {fmt(over, '/s')}, p99 "
                     f"{fmt(last.get('applied', {}).get('p99_ms'), ' ms')})" if over else
                     f" (every rate of the sweep, up to {fmt(max(sweep['rates']), '/s')})"))
    # the latency aim's rate: p99 <= 50 ms there means the sweep reached it
    want = lat.get("target_rate") or 2000.0
    out.append(aim(f"highest create rate with accepted -> applied p99 <= {LATENCY_TARGET_MS:.0f} ms "
                   "(sweep)", figure, f">= {fmt(want, '/s')}",
                   None if not sweep else (best is not None and best >= want)))
    slow = lag_slowest(drain)
    if slow is None:
        out.append(aim("every consumer group at zero lag after the drain", "n/a (not measured)",
                       f"<= {LAG_TARGET_S:.0f} s after the writer", None))
    else:
        name, secs, ok = slow
        figure = (f"{fmt(secs, ' s')} (slowest: {name})" if ok else
                  f"not within {fmt(drain['lag']['timeout_s'], ' s')} ({name})")
        out.append(aim("every consumer group at zero lag after the drain", figure,
                       f"<= {LAG_TARGET_S:.0f} s after the writer",
                       ok and secs <= LAG_TARGET_S))
    sm = imports.get("small") or {}
    secs = sm.get("seconds_to_all_applied")
    out.append(aim(f"import of {fmt(sm.get('tasks'))} tasks on an idle stack, request -> all applied",
                   fmt(secs, " s") if secs is not None or not sm else
                   f"not within {fmt(sm.get('timeout_s'), ' s')} ({fmt(sm.get('applied'))} applied)",
                   f"<= {IMPORT_TARGET_S:.0f} s", None if not sm else
                   (secs is not None and secs <= IMPORT_TARGET_S)))
    lg = imports.get("large") or {}
    it = (lg.get("interactive") or {}).get("accepted_to_applied") or {}
    out.append(aim(f"accepted -> applied p99 of {fmt((lg.get('interactive') or {}).get('target_rate'))} "
                   f"creates/s during a {fmt(lg.get('tasks'))}-task import",
                   fmt(it.get("p99_ms"), " ms") + ("" if not lg or lg.get("load_overlapped_import")
                                                   else " (the import ended before the load)"),
                   f"<= {LATENCY_TARGET_MS:.0f} ms",
                   None if not it.get("n") else it["p99_ms"] <= LATENCY_TARGET_MS))
    return out


def summary_section(w, lat, drain, idle, rt, scale, sweep, imports):
    hello, produce, get, lst, post = w["hello"], w["produce"], w["get"], w["list"], w["post"]
    a2a = lat.get("accepted_to_applied", {})
    out = ["## Against the aims (DESIGN.md section 9, issues 8 and 9)", "",
           "| aim | measured | target | |", "|---|---|---|---|",
           ratio_aim("cached GET /tasks/{id} req/s", get, hello, "hello", 0.5),
           aim("cached GET /tasks/{id} p99 at 64 connections", fmt(get.get("p99_ms"), " ms"),
               "<= 10 ms", None if not get else get["p99_ms"] <= 10),
           ratio_aim("cached GET /tasks (first page of 50) req/s", lst, hello, "hello", 0.25),
           ratio_aim("POST /tasks req/s (202 after Kafka's ack)", post, produce, "produce", 0.5)]
    for label, key, target, text in REDIS_TARGETS:
        d = rt.get(key)
        out.append(aim(f"Redis round trips per {label}, steady state",
                       fmt(d["api_round_trips_per_request"]) if d else "n/a", text,
                       None if not d else redis_ok(d, target)))
    out.append(aim(f"accepted -> applied p99 at {fmt(lat.get('target_rate'))}/s "
                   f"(achieved {fmt(lat.get('achieved_rate'))}/s)",
                   fmt(a2a.get("p99_ms"), " ms"), "<= 50 ms",
                   None if not a2a.get("n") else a2a["p99_ms"] <= 50))
    out.append(aim("writer drain (applied_at span)", fmt(drain.get("rate_over_applied_at_span"), "/s"),
                   ">= 20,000/s", None if not drain else drain["rate_over_applied_at_span"] >= 20000))
    out += new_aims(lat, sweep, drain, imports)
    out.append(aim(f"API RSS with {fmt(idle.get('connections'))} idle connections",
                   fmt(idle.get("rss_mib_with_connections"), " MiB"), "<= 60 MiB",
                   None if not idle else idle["rss_mib_with_connections"] <= 60))
    over, n, label = scale_reads_over(scale)
    if label is None:
        out.append(aim("data scale: every read uncached",
                       f"n/a (phase {'failed: ' + scale['error'] if scale.get('error') else 'skipped'})",
                       f"<= {SCALE_TARGET_MS:.0f} ms", None))
    else:
        users = scale["sizes"][label]["tasks_of_user"]
        figure = (f"{n - len(over)} of {n} reads within; over: {'; '.join(over)}" if over
                  else f"all {n} reads within")
        out.append(aim(f"data scale: every read uncached at {users:,} tasks (server time)",
                       figure, f"<= {SCALE_TARGET_MS:.0f} ms", not over))
    out.append(aim("POST /tasks req/s vs hello (for reference; the aim is against produce)",
                   pct(ratio(post, hello)), "", None))
    return out


def redis_section(rt):
    out = ["## Redis round trips per request (steady state: every answer cached before)", "",
           "Sequential requests of one client while MONITOR records the commands and the "
           "kernel's socket counters (`ss -ti`, data_segs_out) count the API's writes to Redis: "
           "a round trip is one write carrying data, so a pipeline or a script is one. The "
           "request path is the API's unnamed (pool) connections; their background (lease "
           "renewals) was measured in a window without requests and is taken out (\"net\"); "
           "raw figures beside it.", ""]
    bg = rt.get("background")
    if bg:
        named = bg.get("named_round_trips_per_s") or {}
        out += [f"API request path (its unnamed pool connections) with no requests: "
                f"{bg['api_round_trips_per_s']} round trips/s, {bg['api_commands_per_s']} "
                f"commands/s {bg['api_commands']} (over {bg['seconds']} s)"
                + (f"; its named background connections: "
                   + ", ".join(f"{k} {v}/s" for k, v in sorted(named.items())) if named else "")
                + ".", ""]
    out += ["The API's own connections that named themselves (CLIENT SETNAME: the near-cache "
            "subscriber, the rate-limit reconciler, the SSE hub) work off the request path; "
            "their traffic during the requests is in the last column, per request, raw.", "",
            "| request | n | **API round trips / request (request path, net)** | raw | target | | "
            "API commands / request (net) | API commands | inside the API's scripts / request | "
            "background connections, round trips / request |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for label, key, target, text in REDIS_TARGETS:
        d = rt.get(key)
        if not d:
            out.append(f"| {label} | n/a | | | {text} | | | | | |")
            continue
        named = d.get("api_background_connections") or {}
        out.append(f"| {label} | {d['requests']} | **{d['api_round_trips_per_request']}** | "
                   f"{d['api_round_trips_per_request_raw']} | {text} | "
                   f"{'reached' if redis_ok(d, target) else 'not reached'} | "
                   f"{d['api_commands_per_request']} | {d['api_commands']} | "
                   f"{d['api_lua_inner_commands_per_request']} {d['api_lua_inner_commands']} | "
                   + (", ".join(f"{k.split('[', 1)[1].rstrip(']')} {v['round_trips_per_request']} "
                                f"{v['commands']}" for k, v in sorted(named.items())) or "none")
                   + " |")
    d = rt.get("post_task")
    if d:
        out += ["", f"The writer for the {d['requests']} POSTs (whole window): "
                f"{d['writer_round_trips']} round trips, commands {d['writer_commands']}, in "
                f"scripts {d['writer_lua_inner_commands']}."]
    return out


def ms(v):
    if v is None:
        return "n/a"
    return f"{v:.2f}" if v < 1 else f"{v:.1f}"


def items(r):
    return "" if not r or r.get("items") is None else str(r["items"])


def failures(*summaries):
    """" (**503 x1**)" when some samples of these summaries were not 200, else ""."""
    bad = {}
    for sm in summaries:
        for smp in (sm or {}).get("samples", []):
            if smp["status"] != 200:
                bad[smp["status"]] = bad.get(smp["status"], 0) + 1
    return "".join(f" (**{st} x{n}**)" for st, n in sorted(bad.items()))


def near(d):
    if not d:
        return "n/a"
    return f"{d.get('hit', 0):,} / {d.get('miss', 0):,}"


def growth(a, b):
    return f"x{b / a:.1f}" if a and b else "n/a"


PLAN_NODE_RE = re.compile(r"^\s*(?:->\s+)?(\S.*?)\s+\(cost=")
PLAN_REMOVED_RE = re.compile(r"Rows Removed by (Filter|Index Recheck): (\d+)")
PLAN_TIME_RE = re.compile(r"Execution Time: ([0-9.]+) ms")


def plan_summary(plan):
    """(execution ms, "scan nodes, with the rows they threw away") of an EXPLAIN ANALYZE."""
    nodes, exec_ms = [], None
    for line in plan:
        t = PLAN_TIME_RE.search(line)
        if t:
            exec_ms = float(t.group(1))
        m = PLAN_NODE_RE.search(line)
        if m:
            nodes.append([m.group(1), 0])
            continue
        r = PLAN_REMOVED_RE.search(line)
        if r and nodes:
            nodes[-1][1] += int(r.group(2))
    scans = [f"{n}" + (f" ({removed:,} rows removed)" if removed else "")
             for n, removed in nodes if "Scan" in n]
    return exec_ms, "; ".join(scans) or "n/a"


def slow_section(scale):
    """The plans of the API's own slow statements at the largest size."""
    sizes = scale.get("sizes", {})
    label = "large" if "large" in sizes else ("small" if "small" in sizes else None)
    if label is None:
        return []
    slow = sizes[label].get("slow_statements")
    n = sizes[label]["tasks_of_user"]
    out = [f"### Where the time goes at {n:,} tasks", "",
           f"Postgres logged every statement over {SCALE_TARGET_MS:.0f} ms during the phase "
           "(`log_min_duration_statement`); the slowest one of the user per read (uncached) "
           "was run again under `EXPLAIN (ANALYZE, BUFFERS)` with its logged parameters: the "
           "exact SQL the API sent. Scan nodes below; the full plans follow.", ""]
    if slow is None:
        return out + ["n/a (not recorded)", ""]
    if not slow:
        return out + [f"No statement of the user took over {SCALE_TARGET_MS:.0f} ms.", ""]
    out += ["| read | logged ms | EXPLAIN ANALYZE ms | scans |", "|---|---|---|---|"]
    for q, st in sorted(slow.items()):
        exec_ms, scans = plan_summary(st.get("plan", []))
        out.append(f"| {q} | {st['logged_ms']:.1f} | {ms(exec_ms)} | {scans} |")
    out.append("")
    for q, st in sorted(slow.items()):
        out += [f"<details><summary>{q}: plan</summary>", "", "```",
                f"-- {st['sql']}", f"-- parameters: {', '.join(st['params'])}",
                *st.get("plan", []), "```", "", "</details>", ""]
    return out


def scale_section(scale):
    sizes = scale.get("sizes", {})
    if not sizes:
        why = f"Failed: {scale['error']}" if scale.get("error") else "Skipped (BENCH_SCALE=0)"
        return ["## Cost as the data grows", "", f"{why}: no figures.", ""]
    small, large = sizes.get("small", {}), sizes.get("large", {})
    ns, nl = small.get("tasks_of_user"), large.get("tasks_of_user")
    cs, cl = small.get("counts", {}), large.get("counts", {})
    st = scale.get("settings", {})
    out = ["## Cost as the data grows (data-scale phase)", ""]
    if scale.get("error"):
        out += [f"**The phase failed before its end**: {scale['error']}. What it measured "
                "before is below.", ""]
    out += [
           f"Loaded through SQL (`INSERT ... SELECT generate_series`, then `VACUUM ANALYZE`): "
           f"{fmt(st.get('other_tasks'))} tasks of {fmt(st.get('others'))} other users, and the "
           f"measured user's {fmt(ns)} tasks, then {fmt(nl)} "
           f"({fmt(cl.get('tasks_total') or cs.get('tasks_total'))} tasks in the table at the end, "
           "other phases' included). Statuses 40/20/40 % todo/in_progress/done, priorities "
           "25/40/25/10 % low/medium/high/urgent, due dates 30 % none, 30 % past, 40 % future, "
           "tag `work` on 30 %. "
           f"`zanzibar` is in {fmt(cs.get('rare_word_of_user'))} then "
           f"{fmt(cl.get('rare_word_of_user'))} of the user's tasks and in "
           f"{fmt(cl.get('rare_word_all_users') or cs.get('rare_word_all_users'))} tasks of all "
           f"users; `meeting` in {fmt(cs.get('common_word_of_user'))} then "
           f"{fmt(cl.get('common_word_of_user'))} of the user's.", ""]
    loads = scale.get("loads", [])
    if loads:
        out += ["| load step | rows | INSERT | VACUUM ANALYZE |", "|---|---|---|---|"]
        for i, ld in enumerate(loads):
            out.append(f"| {i + 1} | {fmt(ld['rows'])} | {ld['insert_s']} s | "
                       f"{ld['vacuum_analyze_s']} s |")
        out.append("")
    out += [f"Every list query asks for the first page of 50. **Uncached**: the first request of "
            "the query after a write through the API (`PATCH` of one of the user's tasks with "
            "`Prefer: wait`, answered once applied, so every API instance dropped the user's "
            "cached pages), every query once; **cached**: then every query again. The cache "
            "column is what the API's own `taskbus_cache_requests_total` (the Redis cache) counted for "
            "the request: `miss` (read from Postgres), `hit`, or `none`: no Redis cache lookup, "
            "i.e. served by the near cache, or a read without a cache. Times are the server's "
            "(the route's "
            "`taskbus_http_request_duration_seconds` for that one request), the median of "
            f"{fmt(st.get('rounds'))} rounds; client times (one keep-alive connection, Python) "
            f"are in `data_scale.json`. Postgres' own buffers are warm in both.", "",
            f"| read | items | uncached {fmt(ns)} ms | uncached {fmt(nl)} ms | growth | "
            f"cached {fmt(ns)} ms | cached {fmt(nl)} ms | cache (uncached / cached) | "
            f"uncached <= {SCALE_TARGET_MS:.0f} ms at {fmt(nl or ns)} |",
            "|---|---|---|---|---|---|---|---|---|"]
    near_lines = []
    for label, sz in (("small", small), ("large", large)):
        nc = sz.get("near_cache")
        if nc:
            near_lines.append(
                f"{fmt(sz.get('tasks_of_user'))} tasks: reads uncached {near(nc['reads'].get('uncached'))}, "
                f"cached {near(nc['reads'].get('cached'))}; deep pages uncached "
                f"{near(nc['pages'].get('uncached'))}, cached {near(nc['pages'].get('cached'))}")
    labels = list((large or small).get("reads", {}).keys())
    for q in labels:
        rs, rl = small.get("reads", {}).get(q), large.get("reads", {}).get(q)
        last = rl or rs
        us = rs["uncached"]["server_ms"] if rs else None
        ul = rl["uncached"]["server_ms"] if rl else None
        within = last["uncached"]["server_ms"]
        fails = failures(*[x[k] for x in (rs, rl) if x for k in ("uncached", "cached")])
        out.append(
            f"| {q}{fails} | {items(rs)} / {items(rl)} | {ms(us)} | "
            f"{ms(ul)} | {growth(us, ul)} | "
            f"{ms(rs['cached']['server_ms'] if rs else None)} | "
            f"{ms(rl['cached']['server_ms'] if rl else None)} | "
            f"{'/'.join(last['uncached']['cache'])} / {'/'.join(last['cached']['cache'])} | "
            f"{'n/a' if within is None else ('yes' if within <= SCALE_TARGET_MS else '**no**')} |")
    if near_lines:
        out += ["", "Near cache lookups (hits / misses; each request looks up its session and "
                "its page; the API publishes these counters once per lease renewal, so they are "
                "read per block of requests, not per request): "
                + "; ".join(near_lines) + "."]
    out += ["", f"Deep keyset pages: {fmt(st.get('pages'))} pages of 50 following `next_cursor`, "
            "in every sort after one write (uncached), then every walk again (cached); server ms, "
            "first / median / max / last page.",
            "",
            f"| sort | pages | uncached {fmt(ns)} | uncached {fmt(nl)} | growth (median) | "
            f"cached {fmt(ns)} | cached {fmt(nl)} |", "|---|---|---|---|---|---|---|"]

    def fml(m):
        return "n/a" if not m else " / ".join(ms(m[k]) for k in ("first", "median", "max", "last"))

    for q in (large or small).get("pages", {}):
        ps, pl = small.get("pages", {}).get(q), large.get("pages", {}).get(q)
        stops = [f"{lbl}: {f['status']} at page {f['page']}" for lbl, x in
                 ((f"{fmt(ns)} uncached", ps and ps["uncached"]), (f"{fmt(nl)} uncached", pl and pl["uncached"]),
                  (f"{fmt(ns)} cached", ps and ps["cached"]), (f"{fmt(nl)} cached", pl and pl["cached"]))
                 if x for f in x.get("failed", [])]
        stop_text = f" (**stopped: {'; '.join(stops)}**)" if stops else ""
        out.append(f"| {q}{stop_text} | {(pl or ps)['uncached']['pages']} | "
                   f"{fml(ps['uncached']['server_ms'] if ps else None)} | "
                   f"{fml(pl['uncached']['server_ms'] if pl else None)} | "
                   f"{growth((ps or {}).get('uncached', {}).get('server_ms', {}).get('median'), (pl or {}).get('uncached', {}).get('server_ms', {}).get('median'))} | "
                   f"{fml(ps['cached']['server_ms'] if ps else None)} | "
                   f"{fml(pl['cached']['server_ms'] if pl else None)} |")
    out += ["", "CSV report of all the user's tasks (`POST /api/v1/reports {\"format\":\"csv\"}`, "
            "polled every 20 ms until ready, then downloaded); the reporter's peak RSS is its "
            "VmHWM, reset (`/proc/<pid>/clear_refs`) just before the request.", "",
            "| tasks of the user | rows | size | POST -> ready | download | reporter peak RSS |",
            "|---|---|---|---|---|---|"]
    for label in ("small", "large"):
        s = sizes.get(label)
        if not s:
            continue
        r = s["report"]
        out.append(f"| {fmt(s['tasks_of_user'])} | {fmt(r['rows'])} | "
                   f"{fmt((r['size_bytes'] or 0) / 1048576, ' MiB')} | {r['post_to_ready_s']} s | "
                   f"{r['download_s']} s | {fmt(r['reporter_peak_rss_mib'], ' MiB')} |")
    return out + [""] + slow_section(scale)


def stack_cpu_section(lat, idle_cpu):
    sc = lat.get("stack_cpu")
    out = ["## Whole-stack CPU per applied command (latency phase)", ""]
    if not sc:
        return out + ["n/a (not measured: BENCH_LATENCY_CPU=0, or the phase failed)", ""]
    n, window = sc.get("commands_applied") or 0, sc["seconds"]
    after = sc.get("downstream_seconds_after_applied") or {}
    waited = max((v for v in after.values() if v is not None), default=None)
    out += [f"The CPU time (utime + stime from `/proc/<pid>/stat`) of every process of the stack "
            f"over a {fmt(window)} s window: from just before the "
            f"{fmt(lat.get('target_rate'))} creates/s load until every command was applied and "
            "the relay and every consumer group had caught up with them ("
            + (f"{fmt(waited)} s after the last command was seen applied"
               if sc.get("downstream_caught_up") else
               f"**they had not caught up when the wait ended**: {sc.get('downstream_left')}")
            + f"), divided by the {fmt(n)} commands of the latency users applied in it. Every "
            "taskbus daemon (both API instances when api2 runs), Postgres (the postmaster and all "
            "its processes; backends that ended in the window through the postmaster's "
            "cutime/cstime), redis-server and the Kafka JVM. **Not counted**: the bench's load "
            "generator and Redis subscriber (Python processes), the bench's own Postgres "
            "backends (by pid), the SMTP catcher (a test fake). Redis' and Kafka's figures "
            "include serving the bench's subscriber and its offset polls (small). The idle "
            "column is what the idle stack used at the baseline phase's rate (a 5 s sample in "
            "10 ms ticks: rough for the quiet daemons) over the same window length: part of "
            "the total, shown for reading it.", "",
            "| component | processes | CPU s | **core-ms / command** | share | idle stack, same window |",
            "|---|---|---|---|---|---|"]
    total = sc["total_cpu_s"]
    idle = (idle_cpu or {}).get("components", {})
    idle_s = (idle_cpu or {}).get("seconds")
    idle_total = 0.0
    for name, c in sc["components"].items():
        i = idle.get(name, {}).get("cpu_s")
        bg = i / idle_s * window if i is not None and idle_s else None
        idle_total += bg or 0.0
        out.append(f"| {name} | {c['processes']} | {c['cpu_s']:.2f} | "
                   f"**{1000 * c['cpu_s'] / n:.3f}** | {100 * c['cpu_s'] / total:.1f} % | "
                   f"{'n/a' if bg is None else f'{bg:.2f} s'} |" if n and total else
                   f"| {name} | {c['processes']} | {c['cpu_s']:.2f} | n/a | n/a | |")
    out.append(f"| **whole stack** | | **{total:.2f}** | "
               f"**{fmt(sc.get('core_ms_per_command'))}** | 100 % | "
               f"{f'{idle_total:.2f} s' if idle else 'n/a'} |")
    return out + ["", f"The stack used {100 * total / window:.0f} % of one core on average over "
                  "the window (the machine has " f"{os.cpu_count() * 100} %).", ""]


def sweep_section(sweep):
    out = ["## Rate sweep: the highest rate with accepted -> applied p99 under "
           f"{LATENCY_TARGET_MS:.0f} ms", ""]
    if not sweep:
        return out + ["n/a (skipped with BENCH_SWEEP=0, or failed)", ""]
    out += [f"Fixed-rate creates (the latency phase's client and users) for {fmt(sweep['seconds'])} s "
            "per rate, rising, stopping at the first rate whose p99 was over the limit (or "
            "whose commands were not all seen applied); before each, the writer idle and the "
            "pipeline caught up.", "",
            "| target rate | achieved | 202 p99 from the schedule ms | n | applied p50 ms | "
            "**applied p99 ms** | max ms | not seen applied | under the limit |",
            "|---|---|---|---|---|---|---|---|---|"]
    for st in sweep["steps"]:
        a = st["applied"]
        out.append(f"| {fmt(st['rate'])}/s | {fmt(st['achieved_rate'])}/s | {st['ack_p99_ms']} | "
                   f"{fmt(a['n'])} | {a['p50_ms']} | **{a['p99_ms']}** | {a['max_ms']} | "
                   f"{st['not_seen_applied']} | {'yes' if st['under_limit'] else '**no**'} |")
    best = sweep.get("highest_rate_under_limit")
    return out + ["", f"Highest rate under {fmt(sweep['limit_ms'])} ms: "
                  f"{fmt(best, '/s') if best else 'none of the rates'}.", ""]


def lag_section(drain):
    lag = drain.get("lag")
    out = ["### Time to zero lag after the drain", ""]
    if not lag:
        return out + ["n/a (not measured: BENCH_LAG_TIMEOUT=0, or the drain failed)", ""]
    running = lag.get("daemons_running", {})
    first, secs = lag["at_writer_done"], lag["seconds_after_writer"]
    out += ["From the moment all the drain's commands were in `commands` (the writer "
            "finished; 100 ms polls), polled every 100 ms: the relay's backlog (outbox rows not "
            "yet published) and each consumer group's lag (Kafka's end offsets minus the "
            "group's next offsets in `kafka_consumer_offsets`, summed over the partitions). "
            "A group counts as caught up once its lag is zero and the relay has published "
            f"every row of its topic. Waited at most {fmt(lag['timeout_s'])} s. Daemons running: "
            + ", ".join(f"{d} {'yes' if r else '**no**'}" for d, r in sorted(running.items()))
            + ("" if lag.get("caught_up_before", True) else
               "; **the pipeline had not caught up with earlier phases before the drain**") + ".",
            "", "| consumer | topic | behind when the writer finished | **seconds after the writer** | "
            f"<= {LAG_TARGET_S:.0f} s |", "|---|---|---|---|---|"]
    topics = lag.get("topics", {})
    for name, v in secs.items():
        if name in topics:
            behind = f"{fmt(first['groups'].get(name))} records"
            topic = topics[name]
        else:
            behind = f"{fmt(sum(first['relay'].values()))} outbox rows"
            topic = ", ".join(sorted(first["relay"])) or "(all)"
        left = "" if v is not None else (
            f" (still {lag['left']['groups'].get(name, sum(lag['left']['relay'].values()))} behind)")
        out.append(f"| {name} | {topic} | {behind} | **{fmt(v) if v is not None else 'not reached'}"
                   f"**{left} | {'n/a' if v is None else ('yes' if v <= LAG_TARGET_S else '**no**')} |")
    return out + [""]


def imports_section(imports):
    out = ["## Imports", ""]
    if not imports:
        return out + ["n/a (skipped with BENCH_IMPORT=0, or failed)", ""]
    sm, lg = imports.get("small"), imports.get("large")

    def progress(p):
        return ", ".join(f"{k} {v}" for k, v in p.items())

    if sm:
        secs = sm["seconds_to_all_applied"]
        out += [f"**{fmt(sm['tasks'])} tasks, one NDJSON `POST /api/v1/tasks/import`, otherwise "
                f"idle stack** (idle before: {'yes' if sm['stack_idle_before'] else '**no**'}): "
                f"202 after {fmt(sm['answer_seconds'])} s; "
                + (f"all applied (rows in `commands`, 50 ms polls) **{fmt(secs)} s** after the "
                   f"request = {fmt(sm['rate'])}/s" if secs is not None else
                   f"**not all applied within {fmt(sm['timeout_s'])} s** ({fmt(sm['applied'])})")
                + f"; span of `commands.applied_at` {fmt(sm['applied_at_span_seconds'])} s; "
                f"progress document at the end: {progress(sm['progress'])}.", ""]
    if lg:
        secs = lg["seconds_to_all_applied"]
        it = lg["interactive"]
        out += [f"**{fmt(lg['tasks'])} tasks under interactive load**: "
                f"{len(lg['imports'])} NDJSON imports of one user "
                f"({' + '.join(f'{n:,}' for n in lg['imports'])}: at most "
                f"{fmt(imports.get('max_items_per_import'))} per import, the API's limit, "
                "`IMPORT_MAX_ITEMS` in api/import_parse.h, a constant), posted one after the other "
                f"in {fmt(lg['posted_seconds'])} s (idle before: "
                f"{'yes' if lg['stack_idle_before'] else '**no**'}); first applied seen "
                f"{fmt(lg['first_applied_seconds'])} s after the first request (looked for once "
                "the last request was answered); then "
                f"{fmt(it['target_rate'])} creates/s of {fmt(it['users'])} other users for "
                f"{fmt(it['seconds'])} s (achieved {fmt(it['achieved_rate'])}/s). Import commands "
                f"applied when the load started: {fmt(lg['import_applied_before_load'])}, when it "
                f"ended: {fmt(lg['import_applied_after_load'])} ("
                + ("the import was still running" if lg["load_overlapped_import"] else
                   "**the import had ended before the load did**") + "); "
                + (f"all applied **{fmt(secs)} s** after the first request = {fmt(lg['rate'])}/s"
                   if secs is not None else
                   f"**not all applied within {fmt(lg['timeout_s'])} s** ({fmt(lg['applied'])})")
                + ".", "",
                "| interactive creates during the import | n | p50 ms | p99 ms | max ms |",
                "|---|---|---|---|---|",
                lat_row("202 answer, from the scheduled send", it.get("ack_latency_from_schedule")),
                lat_row("**202 held -> applied**", it.get("accepted_to_applied")),
                lat_row("202 held -> commands.applied_at (lower bound)",
                        it.get("accepted_to_txn_start")), ""]
    return out


def main():
    out_file, commit = sys.argv[1], sys.argv[2]
    settings = load("settings")
    w = {k: load(f"wrk_{k}") for k in ("hello", "produce", "get", "list", "post")}
    lat, drain = load("latency"), load("drain")
    idle, idle_hello = load("idle_api"), load("idle_hello")
    rt, scale = load("redis_roundtrips"), load("data_scale")
    model, cores, mem, kernel = machine()
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    quiet, verdict = quiet_verdict()
    run_s = settings.get("run_seconds")
    lines = [f"# Benchmark run {now}, commit {commit}", "", verdict, "",
             "Produced by `tests/bench/run` (see tests/bench/README.md). Everything on one box: "
             "the load generators, the stack and whatever else runs on the machine.", "",
             "## Machine", "",
             f"- CPU: {model}, {cores} cores; memory {mem}; {kernel}",
             f"- load average (1/5/15 min) at start: {settings.get('loadavg_start', 'n/a')}; "
             f"at end: {settings.get('loadavg_end', 'n/a')}",
             f"- build: {settings.get('build', 'n/a')}",
             f"- run time (stack up to the last phase): "
             f"{'n/a' if run_s is None else f'{run_s // 60} min {run_s % 60} s'}", ""]
    sweep, imports, idle_cpu = load("sweep"), load("imports"), load("stack_cpu_baseline")
    lines += summary_section(w, lat, drain, idle, rt, scale, sweep, imports)
    lines += ["", "## CPU during each phase (percent of one core; the machine has "
              f"{cores * 100} %)", "",
              "\"this run\" is the bench stack (API, workers, Postgres, Redis, Kafka) plus wrk, the "
              "Python clients and the baselines; \"others\" is the machine's busy time minus ours: "
              "other engineers' stacks and tests. Every figure on this page comes from one of "
              "these phases.", "",
              "| phase | length | machine busy | this run | others | busiest others |",
              "|---|---|---|---|---|---|"]
    lines += [r for r in (cpu_row(phase, name) for phase, name in PHASES) if r]
    hello = w["hello"]
    lines += ["", f"## HTTP throughput (wrk, {settings.get('wrk', 'n/a')})", "",
              "| scenario | req/s | vs hello | vs produce | p50 ms | p99 ms | max ms | "
              "requests / non-2xx / socket errors |",
              "|---|---|---|---|---|---|---|---|",
              wrk_row("bare ulfius hello (baseline)", hello, hello),
              wrk_row(f"produce_server: bare ulfius + Kafka produce, 202 after the delivery "
                      f"report, {settings.get('post_users', '?')} keys (baseline)",
                      w["produce"], hello, w["produce"]),
              wrk_row("GET /api/v1/tasks/{id}, cached, 1 user", w["get"], hello),
              wrk_row("GET /api/v1/tasks?limit=50, cached first page, 1 user", w["list"], hello),
              wrk_row(f"POST /api/v1/tasks, {settings.get('post_users', '?')} users", w["post"],
                      hello, w["produce"])]
    lines += [""] + redis_section(rt)
    lines += ["", "## Accepted -> applied at a fixed rate", "",
              f"Target {fmt(lat.get('target_rate'))} creates/s for {fmt(lat.get('seconds'))} s over "
              f"{fmt(lat.get('connections'))} connections, {fmt(lat.get('users'))} users; "
              f"sent {fmt(lat.get('sent'))} at {fmt(lat.get('achieved_rate'))}/s, "
              f"202: {fmt(lat.get('accepted_202'))}, other statuses: {lat.get('other_status', 'n/a')}, "
              f"applied in Postgres: {fmt(lat.get('applied_in_postgres'))}, published: "
              f"{fmt(lat.get('published'))}.", "",
              "| interval | n | p50 ms | p99 ms | max ms |", "|---|---|---|---|---|",
              lat_row("202 answer, from the scheduled send", lat.get("ack_latency_from_schedule")),
              lat_row("**202 held -> applied** (writer published; GET /commands says applied)",
                      lat.get("accepted_to_applied")),
              lat_row("command id time (API accept) -> applied", lat.get("command_id_to_applied")),
              lat_row("202 held -> commands.applied_at (batch transaction start; lower bound)",
                      lat.get("accepted_to_txn_start")), ""]
    lines += stack_cpu_section(lat, idle_cpu)
    lines += sweep_section(sweep)
    lines += ["## Writer drain", "",
              f"{fmt(drain.get('commands'))} task.create commands of {fmt(drain.get('users'))} users "
              f"produced straight to Kafka ({fmt(drain.get('produce_seconds'))} s) while the writer "
              "was stopped, then the writer started.", "",
              f"- from `compose/local start writer` to all applied: "
              f"{fmt(drain.get('seconds_from_writer_start'))} s = "
              f"{fmt(drain.get('rate_from_writer_start'))}/s (process start and group join included)",
              f"- from the first applied command seen (100 ms polls) to all applied: "
              f"{fmt(drain.get('seconds_from_first_seen'))} s = {fmt(drain.get('rate_from_first_seen'))}/s",
              f"- span of `commands.applied_at` (first to last batch start): "
              f"{fmt(drain.get('applied_at_span_seconds'))} s = "
              f"{fmt(drain.get('rate_over_applied_at_span'))}/s", ""]
    lines += lag_section(drain)
    lines += imports_section(imports)
    lines += ["## Idle keep-alive connections", "",
              "| server | connections | RSS before | RSS holding them | RSS after close | threads | fresh request while held |",
              "|---|---|---|---|---|---|---|"]
    for label, d in (("taskbus-api", idle), ("hello_server (baseline)", idle_hello)):
        if d:
            lines.append(f"| {label} | {fmt(d['connections'])} | {d['rss_mib_before']} MiB | "
                         f"{d['rss_mib_with_connections']} MiB | {d['rss_mib_after_close']} MiB | "
                         f"{d['threads_with_connections']} | {d['fresh_request_ms_while_held']} ms |")
        else:
            lines.append(f"| {label} | n/a | | | | | |")
    lines += [""] + scale_section(scale)
    lines += ["## Settings", ""]
    lines += [f"- {k}: {v}" for k, v in sorted(settings.items())
              if k not in ("loadavg_start", "loadavg_end", "build", "run_seconds")]
    lines += [f"- quiet threshold: others <= {QUIET_OTHERS_PCT:.0f} % of one core in every phase",
              f"- quiet: {'n/a' if quiet is None else ('yes' if quiet else 'no')}"]
    text = "\n".join(lines) + "\n"
    with open(out_file, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
