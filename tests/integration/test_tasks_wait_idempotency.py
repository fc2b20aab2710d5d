"""Prefer: wait=N (RFC 7240), the writer's second If-Match check, and Idempotency-Key.

wait=N holds a write until its command is applied (201/200/204 with Preference-Applied)
or rejected (the rejection's 4xx); not applied in time is the usual 202. Idempotency-Key
follows Stripe: same key and body replay the first answer, another body is 422, a
concurrent duplicate in flight is 409, a first request that fails with a 5xx releases
its key, and never does a key create a second task.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers.api import assert_problem, is_uuid
from helpers import stack_control
from helpers.stack_control import env
from helpers.tasks import TASKS, TopicReader, etag_version, pg, task_of, task_user, unique, wait_until


@pytest.fixture(scope="module")
def alice(api_url):
    return task_user(api_url, "tasks-wait-alice")


@pytest.fixture(scope="module")
def bob(api_url):
    return task_user(api_url, "tasks-wait-bob")


def titled(api, title):
    return [i for i in api.list_all() if i["title"] == title]


def test_wait_create_update_delete(alice):
    title = unique("wait")
    r = alice.create({"title": title, "priority": "low"}, wait=5)
    assert r.status_code == 201, r.text
    assert r.headers.get("Preference-Applied", "").replace(" ", "") == "wait=5", r.headers
    t = task_of(r.json())
    assert is_uuid(t["id"], 7) and t["title"] == title and t["priority"] == "low", t
    assert r.headers.get("Location", "").endswith(f"{TASKS}/{t['id']}"), r.headers
    assert etag_version(r) == t["version"]
    g = alice.get(t["id"])
    assert g.status_code == 200 and g.json()["version"] == t["version"]

    u = alice.patch(t["id"], {"title": title + "-2"}, if_match=t["version"], wait=5)
    assert u.status_code == 200, u.text
    assert u.headers.get("Preference-Applied", "").replace(" ", "") == "wait=5", u.headers
    ut = task_of(u.json())
    assert ut["version"] == t["version"] + 1 and ut["title"] == title + "-2", ut
    assert etag_version(u) == ut["version"]
    assert alice.get(t["id"]).json()["version"] == ut["version"]

    d = alice.delete(t["id"], if_match=ut["version"], wait=5)
    assert d.status_code == 204, d.text
    assert d.headers.get("Preference-Applied", "").replace(" ", "") == "wait=5", d.headers
    assert d.content == b""
    assert_problem(alice.get(t["id"]), 404, "not-found")


def test_wait_above_30_is_capped(alice):
    r = alice.create({"title": unique("cap")}, wait=3600)
    assert r.status_code == 201, r.text
    pa = r.headers.get("Preference-Applied", "").replace(" ", "")
    assert pa == "wait=30", r.headers


def test_two_patches_with_the_same_if_match_one_wins(alice):
    """Sent together, both pass the API's check; the writer applies one and rejects the other."""
    for _ in range(3):
        t = alice.create_applied({"title": unique("race")})
        start = threading.Barrier(2)
        apis = [alice.clone(), alice.clone()]

        def send(i):
            start.wait()
            return apis[i].patch(t["id"], {"title": f"winner-{i}"}, if_match=t["version"], wait=5)

        with ThreadPoolExecutor(2) as pool:
            rs = list(pool.map(send, range(2)))
        codes = sorted(r.status_code for r in rs)
        assert codes == [200, 412], [(r.status_code, r.text[:200]) for r in rs]
        win = next(r for r in rs if r.status_code == 200)
        lose = next(r for r in rs if r.status_code == 412)
        assert_problem(lose, 412, "precondition-failed")
        g = alice.get(t["id"]).json()
        assert g["version"] == t["version"] + 1 and g["title"] == task_of(win.json())["title"], g


@pytest.mark.single_stack_only
def test_writer_rechecks_if_match_and_existence(alice):
    """With the writer stopped both PATCHes pass the API's check; the writer rejects the
    second (412) and a PATCH of a task deleted before it (404); wait=1 answers 202."""
    t1 = alice.create_applied({"title": unique("w1")})
    t2 = alice.create_applied({"title": unique("w2")})
    stack_control.stop("writer")
    try:
        a = alice.patch(t1["id"], {"title": "first"}, if_match=t1["version"])
        b = alice.patch(t1["id"], {"title": "second"}, if_match=t1["version"])
        d = alice.delete(t2["id"])
        p = alice.patch(t2["id"], {"title": "after delete"})
        for r in (a, b, d, p):
            assert r.status_code == 202, r.text
        t0 = time.monotonic()
        slow = alice.patch(t1["id"], {"description": "late"}, wait=1)
        assert slow.status_code == 202, slow.text
        assert 0.8 <= time.monotonic() - t0 < 10, "Prefer: wait=1 did not wait about a second"
    finally:
        stack_control.start("writer")
    assert alice.wait_command(a.json()["command_id"], timeout=60)["status"] == "applied"
    rb = alice.wait_command(b.json()["command_id"], want="rejected")
    assert rb["problem"]["status"] == 412, rb
    assert alice.wait_command(d.json()["command_id"])["status"] == "applied"
    rp = alice.wait_command(p.json()["command_id"], want="rejected")
    assert rp["problem"]["status"] == 404, rp
    alice.wait_command(slow.json()["command_id"])
    g = alice.get(t1["id"]).json()
    assert g["title"] == "first" and g["description"] == "late" and g["version"] == t1["version"] + 2, g
    assert alice.get(t2["id"]).status_code == 404


@pytest.mark.single_stack_only
def test_wait_answers_a_rejection_with_its_status(alice):
    """A PATCH whose command is rejected while the client waits gets the rejection."""
    t = alice.create_applied({"title": unique("rej")})
    commands = TopicReader("task-commands", from_beginning=False)
    stack_control.stop("writer")
    try:
        first = alice.patch(t["id"], {"title": "applied"}, if_match=t["version"])
        assert first.status_code == 202, first.text
        holder = {}
        rid = f"it-rej-{unique()}"

        def waiter():
            holder["r"] = alice.clone().patch(t["id"], {"title": "rejected"}, if_match=t["version"], wait=20,
                                              headers={"X-Request-ID": rid})

        th = threading.Thread(target=waiter)
        th.start()
        # Its command is on Kafka (the API's check passed, the writer is stopped): the
        # answer can now only come from the writer's rejection, seen while waiting.
        wait_until(lambda: any(isinstance(m["value"], dict) and m["value"].get("request_id") == rid
                               for m in commands.drain()), 20, "the waiting PATCH's command is produced")
    finally:
        commands.close()
        stack_control.start("writer")
    th.join(timeout=40)
    assert not th.is_alive(), "a Prefer: wait=20 request did not end"
    assert_problem(holder["r"], 412, "precondition-failed")
    assert alice.get(t["id"]).json()["title"] == "applied"


# --- Idempotency-Key ---


def test_same_key_same_body_replays(alice):
    key = unique("idem")
    body = {"title": unique("idem-task"), "tags": ["idem"]}
    r1 = alice.create(body, key=key)
    assert r1.status_code == 202, r1.text
    r2 = alice.create(body, key=key)
    assert r2.status_code == r1.status_code, r2.text
    assert r2.headers.get("Idempotent-Replayed") == "true", r2.headers
    assert "Idempotent-Replayed" not in r1.headers
    assert r2.json()["command_id"] == r1.json()["command_id"]
    assert task_of(r2.json())["id"] == task_of(r1.json())["id"]
    assert r2.headers.get("Location") == r1.headers.get("Location")
    alice.wait_command(r1.json()["command_id"])
    # A third replay after the command was applied is still the first answer.
    r3 = alice.create(body, key=key, wait=5)
    assert r3.status_code == r1.status_code and r3.json()["command_id"] == r1.json()["command_id"], r3.text
    assert len(titled(alice, body["title"])) == 1


def test_same_key_other_body_is_422(alice):
    key = unique("idem")
    r1 = alice.create({"title": unique("one")}, key=key)
    assert r1.status_code == 202, r1.text
    r2 = alice.create({"title": unique("two")}, key=key)
    assert_problem(r2, 422, "idempotency-key-reused")


def test_keys_belong_to_their_user(alice, bob):
    key = unique("idem")
    body = {"title": unique("shared-key")}
    ra = alice.create(body, key=key, wait=5)
    rb = bob.create(body, key=key, wait=5)
    assert ra.status_code == 201 and rb.status_code == 201, (ra.text, rb.text)
    assert "Idempotent-Replayed" not in rb.headers
    assert task_of(ra.json())["id"] != task_of(rb.json())["id"]
    assert len(titled(bob, body["title"])) == 1


def test_a_refused_request_under_a_key_is_refused_again(alice):
    key = unique("idem")
    r1 = alice.create({"title": ""}, key=key)
    assert r1.status_code == 422
    r2 = alice.create({"title": ""}, key=key)
    assert r2.status_code == 422


def test_concurrent_identical_first_requests_create_one_task(alice):
    for _ in range(3):
        key = unique("idem-race")
        body = {"title": unique("idem-race-task")}
        apis = [alice.clone() for _ in range(2)]
        start = threading.Barrier(2)

        def send(i):
            start.wait()
            return apis[i].create(body, key=key)

        with ThreadPoolExecutor(2) as pool:
            rs = list(pool.map(send, range(2)))
        codes = sorted(r.status_code for r in rs)
        assert codes in ([202, 202], [202, 409]), [(r.status_code, r.text[:200]) for r in rs]
        ok = [r for r in rs if r.status_code == 202]
        for r in rs:
            if r.status_code == 409:
                assert_problem(r, 409, "idempotency-key-in-flight")
        assert len({r.json()["command_id"] for r in ok}) == 1, [r.json() for r in ok]
        assert len({task_of(r.json())["id"] for r in ok}) == 1
        alice.wait_command(ok[0].json()["command_id"])
        # A later command of the same user applied means every earlier one was (one key,
        # one partition, applied in order): a hidden second create would be in the list now.
        alice.create_applied({"title": unique("fence")})
        assert len(titled(alice, body["title"])) == 1, "one Idempotency-Key created two tasks"


# --- a 5xx releases the key ---

COMMANDS_TOPIC = "task-commands"
SMALL_LIMIT = "2000"  # bytes: far below a create with a 9 000-character description


def set_message_limit(admin, value):
    """Sets (or, with None, removes) the topic's max.message.bytes through the Admin API."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

    op = AlterConfigOpType.SET if value is not None else AlterConfigOpType.DELETE
    res = ConfigResource("topic", COMMANDS_TOPIC,
                         incremental_configs=[ConfigEntry("max.message.bytes", value, incremental_operation=op)])
    for fut in admin.incremental_alter_configs([res], request_timeout=15).values():
        fut.result()


def key_row(api, key):
    with pg() as conn:
        return conn.execute("SELECT state, status_code FROM idempotency_keys WHERE user_id = %s::uuid AND key = %s",
                            (api.id, key)).fetchone()


def test_a_5xx_releases_the_key(alice):
    """Kafka refuses the command (the topic's max.message.bytes is lowered below this
    create's size, so the broker answers MESSAGE_TOO_LARGE at once, a real refusal of the
    write reached within milliseconds instead of the 32 s delivery bound): the answer is
    503 and the key is released, so the same request under the same key, once Kafka takes
    it, is processed afresh (202, not a replay, not 409 in flight) and creates one task."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": env("KAFKA_BROKERS")})
    base = unique("idem-5xx")
    set_message_limit(admin, SMALL_LIMIT)
    try:
        # The limit reaches the partition leader soon, not at once: until Kafka refuses, an
        # attempt is accepted, so each attempt has its own key and title.
        attempt = {"n": 0}

        def refused():
            attempt["n"] += 1
            k, b = f"{base}-{attempt['n']}", {"title": f"{base}-{attempt['n']}", "description": "x" * 9000}
            r = alice.create(b, key=k)
            assert r.status_code in (202, 503), r.text[:300]
            return (k, b, r) if r.status_code == 503 else None

        key, body, first = wait_until(refused, 15, "Kafka refuses an oversized command", interval=0.3)
        assert_problem(first, 503, "service-unavailable")
        assert first.headers.get("Retry-After") == "1", first.headers
        assert key_row(alice, key) is None, f"the key survived a 503: {key_row(alice, key)}"
        # Refused again under the same key: neither "in flight" nor a stored 503 replayed.
        again = alice.create(body, key=key)
        assert_problem(again, 503, "service-unavailable")
        assert "Idempotent-Replayed" not in again.headers
    finally:
        set_message_limit(admin, None)

    def taken():
        r = alice.create(body, key=key)
        assert r.status_code in (202, 503), r.text[:300]
        return r if r.status_code == 202 else None

    ok = wait_until(taken, 15, "the retry under the released key is accepted", interval=0.3)
    assert "Idempotent-Replayed" not in ok.headers, ok.headers
    assert key_row(alice, key) == ("done", 202), key_row(alice, key)
    alice.wait_command(ok.json()["command_id"])
    replay = alice.create(body, key=key)
    assert replay.status_code == 202 and replay.headers.get("Idempotent-Replayed") == "true", replay.headers
    assert replay.json()["command_id"] == ok.json()["command_id"]
    assert len(titled(alice, body["title"])) == 1, "the refused attempts or the retry made a second task"
