"""Turns one benchmark run's figures into tests/bench/results/<date>-<commit>.md.

Owns: the results page: whether the run was quiet (first thing on the page), machine,
date, commit, run time, the load other processes put on the machine in each phase, every
figure, the ratios against the two baselines (bare ulfius "hello" for reads, the bare
ulfius + Kafka "produce" server for POST) next to the aims of DESIGN.md section 9 and
issue 8, the Redis round trips per request against their targets, and the data-scale
table (10 000 -> 300 000 tasks of one user). Usage: report.py OUT_FILE COMMIT (figures
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

# (label, machine_load name) of every phase, in run order
PHASES = [("before the loads (stack idle)", "baseline"), ("Redis round trips", "redis"),
          ("hello (wrk)", "hello"), ("produce baseline (wrk)", "produce"),
          ("GET /tasks/{id} (wrk)", "get"), ("GET /tasks list page (wrk)", "list"),
          ("POST /tasks (wrk)", "post"), ("accepted -> applied", "latency"),
          ("writer drain", "drain"), ("idle connections", "idle"),
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


def summary_section(w, lat, drain, idle, rt, scale):
    hello, produce, get, lst, post = w["hello"], w["produce"], w["get"], w["list"], w["post"]
    a2a = lat.get("accepted_to_applied", {})
    out = ["## Against the aims (DESIGN.md section 9, issue 8)", "",
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
            "column is what the API's own `cache_requests_total` (the Redis cache) counted for "
            "the request: `miss` (read from Postgres), `hit`, or `none`: no Redis cache lookup, "
            "i.e. served by the near cache, or a read without a cache. Times are the server's "
            "(the route's "
            "`http_request_duration_seconds` for that one request), the median of "
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
    lines += summary_section(w, lat, drain, idle, rt, scale)
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
                      lat.get("accepted_to_txn_start"))]
    lines += ["", "## Writer drain", "",
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
