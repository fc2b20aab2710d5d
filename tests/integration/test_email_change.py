"""Changing the e-mail address (issue 15, slice 3: `PATCH /api/v1/users/me` with `email`
and `current_password`, completed by `POST /api/v1/auth/email-change/confirm {token}`
with the token of the link mailed to the new address; docs/decisions.md, "Issue 15").

Against the real stack: the address changes only when the new address's token comes
back; the old address hears of the start and of the change; sessions go on; the event is
on `user-events`. A new address that is another account's gets the same 202 and a notice
instead of a link; an address taken between the request and the link is 409 and changes
nothing; a used, an expired link, a link of an address the account no longer has and a
link of before a password change are refused; a reset link mailed to the old address
stops working.

Rules: every test registers its own users; waits are bounded conditions, never sleeps.
"""

import re
import uuid

from helpers.api import API, Client, assert_problem, new_password, register_user, unique_email, unverified_user
from helpers.tasks import pg
from helpers.kafka_events import event_of
from test_events import check_event
from test_notifications import all_processed, mail_dir, parts, sent_rows, wait_mails  # noqa: F401 - mail_dir is a fixture

ME = f"{API}/users/me"
COMPLETE = f"{API}/auth/email-change/confirm"
LINK_SUBJECT = "Confirm a new e-mail address"


def start(user, email, password=None, **extra):
    body = {"email": email, "current_password": password or user.password, **extra}
    return Client(user.client.base).patch(ME, token=user.access, json=body)


def mailed_token(mail_dir, address, subject, page, count=1):
    """The token of the newest of count mails to address with subject, from its link to
    page, checked against its HTML."""
    mails = wait_mails(mail_dir, address, count=count, subject=subject)
    text, html = parts(mails[-1])
    m = re.search(rf"(https?://\S+/{page}\?token=([A-Za-z0-9_-]{{43}}))", text)
    assert m, f"no {page} link in the mail:\n{text}"
    assert m.group(1) in html
    return m.group(2)


def change_link(mail_dir, address, count=1):
    return mailed_token(mail_dir, address, LINK_SUBJECT, "confirm-email-change", count)


def complete(api_url, token, **kw):
    return Client(api_url).post(COMPLETE, json={"token": token}, **kw)


def verified_user(api_url, mail_dir, tag):
    """A user whose address is verified: every account is, from its registration link."""
    user = register_user(api_url, tag=tag)
    assert Client(api_url).me(user.access).json()["email_verified"] is True
    return user


def test_the_address_changes_when_the_new_one_opens_its_link(api_url, mail_dir, user_events, repo):
    user = verified_user(api_url, mail_dir, "email-change")
    new = unique_email("email-change-new")
    r = start(user, "  " + new.upper() + " ", display_name="Renamed")
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["email"] == user.email and body["pending_email"] == new and body["display_name"] == "Renamed"
    token = change_link(mail_dir, new)
    [started] = wait_mails(mail_dir, user.email, subject="change of your taskbus e-mail address was requested")
    assert user.email in parts(started)[0]
    me = Client(api_url).me(user.access).json()
    assert me["email"] == user.email, "nothing changes before the link is opened"

    rid = "it-email-" + uuid.uuid4().hex
    r = complete(api_url, token, headers={"X-Request-ID": rid})
    assert r.status_code == 200 and r.json() == {"email": new, "email_verified": True}, r.text
    me = Client(api_url).me(user.access).json()
    assert me["email"] == new and me["email_verified"] is True, "the session goes on, with the new address"
    assert Client(api_url).login(new, user.password).status_code == 200
    assert_problem(Client(api_url).login(user.email, user.password), 401, "invalid-credentials")
    assert_problem(complete(api_url, token), 400, "invalid-token")

    [notice] = wait_mails(mail_dir, user.email, subject="address of your taskbus account was changed")
    assert user.email in parts(notice)[0]
    msg = user_events.wait_for(event_of(f"users/{user.id}", "taskbus.user.email_changed"), timeout=30)
    data = check_event(msg, "taskbus.user.email_changed", user.id, repo, request_id=rid)
    assert data["email"] == new and data["previous_email"] == user.email
    all_processed(user.id)
    assert sorted(k for _, k in sent_rows(user.id)) == ["email_change", "email_change_revert",
                                                         "email_change_started", "register_confirm",
                                                         "welcome_verified"]


def test_bad_patches_are_refused(api_url, mail_dir):
    user = register_user(api_url, tag="email-change-bad")
    new = unique_email("email-change-bad-new")
    assert_problem(start(user, new, password="wrong password!"), 403, "invalid-credentials")
    c = Client(api_url)
    assert_problem(c.post(COMPLETE, json={"token": "not a token"}), 400, "invalid-token")
    assert_problem(c.post(COMPLETE, json={}), 422)
    for body in ({"email": new}, {"current_password": user.password}, {"display_name": "x", "current_password": "p"},
                 {"email": "not an address", "current_password": user.password},
                 {"email": user.email, "current_password": user.password}, {"email": None, "current_password": "p"}):
        assert_problem(c.patch(ME, token=user.access, json=body), 422)
    with pg() as conn:
        n = conn.execute("SELECT count(*) FROM email_changes WHERE user_id = %s", (user.id,)).fetchone()[0]
    assert n == 0


def test_an_address_of_another_account_gets_a_notice_not_a_link(api_url, mail_dir):
    user = register_user(api_url, tag="email-change-taken")
    other = register_user(api_url, tag="email-change-owner")
    r = start(user, other.email)
    assert r.status_code == 202 and r.json()["pending_email"] == other.email, "the same answer as for a free address"
    [notice] = wait_mails(mail_dir, other.email, subject="offered for another taskbus account")
    assert "nothing changed" in parts(notice)[0]
    with pg() as conn:
        n = conn.execute("SELECT count(*) FROM email_changes WHERE user_id = %s", (user.id,)).fetchone()[0]
    assert n == 0, "no link exists for an address that is taken"


def test_an_address_taken_before_the_link_is_opened_is_409(api_url, mail_dir):
    user = register_user(api_url, tag="email-change-race")
    new = unique_email("email-change-race-new")
    assert start(user, new).status_code == 202
    token = change_link(mail_dir, new)
    register_user(api_url, email=new)
    assert_problem(complete(api_url, token), 409, "email-taken")
    assert Client(api_url).me(user.access).json()["email"] == user.email


def test_stale_links_are_refused(api_url, mail_dir):
    user = register_user(api_url, tag="email-change-stale")
    first, second = unique_email("email-change-first"), unique_email("email-change-second")
    assert start(user, first).status_code == 202
    first_token = change_link(mail_dir, first)
    reset = Client(api_url).post(f"{API}/auth/password-reset", json={"email": user.email})
    assert reset.status_code == 202
    [reset_mail] = wait_mails(mail_dir, user.email, subject="Reset your taskbus password")
    reset_token = re.search(r"token=([A-Za-z0-9_-]{43})", parts(reset_mail)[0]).group(1)

    assert start(user, second).status_code == 202
    second_token = change_link(mail_dir, second)
    with pg() as conn:
        conn.execute("UPDATE email_changes SET expires_at = now() - interval '1 second'"
                     " WHERE token_hash = sha256(%s::bytea)", (second_token.encode(),))
    assert_problem(complete(api_url, second_token), 400, "invalid-token")

    assert complete(api_url, first_token).status_code == 200
    # The other open change ended with it; reopened, it is still refused: the account no
    # longer has the address it started from. The reset link went to the old address.
    with pg() as conn:
        used = conn.execute("SELECT used_at IS NOT NULL FROM email_changes WHERE token_hash = sha256(%s::bytea)",
                            (second_token.encode(),)).fetchone()[0]
        conn.execute("UPDATE email_changes SET used_at = NULL, expires_at = now() + interval '1 hour'"
                     " WHERE token_hash = sha256(%s::bytea)", (second_token.encode(),))
    assert used, "completing one change ends the user's other open changes"
    assert_problem(complete(api_url, second_token), 400, "invalid-token")
    r = Client(api_url).post(f"{API}/auth/password-reset/confirm",
                             json={"token": reset_token, "new_password": new_password()})
    assert_problem(r, 400, "invalid-token")
    assert Client(api_url).login(first, user.password).status_code == 200


def test_a_password_change_or_a_sign_out_everywhere_cancels_an_open_change(api_url, mail_dir):
    """A change started from a stolen session must not outlive the owner's new password,
    nor the owner's sign-out everywhere."""
    user = unverified_user(api_url, tag="email-change-epoch")
    new, other = unique_email("email-change-epoch-new"), unique_email("email-change-epoch-other")
    assert start(user, new).status_code == 202
    token = change_link(mail_dir, new)
    fresh = new_password()
    assert user.client.change_password(user.access, user.password, fresh).status_code == 200
    assert_problem(complete(api_url, token), 400, "invalid-token")
    access = Client(api_url).login(user.email, fresh).json()["access_token"]
    r = Client(api_url).patch(ME, token=access, json={"email": other, "current_password": fresh})
    assert r.status_code == 202, r.text
    token = change_link(mail_dir, other)
    assert Client(api_url).logout_all(access).status_code == 204
    assert_problem(complete(api_url, token), 400, "invalid-token")
    # An unverified address (it may be someone else's) is not told of the starts.
    all_processed(user.id)
    assert "email_change_started" not in [k for _, k in sent_rows(user.id)]


REVERT = f"{API}/auth/email-change/revert"
REVERT_SUBJECT = "address of your taskbus account was changed"


def revert_link(mail_dir, address, count=1):
    return mailed_token(mail_dir, address, REVERT_SUBJECT, "revert-email-change", count)


def changed(api_url, mail_dir, tag):
    """A verified user whose address was changed (by whoever held the session): (user, new
    address)."""
    user = verified_user(api_url, mail_dir, tag)
    new = unique_email(f"{tag}-new")
    assert start(user, new).status_code == 202
    assert complete(api_url, change_link(mail_dir, new)).status_code == 200
    return user, new


def test_the_old_address_can_undo_a_change_it_did_not_make(api_url, mail_dir, user_events, repo):
    """Someone with the password and a session changed the address: the old address's
    notice carries a link that puts it back with a new password and ends every session and
    token (the intruder's too); the link works once, and its token was made by the
    notifier (its row is the one the mailed token names)."""
    user, new = changed(api_url, mail_dir, "email-revert")
    intruder = Client(api_url).login(new, user.password).json()["access_token"]
    token = revert_link(mail_dir, user.email)
    with pg() as conn:
        row = conn.execute("SELECT user_id::text, old_email, new_email FROM email_change_reverts"
                           " WHERE token_hash = sha256(%s::bytea)", (token.encode(),)).fetchone()
    assert row == (user.id, user.email, new), row
    fresh = new_password()
    rid = "it-revert-" + uuid.uuid4().hex
    r = Client(api_url).post(REVERT, json={"token": token, "new_password": fresh}, headers={"X-Request-ID": rid})
    assert r.status_code == 204 and r.content == b"", r.text
    for access in (user.access, intruder):
        assert_problem(Client(api_url).me(access), 401, "unauthorized")
    assert_problem(Client(api_url).login(new, user.password), 401, "invalid-credentials")
    assert_problem(Client(api_url).login(user.email, user.password), 401, "invalid-credentials")
    access = Client(api_url).login(user.email, fresh).json()["access_token"]
    me = Client(api_url).me(access).json()
    assert me["email"] == user.email and me["email_verified"] is True, me
    assert_problem(Client(api_url).post(REVERT, json={"token": token, "new_password": new_password()}),
                   400, "invalid-token")
    msg = user_events.wait_for(lambda m: event_of(f"users/{user.id}", "taskbus.user.email_changed")(m)
                               and m["value"]["data"]["email"] == user.email, timeout=30)
    data = check_event(msg, "taskbus.user.email_changed", user.id, repo, request_id=rid)
    assert data["previous_email"] == new
    # The password-changed mail goes to the address put back.
    wait_mails(mail_dir, user.email, subject="password was changed")
    all_processed(user.id)
    kinds = [k for _, k in sent_rows(user.id)]
    assert kinds.count("email_change_revert") == 1 and "password_changed" in kinds, kinds


def test_the_way_back_can_be_neither_squatted_nor_changed_away(api_url, mail_dir):
    """While the revert link is open its old address is reserved (no registration takes
    it); a second change by the intruder does not end the owner's link, and the owner's
    revert ends the link of that later change (mailed to the intruder's address)."""
    user, second = changed(api_url, mail_dir, "email-revert-again")
    first_token = revert_link(mail_dir, user.email)
    # A registration of the reserved address is answered as any (202) and mails nothing.
    r = Client(api_url).register(user.email, new_password())
    assert r.status_code == 202, r.text
    with pg() as conn:
        [(rid,)] = conn.execute("SELECT id::text FROM pending_registrations WHERE email = %s"
                                " AND id <> %s", (user.email, user.id)).fetchall()
        queued = conn.execute("SELECT count(*) FROM outbox WHERE key = %s", (rid,)).fetchone()[0]
    assert queued == 0, "no mail is queued for a registration of a reserved address"
    third = unique_email("email-revert-third")
    access = Client(api_url).login(second, user.password).json()["access_token"]
    r = Client(api_url).patch(ME, token=access, json={"email": third, "current_password": user.password})
    assert r.status_code == 202, r.text
    assert complete(api_url, change_link(mail_dir, third)).status_code == 200
    second_token = revert_link(mail_dir, second)  # the intruder's address was verified by its link
    fresh = new_password()
    assert Client(api_url).post(REVERT, json={"token": first_token, "new_password": fresh}).status_code == 204
    access = Client(api_url).login(user.email, fresh).json()["access_token"]
    assert Client(api_url).me(access).json()["email"] == user.email
    assert_problem(Client(api_url).post(REVERT, json={"token": second_token, "new_password": new_password()}),
                   400, "invalid-token")
    # Once reverted, the address is the account's again and reserved no longer.
    assert register_user(api_url, email=second).id != user.id


def test_an_unverified_old_address_gets_no_way_back(api_url, mail_dir):
    """An unverified address may be someone else's (a typo): it is told of the change, with
    no link that could take the account."""
    user = unverified_user(api_url, tag="email-revert-unverified")
    new = unique_email("email-revert-unverified-new")
    assert start(user, new).status_code == 202
    assert complete(api_url, change_link(mail_dir, new)).status_code == 200
    [notice] = wait_mails(mail_dir, user.email, subject=REVERT_SUBJECT)
    assert "revert-email-change" not in parts(notice)[0]
    all_processed(user.id)
    kinds = [k for _, k in sent_rows(user.id)]
    assert "email_changed" in kinds and "email_change_revert" not in kinds, kinds
    with pg() as conn:
        assert conn.execute("SELECT count(*) FROM email_change_reverts WHERE user_id = %s",
                            (user.id,)).fetchone()[0] == 0
    # Bad bodies and tokens are client errors.
    c = Client(api_url)
    assert_problem(c.post(REVERT, json={"token": "x" * 43, "new_password": "short"}), 422)
    assert_problem(c.post(REVERT, json={"token": "not a token", "new_password": new_password()}), 400,
                   "invalid-token")
    assert_problem(c.post(REVERT, json={"new_password": new_password()}), 422)
