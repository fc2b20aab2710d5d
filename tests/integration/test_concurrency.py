"""Races between clients: the database, not luck, keeps e-mail addresses unique."""

import threading
from concurrent.futures import ThreadPoolExecutor

from helpers.api import Client, assert_problem, new_password, unique_email
from helpers.mailbox import registration_token

N = 5  # registrations of one address: the per-address mail limit allows 5 a window


def test_parallel_confirmations_of_one_email(api_url, new_client):
    """N registrations of one address each get a link; opened all at once, the database
    lets exactly one make the account."""
    email = unique_email("race")
    password = new_password()
    for _ in range(N):
        assert new_client().register(email, password).status_code == 202
    tokens = [registration_token(email, count=k) for k in range(1, N + 1)]
    clients = [new_client() for _ in range(N)]
    start = threading.Barrier(N)

    def attempt(ct):
        c, token = ct
        start.wait()
        return c.confirm_registration(token, password)

    with ThreadPoolExecutor(max_workers=N) as pool:
        responses = list(pool.map(attempt, zip(clients, tokens)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (N - 1), statuses
    for r in responses:
        if r.status_code == 409:
            assert_problem(r, 409, "email-taken")
    winner = next(r for r in responses if r.status_code == 201)
    # The winner's account is the one that exists.
    me = Client(api_url).me(winner.json()["access_token"])
    assert me.status_code == 200 and me.json()["email"] == email


def test_parallel_refresh_of_one_token(make_user, new_client):
    """Two clients race one refresh token: at most one gets a pair; a reuse kills the family,
    so every pair that was handed out is then dead or it is the only one."""
    u = make_user()
    clients = [new_client() for _ in range(5)]
    start = threading.Barrier(len(clients))

    def attempt(c):
        start.wait()
        return c.refresh(u.refresh)

    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        responses = list(pool.map(attempt, clients))
    ok = [r for r in responses if r.status_code == 200]
    assert len(ok) <= 1, [r.status_code for r in responses]
    assert all(r.status_code in (200, 401) for r in responses), [r.status_code for r in responses]
    if len(responses) - len(ok) > 0 and ok:
        # A used token was presented again: the family, and so the winner's pair, is revoked.
        assert Client(u.client.base).refresh(ok[0].json()["refresh_token"]).status_code == 401
