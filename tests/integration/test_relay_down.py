"""The outbox holds events while the relay is down and the relay delivers them, once,
when it comes back: a registration never depends on the relay and its event is never lost."""

from helpers import stack_control
from helpers.api import Client, new_password, unique_email
from helpers.kafka_events import event_of
from helpers.tasks import pg, wait_outbox_published

TYPE = "taskbus.user.registered"


def _registered(api_url):
    r = Client(api_url).register(unique_email("relay-down"), new_password())
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

    stack_control.stop("relay")
    try:
        uids = [_registered(api_url) for _ in range(3)]
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
    for uid in uids:
        user_events.wait_for(event_of(f"users/{uid}", TYPE), timeout=30)
    for uid in uids:
        _once(user_events, uid)


def test_relay_killed_loses_nothing(api_url, user_events, repo):
    """kill -9 of the relay: what was committed is published after it restarts, at least once."""
    stack_control.kill("relay")
    try:
        uid = _registered(api_url)
    finally:
        stack_control.start("relay")
    msg = user_events.wait_for(event_of(f"users/{uid}", TYPE), timeout=30)
    assert msg["value"]["subject"] == f"users/{uid}"
