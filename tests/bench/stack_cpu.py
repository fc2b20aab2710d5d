"""CPU time of the bench stack, per component, between two moments (tests/bench/*.py).

Owns: finding every process of the stack (each taskbus-* daemon from <data>/run/<name>.pid,
both API instances when api2 runs, Postgres' postmaster and all its backends and helpers,
redis-server, the Kafka JVM) and summing their utime+stime from /proc/<pid>/stat per
component; `snap NAME` / `diff NAME` for a phase run by tests/bench/run, and snapshot() /
usage() for a phase that samples itself (applied_latency.py).
Rules: a component is the process tree under its pid file's process, so Postgres
backends that start during the window count whole, and those that end count through the
postmaster's cutime/cstime with their earlier life taken out again (machine_load.py's
phase_cpu, the same bookkeeping). The bench's own load generators (Python, wrk) are not
stack processes and are never counted; the bench's own Postgres backends are left out by
pid (exclude=: the caller keeps those connections open over the window, so their time
never reaches the postmaster's cutime). The SMTP catcher is a test fake, not counted.
"""

import json
import os
import sys
import time

from bench_common import env, work_dir, write_result
from machine_load import HZ, phase_cpu, processes

# Display order; the daemons of compose/lib/common.sh TB_DAEMONS, then the services.
DAEMONS = ["api", "api2", "writer", "relay", "importer", "notifier", "webhooks", "scheduler",
           "reporter", "analytics", "activity"]
SERVICES = ["postgres", "redis", "kafka"]
COMPONENTS = DAEMONS + SERVICES


def _pidfile(path):
    try:
        with open(path) as f:
            return int(f.readline().strip())
    except (OSError, ValueError):
        return None


def roots():
    """{component: pid of its top process} of what runs now."""
    data = env("TASKBUS_DATA_DIR")
    out = {}
    for name in DAEMONS + ["redis", "kafka"]:
        pid = _pidfile(os.path.join(data, "run", f"{name}.pid"))
        if pid is not None and os.path.exists(f"/proc/{pid}"):
            out[name] = pid
    pid = _pidfile(os.path.join(data, "postgres", "postmaster.pid"))
    if pid is not None and os.path.exists(f"/proc/{pid}"):
        out["postgres"] = pid
    return out


def _trees(procs, root_pids):
    """{pid: component} of every live process under each component's root."""
    children = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    owner = {}
    for comp, root in root_pids.items():
        todo = [root] if root in procs else []
        while todo:
            p = todo.pop()
            if p not in owner:
                owner[p] = comp
                todo.extend(children.get(p, []))
    return owner


def snapshot():
    """Every process's CPU jiffies now, and which component each stack process is in."""
    procs = processes()
    return {"t": time.monotonic(), "wall": time.time(),
            "procs": {str(k): v[1] for k, v in procs.items()},
            "parents": {str(k): v[0] for k, v in procs.items()},
            "owner": {str(k): c for k, c in _trees(procs, roots()).items()}}


def usage(old, new=None, exclude=()):
    """{"seconds", "components": {name: {"cpu_s", "processes"}}, "total_cpu_s"} between
    snapshot old and new (default: now); pids in exclude are not counted."""
    new = new or snapshot()
    procs = {int(p): (new["parents"][p], cpu) for p, cpu in new["procs"].items()}
    per_pid = phase_cpu(procs, old)
    owner = dict(old["owner"])
    owner.update(new["owner"])  # a process of the window's end belongs where it is now
    skip = {int(p) for p in exclude}
    comps = {}
    for spid, comp in owner.items():
        pid = int(spid)
        if pid in skip or pid not in per_pid:
            continue
        c = comps.setdefault(comp, {"jiffies": 0, "processes": 0})
        c["jiffies"] += per_pid[pid]
        c["processes"] += 1
    out = {n: {"cpu_s": round(c["jiffies"] / HZ, 3), "processes": c["processes"]}
           for n, c in comps.items()}
    return {"seconds": round(new["t"] - old["t"], 3),
            "components": {n: out[n] for n in COMPONENTS if n in out},
            "total_cpu_s": round(sum(c["jiffies"] for c in comps.values()) / HZ, 3)}


def main():
    cmd, name = sys.argv[1], sys.argv[2]
    path = os.path.join(work_dir(), f"stackcpu-{name}.snap")
    if cmd == "snap":
        with open(path, "w") as f:
            json.dump(snapshot(), f)
        return
    with open(path) as f:
        old = json.load(f)
    write_result(f"stack_cpu_{name}", usage(old))


if __name__ == "__main__":
    main()
