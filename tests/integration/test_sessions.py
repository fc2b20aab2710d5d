"""Logout, logout-all and password change: each takes effect at once, for access tokens too."""

from helpers.api import API, assert_problem, assert_token_pair, error_fields, new_password


def test_logout_revokes_its_session_only(make_user, client):
    u = make_user()
    other_access, other_refresh = u.login()

    r = client.logout(u.access, u.refresh)
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert_problem(client.me(u.access), 401, "unauthorized")
    assert_problem(client.refresh(u.refresh), 401, "unauthorized")

    # The other session of the same user lives on.
    assert client.me(other_access).status_code == 200
    r = client.refresh(other_refresh)
    assert r.status_code == 200, r.text
    assert client.me(r.json()["access_token"]).status_code == 200


def test_logout_after_rotation_kills_the_rotated_tokens(make_user, client):
    u = make_user()
    r = client.refresh(u.refresh)
    access, refresh = r.json()["access_token"], r.json()["refresh_token"]
    assert client.logout(access, refresh).status_code == 204
    assert_problem(client.me(access), 401, "unauthorized")
    assert_problem(client.me(u.access), 401, "unauthorized")
    assert_problem(client.refresh(refresh), 401, "unauthorized")


def test_logout_needs_an_access_token(make_user, client):
    u = make_user()
    r = client.post(f"{API}/auth/logout", json={"refresh_token": u.refresh})
    assert_problem(r, 401, "unauthorized")
    # Nothing was revoked.
    assert client.me(u.access).status_code == 200


def test_logout_cannot_revoke_another_users_session(make_user, client):
    a, b = make_user(tag="a"), make_user(tag="b")
    r = client.logout(a.access, b.refresh)
    assert r.status_code in (204, 401, 403, 422), r.text
    # b's session is untouched whatever a sent.
    assert client.me(b.access).status_code == 200
    assert client.refresh(b.refresh).status_code == 200


def test_logout_all_revokes_every_session(make_user, client):
    u = make_user()
    sessions = [(u.access, u.refresh)] + [u.login() for _ in range(2)]
    for access, _ in sessions:
        assert client.me(access).status_code == 200
    r = client.logout_all(sessions[1][0])
    assert r.status_code == 204, r.text
    for access, refresh in sessions:
        assert_problem(client.me(access), 401, "unauthorized")
        assert_problem(client.refresh(refresh), 401, "unauthorized")
    # The account itself is fine: a new login works.
    access, _ = u.login()
    assert client.me(access).status_code == 200


def test_logout_all_needs_an_access_token(client):
    assert_problem(client.post(f"{API}/auth/logout-all", json={}), 401, "unauthorized")


def test_password_change_with_wrong_current_is_refused(make_user, client, new_client):
    u = make_user()
    r = client.change_password(u.access, u.password + "-wrong", new_password())
    # 403, not 401: a 401 would make a client think its access token is bad (decisions.md).
    assert_problem(r, 403, "invalid-credentials")
    # Nothing changed: the session works and the old password still logs in.
    assert client.me(u.access).status_code == 200
    assert new_client().login(u.email, u.password).status_code == 200


def test_password_change_validates_the_new_password(make_user, client):
    u = make_user()
    r = client.change_password(u.access, u.password, "short")
    assert "new_password" in error_fields(assert_problem(r, 422, "validation-error"))
    r = client.put(f"{API}/auth/password", token=u.access, json={"new_password": new_password()})
    assert_problem(r, 422, "validation-error")
    r = client.put(
        f"{API}/auth/password",
        token=u.access,
        json={"current_password": u.password, "new_password": new_password(), "email": "x@example.com"},
    )
    assert_problem(r, 422, "validation-error")
    assert client.me(u.access).status_code == 200


def test_password_change_needs_an_access_token(make_user, client):
    u = make_user()
    r = client.put(f"{API}/auth/password", json={"current_password": u.password, "new_password": new_password()})
    assert_problem(r, 401, "unauthorized")


def test_password_change_revokes_old_sessions_and_returns_a_fresh_pair(make_user, client, new_client):
    u = make_user()
    other_access, other_refresh = u.login()
    pw2 = new_password()
    r = client.change_password(u.access, u.password, pw2)
    assert r.status_code == 200, r.text
    body = r.json()
    assert_token_pair(body, u.id)

    # The fresh pair works.
    assert client.me(body["access_token"]).status_code == 200
    # Every old token is refused at once: this session's and the other one's.
    for access, refresh in ((u.access, u.refresh), (other_access, other_refresh)):
        assert_problem(client.me(access), 401, "unauthorized")
        assert_problem(client.refresh(refresh), 401, "unauthorized")
    # The fresh refresh token rotates.
    r2 = client.refresh(body["refresh_token"])
    assert r2.status_code == 200, r2.text
    assert client.me(r2.json()["access_token"]).status_code == 200

    assert_problem(new_client().login(u.email, u.password), 401, "invalid-credentials")
    r3 = new_client().login(u.email, pw2)
    assert r3.status_code == 200, r3.text
