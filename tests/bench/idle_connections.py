"""Resident memory of a server holding many idle keep-alive connections (tests/bench/run).

Owns: opening N connections, one GET each (answered, kept alive), then reading the
server's VmRSS and thread count from /proc while they stay open; a fresh request is timed
meanwhile to show the server still answers; writes <work>/<name>.json.
Rules: every connection must get its answer, else the figure would be of fewer
connections (the run stops); the sockets are opened within the server's idle timeout
(30 s) and read before it can cut them; all are closed at the end.
"""

import argparse
import resource
import socket
import sys
import time
import urllib.parse

from bench_common import write_result


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                out[key] = int(value.split()[0])
    return out


def request(host, port, path):
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed before the answer")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(body) < length:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed in the body")
        body += chunk
    if not head.startswith(b"HTTP/1.1 200"):
        raise ConnectionError(head.split(b"\r\n")[0].decode())
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--url", required=True, help="a GET that answers 200, e.g. .../health")
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--hold", type=float, default=5)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    u = urllib.parse.urlsplit(a.url)
    host, port, path = u.hostname, u.port, u.path or "/"

    before = proc_status(a.pid)
    socks = []
    t0 = time.monotonic()
    try:
        for _ in range(a.connections):
            socks.append(request(host, port, path))
    except OSError as e:
        sys.exit(f"{a.name}: connection {len(socks) + 1} of {a.connections} failed: {e}")
    open_s = time.monotonic() - t0
    time.sleep(a.hold)
    t1 = time.monotonic()
    request(host, port, path).close()
    fresh_ms = (time.monotonic() - t1) * 1000
    held = proc_status(a.pid)
    for s in socks:
        s.close()
    time.sleep(1)
    after = proc_status(a.pid)
    write_result(a.name, {
        "connections": a.connections, "open_seconds": round(open_s, 2),
        "rss_mib_before": round(before["VmRSS"] / 1024, 1),
        "rss_mib_with_connections": round(held["VmRSS"] / 1024, 1),
        "rss_mib_after_close": round(after["VmRSS"] / 1024, 1),
        "rss_hwm_mib": round(held["VmHWM"] / 1024, 1),
        "threads_before": before["Threads"], "threads_with_connections": held["Threads"],
        "fresh_request_ms_while_held": round(fresh_ms, 2),
    })


if __name__ == "__main__":
    main()
