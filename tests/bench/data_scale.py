"""Cost as the data grows: the read paths at 10 000 and 300 000 tasks among ~1 000 000.

Owns: the data-scale phase of tests/bench/run (issue 8, "Cost as the data grows"):
- loading through SQL, straight into Postgres (one INSERT ... SELECT generate_series per
  step, never through the API and its rate limits): 100 other users (rows in `users`) with
  --other-tasks tasks between them, and one user registered through the API (so it has a
  token) with --small tasks; measuring; then --large minus --small more tasks for the
  same user; measuring again. The data: statuses (40 % todo, 20 % in_progress, 40 %
  done with completed_at), priorities (25/40/25/10 % low/medium/high/urgent), due dates
  (30 % none, 30 % past, 40 % future), 0-4 tags ("work" on 30 %), created over two years,
  UUIDv7 ids from created_at, titles and descriptions of words from a 60-word vocabulary;
  "zanzibar" is rare for the measured user (--rare-main) and common among the others
  (--rare-others), "meeting" is common for everyone (15 %);
- timing, through the API, every list sort (created_at, updated_at, due_at, priority, each
  ascending and descending), every filter (status, priority, tag, due_before, due_after),
  search with the rare and the common word, deep keyset pages (following next_cursor for
  --pages pages in every sort), GET /api/v1/tasks/stats, and a CSV report of all the user's
  tasks (POST /api/v1/reports until ready, then the download), uncached and cached;
- writing <work>/data_scale.json (report.py makes the table).
Uncached: before each round a write through the API (PATCH of one of the user's tasks
with `Prefer: wait`, answered once applied, i.e. once every API instance dropped what
it had cached for the user) bumps the user's list generation; the first request of each
query after it must go to Postgres, the second is served from the cache. Every timed
request also reads the API's /metrics before and after: the server's own time for the
request (the route's taskbus_http_request_duration_seconds_sum delta) and what the cache said
(taskbus_cache_requests_total deltas: hit, miss or no cache lookup at all) are recorded next to
the client's time, so the page shows that "uncached" was a miss.
Where the time goes: for the phase, Postgres logs every statement slower than the 20 ms
target (log_min_duration_statement, set with ALTER SYSTEM on the bench stack and reset at
the end); after each uncached request the new lines of the stack's Postgres log are read,
and the API's statement for the measured user (with its parameters, from the log's
DETAIL line) is kept; after the reads of each size it is run again under
EXPLAIN (ANALYZE, BUFFERS) (PREPARE + EXECUTE with the logged parameters), so the page
shows the plan of the exact SQL the API ran, whatever main's query builder makes.
Rules: bounded waits that fail loudly; each query is run --rounds times and the median is
reported (the raw samples stay in the JSON); Postgres is VACUUM ANALYZEd after each load,
as a live database would be; nothing here passes or fails on a timing.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import psycopg
import requests

from bench_common import api_url, env, register_user, work_dir

VOCAB = ["alpha", "report", "review", "draft", "plan", "budget", "call", "email", "invoice",
         "design", "deploy", "fix", "bug", "feature", "release", "update", "check", "order",
         "supplies", "garden", "paint", "kitchen", "car", "doctor", "dentist", "school",
         "project", "client", "contract", "slides", "notes", "research", "travel", "flight",
         "hotel", "visa", "taxes", "bank", "insurance", "rent", "groceries", "laundry",
         "birthday", "gift", "party", "team", "hiring", "interview", "training", "backup",
         "server", "database", "network", "printer", "license", "audit", "quarter", "roadmap",
         "sprint", "retro"]
RARE_WORD, COMMON_WORD, COMMON_TAG = "zanzibar", "meeting", "work"
SORTS = ["created_at", "updated_at", "due_at", "priority"]
PAGE = 50
SLOW_MS = 20
# the API publishes its near-cache counters after every lease renewal (lease / 5)
NEAR_PUBLISH_S = int(os.environ.get("TASKBUS_NEAR_CACHE_LEASE_MS", "2000")) / 5000 + 0.2
PATCH_WAIT_S = 30
REPORT_TIMEOUT_S = 300

# One row per task. `base` draws every random number once (MATERIALIZED: a volatile
# value used twice must be the same value); rows come out in created_at order so the
# users' tasks interleave on disk as they would after years of use.
LOAD_SQL = """
WITH base AS MATERIALIZED (
    SELECT CASE WHEN g <= %(main_n)s THEN %(main)s::uuid
                ELSE (%(others)s::uuid[])[1 + g %% %(n_others)s] END AS owner,
           g <= %(main_n)s AS is_main,
           now() - random() * interval '730 days' AS created,
           random() AS r_upd, random() AS r_status, random() AS r_prio, random() AS r_due,
           random() AS r_due_at, random() AS r_rare, random() AS r_common, random() AS r_ver,
           random() AS t1, random() AS t2, random() AS t3, random() AS t4, random() AS t5,
           md5(g::text || random()::text) AS h,
           array_to_string(ARRAY[
               v[1 + floor(random() * n_v)::int], v[1 + floor(random() * n_v)::int],
               v[1 + floor(random() * n_v)::int]], ' ') AS title_words,
           array_to_string(ARRAY[
               v[1 + floor(random() * n_v)::int], v[1 + floor(random() * n_v)::int],
               v[1 + floor(random() * n_v)::int], v[1 + floor(random() * n_v)::int],
               v[1 + floor(random() * n_v)::int], v[1 + floor(random() * n_v)::int],
               v[1 + floor(random() * n_v)::int], v[1 + floor(random() * n_v)::int],
               v[1 + floor(random() * n_v)::int], v[1 + floor(random() * n_v)::int],
               v[1 + floor(random() * n_v)::int], v[1 + floor(random() * n_v)::int]],
               ' ') AS description
    FROM generate_series(1, %(total)s) AS g,
         (SELECT %(vocab)s::text[] AS v, cardinality(%(vocab)s::text[]) AS n_v) AS vocab
), drawn AS (
    SELECT *, least(now(), created + r_upd * interval '30 days') AS updated,
           r_rare < CASE WHEN is_main THEN %(rare_main)s ELSE %(rare_others)s END AS rare
    FROM base
)
INSERT INTO tasks (id, owner_id, title, description, status, priority, due_at, tags,
                   created_at, updated_at, completed_at, version)
SELECT (lpad(to_hex((extract(epoch FROM created) * 1000)::bigint), 12, '0') || '7'
        || substr(h, 1, 3) || '8' || substr(h, 4, 15))::uuid,
       owner,
       title_words || CASE WHEN rare THEN ' ' || %(rare_word)s ELSE '' END
                   || CASE WHEN r_common < 0.15 THEN ' ' || %(common_word)s ELSE '' END,
       description || CASE WHEN rare AND r_common >= 0.5 THEN ' ' || %(rare_word)s ELSE '' END,
       CASE WHEN r_status < 0.4 THEN 'todo' WHEN r_status < 0.6 THEN 'in_progress'
            ELSE 'done' END,
       CASE WHEN r_prio < 0.25 THEN 'low' WHEN r_prio < 0.65 THEN 'medium'
            WHEN r_prio < 0.9 THEN 'high' ELSE 'urgent' END,
       CASE WHEN r_due < 0.3 THEN NULL
            WHEN r_due < 0.6 THEN now() - r_due_at * interval '90 days'
            ELSE now() + r_due_at * interval '180 days' END,
       array_remove(ARRAY[
           CASE WHEN t1 < 0.3 THEN %(common_tag)s END,
           CASE WHEN t2 < 0.2 THEN 'home' END,
           CASE WHEN t3 < 0.15 THEN (ARRAY['q1', 'q2', 'q3', 'q4'])[1 + floor(t5 * 4)::int] END,
           CASE WHEN t4 < 0.05 THEN 'client' END], NULL),
       created, updated,
       CASE WHEN r_status >= 0.6 THEN updated END,
       CASE WHEN r_status < 0.4 THEN 1 ELSE 2 END + floor(r_ver * 3)::int
FROM drawn
ORDER BY created
"""


def say(msg):
    print(f"[bench] scale: {msg}", flush=True)


def machine_load(cmd, name):
    here = os.path.dirname(os.path.abspath(__file__))
    subprocess.run([sys.executable, os.path.join(here, "machine_load.py"), cmd, name],
                   check=True, stdout=subprocess.DEVNULL)


# ------------------------------------------------------------------ loading


def create_others(conn, n):
    tag = os.urandom(4).hex()
    rows = conn.execute(
        "INSERT INTO users (id, email, password_hash, display_name) "
        "SELECT gen_random_uuid(), 'scale-' || %s || '-' || g || '@bench.example', "
        "'not-a-login', 'scale user ' || g FROM generate_series(1, %s) AS g RETURNING id",
        (tag, n)).fetchall()
    return [str(r[0]) for r in rows]


def load(conn, main_id, main_n, others, other_n, a):
    t0 = time.monotonic()
    conn.execute(LOAD_SQL, {
        "main": main_id, "main_n": main_n, "others": others, "n_others": len(others),
        "total": main_n + other_n, "vocab": VOCAB, "rare_main": a.rare_main,
        "rare_others": a.rare_others, "rare_word": RARE_WORD, "common_word": COMMON_WORD,
        "common_tag": COMMON_TAG})
    loaded = time.monotonic() - t0
    t1 = time.monotonic()
    conn.execute("VACUUM ANALYZE tasks")
    return round(loaded, 1), round(time.monotonic() - t1, 1)


def counts(conn, main_id):
    total, main, rare_main, rare_all, common_main = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE owner_id = %(m)s), "
        "count(*) FILTER (WHERE owner_id = %(m)s AND search @@ to_tsquery('simple', %(r)s)), "
        "count(*) FILTER (WHERE search @@ to_tsquery('simple', %(r)s)), "
        "count(*) FILTER (WHERE owner_id = %(m)s AND search @@ to_tsquery('simple', %(c)s)) "
        "FROM tasks", {"m": main_id, "r": RARE_WORD, "c": COMMON_WORD}).fetchone()
    return {"tasks_total": total, "tasks_of_user": main, "rare_word_of_user": rare_main,
            "rare_word_all_users": rare_all, "common_word_of_user": common_main}


# ------------------------------------------------------------------ slow statements

LOG_EXECUTE_RE = re.compile(r"^\S+ \S+ \S+ \[(\d+)\] LOG:  duration: ([0-9.]+) ms  "
                            r"execute [^:]*: (.*)$")
LOG_PARAMS_RE = re.compile(r"^\S+ \S+ \S+ \[(\d+)\] DETAIL:  parameters: (.*)$")
PARAM_RE = re.compile(r"\$(\d+) = (NULL|'(?:[^']|'')*')")


class SlowLog:
    """The API's statements for one user that Postgres logged as slower than SLOW_MS."""

    def __init__(self, conn, user_id):
        self.conn, self.user = conn, user_id
        self.path = os.path.join(env("TASKBUS_DATA_DIR"), "logs", "postgres.log")
        self.enabled = os.path.exists(self.path)
        self.offset = 0
        if self.enabled:
            conn.execute(f"ALTER SYSTEM SET log_min_duration_statement = {SLOW_MS}")
            conn.execute("SELECT pg_reload_conf()")

    def close(self):
        if self.enabled:
            self.conn.execute("ALTER SYSTEM RESET log_min_duration_statement")
            self.conn.execute("SELECT pg_reload_conf()")

    def mark(self):
        if self.enabled:
            self.offset = os.path.getsize(self.path)

    def collect(self):
        """The slowest statement of the user logged since mark(), or None."""
        if not self.enabled:
            return None
        with open(self.path, errors="replace") as f:
            f.seek(self.offset)
            lines = f.read().splitlines()
        found, pending = [], {}
        for line in lines:
            m = LOG_EXECUTE_RE.match(line)
            if m:
                pending[m.group(1)] = (float(m.group(2)), m.group(3))
                continue
            d = LOG_PARAMS_RE.match(line)
            if d and d.group(1) in pending:
                ms, sql = pending.pop(d.group(1))
                params = dict((int(k), v) for k, v in PARAM_RE.findall(d.group(2)))
                if params.get(1) == f"'{self.user}'" and "FROM tasks" in sql:
                    found.append({"logged_ms": ms, "sql": sql,
                                  "params": [params[i] for i in sorted(params)]})
        return max(found, key=lambda x: x["logged_ms"]) if found else None

    def explain(self, stmt):
        """EXPLAIN (ANALYZE, BUFFERS) of a logged statement, as lines."""
        try:
            self.conn.execute(f"PREPARE bench_slow AS {stmt['sql']}")
            try:
                rows = self.conn.execute("EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_slow("
                                         + ", ".join(stmt["params"]) + ")").fetchall()
            finally:
                self.conn.execute("DEALLOCATE bench_slow")
            return [r[0] for r in rows]
        except psycopg.Error as e:
            return [f"EXPLAIN failed: {e}"]


# ------------------------------------------------------------------ measuring

METRIC_RE = re.compile(r"^([a-z_]+)\{([^}]*)\} ([0-9.eE+-]+)$", re.M)


class Api:
    def __init__(self, token):
        self.s = requests.Session()
        self.auth = {"Authorization": f"Bearer {token}"}

    def metrics(self):
        r = self.s.get(f"{api_url()}/metrics", timeout=30)
        r.raise_for_status()
        out = {}
        for name, labels, value in METRIC_RE.findall(r.text):
            if name in ("taskbus_http_request_duration_seconds_sum", "taskbus_http_request_duration_seconds_count",
                        "taskbus_cache_requests_total", "taskbus_near_cache_lookups_total"):
                out[(name, labels)] = float(value)
        return out

    def near_lookups(self):
        """{"hit": n, "miss": n} of the near cache as the API last published them."""
        return {labels.split('"')[1]: int(v) for (name, labels), v in self.metrics().items()
                if name == "taskbus_near_cache_lookups_total" and labels.startswith("result=")}

    def near_block(self, fn):
        """Runs fn(); the near cache's lookups during it. The API publishes those counters
        after each lease renewal (every lease/5), not per request, so the block is framed
        by waits of one publication period."""
        time.sleep(NEAR_PUBLISH_S)
        before = self.near_lookups()
        fn()
        time.sleep(NEAR_PUBLISH_S)
        after = self.near_lookups()
        return {k: after[k] - before.get(k, 0) for k in after}

    def timed(self, method, path, **kw):
        """One request with the client's time, the server's time and the cache's answer."""
        before = self.metrics()
        t0 = time.perf_counter()
        r = self.s.request(method, f"{api_url()}{path}", headers=self.auth, timeout=120, **kw)
        client_ms = (time.perf_counter() - t0) * 1000
        after = self.metrics()
        delta = {k: after[k] - before.get(k, 0.0) for k in after if after[k] != before.get(k, 0.0)}
        server_ms, lookups = None, {}
        for (name, labels), d in delta.items():
            if name == "taskbus_http_request_duration_seconds_count" and d == 1 and "/metrics" not in labels:
                server_ms = 1000 * delta.get(("taskbus_http_request_duration_seconds_sum", labels), 0.0)
            if name == "taskbus_cache_requests_total":
                lookups[labels.replace('"', "")] = int(d)
        results = {k.rsplit("result=", 1)[-1] for k in lookups}
        cache = "hit" if "hit" in results else ("miss" if results else "none")
        return r, {"client_ms": round(client_ms, 2),
                   "server_ms": None if server_ms is None else round(server_ms, 2),
                   "cache": cache, "lookups": lookups, "status": r.status_code}


def bump(api, task_id, n):
    """A write through the API, answered once applied: the user's cached pages are stale."""
    r = api.s.patch(f"{api_url()}/api/v1/tasks/{task_id}", json={"title": f"scale bump {n}"},
                    headers={**api.auth, "Prefer": f"wait={PATCH_WAIT_S}"},
                    timeout=PATCH_WAIT_S + 10)
    if r.status_code != 200:
        sys.exit(f"scale: the cache-busting PATCH answered {r.status_code} {r.text[:300]}")


def queries(now):
    """(label, query parameters) of every list query and filter, first page of 50."""
    out = [(f"sort={d}{s}", {"sort": f"{d}{s}", "limit": PAGE}) for s in SORTS for d in ("", "-")]
    out += [("status=in_progress", {"status": "in_progress", "limit": PAGE}),
            ("priority=urgent", {"priority": "urgent", "limit": PAGE}),
            (f"tag={COMMON_TAG}", {"tag": COMMON_TAG, "limit": PAGE}),
            ("due_before=now", {"due_before": now, "limit": PAGE}),
            ("due_after=now", {"due_after": now, "limit": PAGE}),
            (f"q={RARE_WORD} (rare for the user)", {"q": RARE_WORD, "limit": PAGE}),
            (f"q={COMMON_WORD} (common)", {"q": COMMON_WORD, "limit": PAGE})]
    return out


def median(samples, key):
    vals = [s[key] for s in samples if s.get(key) is not None]
    return round(statistics.median(vals), 2) if vals else None


def summarize(samples):
    return {"n": len(samples), "client_ms": median(samples, "client_ms"),
            "server_ms": median(samples, "server_ms"),
            "cache": sorted({s["cache"] for s in samples}),
            "statuses": sorted({s["status"] for s in samples}), "samples": samples}


def timed_slow(api, slow, slow_log, label, path, params):
    """api.timed, keeping the slowest logged statement of the user per label."""
    slow_log.mark()
    r, m = api.timed("GET", path, params=params)
    stmt = slow_log.collect()
    if stmt and (label not in slow or stmt["logged_ms"] > slow[label]["logged_ms"]):
        slow[label] = stmt
    return r, m


def measure_reads(api, task_id, rounds, slow, slow_log):
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    qs = queries(now) + [("GET /tasks/stats", None)]
    raw = {label: {"uncached": [], "cached": []} for label, _ in qs}
    items = {}
    near = {"uncached": {}, "cached": {}}

    def block(kind):
        for label, params in qs:
            path = "/api/v1/tasks/stats" if params is None else "/api/v1/tasks"
            r, m = timed_slow(api, slow, slow_log, label, path, params)
            raw[label][kind].append(m)
            if r.status_code != 200:
                # e.g. 503 when the statement timeout cut the query: counted, shown
                say(f"{label} ({kind}) answered {r.status_code} {r.text[:200]}")
            elif params is not None:
                items[label] = len(r.json()["items"])

    # each round: one write, every query once (uncached), then every query again (cached)
    for rnd in range(rounds):
        bump(api, task_id, rnd)
        for kind in ("uncached", "cached"):
            add_counts(near[kind], api.near_block(lambda: block(kind)))
    return {"near_cache": near,
            "queries": {label: {"params": params, "items": items.get(label),
                                "uncached": summarize(raw[label]["uncached"]),
                                "cached": summarize(raw[label]["cached"])}
                        for label, params in qs}}


def add_counts(total, more):
    for k, v in more.items():
        total[k] = total.get(k, 0) + v


def walk(api, sort, pages, slow, slow_log):
    out, cursor = [], None
    for _ in range(pages):
        params = {"sort": sort, "limit": PAGE}
        if cursor:
            params["cursor"] = cursor
        r, m = timed_slow(api, slow, slow_log, f"pages of sort={sort}", "/api/v1/tasks", params)
        out.append(m)
        if r.status_code != 200:
            # no cursor to follow: the walk ends here, and the page says where and why
            say(f"page {len(out)} of sort={sort} answered {r.status_code} {r.text[:200]}")
            break
        cursor = r.json().get("next_cursor")
        if not cursor:
            break
    return out


def pages_summary(samples):
    def stat(key):
        if not samples or any(s.get(key) is None for s in samples):
            return {}
        vals = sorted(s[key] for s in samples)
        return {"first": samples[0][key], "median": round(statistics.median(vals), 2),
                "max": vals[-1], "last": samples[-1][key]}
    failed = [i + 1 for i, s in enumerate(samples) if s["status"] != 200]
    return {"pages": len(samples), "client_ms": stat("client_ms"), "server_ms": stat("server_ms"),
            "cache": sorted({s["cache"] for s in samples}),
            "failed": [{"page": i, "status": samples[i - 1]["status"]} for i in failed],
            "samples": samples}


def measure_pages(api, task_id, pages, slow, slow_log):
    """After one write: every sort's walk (uncached), then every walk again (cached)."""
    bump(api, task_id, "pages")
    sorts = [f"{d}{sort}" for sort in SORTS for d in ("", "-")]
    walks = {"uncached": {}, "cached": {}}
    near = {}
    for kind in ("uncached", "cached"):
        def all_walks(kind=kind):
            for sort in sorts:
                walks[kind][sort] = walk(api, sort, pages, slow, slow_log)
        near[kind] = api.near_block(all_walks)
    return {"near_cache": near,
            "walks": {f"sort={sort}": {"uncached": pages_summary(walks["uncached"][sort]),
                                       "cached": pages_summary(walks["cached"][sort])}
                      for sort in sorts}}


def reporter_pid():
    try:
        with open(os.path.join(env("TASKBUS_DATA_DIR"), "run", "reporter.pid")) as f:
            return int(f.readline())
    except (OSError, ValueError):
        return None


def vm_hwm_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def measure_report(api):
    """A CSV report of all the user's tasks: POST until ready, then the download."""
    pid = reporter_pid()
    peak_reset = False
    if pid is not None:
        try:  # "5" resets the peak RSS (VmHWM) to the current RSS (proc(5), clear_refs)
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")
            peak_reset = True
        except OSError:
            pass
    t0 = time.perf_counter()
    r = api.s.post(f"{api_url()}/api/v1/reports", json={"format": "csv"}, headers=api.auth,
                   timeout=60)
    if r.status_code != 202:
        sys.exit(f"scale: POST /reports answered {r.status_code} {r.text[:300]}")
    rid = r.json()["id"]
    deadline = time.monotonic() + REPORT_TIMEOUT_S
    doc = {}
    while time.monotonic() < deadline:
        doc = api.s.get(f"{api_url()}/api/v1/reports/{rid}", headers=api.auth, timeout=30).json()
        if doc.get("status") in ("ready", "failed"):
            break
        time.sleep(0.02)
    ready_s = time.perf_counter() - t0
    if doc.get("status") != "ready":
        sys.exit(f"scale: report {rid} not ready within {REPORT_TIMEOUT_S} s: {doc}")
    t1 = time.perf_counter()
    size = 0
    with api.s.get(f"{api_url()}/api/v1/reports/{rid}/download", headers=api.auth, timeout=300,
                   stream=True) as d:
        d.raise_for_status()
        for chunk in d.iter_content(1 << 16):
            size += len(chunk)
    download_s = time.perf_counter() - t1
    hwm = vm_hwm_kib(pid) if pid is not None else None
    return {"rows": doc.get("row_count"), "size_bytes": doc.get("size_bytes"),
            "post_to_ready_s": round(ready_s, 2), "download_s": round(download_s, 2),
            "downloaded_bytes": size,
            "reporter_peak_rss_mib": round(hwm / 1024, 1) if hwm and peak_reset else None}


def measure(api, task_id, a, size_label, slow_log):
    name = f"scale_{size_label}"
    machine_load("snap", name)
    t0 = time.monotonic()
    slow = {}
    say(f"{size_label}: list queries, filters, search, stats ({a.rounds} rounds)")
    reads = measure_reads(api, task_id, a.rounds, slow, slow_log)
    say(f"{size_label}: deep pages ({a.pages} per sort)")
    pages = measure_pages(api, task_id, a.pages, slow, slow_log)
    say(f"{size_label}: EXPLAIN ANALYZE of {len(slow)} slow statement(s)")
    for stmt in slow.values():
        stmt["plan"] = slow_log.explain(stmt)
    say(f"{size_label}: CSV report")
    report = measure_report(api)
    machine_load("diff", name)
    return {"reads": reads["queries"], "pages": pages["walks"],
            "near_cache": {"reads": reads["near_cache"], "pages": pages["near_cache"]},
            "report": report, "slow_statements": slow,
            "seconds": round(time.monotonic() - t0, 1)}


def run_sizes(conn, api, main_id, a, slow_log, out):
    """Loads, then measures at each size; fills out["sizes"] and out["loads"]."""
    conn.execute("SET maintenance_work_mem = '256MB'")
    machine_load("snap", "scale_load")
    others = create_others(conn, a.others)
    say(f"loading {a.other_tasks:,} tasks of {a.others} users and {a.small:,} of the user")
    load_s, vacuum_s = load(conn, main_id, a.small, others, a.other_tasks, a)
    out["loads"] = [{"rows": a.small + a.other_tasks, "insert_s": load_s,
                     "vacuum_analyze_s": vacuum_s}]
    task_id = str(conn.execute("SELECT id FROM tasks WHERE owner_id = %s LIMIT 1",
                               (main_id,)).fetchone()[0])
    machine_load("diff", "scale_load")
    sizes = [(a.small, "small")] + ([(a.large, "large")] if a.large > a.small else [])
    for n, label in sizes:
        if n > a.small:
            machine_load("snap", "scale_load2")
            say(f"loading {n - a.small:,} more tasks of the user")
            load_s, vacuum_s = load(conn, main_id, n - a.small, others, 0, a)
            out["loads"].append({"rows": n - a.small, "insert_s": load_s,
                                 "vacuum_analyze_s": vacuum_s})
            machine_load("diff", "scale_load2")
        out["sizes"][label] = {"tasks_of_user": n, "counts": counts(conn, main_id),
                               **measure(api, task_id, a, label, slow_log)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", type=int, default=10000)
    ap.add_argument("--large", type=int, default=300000)
    ap.add_argument("--others", type=int, default=100)
    ap.add_argument("--other-tasks", type=int, default=700000)
    ap.add_argument("--rare-main", type=float, default=0.0002)
    ap.add_argument("--rare-others", type=float, default=0.2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pages", type=int, default=50)
    a = ap.parse_args()
    if not 0 < a.small <= a.large:
        sys.exit("--small must be positive and at most --large")

    main_id, token = register_user(requests.Session(), "scale")
    api = Api(token)
    out = {"settings": {k: getattr(a, k) for k in vars(a)}, "user": main_id, "sizes": {}}
    try:
        with psycopg.connect(env("DATABASE_URL"), autocommit=True) as conn:
            slow_log = SlowLog(conn, main_id)
            try:
                run_sizes(conn, api, main_id, a, slow_log, out)
            finally:
                slow_log.close()
    except BaseException as e:
        # what was measured before the failure still goes on the page, with the reason
        out["error"] = str(e) if str(e) else type(e).__name__
        raise
    finally:
        # the samples make the file long: saved whole, echoed as a summary
        with open(os.path.join(work_dir(), "data_scale.json"), "w") as f:
            json.dump(out, f, indent=1, sort_keys=True)
    for label, size in out["sizes"].items():
        slow = sorted(((v["uncached"]["server_ms"] or 0, k) for k, v in size["reads"].items()),
                      reverse=True)[:3]
        say(f"{label} ({size['tasks_of_user']:,} tasks): slowest uncached (server ms) {slow}; "
            f"report {size['report']}")
    say(f"loads {out.get('loads')}")


if __name__ == "__main__":
    main()
