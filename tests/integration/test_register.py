"""POST /api/v1/auth/register and .../register/confirm (docs/decisions.md, "Registering
without an account oracle"): a request answers 202 alike for every valid body; the link
mailed to a free address creates the account (201, signed in, verified); a taken address
gets a notice instead and nothing is created; e-mail normalisation and password rules.

Rules: every test uses fresh addresses and clients (the per-address and per-IP buckets are
its own); mail is read from the catcher's folder (helpers/mailbox.py); waits are bounded
conditions, never sleeps.
"""

import hashlib
import json
import os
import threading
import uuid

import jsonschema
import pytest

from helpers.api import (
    API,
    Client,
    assert_answered_alike,
    assert_problem,
    assert_token_pair,
    assert_user_shape,
    error_fields,
    register_user,
    unique_email,
)
from helpers.kafka_events import EventCollector
from helpers.mailbox import REGISTER_SUBJECT, mailbox, registration_token, text_of
from helpers.stack_control import env, repo_root
from helpers.tasks import pg, wait_outbox_published

CONFIRM = f"{API}/auth/register/confirm"
NOTICE = "Someone tried to register your taskbus address again"


def test_the_mailed_link_creates_the_account_and_signs_in(client):
    email = unique_email("register")
    r = client.register(email, "correct horse battery", display_name="Ada Lovelace")
    assert r.status_code == 202, r.text
    assert r.json() == {"email": email}
    assert "Location" not in r.headers
    token = registration_token(email)

    # The token alone is not enough: the password of the registration goes with it.
    assert_problem(Client(client.base).confirm_registration(token, "another password 1"), 403,
                   "invalid-credentials")
    r = Client(client.base).confirm_registration(token, "correct horse battery")
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    body = r.json()
    assert_token_pair(body)
    u = body["user"]
    assert_user_shape(u, email)
    assert u["display_name"] == "Ada Lovelace"
    assert u["role"] == "user"
    assert u["email_verified"] is True, "the link reached the address"
    assert r.headers.get("Location", "").endswith("/users/me"), r.headers
    me = client.me(body["access_token"])
    assert me.status_code == 200 and me.json()["id"] == u["id"], me.text
    assert client.login(email, "correct horse battery").status_code == 200

    # The link works once; the account got its welcome, without a verification link.
    assert_problem(Client(client.base).confirm_registration(token, "correct horse battery"), 400, "invalid-token")
    [welcome] = mailbox().wait(email, subject="Welcome to taskbus")
    assert "verify?token=" not in text_of(welcome)


def test_display_name_defaults_to_local_part(api_url):
    local = "dn-" + uuid.uuid4().hex[:10]
    user = register_user(api_url, email=f"{local}@example.com")
    assert user.body["user"]["display_name"] == local


def test_email_is_normalised_and_a_taken_one_gets_a_notice(new_client):
    local = "Mixed.Case-" + uuid.uuid4().hex[:10]
    normal = f"{local.lower()}@example.com"
    r = new_client().register(f"  {local}@Example.COM ", "correct horse battery")
    assert r.status_code == 202 and r.json() == {"email": normal}, r.text
    r = new_client().confirm_registration(registration_token(normal), "correct horse battery")
    assert r.status_code == 201 and r.json()["user"]["email"] == normal, r.text

    variants = (normal, normal.upper(), f"\t{local}@EXAMPLE.com")
    for variant in variants:
        r2 = new_client().register(variant, "another password 1")
        assert r2.status_code == 202 and r2.json() == {"email": normal}, r2.text
    notices = mailbox().wait(normal, count=len(variants), subject=NOTICE)
    assert all("confirm-registration" not in text_of(m) for m in notices), "a notice carries no link"
    assert len(mailbox().wait(normal, subject=REGISTER_SUBJECT)) == 1

    # The normalised address logs in, whatever case the client types; the password is the first.
    r3 = new_client().login(normal.upper(), "correct horse battery")
    assert r3.status_code == 200 and r3.json()["user"]["email"] == normal, r3.text
    assert new_client().login(normal, "another password 1").status_code == 401


def test_known_and_unknown_addresses_are_answered_alike(api_url):
    """Same status, body and headers, a bounded time difference, a stored row either way."""
    known = [register_user(api_url, tag="register-oracle") for _ in range(8)]
    unknown = [unique_email("register-nobody") for _ in range(8)]
    assert_answered_alike(lambda email: Client(api_url).register(email, "correct horse battery"),
                          [u.email for u in known], unknown)
    for user, nobody in zip(known, unknown):
        mailbox().wait(user.email, subject=NOTICE)
        registration_token(nobody)
    with pg() as conn:
        rows = conn.execute("SELECT count(*) FROM pending_registrations WHERE email = ANY(%s)",
                            ([u.email for u in known] + unknown,)).fetchone()[0]
        made = conn.execute("SELECT count(*) FROM users WHERE email = ANY(%s)", (unknown,)).fetchone()[0]
        blank = conn.execute("SELECT count(*) FROM pending_registrations WHERE email = ANY(%s)"
                             " AND password_hash = ''", ([u.email for u in known],)).fetchone()[0]
    assert rows == 2 * len(known) + len(unknown), "every request stores a row (a known address: two)"
    assert made == 0, "no account exists before its link is opened"
    assert blank == len(known), "a taken address's row keeps no password hash"


def test_a_strangers_registration_cannot_take_an_address(api_url):
    """Someone registers another person's address with a password of their own: the owner
    who opens that mail cannot make the account with it (the password is the stranger's),
    and the owner's own registration makes the account theirs."""
    email = unique_email("register-stranger")
    assert Client(api_url).register(email, "the strangers password").status_code == 202
    strangers = registration_token(email)
    assert_problem(Client(api_url).confirm_registration(strangers, "the owners password"), 403,
                   "invalid-credentials")
    owner = register_user(api_url, email=email, password="the owners password")
    assert_problem(Client(api_url).login(email, "the strangers password"), 401)
    assert Client(api_url).login(email, owner.password).status_code == 200
    assert_problem(Client(api_url).confirm_registration(strangers, "the strangers password"), 409,
                   "email-taken")


def test_an_address_taken_since_is_409_and_the_link_stays_open(api_url, new_client):
    """Two registrations of one free address both get a link (mailed in either order); the
    first opened makes the account, the other is 409 and its row stays open."""
    email = unique_email("register-twice")
    for name in ("First", "Second"):
        assert new_client().register(email, "correct horse battery", display_name=name).status_code == 202
    tokens = [registration_token(email, count=1), registration_token(email, count=2)]
    r = new_client().confirm_registration(tokens[0], "correct horse battery")
    assert r.status_code == 201, r.text
    made = r.json()["user"]["display_name"]
    assert_problem(new_client().confirm_registration(tokens[1], "correct horse battery"), 409, "email-taken")
    with pg() as conn:
        open_rows = conn.execute("SELECT display_name FROM pending_registrations WHERE email = %s"
                                 " AND used_at IS NULL", (email,)).fetchall()
    assert open_rows == [({"First": "Second", "Second": "First"}[made],)], \
        "the refused confirmation rolled back: its row is still open"


def test_two_confirmations_at_once_create_one_account(api_url):
    email = unique_email("register-race")
    assert Client(api_url).register(email, "correct horse battery").status_code == 202
    token = registration_token(email)
    barrier = threading.Barrier(4)
    statuses = []

    def confirm():
        c = Client(api_url)
        barrier.wait()
        statuses.append(c.confirm_registration(token, "correct horse battery").status_code)

    threads = [threading.Thread(target=confirm) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(statuses) == [201, 400, 400, 400], statuses
    with pg() as conn:
        assert conn.execute("SELECT count(*) FROM users WHERE email = %s", (email,)).fetchone()[0] == 1


def test_expired_unknown_and_malformed_tokens_are_refused(api_url, client):
    email = unique_email("register-expired")
    assert client.register(email, "correct horse battery").status_code == 202
    token = registration_token(email)
    with pg() as conn:
        conn.execute("UPDATE pending_registrations SET expires_at = now() - interval '1 second'"
                     " WHERE email = %s", (email,))
    for bad in (token, "A" * 43, "short"):
        assert_problem(client.confirm_registration(bad, "correct horse battery"), 400, "invalid-token")
    for body, field in (({}, "token"), ({"token": 7, "password": "x"}, "token"),
                        ({"token": None, "password": "x"}, "token"), ({"token": token}, "password"),
                        ({"token": token, "password": 7}, "password")):
        r = client.post(CONFIRM, json=body)
        assert field in error_fields(assert_problem(r, 422, "validation-error")), body
    with pg() as conn:
        assert conn.execute("SELECT count(*) FROM users WHERE email = %s", (email,)).fetchone()[0] == 0


def test_the_token_is_made_by_the_notifier_and_exists_only_in_the_mail(api_url):
    notes = EventCollector(env("KAFKA_BROKERS"), "notifications")
    try:
        email = unique_email("register-minted")
        assert Client(api_url).register(email, "correct horse battery").status_code == 202
        token = registration_token(email)
        with pg() as conn:
            (rid,) = conn.execute("SELECT id::text FROM pending_registrations WHERE email = %s",
                                  (email,)).fetchone()
        wait_outbox_published([rid], topic="notifications")
        notes.wait_caught_up()
        [msg] = notes.matching(lambda m: m["key"] == rid and isinstance(m["value"], dict)
                               and m["value"].get("kind") == "register_confirm")
    finally:
        notes.close()
    assert msg["value"]["data"] == {"registration_id": rid}, msg["value"]
    assert msg["value"]["to"] == email and msg["value"]["user_id"] == rid
    with open(os.path.join(repo_root(), "schemas", "notifications", "notification.json"), encoding="utf-8") as f:
        jsonschema.validate(msg["value"], json.load(f), format_checker=jsonschema.FormatChecker())
    assert token.encode() not in msg["raw"]
    with pg() as conn:
        (stored,) = conn.execute("SELECT token_hash FROM pending_registrations WHERE id = %s", (rid,)).fetchone()
    assert bytes(stored) == hashlib.sha256(token.encode()).digest()
    r = Client(api_url).confirm_registration(token, "correct horse battery")
    assert r.status_code == 201 and r.json()["user"]["id"] == rid, "the account has the registration's id"


def test_requests_are_limited_per_address(api_url):
    email = unique_email("register-limit")
    for _ in range(5):
        assert Client(api_url).register(email, "correct horse battery").status_code == 202
    r = Client(api_url).register(email, "correct horse battery")
    assert_problem(r, 429, "rate-limited")
    assert int(r.headers["Retry-After"]) > 0 and "mail_address" in r.headers["RateLimit-Policy"]


@pytest.mark.parametrize("pw", ["123456789", "ééééééééé", "🔒🔒🔒🔒🔒🔒🔒🔒🔒"])
def test_password_of_nine_characters_is_422(client, pw):
    """9 code points is too short even when it is more than 10 bytes of UTF-8."""
    r = client.register(unique_email("short-pw"), pw)
    body = assert_problem(r, 422, "validation-error")
    assert "password" in error_fields(body)


@pytest.mark.parametrize("pw", ["1234567890", "éééééééééé"])
def test_password_of_ten_characters_is_accepted(api_url, pw):
    user = register_user(api_url, tag="ten-pw", password=pw)
    assert Client(api_url).login(user.email, pw).status_code == 200


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


def test_answers_never_carry_the_password(api_url):
    pw = "secret-" + uuid.uuid4().hex
    email = unique_email("no-secret")
    r = Client(api_url).register(email, pw)
    assert r.status_code == 202 and pw not in r.text
    r = Client(api_url).confirm_registration(registration_token(email), pw)
    assert r.status_code == 201
    assert pw not in r.text and "argon2" not in r.text


def test_register_paths_only_take_post(client):
    for path in (f"{API}/auth/register", CONFIRM):
        assert_problem(client.put(path, json={}), 405, "method-not-allowed")
