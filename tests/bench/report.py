"""Turns one benchmark run's figures into tests/bench/results/<date>-<commit>.md.

Owns: the results page: machine, date, commit, the load other processes put on the
machine in each phase, every figure, and the ratios against the bare ulfius "hello"
baseline next to the aims of DESIGN.md section 9. Usage: report.py OUT_FILE COMMIT
(figures come from BENCH_WORK_DIR); prints the page too.
Rules: a figure that is missing (its phase failed) is shown as "n/a", never invented; the
page says "reached"/"not reached" for an aim, and nothing fails because of it.
"""

import json
import os
import platform
import sys
from datetime import datetime, timezone

from bench_common import work_dir


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


def aim(label, figure, target, ok):
    state = "n/a" if ok is None else ("reached" if ok else "not reached")
    return f"| {label} | {figure} | {target} | {state} |"


def cpu_row(phase, name):
    c = load(f"cpu_{name}")
    if not c:
        return f"| {phase} | n/a | n/a | n/a | n/a | |"
    return (f"| {phase} | {fmt(c['seconds'])} s | {fmt(c['machine_busy_pct'])} % | "
            f"{fmt(c['ours_pct'])} % | "
            f"{fmt(c['others_pct'])} % | "
            f"{', '.join(c.get('top_others', []))} |")


def wrk_row(label, w, hello_rps):
    if not w:
        return f"| {label} | n/a | | | | | |"
    ratio = f"{100 * w['rps'] / hello_rps:.1f} %" if hello_rps else "n/a"
    errors = (w["errors_connect"] + w["errors_read"] + w["errors_write"] + w["errors_timeout"])
    return (f"| {label} | {fmt(w['rps'])} | {ratio} | {w['p50_ms']} | {w['p99_ms']} | "
            f"{w['max_ms']} | {fmt(w['requests'])} / {w['non_2xx_3xx']} / {errors} |")


def lat_row(label, s):
    if not s or not s.get("n"):
        return f"| {label} | n/a | | | |"
    return f"| {label} | {fmt(s['n'])} | {s['p50_ms']} | {s['p99_ms']} | {s['max_ms']} |"


def summary_section(hello, get, post, lat, drain, idle):
    hello_rps = hello.get("rps")

    def ratio(w):
        return w["rps"] / hello_rps if w and hello_rps else None

    r_get, r_post = ratio(get), ratio(post)
    a2a = lat.get("accepted_to_applied", {})
    out = ["## Against the aims (DESIGN.md section 9)", "",
           "| aim | measured | target | |", "|---|---|---|---|"]
    out.append(aim("cached GET /tasks/{id} req/s vs hello",
                   f"{100 * r_get:.1f} % ({fmt(get['rps'])} / {fmt(hello_rps)})" if r_get else "n/a",
                   ">= 50 %", None if r_get is None else r_get >= 0.5))
    out.append(aim("cached GET p99 at 64 connections", fmt(get.get("p99_ms"), " ms"), "<= 10 ms",
                   None if not get else get["p99_ms"] <= 10))
    out.append(aim("POST /tasks req/s vs hello",
                   f"{100 * r_post:.1f} % ({fmt(post['rps'])} / {fmt(hello_rps)})" if r_post else "n/a",
                   ">= 25 %", None if r_post is None else r_post >= 0.25))
    out.append(aim(f"accepted -> applied p99 at {fmt(lat.get('target_rate'))}/s "
                   f"(achieved {fmt(lat.get('achieved_rate'))}/s)",
                   fmt(a2a.get("p99_ms"), " ms"), "<= 50 ms",
                   None if not a2a.get("n") else a2a["p99_ms"] <= 50))
    out.append(aim("writer drain (applied_at span)", fmt(drain.get("rate_over_applied_at_span"), "/s"),
                   ">= 20,000/s", None if not drain else drain["rate_over_applied_at_span"] >= 20000))
    out.append(aim(f"API RSS with {fmt(idle.get('connections'))} idle connections",
                   fmt(idle.get("rss_mib_with_connections"), " MiB"), "< 64 MB (61 MiB)",
                   None if not idle else idle["rss_mib_with_connections"] * 1048576 < 64e6))
    return out


def main():
    out_file, commit = sys.argv[1], sys.argv[2]
    settings = load("settings")
    hello, get, post = load("wrk_hello"), load("wrk_get"), load("wrk_post")
    lat, drain = load("latency"), load("drain")
    idle, idle_hello = load("idle_api"), load("idle_hello")
    rt = load("redis_roundtrips")
    model, cores, mem, kernel = machine()
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# Benchmark run {now}, commit {commit}", "",
             "Produced by `tests/bench/run` (see tests/bench/README.md). Everything on one box: "
             "the load generators, the stack and whatever else runs on the machine.", "",
             "## Machine", "",
             f"- CPU: {model}, {cores} cores; memory {mem}; {kernel}",
             f"- load average (1/5/15 min) at start: {settings.get('loadavg_start', 'n/a')}; "
             f"at end: {settings.get('loadavg_end', 'n/a')}",
             f"- build: {settings.get('build', 'n/a')}", ""]
    lines += summary_section(hello, get, post, lat, drain, idle)
    lines += ["", "## CPU during each phase (percent of one core; the machine has "
              f"{cores * 100} %)", "",
              "\"this run\" is the bench stack (API, workers, Postgres, Redis, Kafka) plus wrk, the "
              "Python clients and hello_server; \"others\" is the machine's busy time minus ours: "
              "other engineers' stacks and tests.", "",
              "| phase | length | machine busy | this run | others | busiest others |",
              "|---|---|---|---|---|---|"]
    for phase, name in (("before the loads (stack idle)", "baseline"), ("hello (wrk)", "hello"), ("GET /tasks/{id} (wrk)", "get"),
                        ("POST /tasks (wrk)", "post"), ("accepted -> applied", "latency"),
                        ("writer drain", "drain")):
        lines.append(cpu_row(phase, name))
    lines += ["", f"## HTTP throughput (wrk, {settings.get('wrk', 'n/a')})", "",
              "| scenario | req/s | vs hello | p50 ms | p99 ms | max ms | requests / non-2xx / socket errors |",
              "|---|---|---|---|---|---|---|",
              wrk_row("bare ulfius hello", hello, hello.get("rps")),
              wrk_row("GET /api/v1/tasks/{id}, cached, 1 user", get, hello.get("rps")),
              wrk_row(f"POST /api/v1/tasks, {settings.get('post_users', '?')} users", post,
                      hello.get("rps"))]
    lines += ["", f"## Accepted -> applied at a fixed rate", "",
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
    lines += ["", "## Redis work per request (MONITOR, 20 sequential requests each)", "",
              "| request | API round trips / request | API commands | inside the API's scripts "
              "/ request | writer (whole phase) |", "|---|---|---|---|---|"]
    for label, key in (("cached GET /tasks/{id}", "get_task"), ("POST /tasks", "post_task")):
        d = rt.get(key)
        if not d:
            lines.append(f"| {label} | n/a | | | |")
            continue
        lines.append(f"| {label} | {d['api_round_trips_per_request']} | {d['api_commands']} | "
                     f"{d['api_lua_inner_commands_per_request']} {d['api_lua_inner_commands']} | "
                     f"{d['writer_round_trips']} round trips {d['writer_commands']}, in scripts "
                     f"{d['writer_lua_inner_commands']} |")
    lines += ["", "## Settings", ""]
    lines += [f"- {k}: {v}" for k, v in sorted(settings.items())
              if k not in ("loadavg_start", "loadavg_end", "build")]
    text = "\n".join(lines) + "\n"
    with open(out_file, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
