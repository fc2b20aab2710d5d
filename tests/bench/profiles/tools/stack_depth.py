"""stack_depth.py: how deep each kind of API request reaches into its thread's stack.

Owns: one keep-alive connection per kind of request (so each gets its own libmicrohttpd
thread), kept open while the new threads' stacks are read: the deepest page resident
below the top of the mapping (/proc/PID/pagemap) is the stack that request needed, TLS
and struct pthread included; "resident" is what the idle connection keeps. Threads are
told apart by their stack pointer (/proc/PID/task/TID/syscall, valid while they block).
Rules: talks to an API on 127.0.0.1 only; registers one throwaway user; run as root (or
as the API's user) against a fresh API, so no stack is reused from glibc's cache.
Usage: python3 stack_depth.py API_PID API_PORT [STACK_KIB (256)]
"""
import http.client, json, re, secrets, struct, sys, time
pid, port = int(sys.argv[1]), int(sys.argv[2])
STACK_KIB = int(sys.argv[3]) if len(sys.argv) > 3 else 256

import os
def stacks():
    """Thread stacks of the process: the mapping holding each thread's stack pointer
    (from /proc/PID/task/TID/syscall, valid while the thread blocks in a system call)."""
    maps = []
    for line in open(f"/proc/{pid}/maps"):
        m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ (\d+)\s*(.*)$", line)
        lo, hi = int(m[1], 16), int(m[2], 16)
        if m[5] == "" and (hi - lo) // 1024 == STACK_KIB and m[3].startswith("rw"):
            maps.append((lo, hi))
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            f = open(f"/proc/{pid}/task/{tid}/syscall").read().split()
        except OSError:
            continue
        if len(f) < 3:
            continue
        sp = int(f[-2], 16)
        for lo, hi in maps:
            if lo <= sp < hi:
                out[lo] = hi
    return out

def depth(lo, hi):
    n = (hi - lo) // 4096
    with open(f"/proc/{pid}/pagemap", "rb") as pm:
        pm.seek(lo // 4096 * 8); data = pm.read(n * 8)
    pres = [i for i in range(n) if struct.unpack_from("<Q", data, i * 8)[0] >> 63]
    return (n - min(pres)) * 4 if pres else 0, len(pres) * 4

conns = []
def conn():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conns.append(c)
    return c

def req(c, method, path, body=None, token=None, headers=None):
    h = {"Content-Type": "application/json"}
    if token: h["Authorization"] = "Bearer " + token
    h.update(headers or {})
    c.request(method, path, body=body if isinstance(body, (str, bytes)) or body is None else json.dumps(body), headers=h)
    r = c.getresponse(); data = r.read()
    return r.status, data, r

c = conn()
email = f"probe-{secrets.token_hex(5)}@bench.example"
st, data, _ = req(c, "POST", "/api/v1/auth/register", {"email": email, "password": "probe-password-123"})
assert st == 202, (st, data)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "integration"))
from helpers.mailbox import registration_token  # noqa: E402 (reads <TASKBUS_DATA_DIR>/mail)
st, data, _ = req(c, "POST", "/api/v1/auth/register/confirm", {"token": registration_token(email), "password": "probe-password-123"})
assert st == 201, (st, data)
tok = json.loads(data)["access_token"]

kinds = {}
def kind(name, fn):
    before = stacks()
    c = conn()
    t0 = time.monotonic()
    try:
        res = fn(c)
    except Exception as e:
        res = f"error {e!r}"
    time.sleep(0.2)
    after = stacks()
    new = [(lo, hi) for lo, hi in after.items() if lo not in before]
    d = [depth(lo, hi) for lo, hi in new]
    kinds[name] = (max((x[0] for x in d), default=None), max((x[1] for x in d), default=None), res, round(time.monotonic() - t0, 2))
    print(f"{name:34} deepest {kinds[name][0]} KiB from top, resident {kinds[name][1]} KiB  ({res}, {kinds[name][3]} s)", flush=True)

items = [{"title": f"probe {i}", "description": "d" * 200, "tags": ["a", "b"], "priority": "high"} for i in range(10000)]
kind("GET /health", lambda c: req(c, "GET", "/health")[0])
kind("POST /auth/login", lambda c: req(c, "POST", "/api/v1/auth/login", {"email": email, "password": "probe-password-123"})[0])
kind("GET /users/me", lambda c: req(c, "GET", "/api/v1/users/me", token=tok)[0])
def create(c):
    st, data, _ = req(c, "POST", "/api/v1/tasks", {"title": "probe", "tags": ["x"], "description": "y" * 5000}, tok, {"Prefer": "wait=5"})
    return st
kind("POST /tasks Prefer: wait", create)
kind("GET /tasks (list, q search)", lambda c: req(c, "GET", "/api/v1/tasks?q=probe&sort=priority", token=tok)[0])
kind("GET /tasks/stats", lambda c: req(c, "GET", "/api/v1/tasks/stats", token=tok)[0])
kind("POST /tasks/import 10000 items", lambda c: req(c, "POST", "/api/v1/tasks/import", json.dumps(items), tok)[0])
def report(c):
    st, data, _ = req(c, "POST", "/api/v1/reports", {"format": "csv"}, tok)
    rid = json.loads(data)["id"]
    for _ in range(100):
        st2, d2, _ = req(c, "GET", f"/api/v1/reports/{rid}", token=tok)
        if json.loads(d2)["status"] in ("ready", "failed"): break
        time.sleep(0.3)
    st3, d3, _ = req(c, "GET", f"/api/v1/reports/{rid}/download", token=tok)
    return st, json.loads(d2)["status"], st3, len(d3)
kind("POST+GET report, download", report)
kind("POST /webhooks (SSRF guard, DNS)", lambda c: req(c, "POST", "/api/v1/webhooks", {"url": "http://localhost.localdomain:9/x", "event_types": ["taskbus.task.*"]}, tok)[0])
kind("GET /ready", lambda c: req(c, "GET", "/ready")[0])
kind("GET /metrics", lambda c: req(c, "GET", "/metrics")[0])
kind("GET /openapi.json", lambda c: req(c, "GET", "/openapi.json")[0])
kind("GET /analytics/daily", lambda c: req(c, "GET", "/api/v1/analytics/daily", token=tok)[0])
kind("bad JSON nested 32 deep", lambda c: req(c, "POST", "/api/v1/tasks", "[" * 5000, tok)[0])
def sse(c):
    c.request("GET", "/api/v1/events", headers={"Authorization": "Bearer " + tok, "Accept": "text/event-stream"})
    r = c.getresponse(); first = r.fp.readline() if r.status == 200 else r.read()
    return r.status, first[:40]
kind("GET /events (SSE, open)", sse)
kind("PUT /auth/password", lambda c: req(c, "PUT", "/api/v1/auth/password", {"current_password": "probe-password-123", "new_password": "probe-password-456"}, tok)[0])
print("max deepest KiB:", max(v[0] for v in kinds.values() if v[0]))
