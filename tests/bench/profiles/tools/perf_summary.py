"""perf_summary.py: a text summary of a `perf record -g` profile (tests/bench/profiles).

Owns: reading `perf script` output (call chains, dwarf or frame pointers) and printing
self time by library and symbol, inclusive time of symbols, kernel time by kind (futex,
scheduler, TCP), inclusive shares of request-path areas (Redis, JWT, JSON, logging, ...),
each sample charged to the nearest function of ours, and what happens outside our handler.
Rules: reads stdin, prints markdown-ish text; percentages are of all samples of the
process; an area's share counts a sample when any frame matches (areas overlap).
Usage: perf script -i perf.data | python3 perf_summary.py [--top N]
"""

import sys, re, collections
top = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else 40
samples = []
cur = None
frame_re = re.compile(r"^\s*([0-9a-f]+)\s+(.*?)\s+\((.*)\)\s*$")
for line in sys.stdin:
    if not line.strip():
        if cur is not None and cur[1]:
            samples.append(cur)
        cur = None
        continue
    if not line.startswith((" ", "\t")):
        m = re.match(r"^(\S.*?)\s+(\d+)\s+[\d.]+:\s+(\d+)\s+(\S+)", line)
        cur = [m[1] if m else "?", []]
        continue
    m = frame_re.match(line)
    if m and cur is not None:
        sym = re.sub(r"\+0x[0-9a-f]+$", "", m[2])
        dso = m[3].split("/")[-1]
        if dso == "[kernel.kallsyms]":
            dso = "kernel"
        cur[1].append((sym, dso))
if cur is not None and cur[1]:
    samples.append(cur)
# perf prints inlined frames with "(inlined)" before the frame that holds them: give them
# the library of the next real frame
for _, frames in samples:
    nxt = None
    for i in range(len(frames) - 1, -1, -1):
        if frames[i][1] != "inlined":
            nxt = frames[i][1]
    for i in range(len(frames)):
        if frames[i][1] == "inlined" and re.match(r"(__GI_|tcache_|_int_|__libc_|_IO_|__mem|__str|__vfprintf|__printf|outstring|read_int|checked_request2size|arena_|malloc|free|__pthread|__futex|__lll_|lll_|___pthread|pthread_)", frames[i][0]):
            frames[i] = (frames[i][0], "libc.so.6")
            continue
        if frames[i][1] == "inlined":
            j = i + 1
            while j < len(frames) and frames[j][1] == "inlined":
                j += 1
            frames[i] = (frames[i][0], frames[j][1] if j < len(frames) else "?")
n = len(samples)
selfc = collections.Counter(); incl = collections.Counter(); dso_self = collections.Counter()
for comm, frames in samples:
    leaf = frames[0]
    selfc[f"{leaf[0]} [{leaf[1]}]"] += 1
    dso_self[leaf[1]] += 1
    for f in set(f"{s} [{d}]" for s, d in frames):
        incl[f] += 1
def pct(c): return f"{100.0 * c / n:5.1f} %"
print(f"samples: {n}")
print("\n## Self time by library (leaf frame)")
for k, v in dso_self.most_common(20): print(f"  {pct(v)}  {k}")
print(f"\n## Top {top} symbols, self")
for k, v in selfc.most_common(top): print(f"  {pct(v)}  {k}")
print(f"\n## Top {top} symbols, inclusive (our code and libraries; frames in the stack)")
for k, v in incl.most_common(top * 2)[:top * 2]:
    print(f"  {pct(v)}  {k}")
# categories (first match wins, checked from the leaf up to the root? no: by presence)
def has(frames, pred): return any(pred(s, d) for s, d in frames)
cats = collections.OrderedDict([
    ("kernel: futex (locks, condition waits)", lambda fr: has(fr, lambda s, d: d == "kernel" and "futex" in s)),
    ("kernel: scheduler (context switch, wakeups)", lambda fr: fr[0][1] == "kernel" and has(fr, lambda s, d: d == "kernel" and re.search(r"schedule|finish_task_switch|try_to_wake_up|__switch_to|pick_next|enqueue_task|dequeue_task", s))),
    ("kernel: TCP/socket (send, recv, poll)", lambda fr: fr[0][1] == "kernel" and has(fr, lambda s, d: d == "kernel" and re.search(r"tcp_|sock_|sys_sendmsg|sys_recvfrom|sys_read|sys_write|do_sys_poll|ep_poll|sys_sendto|inet_|ip_|net_rx|__dev_queue", s))),
    ("kernel: thread create/exit, mmap, page faults", lambda fr: fr[0][1] == "kernel" and has(fr, lambda s, d: d == "kernel" and re.search(r"clone|exit_|mmap|munmap|madvise|page_fault|do_anonymous|handle_mm_fault", s))),
    ("kernel: other", lambda fr: fr[0][1] == "kernel"),
])
print("\n## Where the time goes (self time of the leaf, by kind; kernel rows are exclusive and checked in order)")
left = list(samples); done = collections.Counter()
for name, pred in cats.items():
    keep = []
    for s in left:
        if pred(s[1]): done[name] += 1
        else: keep.append(s)
    left = keep
for name in cats: print(f"  {pct(done[name])}  {name}")
ud = collections.Counter(fr[0][1] for _, fr in left)
for k, v in ud.most_common(15): print(f"  {pct(v)}  user: {k}")
# inclusive areas of the request path
print("\n## Inclusive shares of request-path areas (a sample counts where any frame matches; areas overlap)")
areas = [
    ("inside router_dispatch (all our request handling)", r"^router_dispatch$"),
    ("Redis round trips (redis_pool_*/hiredis, incl. waiting in read)", r"^redis|^redisCommand|^redisGetReply|^redisBufferRead|^redisBufferWrite|^redisAppend"),
    ("rate limiting (api_limit_*)", r"^api_limit_|^rate_limit|^ratelimit_"),
    ("authentication (api_authenticate)", r"^api_authenticate$"),
    ("JWT verify (libjwt + OpenSSL HMAC)", r"^auth_jwt_|^jwt_|^HMAC|^EVP_"),
    ("JSON encode (json_dumps*)", r"^json_dump"),
    ("JSON decode (json_loads*)", r"^json_load"),
    ("task read path (task_store/cache)", r"^task_store|^task_cache|^handle_get_task|^task_model"),
    ("access log + logging (access_log_record, log_json)", r"^access_log_record$|^log_json$"),
    ("metrics (metrics_*)", r"^metrics_"),
    ("Kafka produce (kafka_producer_*, rd_kafka_*)", r"^kafka_producer|^rd_kafka"),
    ("Postgres (pg_pool_*, PQ*)", r"^pg_pool|^PQ"),
    ("malloc/free", r"^(__GI___libc_malloc|__libc_malloc|_int_malloc|_int_free|__GI___libc_free|malloc|free|cfree|__libc_calloc|_int_realloc|__libc_realloc|realloc|calloc)$"),
    ("ulfius request/response handling (u_map_*, ulfius_*)", r"^u_map_|^ulfius_"),
]
for name, rx in areas:
    r = re.compile(rx)
    c = sum(1 for _, fr in samples if any(r.search(s) for s, d in fr))
    print(f"  {pct(c)}  {name}")

# which of our functions lead to the time: each sample charged to the nearest frame in our binary
print("\n## Charged to the nearest function of ours (leaf-most taskbus frame; the libraries' and kernel's time under it included)")
ours = collections.Counter(); ours2 = collections.Counter()
for _, fr in samples:
    tb = [s for s, d in fr if d.startswith("taskbus-")]
    ours[tb[0] if tb else "(no taskbus frame: MHD/ulfius/kernel outside our handler)"] += 1
for k, v in ours.most_common(30): print(f"  {pct(v)}  {k}")

print("\n## Outside our handler, by what the thread was doing (leaf-most recognisable frame)")
out = collections.Counter()
for _, fr in samples:
    if any(d.startswith("taskbus-") for s, d in fr):
        continue
    names = [s for s, d in fr]
    k = "other"
    if any(re.search(r"sys_sendmsg|sys_sendto|sys_write|sys_writev", s) for s in names): k = "kernel: sending the answer (sendmsg/write)"
    elif any(re.search(r"sys_recvfrom|sys_read\b|ksys_read|sys_recvmsg", s) for s in names): k = "kernel: reading the request (recv)"
    elif any(re.search(r"do_sys_poll|sys_poll|ep_poll|sys_select|do_select", s) for s in names): k = "kernel: poll/select (waiting for the next request)"
    elif any(re.search(r"schedule|finish_task_switch", s) for s in names): k = "kernel: scheduler (preempted / woken)"
    elif any(re.search(r"futex", s) for s in names): k = "kernel: futex"
    elif fr[0][1] == "kernel": k = "kernel: other (irq, page faults, ...)"
    elif any(d.startswith("libulfius") or d.startswith("liborcania") or d.startswith("libyder") for s, d in fr): k = "ulfius (request maps, response building)"
    elif any(d.startswith("libmicrohttpd") for s, d in fr): k = "libmicrohttpd (parsing, connection state)"
    out[k] += 1
for k, v in out.most_common(): print(f"  {pct(v)}  {k}")

print("\n## Inclusive time of our functions (a sample counts once per function in its stack)")
oi = collections.Counter()
for _, fr in samples:
    for s in set(s for s, d in fr if d.startswith("taskbus-")):
        oi[s] += 1
for k, v in oi.most_common(45): print(f"  {pct(v)}  {k}")
