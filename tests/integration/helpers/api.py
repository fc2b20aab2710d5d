"""HTTP side of the integration tests.

Owns: the Client (a requests.Session that sends its own X-Forwarded-For address from
198.18.0.0/15, so the per-IP rate-limit buckets of one test never leak into another; the
address is only a header, never a destination), fresh users, and the checks of the RFC
9457 problem shape every error must have.
Rules: every request has a timeout; nothing is mocked; the API under test is the one
named by TASKBUS_API_URL.
"""

import base64
import ipaddress
import random
import re
import threading
import uuid
from dataclasses import dataclass, field

import requests

from helpers.mailbox import registration_token

API = "/api/v1"
TIMEOUT = 30
PROBLEM_CT = "application/problem+json"
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

_NET = ipaddress.ip_network("198.18.0.0/15")
# Addresses already handed out in this run: two clients must never share a bucket.
# Guarded by a lock because the concurrency tests create clients from threads.
_used_ips: set = set()
_ips_lock = threading.Lock()


def fresh_ip() -> str:
    with _ips_lock:
        while True:
            n = random.randrange(1, _NET.num_addresses - 1)
            ip = str(_NET.network_address + n)
            if not ip.endswith((".0", ".255")) and ip not in _used_ips:
                _used_ips.add(ip)
                return ip


def unique_email(tag: str = "user") -> str:
    tag = re.sub(r"[^a-z0-9]+", "-", tag.lower()).strip("-")[:30] or "user"
    return f"it-{tag}-{uuid.uuid4().hex[:16]}@example.com"


class Client:
    """One HTTP client, as one machine behind the proxy would be."""

    def __init__(self, base_url: str, ip: str | None = None):
        self.base = base_url.rstrip("/")
        self.ip = ip or fresh_ip()
        self.session = requests.Session()
        self.session.headers["X-Forwarded-For"] = self.ip

    def twin(self, base_url: str) -> "Client":
        """The same machine (same address, so the same per-IP buckets) talking to another
        API instance of the stack, as a load balancer would route it there."""
        return Client(base_url, self.ip)

    def request(self, method, path, token=None, headers=None, **kw):
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        kw.setdefault("timeout", TIMEOUT)
        kw.setdefault("allow_redirects", False)
        url = path if path.startswith("http") else self.base + path
        return self.session.request(method, url, headers=hdrs, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    # --- the account endpoints, as a client library would wrap them ---

    def register(self, email, password, display_name=None, **kw):
        body = {"email": email, "password": password}
        if display_name is not None:
            body["display_name"] = display_name
        return self.post(f"{API}/auth/register", json=body, **kw)

    def confirm_registration(self, token, password, **kw):
        return self.post(f"{API}/auth/register/confirm", json={"token": token, "password": password}, **kw)

    def login(self, email, password, **kw):
        return self.post(f"{API}/auth/login", json={"email": email, "password": password}, **kw)

    def refresh(self, refresh_token, **kw):
        return self.post(f"{API}/auth/refresh", json={"refresh_token": refresh_token}, **kw)

    def logout(self, access, refresh_token, **kw):
        return self.post(f"{API}/auth/logout", token=access, json={"refresh_token": refresh_token}, **kw)

    def logout_all(self, access, **kw):
        return self.post(f"{API}/auth/logout-all", token=access, json={}, **kw)

    def change_password(self, access, current, new, **kw):
        body = {"current_password": current, "new_password": new}
        return self.put(f"{API}/auth/password", token=access, json=body, **kw)

    def me(self, access, **kw):
        return self.get(f"{API}/users/me", token=access, **kw)


@dataclass
class User:
    client: Client
    email: str
    password: str
    id: str
    access: str
    refresh: str
    body: dict = field(default_factory=dict)

    def login(self, client: "Client | None" = None) -> tuple[str, str]:
        """A new session (access, refresh) from a new client address."""
        c = client or Client(self.client.base)
        r = c.login(self.email, self.password)
        assert r.status_code == 200, f"login of {self.email}: {r.status_code} {r.text}"
        b = r.json()
        return b["access_token"], b["refresh_token"]


def new_password() -> str:
    return "pw-" + uuid.uuid4().hex[:20]


def register_user(base_url, tag="user", email=None, password=None, display_name=None, headers=None) -> User:
    """A new account, made as a person makes one: register (202), open the link mailed to
    the address (the live one of this registration), confirm with the password (201,
    signed in). headers go with both requests."""
    client = Client(base_url)
    email = email or unique_email(tag)
    password = password or new_password()
    r = client.register(email, password, display_name, headers=headers)
    assert r.status_code == 202, f"register {email}: {r.status_code} {r.text}"
    token = registration_token(r.json()["email"])
    r = client.confirm_registration(token, password, headers=headers)
    assert r.status_code == 201, f"confirm the registration of {email}: {r.status_code} {r.text}"
    b = r.json()
    return User(client, b["user"]["email"], password, b["user"]["id"], b["access_token"], b["refresh_token"], b)


def unverified_user(base_url, tag="user", **kw) -> User:
    """An account whose address is not verified, as every account made before registration
    waited for its mailed link (migration 0035) still may be: registered, then its
    email_verified_at cleared in Postgres (the API reads it there on every use; no route
    makes such an account any more)."""
    import os

    import psycopg

    user = register_user(base_url, tag=tag, **kw)
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True, connect_timeout=10) as conn:
        conn.execute("UPDATE users SET email_verified_at = NULL WHERE id = %s", (user.id,))
    user.body["user"]["email_verified"] = False
    return user


# --- checks ---


def assert_answered_alike(send, known, unknown, max_median_gap_s=0.05):
    """No account oracle: send(address) for known and unknown addresses, interleaved (so
    load drifts hit both alike), answers 202 {email} to each, with the same header names
    and medians of their times within max_median_gap_s."""
    import statistics
    import time

    times = {"known": [], "unknown": []}
    answers = {}
    for k, u in zip(known, unknown):
        for kind, address in (("known", k), ("unknown", u)):
            t0 = time.perf_counter()
            r = send(address)
            times[kind].append(time.perf_counter() - t0)
            assert r.status_code == 202 and r.json() == {"email": address}, r.text
            answers.setdefault(kind, set()).add(
                tuple(sorted(h.lower() for h in r.headers if h.lower() not in ("date", "x-request-id"))))
    assert answers["known"] == answers["unknown"], answers
    gap = abs(statistics.median(times["known"]) - statistics.median(times["unknown"]))
    assert gap < max_median_gap_s, f"median times differ by {gap * 1000:.1f} ms: {times}"


def is_uuid(s, version=None) -> bool:
    try:
        u = uuid.UUID(str(s))
    except (ValueError, TypeError, AttributeError):
        return False
    if str(u) != str(s).lower():
        return False
    return version is None or u.version == version


def assert_request_id(resp):
    rid = resp.headers.get("X-Request-ID")
    assert rid, f"no X-Request-ID on {resp.request.method} {resp.request.url} -> {resp.status_code}"
    assert REQUEST_ID_RE.match(rid), f"bad X-Request-ID {rid!r}"
    return rid


def assert_problem(resp, status, slug=None):
    """Checks the RFC 9457 shape and returns the body."""
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.text[:500]}"
    ct = resp.headers.get("Content-Type", "")
    assert ct.split(";")[0].strip().lower() == PROBLEM_CT, f"content type {ct!r} for {status}"
    body = resp.json()
    assert isinstance(body, dict), body
    for key in ("type", "title", "status", "detail", "request_id"):
        assert key in body, f"problem lacks {key}: {body}"
    assert body["status"] == status, body
    assert isinstance(body["title"], str) and body["title"], body
    assert isinstance(body["detail"], str), body
    if slug is not None:
        assert body["type"] == f"/problems/{slug}", body
    assert body["request_id"] == assert_request_id(resp), (body, resp.headers)
    return body


def error_fields(problem) -> list:
    """Field names of a validation problem, normalised ("/email", "$.email" -> "email")."""
    errs = problem.get("errors")
    assert isinstance(errs, list) and errs, f"no errors list: {problem}"
    names = []
    for e in errs:
        assert isinstance(e, dict) and isinstance(e.get("field"), str), e
        assert isinstance(e.get("message"), str) and e["message"], e
        f = e["field"]
        f = f[2:] if f.startswith("$.") else f
        names.append(f.lstrip("/"))
    return names


def assert_token_pair(body, user_id=None):
    for key in ("user", "access_token", "token_type", "expires_in", "refresh_token", "refresh_expires_in"):
        assert key in body, f"token response lacks {key}: {body}"
    assert body["token_type"] == "Bearer", body
    assert isinstance(body["expires_in"], int) and 0 < body["expires_in"] <= 3600, body
    assert isinstance(body["refresh_expires_in"], int) and body["refresh_expires_in"] > body["expires_in"], body
    assert body["access_token"].count(".") == 2, body["access_token"]
    rt = body["refresh_token"]
    assert isinstance(rt, str) and re.fullmatch(r"[A-Za-z0-9_-]{43}", rt), rt
    assert len(base64.urlsafe_b64decode(rt + "=")) == 32
    if user_id is not None:
        assert body["user"]["id"] == user_id, body


def assert_user_shape(u, email=None):
    assert isinstance(u, dict), u
    for key in ("id", "email", "display_name", "role"):
        assert key in u, f"user lacks {key}: {u}"
    assert is_uuid(u["id"], 7), u["id"]
    assert u["role"] in ("user", "admin"), u
    for secret in ("password", "password_hash", "token_epoch", "verification_token"):
        assert secret not in u, f"user leaks {secret}: {u}"
    if email is not None:
        assert u["email"] == email, u
