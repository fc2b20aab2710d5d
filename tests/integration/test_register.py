"""POST /api/v1/auth/register: the account, its tokens, e-mail normalisation, passwords."""

import uuid

import pytest

from helpers.api import (
    API,
    assert_problem,
    assert_token_pair,
    assert_user_shape,
    error_fields,
    unique_email,
)


def test_register_answers_201_with_user_and_tokens(client):
    email = unique_email("register")
    r = client.register(email, "correct horse battery", display_name="Ada Lovelace")
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    body = r.json()
    assert_token_pair(body)
    u = body["user"]
    assert_user_shape(u, email)
    assert u["display_name"] == "Ada Lovelace"
    assert u["role"] == "user"
    loc = r.headers.get("Location")
    assert loc, "201 without Location"
    assert loc.endswith(u["id"]) or loc.endswith("/users/me"), loc
    # The access token is usable at once and names this user.
    me = client.me(body["access_token"])
    assert me.status_code == 200, me.text
    assert me.json()["id"] == u["id"]


def test_display_name_defaults_to_local_part(client):
    local = "dn-" + uuid.uuid4().hex[:10]
    r = client.register(f"{local}@example.com", "correct horse battery")
    assert r.status_code == 201, r.text
    assert r.json()["user"]["display_name"] == local


def test_email_is_normalised_and_unique(new_client):
    local = "Mixed.Case-" + uuid.uuid4().hex[:10]
    email = f"  {local}@Example.COM "
    r = new_client().register(email, "correct horse battery")
    assert r.status_code == 201, r.text
    normal = f"{local.lower()}@example.com"
    assert r.json()["user"]["email"] == normal

    for variant in (normal, normal.upper(), f"\t{local}@EXAMPLE.com", f"{local.upper()}@example.com  "):
        r2 = new_client().register(variant, "another password 1")
        assert_problem(r2, 409, "email-taken")

    # The normalised address logs in, whatever case the client types.
    r3 = new_client().login(normal.upper(), "correct horse battery")
    assert r3.status_code == 200, r3.text
    assert r3.json()["user"]["email"] == normal


@pytest.mark.parametrize("pw", ["123456789", "ééééééééé", "🔒🔒🔒🔒🔒🔒🔒🔒🔒"])
def test_password_of_nine_characters_is_422(client, pw):
    """9 code points is too short even when it is more than 10 bytes of UTF-8."""
    r = client.register(unique_email("short-pw"), pw)
    body = assert_problem(r, 422, "validation-error")
    assert "password" in error_fields(body)


@pytest.mark.parametrize("pw", ["1234567890", "éééééééééé"])
def test_password_of_ten_characters_is_accepted(client, pw):
    r = client.register(unique_email("ten-pw"), pw)
    assert r.status_code == 201, r.text


def test_password_over_1024_characters_is_422(client):
    r = client.register(unique_email("long-pw"), "p" * 1025)
    assert "password" in error_fields(assert_problem(r, 422, "validation-error"))


@pytest.mark.parametrize(
    "email",
    [
        "plainaddress",
        "two@@example.com",
        "a@b@example.com",
        "nodot@localhost",
        "sp ace@example.com",
        "ctl\x01@example.com",
        "@example.com",
        "a@",
        "x" * 250 + "@example.com",
    ],
)
def test_bad_email_is_422(client, email):
    r = client.register(email, "correct horse battery")
    body = assert_problem(r, 422, "validation-error")
    assert "email" in error_fields(body)


@pytest.mark.parametrize("name", ["", "x" * 101])
def test_bad_display_name_at_registration_is_422(client, name):
    r = client.register(unique_email("bad-dn"), "correct horse battery", display_name=name)
    assert "display_name" in error_fields(assert_problem(r, 422, "validation-error"))


def test_response_never_carries_the_password(client):
    pw = "secret-" + uuid.uuid4().hex
    r = client.register(unique_email("no-secret"), pw)
    assert r.status_code == 201
    assert pw not in r.text
    assert "argon2" not in r.text


def test_register_path_only_takes_post(client):
    r = client.put(f"{API}/auth/register", json={})
    assert_problem(r, 405, "method-not-allowed")
