"""Redis work per request: round trips and commands (tests/bench/run calls it).

Owns: sending cached GET /api/v1/tasks/{id}, cached GET /api/v1/tasks?limit=50 (the first
page) and POST /api/v1/tasks one at a time while (1) a MONITOR connection records every
command Redis runs and (2) the kernel's per-socket counters (`ss -ti`: data_segs_out) count
what each process wrote to Redis; then, per request, the API's round trips (TCP writes
carrying data: a pipeline or a script is one), the commands it sent (EVALSHA, MGET, ...)
and the commands its Lua scripts ran inside Redis, with the writer's Redis work beside
it. A window of the same kind with no requests measures the API's background (lease
renewals, acknowledgements) first; its rate times each window's length is taken out of
the per-request figures ("net"), and the raw figures stay in the JSON. Writes
<work>/redis_roundtrips.json.
Rules: commands and sockets are attributed to a process by their client port (`ss -tnp`
maps ports to processes), and a connection that named itself (CLIENT SETNAME: the
near-cache subscriber, the rate-limit reconciler, the SSE hub) is counted apart as that
process's background connection "taskbus-api [name]": they work off the request path, so
the per-request figures ("the request path") are those of the API's unnamed connections
(its request pool), and the named ones are shown beside them; a script's inner commands (MONITOR shows them right after the
EVALSHA, with no address) belong to the caller of the preceding EVALSHA/EVAL; requests
are sequential, so nothing else of ours is in flight; "steady state" means warm: every
request's answer was cached before its window starts.
"""

import json
import re
import subprocess
import threading
import time
import urllib.parse
from collections import Counter

import redis
import requests

from bench_common import api_url, env, read_lines, work_dir, write_result

SS_CONN_RE = re.compile(r':(\d+)\s+\S+:\d+\s+users:\(\("([^"]+)"')
SS_SEGS_RE = re.compile(r"\bdata_segs_out:(\d+)")
PROCS = ("taskbus-api", "taskbus-writer")
REQUESTS = 50
BACKGROUND_S = 3.0


def redis_port():
    return urllib.parse.urlsplit(env("REDIS_URL")).port


def client_names():
    """{client port: CLIENT SETNAME name} of the named connections to our Redis."""
    out = {}
    for c in redis.Redis.from_url(env("REDIS_URL")).client_list():
        if c.get("name") and ":" in c.get("addr", ""):
            out[int(c["addr"].rsplit(":", 1)[1])] = c["name"]
    return out


def sockets():
    """{client port: (label, data segments sent)} of every TCP connection to Redis; the
    label is the process name, with " [name]" for a connection that named itself."""
    out = subprocess.run(["ss", "-Htnpi", f"( dport = :{redis_port()} )"], capture_output=True,
                         text=True, check=True).stdout
    names = client_names()
    found, port, name = {}, None, None
    for line in out.splitlines():
        m = SS_CONN_RE.search(line)
        if m:
            port, name = int(m.group(1)), m.group(2)
            if port in names:
                name = f"{name} [{names[port]}]"
            found[port] = (name, 0)
            continue
        s = SS_SEGS_RE.search(line)
        if s and port is not None:
            found[port] = (name, int(s.group(1)))
    return found


def segments_sent(before, after):
    """{process: data segments sent between two snapshots} (new connections from 0)."""
    out = Counter()
    for port, (name, segs) in after.items():
        old = before.get(port)
        out[name] += segs - (old[1] if old and old[0] == name else 0)
    return out


def monitor(lines, ready, stop):
    r = redis.Redis.from_url(env("REDIS_URL"))
    with r.monitor() as m:
        ready.set()
        for cmd in m.listen():
            if stop.is_set():
                return
            lines.append((cmd.get("client_type"), cmd.get("client_port"), cmd["command"]))


def attribute(lines, owners):
    """{process: {"client": Counter, "lua": Counter}} from MONITOR lines."""
    out, caller = {}, "?"
    for ctype, cport, command in lines:
        name = command.split()[0].upper() if command else "?"
        if ctype == "lua":
            out.setdefault(caller, {"client": Counter(), "lua": Counter()})["lua"][name] += 1
            continue
        try:
            caller = owners.get(int(cport), "?")
        except (TypeError, ValueError):
            caller = "?"
        out.setdefault(caller, {"client": Counter(), "lua": Counter()})["client"][name] += 1
    return out


def window(fn, n, settle_s):
    """Runs fn(n) under MONITOR and the socket counters: the raw Redis work per process."""
    lines, ready, stop = [], threading.Event(), threading.Event()
    t = threading.Thread(target=monitor, args=(lines, ready, stop), daemon=True)
    t.start()
    if not ready.wait(10):
        raise SystemExit("MONITOR did not start within 10 s")
    time.sleep(0.2)
    before = sockets()
    t0 = time.monotonic()
    fn(n)
    time.sleep(settle_s)  # the writer's effects of a POST land shortly after the answer
    seconds = time.monotonic() - t0
    after = sockets()
    stop.set()
    redis.Redis.from_url(env("REDIS_URL")).ping()  # wakes the monitor so it sees stop
    t.join(5)
    owners = {port: name for port, (name, _) in {**before, **after}.items()}
    by_proc = attribute(lines, owners)
    segs = segments_sent(before, after)
    empty = {"client": Counter(), "lua": Counter()}
    labels = set(PROCS) | {k for k in list(by_proc) + list(segs) if k.startswith("taskbus-api [")}
    return {
        "requests": n, "seconds": round(seconds, 3),
        "procs": {p: {"commands": dict(by_proc.get(p, empty)["client"]),
                      "lua": dict(by_proc.get(p, empty)["lua"]),
                      "round_trips": segs.get(p, 0)} for p in sorted(labels)},
        "unattributed": {k: dict(v["client"]) for k, v in by_proc.items()
                         if k not in labels and k != "python"},
    }


def per_request(w, bg):
    """The API's figures per request, raw and with the background taken out."""
    n, api, bg_api = w["requests"], w["procs"]["taskbus-api"], bg["procs"]["taskbus-api"]
    scale = w["seconds"] / bg["seconds"]

    def net(raw, background):
        return round(max(0.0, raw - background * scale) / n, 2)

    cmds, bg_cmds = sum(api["commands"].values()), sum(bg_api["commands"].values())
    writer = w["procs"]["taskbus-writer"]
    background = {p: {"round_trips_per_request": round(d["round_trips"] / n, 2),
                      "commands": d["commands"]}
                  for p, d in w["procs"].items() if p.startswith("taskbus-api [")}
    return {
        "api_background_connections": background,
        "requests": n, "window_seconds": w["seconds"],
        "api_round_trips_per_request": net(api["round_trips"], bg_api["round_trips"]),
        "api_round_trips_per_request_raw": round(api["round_trips"] / n, 2),
        "api_commands_per_request": net(cmds, bg_cmds),
        "api_commands_per_request_raw": round(cmds / n, 2),
        "api_commands": api["commands"],
        "api_lua_inner_commands_per_request": round(sum(api["lua"].values()) / n, 2),
        "api_lua_inner_commands": api["lua"],
        "writer_round_trips": writer["round_trips"], "writer_commands": writer["commands"],
        "writer_lua_inner_commands": writer["lua"],
        "unattributed": w["unattributed"],
    }


def main():
    work = work_dir()
    token = read_lines(f"{work}/get_token.txt")[0]
    ids = read_lines(f"{work}/get_ids.txt")
    post_token = read_lines(f"{work}/post_tokens.txt")[0]
    s = requests.Session()
    auth = {"Authorization": f"Bearer {token}"}

    def gets(n):
        for i in range(n):
            r = s.get(f"{api_url()}/api/v1/tasks/{ids[i % len(ids)]}", headers=auth, timeout=10)
            assert r.status_code == 200, (r.status_code, r.text[:200])

    def lists(n):
        for _ in range(n):
            r = s.get(f"{api_url()}/api/v1/tasks", params={"limit": 50}, headers=auth, timeout=10)
            assert r.status_code == 200, (r.status_code, r.text[:200])

    def posts(n):
        for _ in range(n):
            r = s.post(f"{api_url()}/api/v1/tasks", data=json.dumps({"title": "monitor"}),
                       headers={"Authorization": f"Bearer {post_token}",
                                "Content-Type": "application/json"}, timeout=30)
            assert r.status_code == 202, (r.status_code, r.text[:200])

    # warm connections, pools and caches: every id of the window and the list page
    gets(REQUESTS)
    lists(2)
    posts(2)
    time.sleep(1.0)
    bg = window(lambda _n: time.sleep(BACKGROUND_S), 1, 0)
    bg_api = bg["procs"]["taskbus-api"]
    write_result("redis_roundtrips", {
        "background": {"seconds": bg["seconds"],
                       "api_round_trips_per_s": round(bg_api["round_trips"] / bg["seconds"], 2),
                       "api_commands_per_s": round(sum(bg_api["commands"].values())
                                                   / bg["seconds"], 2),
                       "api_commands": bg_api["commands"],
                       "named_round_trips_per_s": {
                           p: round(d["round_trips"] / bg["seconds"], 2)
                           for p, d in bg["procs"].items() if p.startswith("taskbus-api [")}},
        "get_task": per_request(window(gets, REQUESTS, 0.2), bg),
        "list_tasks": per_request(window(lists, REQUESTS, 0.2), bg),
        "post_task": per_request(window(posts, REQUESTS, 1.5), bg),
    })


if __name__ == "__main__":
    main()
