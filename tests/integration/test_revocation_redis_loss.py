"""A logout survives Redis losing its keys (restart without persistence, failover, flush).

The middleware trusts Redis for a session's deny key only while the user's epoch key is
there; when the epoch has to be refilled from Postgres, the deny keys of recent logouts
go back first. Without that, the first request of another session would refill the
epoch and a logged-out session's access token would pass again until it expired.
"""

from helpers.api import Client
from helpers.tasks import redis_conn


def drop_user_keys(user_id):
    r = redis_conn()  # a Redis Cluster client on the scaled stack (SCAN on every master)
    keys = list(r.scan_iter(match=f"{{u:{user_id}}}:*", count=1000))
    assert keys, "the user's epoch and deny keys should be in Redis before the loss"
    r.delete(*keys)


def test_logged_out_session_stays_refused_after_redis_loses_its_keys(make_user):
    user = make_user()
    other_access, _ = user.login()
    c = user.client
    assert c.me(user.access).status_code == 200
    assert c.logout(user.access, user.refresh).status_code == 204
    assert c.me(user.access).status_code == 401

    drop_user_keys(user.id)

    # Another, live session refills the epoch from Postgres...
    assert Client(c.base).me(other_access).status_code == 200
    # ...and the logged-out one is still refused, now from Redis again.
    assert c.me(user.access).status_code == 401
    assert Client(c.base).me(other_access).status_code == 200
