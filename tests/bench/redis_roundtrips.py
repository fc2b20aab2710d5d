"""Redis work per request, seen through MONITOR (tests/bench/run calls it).

Owns: sending a few cached GET /api/v1/tasks/{id} and POST /api/v1/tasks one at a time
while a MONITOR connection records every command Redis runs, then counting per request
the round trips the API makes (EVALSHA, MGET, GET, ...) and the commands its Lua scripts
run inside Redis, with the writer's Redis work per applied command beside it; writes
<work>/redis_roundtrips.json.
Rules: commands are attributed to a process by their client port (`ss -tnp` maps ports
to processes); a script's inner commands (MONITOR shows them right after the EVALSHA,
with no address) belong to the caller of the preceding EVALSHA/EVAL; requests are
sequential, so nothing else of ours is in flight.
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

SS_RE = re.compile(r':(\d+)\s+\S+:(\d+)\s+users:\(\("([^"]+)"')


def port_owners():
    """{client port: process name} of every TCP connection to our Redis."""
    port = urllib.parse.urlsplit(env("REDIS_URL")).port
    out = subprocess.run(["ss", "-Htnp", f"( dport = :{port} )"], capture_output=True,
                         text=True, check=True).stdout
    return {int(m.group(1)): m.group(3) for m in SS_RE.finditer(out)}


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


def record(fn, n, settle_s):
    lines, ready, stop = [], threading.Event(), threading.Event()
    t = threading.Thread(target=monitor, args=(lines, ready, stop), daemon=True)
    t.start()
    ready.wait(10)
    time.sleep(0.2)
    owners = port_owners()
    fn(n)
    time.sleep(settle_s)  # the writer's effects of a POST land shortly after the answer
    owners.update(port_owners())
    stop.set()
    redis.Redis.from_url(env("REDIS_URL")).ping()  # wakes the monitor so it sees stop
    t.join(5)
    by_proc = attribute(lines, owners)
    api = by_proc.get("taskbus-api", {"client": Counter(), "lua": Counter()})
    writer = by_proc.get("taskbus-writer", {"client": Counter(), "lua": Counter()})
    return {
        "requests": n,
        "api_round_trips_per_request": round(sum(api["client"].values()) / n, 2),
        "api_lua_inner_commands_per_request": round(sum(api["lua"].values()) / n, 2),
        "api_commands": dict(api["client"]), "api_lua_inner_commands": dict(api["lua"]),
        "writer_round_trips": sum(writer["client"].values()),
        "writer_commands": dict(writer["client"]), "writer_lua_inner_commands": dict(writer["lua"]),
        "unattributed": {k: dict(v["client"]) for k, v in by_proc.items()
                         if k not in ("taskbus-api", "taskbus-writer", "python")},
    }


def main():
    work = work_dir()
    token = read_lines(f"{work}/get_token.txt")[0]
    ids = read_lines(f"{work}/get_ids.txt")
    post_token = read_lines(f"{work}/post_tokens.txt")[0]
    s = requests.Session()

    def gets(n):
        for i in range(n):
            r = s.get(f"{api_url()}/api/v1/tasks/{ids[i % len(ids)]}",
                      headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert r.status_code == 200, (r.status_code, r.text[:200])

    def posts(n):
        for _ in range(n):
            r = s.post(f"{api_url()}/api/v1/tasks", data=json.dumps({"title": "monitor"}),
                       headers={"Authorization": f"Bearer {post_token}",
                                "Content-Type": "application/json"}, timeout=30)
            assert r.status_code == 202, (r.status_code, r.text[:200])

    gets(5)  # warm connections and pools
    write_result("redis_roundtrips", {"get_task": record(gets, 20, 0.2),
                                      "post_task": record(posts, 20, 1.5)})


if __name__ == "__main__":
    main()
