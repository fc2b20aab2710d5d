"""The outbox holds events while the relay is down and the relay delivers them, once,
when it comes back: a registration never depends on the relay and its event is never lost.
The handoff fence (relay_handoff, docs/decisions.md "The relay's handoff fence"): a relay
that stopped gracefully records a clean stop and the next leader publishes at once; after
a kill -9 the next leader publishes nothing before it waited out the fence."""

import os
import time

import pytest

from helpers import stack_control
from helpers.api import Client, new_password, unique_email
from helpers.kafka_events import event_of
from helpers.mailbox import registration_token
from helpers.tasks import pg, wait_outbox_published

pytestmark = pytest.mark.single_stack_only

TYPE = "taskbus.user.registered"


# relay_main.c FENCE_MS: the pass's delivery deadline (10 s) + message.timeout.ms (30 s) + 5 s.
FENCE_MS = 45000


class RelayLog:
    """The relay's log from now on (the stack writes it to <data>/logs/relay.log)."""

    def __init__(self):
        self.path = os.path.join(stack_control.env("TASKBUS_DATA_DIR"), "logs", "relay.log")
        self.start = os.path.getsize(self.path) if os.path.exists(self.path) else 0

    def text(self):
        with open(self.path, encoding="utf-8", errors="replace") as f:
            f.seek(self.start)
            return f.read()

    def wait_for(self, needle, timeout):
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            assert time.monotonic() < deadline, f"relay.log never said {needle!r}:\n{self.text()[-3000:]}"
            time.sleep(0.2)


def _handoff():
    with pg() as conn:
        return conn.execute("SELECT stopped_cleanly FROM relay_handoff").fetchall()


def _asked(api_url):
    """(token, password) of a registration's link (mailed through the relay: asked while
    it runs)."""
    email, password = unique_email("relay-down"), new_password()
    r = Client(api_url).register(email, password)
    assert r.status_code == 202, r.text
    return registration_token(email), password


def _registered(api_url, asked=None):
    """A new account's id: its taskbus.user.registered is written when its link is opened."""
    r = Client(api_url).confirm_registration(*(asked or _asked(api_url)))
    assert r.status_code == 201, r.text
    return r.json()["user"]["id"]


def _once(user_events, uid):
    # The fence for "no second copy will come": the outbox published everything of this
    # user and the collector read the topic to its end.
    wait_outbox_published([uid], topic="user-events")
    user_events.wait_caught_up()
    seen = user_events.matching(event_of(f"users/{uid}", TYPE))
    assert len(seen) == 1, f"{TYPE} for {uid} seen {len(seen)} times"
    return seen[0]


def test_events_wait_in_the_outbox_while_the_relay_is_down(api_url, user_events, repo):
    # The relay is up first: an event flows, so the silence below means something.
    before = _registered(api_url)
    user_events.wait_for(event_of(f"users/{before}", TYPE), timeout=30)

    asked = [_asked(api_url) for _ in range(3)]
    log = RelayLog()
    stack_control.stop("relay")
    try:
        # The stopping leader drained its producer and said so in relay_handoff.
        assert "producer drained; stopped cleanly" in log.text(), log.text()[-3000:]
        assert _handoff() == [(True,)]
        uids = [_registered(api_url, a) for a in asked]
        # The events wait in the outbox, unpublished, and nothing of them is on the topic.
        with pg() as conn:
            waiting = conn.execute("SELECT key FROM outbox WHERE topic = 'user-events' AND key = ANY(%s)"
                                   " AND published_at IS NULL", (uids,)).fetchall()
        assert sorted(k for (k,) in waiting) == sorted(uids), f"outbox rows of {uids}: {waiting}"
        user_events.wait_caught_up()
        for uid in uids:
            assert not user_events.matching(event_of(f"users/{uid}", TYPE)), "an event was published with the relay stopped"
    finally:
        stack_control.start("relay")
    # So the next leader needs no fence.
    log.wait_for("the last leader stopped cleanly; publishing", timeout=60)
    assert "did not stop cleanly" not in log.text()
    for uid in uids:
        user_events.wait_for(event_of(f"users/{uid}", TYPE), timeout=30)
    for uid in uids:
        _once(user_events, uid)


def test_relay_killed_loses_nothing(api_url, user_events, repo):
    """kill -9 of the relay: what was committed is published after it restarts, at least once;
    the new leader cannot know what the killed one still had queued, so it waits out the
    fence before its first publish."""
    asked = _asked(api_url)
    log = RelayLog()
    stack_control.kill("relay")
    try:
        assert _handoff() == [(False,)], "a killed leader cannot have recorded a clean stop"
        uid = _registered(api_url, asked)
    finally:
        stack_control.start("relay")
    log.wait_for(f"did not stop cleanly, so records of it may still arrive: waiting {FENCE_MS} ms", timeout=60)
    # Inside the fence nothing is published: the row is still in the outbox until the
    # relay says the fence is over (it publishes only after that line).
    with pg() as conn:
        waiting = conn.execute("SELECT count(*) FROM outbox WHERE topic = 'user-events' AND key = %s",
                               (uid,)).fetchone()[0]
    fence_over = "fence over; publishing" in log.text()
    assert fence_over or waiting == 1, "the relay published inside the fence"
    log.wait_for("fence over; publishing", timeout=FENCE_MS / 1000 + 30)
    msg = user_events.wait_for(event_of(f"users/{uid}", TYPE), timeout=30)
    assert msg["value"]["subject"] == f"users/{uid}"


def test_relay_handoff_row_lost_heals(api_url, user_events, repo):
    """relay_handoff without its row (an operator, a partial restore): the leader's stop
    says truthfully that it could not mark itself clean, the next leader reads "not
    clean", waits out the fence (no busy loop, no refusal) and its take writes the row
    again; the event registered meanwhile is published."""
    asked = _asked(api_url)
    with pg() as conn:
        conn.execute("DELETE FROM relay_handoff")
    log = RelayLog()
    stack_control.stop("relay")
    try:
        assert "not marked clean" in log.text(), log.text()[-3000:]
        assert "producer drained; stopped cleanly" not in log.text()
        assert _handoff() == []
        uid = _registered(api_url, asked)
    finally:
        stack_control.start("relay")
    log.wait_for("relay_handoff has no row", timeout=60)
    log.wait_for(f"did not stop cleanly, so records of it may still arrive: waiting {FENCE_MS} ms", timeout=60)
    log.wait_for("fence over; publishing", timeout=FENCE_MS / 1000 + 30)
    assert _handoff() == [(False,)], "the take did not write the row again"
    assert log.text().count("relay_handoff has no row") == 1, "the relay re-read the missing row"
    msg = user_events.wait_for(event_of(f"users/{uid}", TYPE), timeout=30)
    assert msg["value"]["subject"] == f"users/{uid}"
