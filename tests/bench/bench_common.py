"""Helpers the benchmark scripts share (tests/bench/*.py).

Owns: reading the bench stack's environment, registering bench users (through the link
mailed to each), a UUIDv7 for
commands produced straight to Kafka, percentiles, and writing one phase's figures as a
JSON file in the run's work folder (report.py turns those into the results page).
Rules: every wait is bounded and fails loudly with what it last saw; nothing here decides
pass or fail on a timing (benchmarks report, they do not judge).
"""

import json
import math
import os
import secrets
import sys
import time
import uuid

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from helpers.mailbox import registration_token  # noqa: E402


def env(name, default=None):
    v = os.environ.get(name, default)
    if v in (None, ""):
        sys.exit(f"{name} is not set: run through tests/bench/run")
    return v


def api_url():
    return env("TASKBUS_API_URL")


def work_dir():
    return env("BENCH_WORK_DIR")


def write_result(name, figures):
    """Saves one phase's figures as <work>/<name>.json and echoes them."""
    path = os.path.join(work_dir(), f"{name}.json")
    with open(path, "w") as f:
        json.dump(figures, f, indent=1, sort_keys=True)
    print(f"[bench] {name}: {json.dumps(figures, sort_keys=True)}", flush=True)


def read_lines(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def write_lines(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def _post_retrying(session, path, body, want, what):
    """POSTs body; retries a 429 a few times; exits unless the answer is want."""
    for _ in range(5):
        r = session.post(f"{api_url()}{path}", json=body, timeout=30)
        if r.status_code == 429:
            time.sleep(float(r.headers.get("Retry-After", "1")))
            continue
        if r.status_code != want:
            sys.exit(f"{what}: {r.status_code} {r.text[:300]}")
        return r
    sys.exit(f"{what}: still rate limited after 5 tries")


def register_user(session, tag):
    """A fresh user: (user id, access token). Registers, reads the link mailed to the
    address from the stack's mail folder, confirms."""
    email = f"{tag}-{secrets.token_hex(6)}@bench.example"
    body = {"email": email, "password": "bench-password-" + secrets.token_hex(4)}
    _post_retrying(session, "/api/v1/auth/register", body, 202, f"register {email}")
    confirm = {"token": registration_token(email), "password": body["password"]}
    doc = _post_retrying(session, "/api/v1/auth/register/confirm", confirm, 201, f"confirm {email}").json()
    return doc["user"]["id"], doc["access_token"]


def uuid7():
    """A UUIDv7 (RFC 9562) as text: 48-bit Unix milliseconds, then random bits."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(secrets.token_bytes(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def uuid7_ms(text):
    """The Unix milliseconds a UUIDv7 carries."""
    return uuid.UUID(text).int >> 80


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    k = math.ceil(p / 100.0 * len(sorted_values)) - 1
    return sorted_values[max(0, min(len(sorted_values) - 1, k))]


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])
