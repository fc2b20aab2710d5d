"""POST /api/v1/auth/refresh: rotation, and reuse of a used token revoking the session."""

import secrets

import pytest

from helpers.api import assert_problem, assert_token_pair


def test_rotation_gives_a_new_pair(make_user, client):
    u = make_user()
    r = client.refresh(u.refresh)
    assert r.status_code == 200, r.text
    body = r.json()
    assert_token_pair(body, u.id)
    assert body["refresh_token"] != u.refresh
    assert body["access_token"] != u.access
    assert client.me(body["access_token"]).status_code == 200
    # And again, from the new one: a chain of rotations stays valid.
    r2 = client.refresh(body["refresh_token"])
    assert r2.status_code == 200, r2.text
    assert client.me(r2.json()["access_token"]).status_code == 200


def test_reuse_revokes_the_whole_family(make_user, client):
    u = make_user()
    first = client.refresh(u.refresh)
    assert first.status_code == 200, first.text
    new_access, new_refresh = first.json()["access_token"], first.json()["refresh_token"]
    assert client.me(new_access).status_code == 200

    # The used token again: a thief (or the victim) replays it.
    replay = client.refresh(u.refresh)
    assert_problem(replay, 401, "unauthorized")
    # The whole family is now dead: the successor refresh token and every access token.
    assert_problem(client.refresh(new_refresh), 401, "unauthorized")
    assert_problem(client.me(new_access), 401, "unauthorized")
    assert_problem(client.me(u.access), 401, "unauthorized")


def test_reuse_does_not_touch_other_sessions(make_user, client):
    u = make_user()
    other_access, other_refresh = u.login()
    assert client.refresh(u.refresh).status_code == 200
    assert client.refresh(u.refresh).status_code == 401
    assert client.me(other_access).status_code == 200
    r = client.refresh(other_refresh)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "token",
    [
        secrets.token_urlsafe(32),  # well formed, never issued
        "garbage",
        "x" * 43,
        "!" * 43,
        "a" * 2000,
        "eyJhbGciOiJIUzI1NiJ9.e30.ZRrHA1JJJW8opsbCGfG_HACGpVUMN_a9IV7pAx_Zmeo",  # a JWT
    ],
)
def test_unknown_or_garbage_refresh_token_is_401(client, token):
    assert_problem(client.refresh(token), 401, "unauthorized")


def test_access_token_is_not_a_refresh_token(make_user, client):
    u = make_user()
    assert_problem(client.refresh(u.access), 401, "unauthorized")


@pytest.mark.parametrize("body", [{}, {"refresh_token": 123}, {"refresh_token": None}, {"refresh": "x"}])
def test_refresh_body_is_validated(client, body):
    r = client.post("/api/v1/auth/refresh", json=body)
    assert_problem(r, 422, "validation-error")


def test_refresh_of_other_user_stays_theirs(make_user, client):
    a, b = make_user(tag="a"), make_user(tag="b")
    r = client.refresh(b.refresh)
    assert r.status_code == 200
    assert r.json()["user"]["id"] == b.id
    me = client.me(r.json()["access_token"])
    assert me.json()["id"] == b.id != a.id
