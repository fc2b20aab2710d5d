"""CPU use during a benchmark phase: ours against everything else on the machine.

Owns: `snap NAME` saves /proc/stat and each process's CPU time to <work>/cpu-NAME.snap;
`diff NAME` compares the snapshot with now and writes <work>/cpu_NAME.json: the
machine's busy share, the share of our processes (the bench stack's daemons, Postgres,
Redis, Kafka and their children, and this run's own tree: wrk, the Python clients,
hello_server) and the rest ("others": other engineers' stacks and tests), in percent of
ONE core (so 200 is the whole 2-core machine).
Rules: "others" is the machine's busy time minus ours, so processes that came and went
during the phase are counted too (this kernel charges softirq work, e.g. loopback TCP,
to the process it interrupted, so ours includes it; irq+softirq is also given apart, for
information, and overlaps ours); ours includes children
that exited and were waited for (their parent's cutime), but a daemon of ours that exits
mid-phase is lost (the writer stopped by the drain phase, a small idle share). A child
that exited during the phase is charged to its parent's cutime with its WHOLE life, so the
part it had used before the snapshot (known from the snapshot) is taken out of the parent
again, for ours and for the busiest others alike: otherwise a Postgres backend that ends
mid-phase (the writer's, when the drain phase stops it) or another engineer's test run
that ends would count its earlier work into this phase (a shell at 563 % of a core).
"""

import json
import os
import sys
import time

from bench_common import env, work_dir, write_result

HZ = os.sysconf("SC_CLK_TCK")


def machine_cpu():
    """Jiffies of the whole machine: [processes (user+nice+system), irq+softirq, steal]."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return [v[0] + v[1] + v[2], v[5] + v[6], v[7]]


def processes():
    """{pid: (ppid, cpu jiffies)} of every process."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        fields = s[s.rindex(")") + 2:].split()
        # utime + stime + cutime + cstime: children that exited and were waited for (wrk,
        # the Python clients) count in their parent's c* fields
        out[int(d)] = (int(fields[1]), sum(int(x) for x in fields[11:15]))
    return out


def roots():
    data = env("TASKBUS_DATA_DIR")
    pids = {int(env("BENCH_RUN_PID"))}
    files = [os.path.join(data, "run", f) for f in os.listdir(os.path.join(data, "run"))
             if f.endswith(".pid")]
    files.append(os.path.join(data, "postgres", "postmaster.pid"))
    for path in files:
        try:
            with open(path) as f:
                pids.add(int(f.readline().strip()))
        except (OSError, ValueError):
            pass
    return pids


def ours(procs, root_pids):
    children = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), [p for p in root_pids if p in procs]
    while todo:
        p = todo.pop()
        if p not in found:
            found.add(p)
            todo.extend(children.get(p, []))
    return found


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def phase_cpu(procs, old):
    """{pid: CPU jiffies used since the snapshot} of every live process, without the
    earlier life of children that exited meanwhile (see the top)."""
    out = {pid: cpu - old["procs"].get(str(pid), 0) for pid, (_, cpu) in procs.items()}
    for spid, cpu in old["procs"].items():
        if int(spid) in procs:
            continue
        # its time reaches the nearest ancestor still alive (a grandchild's through a child
        # that exited too), so that is where its earlier life is taken out
        parent, hops = old["parents"].get(spid), 0
        while parent is not None and parent not in out and hops < 64:
            parent, hops = old["parents"].get(str(parent)), hops + 1
        if parent in out:
            out[parent] -= cpu
    # below 0: the exited child was not reaped by that parent (reparented first)
    return {pid: max(0, d) for pid, d in out.items()}


def top_others(used, mine, pct, n=5):
    """The n busiest processes not of this run, as "name pct" strings."""
    deltas = sorted(((d, pid) for pid, d in used.items() if pid not in mine and d > 0),
                    reverse=True)
    return [f"{comm(pid)} {pct(d)}%" for d, pid in deltas[:n]]


def main():
    cmd, name = sys.argv[1], sys.argv[2]
    path = os.path.join(work_dir(), f"cpu-{name}.snap")
    procs = processes()
    if cmd == "snap":
        with open(path, "w") as f:
            json.dump({"t": time.monotonic(), "cpu": machine_cpu(),
                       "procs": {str(k): v[1] for k, v in procs.items()},
                       "parents": {str(k): v[0] for k, v in procs.items()}}, f)
        return
    with open(path) as f:
        old = json.load(f)
    seconds = time.monotonic() - old["t"]
    mine = ours(procs, roots())
    per_pid = phase_cpu(procs, old)
    used = sum(per_pid[p] for p in mine)
    procs_cpu, irq, steal = (now - then for now, then in zip(machine_cpu(), old["cpu"]))
    pct = lambda jiffies: round(100.0 * jiffies / HZ / seconds, 1)  # noqa: E731
    write_result(f"cpu_{name}", {"seconds": round(seconds, 1),
                                 "machine_busy_pct": pct(procs_cpu + irq + steal),
                                 "ours_pct": pct(used),
                                 "others_pct": pct(max(0, procs_cpu + irq + steal - used)),
                                 "irq_softirq_pct": pct(irq), "steal_pct": pct(steal),
                                 "cores": os.cpu_count(),
                                 "top_others": top_others(per_pid, mine, pct)})


if __name__ == "__main__":
    main()
