"""rss_by_kind.py: a process's resident memory by kind (issue 8 API memory).

Owns: reading /proc/PID/smaps and adding Rss up as connection thread stacks (the 256 KiB
mappings libmicrohttpd's threads get: stack, TLS and struct pthread), other thread stacks
(8 MiB), glibc malloc arenas (64 MiB heaps), the main heap, shared library files, and the
rest. Rules: read-only; sizes in MiB. Usage: python3 rss_by_kind.py PID
"""
import sys, re, collections
pid = sys.argv[1]
ents = []
cur = None
for line in open(f"/proc/{pid}/smaps"):
    m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ (\d+)\s*(.*)$", line)
    if m:
        cur = dict(lo=int(m[1], 16), hi=int(m[2], 16), perm=m[3], name=m[5].strip(), rss=0)
        ents.append(cur)
    elif line.startswith("Rss:"):
        cur["rss"] = int(line.split()[1])
tot = collections.Counter()
for i, e in enumerate(ents):
    size = (e["hi"] - e["lo"]) // 1024
    nxt = ents[i + 1] if i + 1 < len(ents) else None
    if e["name"].startswith("/"):
        k = "files (shared libs, text)"
    elif e["name"] == "[heap]":
        k = "main arena ([heap])"
    elif e["name"]:
        k = e["name"]
    elif size == 256 or size == 252:
        k = "connection thread stacks+TLS (256K)"
    elif size == 8192 or size == 8188:
        k = "other thread stacks (8M)"
    elif nxt is not None and nxt["name"] == "" and nxt["perm"].startswith("---") and nxt["lo"] == e["hi"] and (e["hi"] - e["lo"] + nxt["hi"] - nxt["lo"]) == 64 << 20:
        k = "malloc arenas (64M heaps)"
    else:
        k = "other anonymous (mmap'd chunks etc.)"
    tot[k] += e["rss"]
for k, v in tot.most_common():
    print(f"  {k:40} {v/1024:8.1f} MiB")
print(f"  {'total':40} {sum(tot.values())/1024:8.1f} MiB")
