"""E-mail notifications end to end (docs/decisions.md, "Notifications and e-mail"):
API -> outbox -> relay -> `notifications` -> taskbus-notifier -> a real SMTP conversation
with the local catcher (compose/smtp_catcher.py), which writes each accepted message to
<data>/mail/*.eml. Each test uses fresh addresses, and failures injected with .fail-next
name the address, so mail still flowing from other tests cannot disturb them."""

import json
import os
import re
import subprocess
import sys
import uuid

import jsonschema
import psycopg
import pytest

from helpers import stack_control
from helpers.api import Client, new_password, register_user, unique_email
from helpers.kafka_events import EventCollector
from helpers.mailbox import MAIL_TIMEOUT, mailbox, registration_token
from helpers.tasks import wait_group_caught_up, wait_outbox_published

NOTIFIER_GROUP = "taskbus-notifier"
NOTIFICATIONS = "notifications"


def _env(name):
    v = os.environ.get(name)
    if not v:
        pytest.fail(f"{name} is not set: run through tests/run or eval \"$(compose/local env)\"", pytrace=False)
    return v


@pytest.fixture(scope="module")
def mail_dir():
    d = os.path.join(_env("TASKBUS_DATA_DIR"), "mail")
    if not os.path.isdir(d):
        pytest.fail(f"no mail folder {d}: is the smtp service of compose/local running?", pytrace=False)
    return d


@pytest.fixture(scope="module")
def dlq(api_url):
    c = EventCollector(_env("KAFKA_BROKERS"), "notifications.dlq")
    yield c
    c.close()


def mails_to(mail_dir, address):
    """Every accepted message whose To: is address, parsed (helpers/mailbox.py's index)."""
    return mailbox(mail_dir).to(address)


def wait_mails(mail_dir, address, count=1, timeout=MAIL_TIMEOUT, subject=None):
    return mailbox(mail_dir).wait(address, count=count, timeout=timeout, subject=subject)


def all_processed(*user_ids):
    """The fence for "no second mail will come": every notification of these users is on
    `notifications` (the outbox published them) and the notifier has processed that topic
    to its end (sent, or dead-lettered, and its offset stored with the outcome)."""
    wait_outbox_published(user_ids, topic=NOTIFICATIONS)
    wait_group_caught_up(NOTIFIER_GROUP, NOTIFICATIONS, timeout=MAIL_TIMEOUT)


def parts(msg):
    assert msg.get_content_type() == "multipart/alternative", msg.get_content_type()
    text = msg.get_body(preferencelist=("plain",)).get_content()
    html = msg.get_body(preferencelist=("html",)).get_content()
    return text, html


def fail_next(mail_dir, count, code, address):
    with open(os.path.join(mail_dir, ".fail-next.w"), "w", encoding="utf-8") as f:
        f.write(f"{count} {code} {address}\n")
    os.replace(os.path.join(mail_dir, ".fail-next.w"), os.path.join(mail_dir, ".fail-next"))


def clear_fail(mail_dir):
    try:
        os.unlink(os.path.join(mail_dir, ".fail-next"))
    except FileNotFoundError:
        pass


def sent_rows(user_id):
    with psycopg.connect(_env("DATABASE_URL")) as conn:
        return conn.execute(
            "SELECT notification_id::text, kind FROM sent_notifications WHERE user_id = %s", (user_id,)
        ).fetchall()


def verify_link(text):
    m = re.search(r"(https?://\S+/api/v1/auth/verify\?token=([A-Za-z0-9_-]{43}))", text)
    assert m, f"no verify link in the welcome text:\n{text}"
    return m.group(1), m.group(2)


def registration_id(email):
    """The id of the one registration of email (its notification's key and user_id)."""
    with psycopg.connect(_env("DATABASE_URL")) as conn:
        [(rid,)] = conn.execute("SELECT id::text FROM pending_registrations WHERE email = %s", (email,)).fetchall()
    return rid


def test_a_new_account_gets_its_link_and_then_its_welcome_once(api_url, mail_dir):
    user = register_user(api_url, tag="notify-welcome")
    [link] = wait_mails(mail_dir, user.email, subject="Create your taskbus account")
    [msg] = wait_mails(mail_dir, user.email, subject="Welcome to taskbus")
    for m in (link, msg):
        assert re.fullmatch(r"<[0-9a-f-]{36}@taskbus>", m["Message-ID"].strip()), m["Message-ID"]
    text, html = parts(msg)
    assert user.email in text and user.email in html
    assert "token=" not in text and "token=" not in html, "the address is verified: the welcome has no link"
    url = re.search(r"(https?://\S+/confirm-registration\?token=[A-Za-z0-9_-]{43})", parts(link)[0]).group(1)
    assert url.startswith(_env("TASKBUS_PUBLIC_URL")), url
    assert f'href="{url}"' in parts(link)[1], "the HTML part does not link the same URL"

    all_processed(user.id)
    rows = dict((kind, nid) for nid, kind in sent_rows(user.id))
    assert sorted(rows) == ["register_confirm", "welcome_verified"], rows
    assert msg["Message-ID"].strip() == f"<{rows['welcome_verified']}@taskbus>"
    assert len(mails_to(mail_dir, user.email)) == 2, "a mail was sent more than once"


def test_password_change_sends_an_alert(api_url, mail_dir):
    user = register_user(api_url, tag="notify-pw")
    wait_mails(mail_dir, user.email, subject="Welcome to taskbus")
    r = user.client.change_password(user.access, user.password, new_password())
    assert r.status_code == 200, r.text
    [alert] = wait_mails(mail_dir, user.email, subject="password was changed")
    text, html = parts(alert)
    assert user.email in text and user.email in html
    assert sorted(k for _, k in sent_rows(user.id)) == ["password_changed", "register_confirm", "welcome_verified"]


def test_transient_smtp_failures_are_retried_and_sent_once(api_url, mail_dir):
    address = unique_email("notify-451")
    fail_next(mail_dir, 2, 451, address)
    try:
        user = register_user(api_url, email=address)  # its link is the mail refused twice
        wait_mails(mail_dir, user.email, subject="Welcome to taskbus")
        assert not os.path.exists(os.path.join(mail_dir, ".fail-next")), \
            "the catcher did not refuse the two first attempts: the retries were not exercised"
        all_processed(user.id)
        assert len(mails_to(mail_dir, user.email)) == 2
        assert sorted(k for _, k in sent_rows(user.id)) == ["register_confirm", "welcome_verified"]
    finally:
        clear_fail(mail_dir)


def _admin(*args):
    binary = os.path.join(_env("TASKBUS_BUILD_DIR"), "taskbus-admin")
    p = subprocess.run([binary, *args], env=os.environ.copy(), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"taskbus-admin {' '.join(args)}: {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p.stdout


def test_permanent_failure_goes_to_the_dlq_and_replays_once(api_url, mail_dir, dlq):
    """A registration's link refused with 554 is dead-lettered as it was on the topic (the
    row's id, never a token); its replay mails a link that works."""
    address = unique_email("notify-554")
    fail_next(mail_dir, 99, 554, address)
    try:
        password = new_password()
        assert Client(api_url).register(address, password).status_code == 202
        rid = registration_id(address)
        dead = dlq.wait_for(lambda m: isinstance(m["value"], dict) and m["value"].get("to") == address,
                            timeout=MAIL_TIMEOUT)
        h = dead["headers"]
        assert "554" in h.get("dlq_reason", ""), h
        assert h.get("dlq_attempts") == "1", f"a 5xx must not be retried: {h}"
        assert dead["value"]["kind"] == "register_confirm" and dead["key"] == rid
        assert dead["value"]["data"] == {"registration_id": rid}, dead["value"]
        schema_path = os.path.join(_env("TASKBUS_REPO"), "schemas", "notifications", "notification.json")
        with open(schema_path, encoding="utf-8") as f:
            jsonschema.validate(dead["value"], json.load(f), format_checker=jsonschema.FormatChecker())
        assert mails_to(mail_dir, address) == [] and sent_rows(rid) == []
    finally:
        clear_fail(mail_dir)

    out = _admin("replay-dlq", "notifications")
    assert "replayed" in out, out
    [msg] = wait_mails(mail_dir, address)
    assert msg["Message-ID"].strip() == f"<{dead['value']['notification_id']}@taskbus>"
    # A second replay finds nothing new; and even a re-produced id would be skipped.
    _admin("replay-dlq", "notifications")
    all_processed(rid)
    assert len(mails_to(mail_dir, address)) == 1
    assert len(sent_rows(rid)) == 1
    r = Client(api_url).confirm_registration(registration_token(address), password)
    assert r.status_code == 201 and r.json()["user"]["id"] == rid, r.text


@pytest.mark.single_stack_only
def test_mail_waits_for_a_stopped_notifier_and_arrives_once(api_url, mail_dir):
    addresses = [unique_email(f"notify-down{i}") for i in range(3)]
    stack_control.stop("notifier")
    try:
        for a in addresses:
            assert Client(api_url).register(a, new_password()).status_code == 202
        ids = [registration_id(a) for a in addresses]
        # Their notifications are on the topic, where a running notifier would take them.
        wait_outbox_published(ids, topic=NOTIFICATIONS)
        for a in addresses:
            assert mails_to(mail_dir, a) == [], "mail went out while the notifier was stopped"
    finally:
        stack_control.start("notifier")
    for a in addresses:
        wait_mails(mail_dir, a)
    all_processed(*ids)
    for a, rid in zip(addresses, ids):
        assert len(mails_to(mail_dir, a)) == 1, a
        assert len(sent_rows(rid)) == 1


def test_a_burst_is_sent_once_each_even_when_one_fails_in_the_middle(mail_dir):
    """A burst of notifications, read in batches: every one is sent once; one whose first
    two attempts fail (451) is sent once too (when others of its batch went before it, the
    batch is redone with it first, and what was sent before it is not sent again); a
    notification repeated inside the burst is sent once."""
    from confluent_kafka import Producer

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
    from bench_common import uuid7

    user_id = str(uuid.uuid4())
    addresses = [unique_email(f"burst{i}") for i in range(30)]
    msgs = []
    for i, to in enumerate(addresses):
        nid = uuid7()
        msgs.append({"id": nid, "notification_id": nid, "kind": "due_soon", "user_id": user_id, "to": to,
                     "data": {"task_id": str(uuid.uuid4()), "title": f"burst {i}",
                              "due_at": "2030-01-01T10:00:00.000Z"},
                     "created_at": "2030-01-01T09:00:00.000Z"})
    fail_next(mail_dir, 2, 451, addresses[12])
    try:
        p = Producer({"bootstrap.servers": _env("KAFKA_BROKERS"), "enable.idempotence": True, "linger.ms": 50})
        for m in msgs[:20] + [msgs[3]] + msgs[20:]:  # one repeated in the middle
            p.produce(NOTIFICATIONS, key=user_id.encode(), value=json.dumps(m).encode())
        assert p.flush(15) == 0, "the burst was not produced"
        wait_group_caught_up(NOTIFIER_GROUP, NOTIFICATIONS, timeout=MAIL_TIMEOUT)
        assert not os.path.exists(os.path.join(mail_dir, ".fail-next")), \
            "the catcher did not refuse the two attempts: the retries were not exercised"
        for to in addresses:
            assert len(mails_to(mail_dir, to)) == 1, f"{to}: {len(mails_to(mail_dir, to))} mail(s)"
        assert sorted(i for i, _ in sent_rows(user_id)) == sorted(m["notification_id"] for m in msgs)
    finally:
        clear_fail(mail_dir)
