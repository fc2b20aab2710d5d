"""Event-stream tickets and the stream's end with its session (issue 16; docs/decisions.md,
"Event-stream tickets"): `POST /api/v1/events/tickets` gives a signed-in session a ticket
that opens `GET /api/v1/events?ticket=` once, without an Authorization header (what a
browser's EventSource can send); a used, unknown, expired or signed-out ticket is 401; an
API token gets none; a stream ends within seconds once its session ends, and a stream of
another session goes on.

Rules: every test has its own user; expiry is made by shortening the ticket's TTL in
Redis, never by waiting it out; waits are bounded conditions.
"""

import hashlib
import re

from helpers.api import API, Client, assert_problem
from helpers.tasks import SseReader, TaskApi, redis_conn, task_of, task_user, wait_until
from test_api_tokens import assert_scope_refused, make_token

TICKETS = f"{API}/events/tickets"
# The stream asks every 2 s whether its session stands; this bounds the wait, not a timing.
STREAM_END_S = 15


def ticket_of(api):
    r = api.c.post(TICKETS, token=api.token)
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"ticket", "expires_in"} and body["expires_in"] == 30, body
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", body["ticket"]), body
    assert r.headers.get("Cache-Control") == "no-store", r.headers
    return body["ticket"]


def ticket_key(ticket):
    return "sse:ticket:" + hashlib.sha256(ticket.encode()).hexdigest()


def with_ticket(api, ticket):
    return SseReader(api, params={"ticket": ticket}, token=False)


def created_frame(reader, task_id, timeout=20):
    """The task.created frame of task_id (other frames skipped)."""
    while True:
        f = reader.next(timeout)
        if f.get("event") == "task.created" and task_id in f.get("data", ""):
            return f


def refused(r):
    assert_problem(r.resp, 401, "unauthorized")


def test_a_ticket_opens_the_stream_once(api_url):
    api = task_user(api_url, "sse-ticket")
    ticket = ticket_of(api)
    ttl = redis_conn().ttl(ticket_key(ticket))
    assert 0 < ttl <= 30, f"the ticket's key lives {ttl} s"
    live = with_ticket(api, ticket)
    try:
        assert live.status == 200, live.resp.text[:300]
        r = api.create({"title": "seen through a ticket"}, wait=5)
        assert r.status_code == 201, r.text
        created_frame(live, task_of(r.json())["id"])
    finally:
        live.close()
    again = with_ticket(api, ticket)
    try:
        refused(again)
    finally:
        again.close()
    assert not redis_conn().exists(ticket_key(ticket)), "a used ticket is gone"
    for bad in ("A" * 43, "short", ticket + "x"):
        r = Client(api_url).get(f"{API}/events", params={"ticket": bad}, headers={"Accept": "text/event-stream"})
        assert_problem(r, 401, "unauthorized")
    # Only the events stream reads a ticket.
    r = Client(api_url).get(f"{API}/tasks", params={"ticket": ticket_of(api)})
    assert_problem(r, 401, "unauthorized")


def test_the_header_wins_over_a_ticket_and_leaves_it_unused(api_url):
    api = task_user(api_url, "sse-ticket-header")
    ticket = ticket_of(api)
    both = SseReader(api, params={"ticket": ticket})
    try:
        assert both.status == 200
    finally:
        both.close()
    assert redis_conn().exists(ticket_key(ticket)), "the header opened the stream; the ticket stays unused"
    later = with_ticket(api, ticket)
    try:
        assert later.status == 200
    finally:
        later.close()


def test_expired_and_signed_out_tickets_are_refused(api_url):
    api = task_user(api_url, "sse-ticket-expired")
    ticket = ticket_of(api)
    redis_conn().pexpire(ticket_key(ticket), 1)
    wait_until(lambda: not redis_conn().exists(ticket_key(ticket)), 10, "the shortened ticket expired")
    r = with_ticket(api, ticket)
    try:
        refused(r)
    finally:
        r.close()
    ticket = ticket_of(api)
    assert api.c.logout(api.token, api.user.refresh).status_code == 204
    r = with_ticket(api, ticket)
    try:
        refused(r)
    finally:
        r.close()


def test_an_api_token_gets_no_ticket(api_url):
    api = task_user(api_url, "sse-ticket-token")
    doc = make_token(api.user, ["tasks:read"])
    assert_scope_refused(Client(api_url).post(TICKETS, token=doc["token"]))
    assert_problem(Client(api_url).post(TICKETS), 401, "unauthorized")


def test_a_stream_ends_with_its_session_and_another_sessions_goes_on(api_url):
    api = task_user(api_url, "sse-session-end")
    access_b, _ = api.user.login()
    other = TaskApi(api.user)  # the same user, session B
    other.token = access_b
    by_header = SseReader(api)
    by_ticket = with_ticket(api, ticket_of(api))
    stays = SseReader(other)
    try:
        assert by_header.status == 200 and by_ticket.status == 200 and stays.status == 200
        assert api.c.logout(api.token, api.user.refresh).status_code == 204
        for s in (by_header, by_ticket):
            assert s.ended(STREAM_END_S), "a stream outlived its session"
            assert "session ended" in (s.last_comment or ""), s.last_comment
        r = other.create({"title": "after the other session ended"}, wait=5)
        assert r.status_code == 201, r.text
        created_frame(stays, task_of(r.json())["id"])
        assert Client(api_url).logout_all(access_b).status_code == 204
        assert stays.ended(STREAM_END_S), "a stream outlived a sign-out everywhere"
        assert "session ended" in (stays.last_comment or ""), stays.last_comment
    finally:
        for s in (by_header, by_ticket, stays):
            s.close()
