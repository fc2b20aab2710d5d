"""A forgotten password (issue 15, slice 2: `POST /api/v1/auth/password-reset` and
`.../password-reset/confirm`; docs/decisions.md, "Issue 15").

Against the real stack: a user who forgot the password asks for a link, reads the mail,
sets a new password with its token and signs in with it; every session and access token
of before ends at once, the password-changed mail arrives, the link works once. Known and
unknown addresses get the same answer (status, body, headers) within a bounded time
difference; an expired link, a link mailed to an address the account no longer has, and
a link of a password changed since are refused; the per-address limit counts unknown
addresses alike.

Rules: every test registers its own users and sends each request from a fresh client
address (the sign-in bucket is per address); waits are bounded conditions, never sleeps.
"""

import hashlib
import json
import os
import re
import threading

import jsonschema
import pytest

from helpers import stack_control
from helpers.api import API, Client, assert_answered_alike, assert_problem, new_password, register_user, unique_email
from helpers.kafka_events import EventCollector
from helpers.stack_control import env, repo_root
from helpers.tasks import pg, wait_outbox_published
from test_notifications import (NOTIFICATIONS, all_processed, mail_dir, mails_to, parts,  # noqa: F401 - mail_dir is a fixture
                                sent_rows, wait_mails)

RESET = f"{API}/auth/password-reset"
CONFIRM = f"{RESET}/confirm"
SUBJECT = "Reset your taskbus password"


def request_reset(api_url, email):
    return Client(api_url).post(RESET, json={"email": email})


def confirm(api_url, token, password):
    return Client(api_url).post(CONFIRM, json={"token": token, "new_password": password})


def reset_token(mail_dir, email, count=1):
    """The token of the newest of count reset mails to email, checked against its link."""
    mails = wait_mails(mail_dir, email, count=count, subject=SUBJECT)
    text, html = parts(mails[-1])
    m = re.search(r"(https?://\S+/reset-password\?token=([A-Za-z0-9_-]{43}))", text)
    assert m, f"no reset link in the mail:\n{text}"
    url, token = m.group(1), m.group(2)
    assert url in html
    return token


def test_forgotten_password_is_reset_from_the_mail(api_url, mail_dir):
    user = register_user(api_url, tag="reset")
    other_access, other_refresh = user.login()
    r = request_reset(api_url, "  " + user.email.upper() + " ")
    assert r.status_code == 202 and r.json() == {"email": user.email}, r.text
    token = reset_token(mail_dir, user.email)

    fresh = new_password()
    r = confirm(api_url, token, fresh)
    assert r.status_code == 204 and r.content == b"", r.text

    # Every session and access token of before ends at once; the old password is gone.
    c = Client(api_url)
    for access in (user.access, other_access):
        assert_problem(c.me(access), 401)
    for refresh in (user.refresh, other_refresh):
        assert_problem(c.refresh(refresh), 401)
    assert_problem(c.login(user.email, user.password), 401, "invalid-credentials")
    r = Client(api_url).login(user.email, fresh)
    assert r.status_code == 200, r.text
    me = Client(api_url).me(r.json()["access_token"]).json()
    assert me["email_verified"] is True, "the reset link proved the mailbox"

    # The link works once; the owner is told of the change.
    assert_problem(confirm(api_url, token, new_password()), 400, "invalid-token")
    [alert] = wait_mails(mail_dir, user.email, subject="password was changed")
    assert user.email in parts(alert)[0]
    all_processed(user.id)  # the notifier records a mail after the SMTP server took it
    assert sorted(k for _, k in sent_rows(user.id)) == ["password_changed", "password_reset", "register_confirm",
                                                         "welcome_verified"]
    with pg() as conn:
        open_sessions = conn.execute("SELECT count(*) FROM refresh_tokens WHERE user_id = %s"
                                     " AND revoked_at IS NULL", (user.id,)).fetchone()[0]
    assert open_sessions == 1, "only the session signed in with the new password"


def test_known_and_unknown_addresses_are_answered_alike(api_url, mail_dir):
    known = [register_user(api_url, tag="reset-oracle") for _ in range(8)]
    unknown = [unique_email("reset-nobody") for _ in range(8)]
    with pg() as conn:
        rows_before = conn.execute("SELECT count(*) FROM password_resets WHERE user_id IS NULL").fetchone()[0]
    assert_answered_alike(lambda email: request_reset(api_url, email), [u.email for u in known], unknown)
    reset_token(mail_dir, known[0].email)
    with pg() as conn:
        rows = conn.execute("SELECT count(*) FROM password_resets WHERE email = ANY(%s)", (unknown,)).fetchone()[0]
        blanks = conn.execute("SELECT count(*) FROM password_resets WHERE user_id IS NULL").fetchone()[0]
    assert rows == 0, "an address without an account is not stored"
    assert blanks >= rows_before + 8, "an unknown address writes the same row, without user or address"


def test_expired_and_stale_links_are_refused(api_url, mail_dir):
    user = register_user(api_url, tag="reset-stale")
    assert request_reset(api_url, user.email).status_code == 202
    first = reset_token(mail_dir, user.email)
    with pg() as conn:
        conn.execute("UPDATE password_resets SET expires_at = now() - interval '1 second'"
                     " WHERE user_id = %s", (user.id,))
    assert_problem(confirm(api_url, first, new_password()), 400, "invalid-token")

    # A link of before a password change is refused, as is one of another address.
    assert request_reset(api_url, user.email).status_code == 202
    second = reset_token(mail_dir, user.email, count=2)
    fresh = new_password()
    assert user.client.change_password(user.access, user.password, fresh).status_code == 200
    assert_problem(confirm(api_url, second, new_password()), 400, "invalid-token")
    assert request_reset(api_url, user.email).status_code == 202
    third = reset_token(mail_dir, user.email, count=3)
    with pg() as conn:
        conn.execute("UPDATE password_resets SET email = 'someone-else@example.com'"
                     " WHERE user_id = %s AND used_at IS NULL", (user.id,))
    assert_problem(confirm(api_url, third, new_password()), 400, "invalid-token")
    assert Client(api_url).login(user.email, fresh).status_code == 200, "nothing changed the password"

    # Malformed bodies and tokens are client errors, never a 500.
    c = Client(api_url)
    assert_problem(c.post(CONFIRM, json={"token": "x" * 43, "new_password": "short"}), 422)
    assert_problem(c.post(CONFIRM, json={"token": "not a token", "new_password": new_password()}),
                   400, "invalid-token")
    assert_problem(c.post(CONFIRM, json={"new_password": new_password()}), 422)
    assert_problem(c.post(RESET, json={"email": 7}), 422)
    assert_problem(c.post(RESET, json={"email": "a@b.test", "extra": 1}), 422)


def test_two_links_redeemed_at_once_change_the_password_once(api_url, mail_dir):
    user = register_user(api_url, tag="reset-race")
    assert request_reset(api_url, user.email).status_code == 202
    assert request_reset(api_url, user.email).status_code == 202
    mails = wait_mails(mail_dir, user.email, count=2, subject=SUBJECT)
    tokens = {re.search(r"reset-password\?token=([A-Za-z0-9_-]{43})", parts(m)[0]).group(1) for m in mails}
    assert len(tokens) == 2
    answers, start = [], threading.Barrier(2)

    def redeem(token):
        start.wait()
        answers.append(confirm(api_url, token, new_password()))

    threads = [threading.Thread(target=redeem, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(r.status_code for r in answers) == [204, 400], [r.text for r in answers]
    with pg() as conn:
        still_open = conn.execute("SELECT count(*) FROM password_resets WHERE user_id = %s"
                                  " AND used_at IS NULL", (user.id,)).fetchone()[0]
    assert still_open == 0


def test_requests_are_limited_per_address_known_or_not(api_url, mail_dir):
    """Five requests an hour that mail an address, of any kind, known address or not: the
    registration was one (the user's, and one asked for nobody's address)."""
    user = register_user(api_url, tag="reset-limit")
    nobody = unique_email("reset-limit-nobody")
    assert Client(api_url).register(nobody, new_password()).status_code == 202
    for email in (user.email, nobody):
        for _ in range(4):
            assert request_reset(api_url, email).status_code == 202
        r = request_reset(api_url, email)
        assert_problem(r, 429, "rate-limited")
        assert int(r.headers["Retry-After"]) > 0 and "mail_address" in r.headers["RateLimit-Policy"]
    wait_mails(mail_dir, user.email, count=4, subject=SUBJECT)


def test_the_token_is_made_by_the_notifier_and_exists_only_in_the_mail(api_url, mail_dir):
    """The API stores a sealed row and names it in the notification ({reset_id}, as the
    schema says); the notifier makes the token, stores its hash in that row and mails it:
    the token is on no Kafka message."""
    notes = EventCollector(env("KAFKA_BROKERS"), NOTIFICATIONS)
    try:
        user = register_user(api_url, tag="reset-minted")
        assert request_reset(api_url, user.email).status_code == 202
        token = reset_token(mail_dir, user.email)
        wait_outbox_published([user.id], topic=NOTIFICATIONS)
        notes.wait_caught_up()
        [msg] = notes.matching(lambda m: m["key"] == user.id and isinstance(m["value"], dict)
                               and m["value"].get("kind") == "password_reset")
    finally:
        notes.close()
    assert set(msg["value"]["data"]) == {"reset_id"}, msg["value"]
    with open(os.path.join(repo_root(), "schemas", "notifications", "notification.json"),
              encoding="utf-8") as f:
        jsonschema.validate(msg["value"], json.load(f), format_checker=jsonschema.FormatChecker())
    assert token.encode() not in msg["raw"]
    digest = hashlib.sha256(token.encode()).digest()
    with pg() as conn:
        row = conn.execute("SELECT id::text, user_id::text FROM password_resets WHERE token_hash = %s",
                           (digest,)).fetchone()
    assert row == (msg["value"]["data"]["reset_id"], user.id), row
    fresh = new_password()
    assert confirm(api_url, token, fresh).status_code == 204
    assert Client(api_url).login(user.email, fresh).status_code == 200


@pytest.mark.single_stack_only
def test_a_link_closed_before_the_notifier_mails_it_is_not_sent(api_url, mail_dir):
    """A reset row used or expired before the notifier reached its notification gets no
    mail: its link could not work. The other one of the same user still goes out."""
    user = register_user(api_url, tag="reset-closed")
    all_processed(user.id)  # the account's mails are out before the stop (no send cut short)
    stack_control.stop("notifier")
    try:
        assert request_reset(api_url, user.email).status_code == 202
        wait_outbox_published([user.id], topic=NOTIFICATIONS)
        with pg() as conn:
            conn.execute("UPDATE password_resets SET expires_at = now() - interval '1 second'"
                         " WHERE user_id = %s", (user.id,))
        assert request_reset(api_url, user.email).status_code == 202
        wait_outbox_published([user.id], topic=NOTIFICATIONS)
    finally:
        stack_control.start("notifier")
    token = reset_token(mail_dir, user.email)
    all_processed(user.id)
    assert len(mails_to(mail_dir, user.email)) == 3, "the registration link, the welcome and one reset mail"
    assert [k for _, k in sent_rows(user.id)].count("password_reset") == 1
    assert confirm(api_url, token, new_password()).status_code == 204
