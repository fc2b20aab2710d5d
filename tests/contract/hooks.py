"""schemathesis hooks of the contract suite (tests/contract/run loads them).

Owns: who the generated requests come from (users and client addresses), the few
generated "positive" cases that no schema can make valid and how they are adjusted, and
the suite's own check. docs/decisions.md ("The contract suite and the OpenAPI document")
says why each exists.

Rules:
- Nothing here hides a failure. A positive case is only adjusted (or dropped) where the
  document states a rule in prose that JSON Schema cannot express: a task-list or
  activity cursor is valid only as issued for its query, analytics spans at most 366
  days, due_after < due_before, a new password differs from the current one, a webhook
  URL must resolve to an address the stack's SSRF guard lets through, an e-mail token
  exists only in an e-mail, an Idempotency-Key names one request, a task's recurrence is
  a rule of the RRULE subset in a zone of zone.tab and needs a due_at, a task's assignee is
  an editor or owner of its project (a generated id is nobody's: the case sends null,
  unassigned, instead). A DELETE of a task in
  the stateful phase waits for the writer (Prefer: wait=30), so a 2xx means deleted
  when schemathesis then expects 404. Negative cases are never touched.
- Each request comes from its own client address (X-Forwarded-For, honoured by the test
  stack's TASKBUS_TRUST_PROXY=1), like every pytest client has its own: the per-address
  buckets stay production-like and a run of thousands of requests never meets them.
- Each (phase, operation) has its own user (the stateful phase one for the whole phase,
  since its steps follow links from one operation to the next), so the per-user bucket
  (600/60 s) is never the limit either. A rate-limited answer fails the run
  (`not_rate_limited`): a 429 would mean a case never reached its handler. The
  exceptions are the per-account bucket of sign-in attempts, which generated e-mails
  meet by design (the empty one repeats), the per-address bucket of requests that mail an
  address (a registration or reset of a generated address that repeats), and the
  per-account limit of new verification links.
- Operations that end sessions (logout, logout-all, password change, account deletion) get a fresh user per
  case, so they never revoke the token of the cases that follow; so does the event
  stream, whose streams are capped per user and outlive the client by up to 15 s.
- Tokens are never refetched on a 401 (retry_on=[]): a 401 to a valid token is a finding.
"""

import datetime
import hashlib
import ipaddress
import itertools
import urllib.parse
import json
import os
import sys
import threading
import uuid

import requests
import schemathesis
from schemathesis import GenerationMode

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from helpers.mailbox import registration_token  # noqa: E402

# Python 3.11 before 3.11.5 (Debian 12 ships 3.11.2) can raise "SystemError: AST
# constructor recursion depth mismatch" from ast.parse when it is called at a different
# stack depth than the first time (CPython gh-106905). Hypothesis parses a strategy's
# source only to describe a lambda in its messages, and a contract run met the crash
# there once (no request was involved). A description is not a check: when the parse
# hits that bug, the lambda is described as Hypothesis describes any lambda whose
# source it cannot read ("<unknown>"). Every other exception still propagates.
# (A Hypothesis without that private function is left as it is.)
from hypothesis.internal import lambda_sources as _lambda_sources  # noqa: E402

_describe_lambda = getattr(_lambda_sources, "_lambda_description", None)


def _describe_lambda_despite_gh106905(f, *args, **kwargs):
    try:
        return _describe_lambda(f, *args, **kwargs)
    except SystemError as e:
        if "AST constructor recursion depth mismatch" not in str(e):
            raise
        return "lambda: <unknown>"


if _describe_lambda is not None:
    _lambda_sources._lambda_description = _describe_lambda_despite_gh106905

API_URL = os.environ.get("TASKBUS_API_URL", "http://127.0.0.1:8080").rstrip("/")
PASSWORD = "contract-suite-password-1"
TIMEOUT = 30
# Webhook targets the test stack's SSRF guard lets through (TASKBUS_WEBHOOK_ALLOW).
WEBHOOK_TARGET = os.environ.get("TASKBUS_CONTRACT_WEBHOOK_URL", "http://127.0.0.1:9/contract-hook")
WEBHOOK_URL_OPERATIONS = {"POST /api/v1/webhooks", "PATCH /api/v1/webhooks/{id}"}

# Operations whose success revokes the caller's session or every session of the user (or
# the user).
SESSION_ENDING = {"POST /api/v1/auth/logout", "POST /api/v1/auth/logout-all",
                  "PUT /api/v1/auth/password", "DELETE /api/v1/users/me"}
# The event stream: a stream stays open on the server until its next write (up to 15 s)
# after the client left, and streams are capped per user; one user per case keeps every
# case within the cap.
# Making API tokens: an account holds at most 50 live ones, which the coverage and
# stateful phases would reach with one user.
ONE_USER_PER_CASE = SESSION_ENDING | {"GET /api/v1/events", "POST /api/v1/tokens"}
# Operations whose list cursor no pattern can make valid: the task list's is MAC-signed
# and names its query, the activity's is base64url of a position. (The cursors of the
# report and delivery lists are positions in plain text: any that matches is valid.)
CURSOR_OPERATIONS = {"GET /api/v1/tasks", "GET /api/v1/activity"}

# --- client addresses -------------------------------------------------------------------
# 198.19.0.0/16: the upper half of the benchmarking range the pytest clients draw from;
# only a header, never a destination. A counter, so one run never reuses an address.
_NET = ipaddress.ip_network("198.19.0.0/16")
_addresses = itertools.count(1)
_addresses_lock = threading.Lock()
_keys = itertools.count(1)  # the serial of each Idempotency-Key (map_case)
_keys_lock = threading.Lock()


def next_address() -> str:
    with _addresses_lock:
        n = next(_addresses) % (_NET.num_addresses - 2) + 1
    return str(_NET.network_address + n)


# --- users ------------------------------------------------------------------------------
_RUN = uuid.uuid4().hex[:10]
_users = itertools.count(1)
_users_lock = threading.Lock()


def register_user() -> str:
    """A fresh account's access token (registered from its own address, confirmed with the
    link mailed to it)."""
    with _users_lock:
        n = next(_users)
    email = f"contract-{_RUN}-{n}@example.com"
    r = requests.post(
        f"{API_URL}/api/v1/auth/register",
        json={"email": email, "password": PASSWORD},
        headers={"X-Forwarded-For": next_address()},
        timeout=TIMEOUT,
    )
    if r.status_code != 202:
        raise RuntimeError(f"registering {email} answered {r.status_code}: {r.text[:300]}")
    r = requests.post(
        f"{API_URL}/api/v1/auth/register/confirm",
        json={"token": registration_token(email), "password": PASSWORD},
        headers={"X-Forwarded-For": next_address()},
        timeout=TIMEOUT,
    )
    if r.status_code != 201:
        raise RuntimeError(f"confirming {email} answered {r.status_code}: {r.text[:300]}")
    return r.json()["access_token"]


def _phase(case) -> str:
    meta = case.meta
    return str(meta.phase.name) if meta is not None else "explicit"


_session_cases = itertools.count(1)


def _auth_key(case, ctx) -> str:
    label = case.operation.label
    if label in ONE_USER_PER_CASE:
        return f"own-user-{next(_session_cases)}"
    phase = _phase(case)
    if phase == "stateful":
        return "stateful"
    return f"{phase} {label}"


def _declares_security(operation) -> bool:
    raw = operation.definition.raw
    security = raw.get("security", operation.schema.raw_schema.get("security", []))
    return bool(security)


# Tokens live TASKBUS_ACCESS_TTL_SECONDS (900 s); a run is bounded well below, and a key
# is refetched after 600 s anyway. retry_on=[]: a 401 to a valid token is a finding, never
# a reason to fetch another token and send the request again.
@schemathesis.auth(refresh_interval=600, cache_by_key=_auth_key, retry_on=[])
class FreshUserAuth:
    def get(self, case, ctx):
        if not _declares_security(case.operation):
            return None
        return register_user()

    def set(self, case, data, ctx):
        if data is not None:
            case.headers = case.headers or {}
            case.headers["Authorization"] = f"Bearer {data}"


# --- cases ------------------------------------------------------------------------------
def _is_positive(case) -> bool:
    meta = case.meta
    return meta is not None and meta.generation.mode == GenerationMode.POSITIVE


def _analytics_range_ok(query) -> bool:
    import datetime

    try:
        to = datetime.date.fromisoformat(query["to"]) if "to" in query else datetime.datetime.now(datetime.timezone.utc).date()
        start = datetime.date.fromisoformat(query["from"]) if "from" in query else to - datetime.timedelta(days=29)
    except (TypeError, ValueError):
        return True  # not a date: let the server answer it
    except OverflowError:
        start = datetime.date.min  # the server's default from stops at 0001-01-01 too
    return start <= to and (to - start).days + 1 <= 366


def _due_range_ok(query) -> bool:
    import datetime

    def parse(v):
        return datetime.datetime.fromisoformat(str(v).replace("z", "Z").replace("Z", "+00:00").replace("t", "T"))

    if "due_after" not in query or "due_before" not in query:
        return True
    try:
        return parse(query["due_after"]) < parse(query["due_before"])
    except ValueError:
        return True


# A request head beyond TASKBUS_HTTP_CONNECTION_MEMORY_KIB (8 KiB: the request line, the
# headers and libmicrohttpd's parsed copies of the query's arguments) is answered 431 by the
# HTTP library before any route runs (README, "Configuration"; docs/decisions.md). That is
# the transport's limit, not the document's: a generated query string past this budget
# (schemathesis repeats a parameter with long values) is not sent.
QUERY_BUDGET = 2048


def _query_length(query) -> int:
    try:
        return len(urllib.parse.urlencode({k: v if isinstance(v, list) else [v]
                                           for k, v in (query or {}).items()}, doseq=True))
    except (TypeError, ValueError):
        return 0


@schemathesis.hook
def filter_case(context, case):
    """Drops cases past the transport's head limit, and positive cases that break a rule
    the document states in prose only."""
    if _query_length(case.query) > QUERY_BUDGET:
        return False
    if not _is_positive(case):
        return True
    label = case.operation.label
    query = case.query or {}
    if label == "GET /api/v1/analytics/daily":
        return _analytics_range_ok(query)
    if label == "GET /api/v1/tasks":
        return _due_range_ok(query)
    if label == "POST /api/v1/reports" and isinstance(case.body, dict):
        return not isinstance(case.body.get("filters"), dict) or _due_range_ok(case.body["filters"])
    if label in ("GET /api/v1/auth/verify", "POST /api/v1/auth/password-reset/confirm",
                 "POST /api/v1/auth/email-change/confirm", "POST /api/v1/auth/email-change/revert",
                 "POST /api/v1/auth/register/confirm"):
        return False  # the token exists only in the e-mail
    if label == "PUT /api/v1/auth/password" and isinstance(case.body, dict):
        return case.body.get("current_password") != case.body.get("new_password")
    return True


# A task's recurrence: the RRULE subset, the zones of zone.tab and "a recurring task needs
# a due_at" are stated in prose (docs/decisions.md, "Recurring tasks (slice 2)").
RECURRENCE_OPERATIONS = {"POST /api/v1/tasks", "PATCH /api/v1/tasks/{id}"}
VALID_RECURRENCES = [
    {"rule": "FREQ=WEEKLY;BYDAY=MO", "time_zone": "Europe/Berlin"},
    {"rule": "rrule:freq=monthly;byday=-1fr;count=3", "time_zone": "America/New_York"},
    {"rule": "FREQ=DAILY;INTERVAL=2;UNTIL=20301231", "time_zone": "UTC"},
    {"rule": "FREQ=YEARLY;BYMONTHDAY=-1", "time_zone": "Asia/Tokyo"},
]
RECURRENCE_DUE_AT = "2030-01-07T08:00:00Z"
# An API token's expiry: a day from when the suite runs.
TOKEN_EXPIRY = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)).strftime(
    "%Y-%m-%dT%H:%M:%SZ")


def _valid_recurrence(case):
    pick = int(_request_fingerprint(case), 16) % len(VALID_RECURRENCES)
    body = {**case.body, "recurrence": VALID_RECURRENCES[pick]}
    if not isinstance(body.get("due_at"), str):
        body["due_at"] = RECURRENCE_DUE_AT
    return body


def _request_fingerprint(case) -> str:
    body = json.dumps(case.body, sort_keys=True, default=str) if case.body is not None else ""
    digest = hashlib.sha256(f"{case.method} {case.formatted_path} {body}".encode()).hexdigest()
    return digest[:16]


@schemathesis.hook
def map_case(context, case):
    case.headers = case.headers or {}
    case.headers["X-Forwarded-For"] = next_address()
    if not _is_positive(case):
        return case
    label = case.operation.label
    if label in CURSOR_OPERATIONS and case.query and "cursor" in case.query:
        case.query = {k: v for k, v in case.query.items() if k != "cursor"}
    if label in WEBHOOK_URL_OPERATIONS and isinstance(case.body, dict) and "url" in case.body:
        case.body = {**case.body, "url": WEBHOOK_TARGET}
    if label in RECURRENCE_OPERATIONS and isinstance(case.body, dict) and isinstance(
            case.body.get("recurrence"), dict):
        case.body = _valid_recurrence(case)
    if label in RECURRENCE_OPERATIONS and isinstance(case.body, dict) and isinstance(
            case.body.get("assignee_id"), str):
        # who may be assigned (an editor or owner of the task's project, docs/decisions.md
        # "Assignees (slice 4)") is prose; a generated id is nobody's, so unassign instead
        case.body = {**case.body, "assignee_id": None}
    if label == "POST /api/v1/tokens" and isinstance(case.body, dict):
        # prose rule: an expiry lies in the next 366 days (docs/decisions.md, "Personal
        # API tokens (slice 5)")
        body = dict(case.body)
        if isinstance(body.get("expires_at"), str):
            body["expires_at"] = TOKEN_EXPIRY
        case.body = body
    if label == "DELETE /api/v1/tasks/{id}" and _phase(case) == "stateful":
        # A 202 only queues the delete; schemathesis takes any 2xx DELETE as done and
        # then expects 404 from the task. Waiting for the writer makes a 2xx mean done.
        case.headers["Prefer"] = "wait=30"
    key = case.headers.get("Idempotency-Key")
    if isinstance(key, str) and key:
        # One key names one request: a generated key reused with another body is the
        # documented 422 idempotency-key-reused, a client error by state, not by schema.
        # The serial makes every case's key its own: in the stateful phase a link fills
        # values (a project_id from GET /projects) after this hook, so two cases with the
        # same fingerprint here may still send different bodies.
        with _keys_lock:
            serial = next(_keys)
        case.headers["Idempotency-Key"] = f"{key[:220]}.{_request_fingerprint(case)}.{serial}"
    return case


# --- checks -----------------------------------------------------------------------------
# Sign-in attempts are also limited per account (TASKBUS_RATELIMIT_LOGIN_ACCOUNT, 10 per
# 5 min, by e-mail): generated e-mails repeat (the empty one, "0"), so login and password
# change meet that bucket by design. Its answer is the documented 429 of those operations.
# A new verification link is limited per account in Postgres (one a minute, the welcome
# link counted): a fresh user's first resend meets it by design.
# Reset requests are limited per e-mail address, known or not (5 an hour): generated
# addresses repeat just as sign-in ones do.
# An e-mail change and an account deletion check the current password in the sign-in
# bucket of the account, as a password change does.
PER_ACCOUNT_LIMITED = {"POST /api/v1/auth/login", "PUT /api/v1/auth/password", "POST /api/v1/auth/register",
                       "POST /api/v1/auth/verify/resend", "POST /api/v1/auth/password-reset",
                       "PATCH /api/v1/users/me", "DELETE /api/v1/users/me"}


@schemathesis.check
def not_rate_limited(ctx, response, case):
    """A rate-limited answer means the case never reached its handler: the suite must
    stay within the per-address and per-user limits and the caps of event streams (one
    user per stream case; see the module doc), so a 429 of those fails the run."""
    if response.status_code != 429:
        return None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if body.get("type") != "/problems/rate-limited":
        return None
    detail = str(body.get("detail"))
    if case.operation.label in PER_ACCOUNT_LIMITED and (
            "for this account" in detail or "requests that mail this address" in detail):
        return None
    raise AssertionError(f"rate limited: {response.text[:200]}")
