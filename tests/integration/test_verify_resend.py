"""A new verification link on request (issue 15, slice 1: `POST /api/v1/auth/verify/resend`;
docs/decisions.md, "Issue 15").

Against the real stack: an unverified user (an account from before registration waited for
its mailed link: helpers/api.py's unverified_user) asks for a new link and gets a
`verify_email` mail whose link verifies the address; an earlier link stays valid; a
verified user gets 409; without a token 401. The limit (one link a minute, five an hour)
is kept in Postgres: the test sets the issued links' ages instead of waiting (so how long
a mail took never matters), and checks the 429's Retry-After against the ages it set; of
two resends sent at once, one is sent and the other refused.

Rules: every test registers its own user; waits are bounded conditions, never sleeps.
"""

import threading

from helpers.api import API, Client, assert_problem, register_user, unverified_user
from helpers.tasks import pg
from test_notifications import mail_dir, parts, verify_link, wait_mails  # noqa: F401 - mail_dir is a fixture

RESEND = f"{API}/auth/verify/resend"
SUBJECT = "Confirm your taskbus e-mail address"


def post_resend(user):
    return Client(user.client.base).request("POST", RESEND, token=user.access)


def age_links(user_id, *seconds_ago):
    """Sets the ages (seconds) of the user's issued links, the newest link to the first
    age, and so on; ages left over add links (already used) of those ages."""
    with pg() as conn:
        rows = conn.execute("SELECT token_hash FROM email_verifications WHERE user_id = %s"
                            " ORDER BY created_at DESC", (user_id,)).fetchall()
        for (token_hash,), s in zip(rows, seconds_ago):
            conn.execute("UPDATE email_verifications SET created_at = now() - make_interval(secs => %s)"
                         " WHERE token_hash = %s", (s, token_hash))
        for s in seconds_ago[len(rows):]:
            conn.execute("INSERT INTO email_verifications (token_hash, user_id, created_at, expires_at, used_at)"
                         " VALUES (decode(md5(random()::text) || md5(random()::text), 'hex'), %s,"
                         " now() - make_interval(secs => %s), now(), now())", (user_id, s))


def test_an_unverified_user_gets_a_new_link_that_verifies(api_url, mail_dir):
    user = unverified_user(api_url, tag="verify-resend")
    # A link was issued 20 s ago: one a minute, so 40 s to wait.
    age_links(user.id, 20)
    r = post_resend(user)
    assert_problem(r, 429, "rate-limited")
    assert 38 <= int(r.headers["Retry-After"]) <= 40, r.headers

    tokens = []
    for n in (1, 2):
        age_links(user.id, *[120 * k for k in range(1, n + 1)])
        r = post_resend(user)
        assert r.status_code == 202 and r.json() == {"email": user.email}, r.text
        mail = wait_mails(mail_dir, user.email, count=n, subject=SUBJECT)[-1]
        text, html = parts(mail)
        url, token = verify_link(text)
        assert url in html and token not in tokens
        tokens.append(token)

    # The first link verifies; the address is verified and a resend is 409; the second
    # link works too, until it is used or expires.
    c = Client(api_url)
    r = c.get(f"{API}/auth/verify", params={"token": tokens[0]})
    assert r.status_code == 200 and r.json() == {"email_verified": True}, r.text
    assert c.me(user.access).json()["email_verified"] is True
    assert_problem(post_resend(user), 409, "already-verified")
    r = c.get(f"{API}/auth/verify", params={"token": tokens[1]})
    assert r.status_code == 200, "a link of the same address works until it is used or expires"
    for token in (tokens[0], "A" * 43):
        assert_problem(c.get(f"{API}/auth/verify", params={"token": token}), 400, "invalid-token")
    assert_problem(c.get(f"{API}/auth/verify"), 400, "invalid-token")
    assert_problem(Client(api_url).request("POST", RESEND), 401, "unauthorized")


def test_a_new_account_is_verified_already(api_url):
    assert_problem(post_resend(register_user(api_url, tag="verify-resend-new")), 409, "already-verified")


def test_five_links_an_hour(api_url, mail_dir):
    user = unverified_user(api_url, tag="verify-resend-hour")
    age_links(user.id, 3000, 2400, 1800, 1200, 600)  # five links within the hour
    r = post_resend(user)
    assert_problem(r, 429, "rate-limited")
    # The oldest of the five leaves the hour in 10 minutes.
    assert 598 <= int(r.headers["Retry-After"]) <= 600, r.headers
    age_links(user.id, 4200, 2400, 1800, 1200, 600)  # only four within the hour now
    r = post_resend(user)
    assert r.status_code == 202, r.text
    wait_mails(mail_dir, user.email, subject=SUBJECT)


def test_two_resends_at_once_send_one_link(api_url, mail_dir):
    user = unverified_user(api_url, tag="verify-resend-race")
    age_links(user.id, 120)
    answers, start = [], threading.Barrier(2)

    def resend():
        start.wait()
        answers.append(post_resend(user))

    threads = [threading.Thread(target=resend) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r.status_code for r in answers) == [202, 429], [r.text for r in answers]
    with pg() as conn:
        n = conn.execute("SELECT count(*) FROM email_verifications WHERE user_id = %s", (user.id,)).fetchone()[0]
    assert n == 2, "the earlier link and exactly one new one"
