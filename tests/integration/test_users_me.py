"""GET and PATCH /api/v1/users/me: the token's user; a PATCH changes display_name at once,
and the e-mail address only with current_password and the new address's link
(test_email_change.py)."""

import pytest

from helpers.api import API, assert_problem, assert_user_shape, error_fields

ME = f"{API}/users/me"


def test_get_me_shape(make_user, client):
    u = make_user(display_name="Grace Hopper")
    r = client.me(u.access)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert_user_shape(body, u.email)
    assert body["id"] == u.id
    assert body["display_name"] == "Grace Hopper"
    assert body["role"] == "user"
    for key in ("id", "email", "display_name", "role"):
        assert body[key] == u.body["user"][key], (key, body, u.body["user"])


def test_patch_display_name(make_user, client):
    u = make_user()
    r = client.patch(ME, token=u.access, json={"display_name": "New Name ✓"})
    assert r.status_code == 200, r.text
    assert r.json()["display_name"] == "New Name ✓"
    assert r.json()["id"] == u.id
    assert client.me(u.access).json()["display_name"] == "New Name ✓"
    # 100 characters is the upper bound, counted in characters, not bytes.
    name = "é" * 100
    r = client.patch(ME, token=u.access, json={"display_name": name})
    assert r.status_code == 200, r.text
    assert client.me(u.access).json()["display_name"] == name


@pytest.mark.parametrize(
    "body,field",
    [
        ({"display_name": ""}, "display_name"),
        ({"display_name": "x" * 101}, "display_name"),
        ({"display_name": "é" * 101}, "display_name"),
        ({"display_name": None}, "display_name"),
        ({"display_name": 42}, "display_name"),
        ({"email": "someone-else@example.com"}, "current_password"),
        ({"display_name": "ok", "email": "someone-else@example.com"}, "current_password"),
        ({"email": "not an address", "current_password": "pw"}, "email"),
        ({"current_password": "pw"}, "current_password"),
        ({"role": "admin"}, "role"),
        ({"id": "0190a000-0000-7000-8000-000000000000"}, "id"),
        ({"nickname": "x"}, "nickname"),
    ],
)
def test_patch_is_validated(make_user, client, body, field):
    u = make_user(display_name="Before")
    r = client.patch(ME, token=u.access, json=body)
    problem = assert_problem(r, 422, "validation-error")
    assert field in error_fields(problem), problem
    after = client.me(u.access).json()
    assert after["display_name"] == "Before" and after["email"] == u.email and after["role"] == "user"


def test_patch_needs_json_and_a_token(make_user, client):
    u = make_user()
    assert_problem(client.patch(ME, json={"display_name": "x"}), 401, "unauthorized")
    r = client.patch(ME, token=u.access, data="display_name=x", headers={"Content-Type": "text/plain"})
    assert_problem(r, 415, "unsupported-media-type")


def test_me_is_the_tokens_user(make_user, client):
    """sub is the identity: each token reads its own user, never another's."""
    a, b = make_user(tag="a"), make_user(tag="b")
    ra, rb = client.me(a.access), client.me(b.access)
    assert ra.json()["id"] == a.id and ra.json()["email"] == a.email
    assert rb.json()["id"] == b.id and rb.json()["email"] == b.email
    # A PATCH with a's token changes a only.
    assert client.patch(ME, token=a.access, json={"display_name": "only a"}).status_code == 200
    assert client.me(b.access).json()["display_name"] != "only a"
    # There is no route that reads a user by id.
    r = client.get(f"{API}/users/{b.id}", token=a.access)
    assert r.status_code in (404, 405), r.text
    assert b.email not in r.text
