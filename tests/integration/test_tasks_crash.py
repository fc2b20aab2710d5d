"""kill -9 under load loses nothing and applies nothing twice (issue 3, "Crash").

A steady stream of creates runs for about 20 s while the writer is killed and restarted
three times and, separately, the API once. Then every accepted (202) command is applied;
the tasks in Postgres for these users are exactly the accepted ones (plus, at most, tasks
of requests whose answer was lost when the API died: those are "in doubt" to the client
and named by their unique titles, never counted as accepted); `commands` has no
duplicate; `task-events` holds exactly one event per applied command (one event id per
command id; the relay is at-least-once, so a re-delivery of the same event id is allowed).
"""

import threading
import time

import pytest
import requests

from helpers import stack_control
from helpers.tasks import (TopicReader, assert_event_valid, pg, task_of, task_user, wait_api_ready,
                           wait_outbox_published, wait_until)

pytestmark = pytest.mark.single_stack_only

USERS = 6
STREAMS = 2
PAUSE = 0.05  # between two creates of one stream: ~30 creates/s in all, inside the rate limits


def test_kill_writer_and_api_under_load(api_url):
    apis = [task_user(api_url, f"tasks-crash-{k}") for k in range(USERS)]
    user_ids = [a.id for a in apis]
    accepted = {}  # task id -> (command id, user id, title)
    in_doubt = set()  # titles whose create may or may not have reached Kafka
    refused = []  # answers that are neither 202 nor an outage
    lock = threading.Lock()  # guards the three above
    stop = threading.Event()

    def stream(k):
        mine = [a.clone() for a in apis]
        i = 0
        while not stop.is_set():
            api = mine[i % USERS]
            title = f"crash-{k}-{i:05d}"
            i += 1
            try:
                r = api.create({"title": title}, timeout=15)
            except requests.RequestException:
                with lock:
                    in_doubt.add(title)
                time.sleep(PAUSE)
                continue
            with lock:
                if r.status_code == 202:
                    b = r.json()
                    accepted[task_of(b)["id"]] = (b["command_id"], api.id, title)
                elif r.status_code >= 500:
                    in_doubt.add(title)
                else:
                    refused.append((r.status_code, r.text[:200]))
            time.sleep(PAUSE)

    def load_goes_on(more, what):
        """Waits until `more` further creates were accepted (or one was refused, which the
        assertions below report): each fault meets real load, however slow the machine.
        The sleeps around the faults only pace them (how long a process stays down)."""
        with lock:
            target = len(accepted) + more

        def reached():
            with lock:
                return len(accepted) >= target or bool(refused)

        wait_until(reached, 90, f"{more} more creates accepted {what}", interval=0.05)

    threads = [threading.Thread(target=stream, args=(k,), daemon=True) for k in range(STREAMS)]
    for th in threads:
        th.start()
    try:
        load_goes_on(20, "before the first fault")
        for n in range(3):
            stack_control.kill("writer")
            load_goes_on(10, f"while the writer is down ({n + 1})")
            stack_control.start("writer")
            load_goes_on(20, f"after the writer restarted ({n + 1})")
        n_before_api = len(accepted)
        stack_control.kill("api")
        time.sleep(0.5)
        stack_control.start("api")
        wait_api_ready(api_url)
        load_goes_on(30, "after the API restarted")
    finally:
        stop.set()
        for th in threads:
            th.join(timeout=30)
        # Whatever happened above, leave a running stack behind for the next tests.
        stack_control.start("writer", check=False)
        stack_control.start("api", check=False)
    assert not any(th.is_alive() for th in threads)
    assert not refused, f"creates refused under load: {refused[:5]}"

    # Shown with the output of a failure: how much load the faults met.
    print(f"crash: {len(accepted)} accepted ({n_before_api} before the API kill), {len(in_doubt)} in doubt")
    cids = [v[0] for v in accepted.values()]
    with pg() as conn:
        # Every accepted command is applied (bounded wait).
        deadline = time.monotonic() + 120
        while True:
            rows = conn.execute("SELECT command_id::text, status FROM commands WHERE command_id = ANY(%s::uuid[])",
                                (cids,)).fetchall()
            done = {c for c, s in rows}
            if len(done) == len(cids):
                break
            assert time.monotonic() < deadline, f"{len(cids) - len(done)} of {len(cids)} accepted commands never applied"
            time.sleep(0.5)
        statuses = {s for _, s in rows}
        assert statuses == {"applied"}, f"accepted creates were not all applied: {statuses}"
        dup = conn.execute("SELECT command_id, count(*) FROM commands WHERE command_id = ANY(%s::uuid[]) "
                           "GROUP BY command_id HAVING count(*) > 1", (cids,)).fetchall()
        assert not dup, f"commands recorded twice: {dup[:5]}"

        rows = conn.execute("SELECT id::text, owner_id::text, title FROM tasks WHERE owner_id = ANY(%s::uuid[])",
                            (user_ids,)).fetchall()
        in_pg = {tid: (owner, title) for tid, owner, title in rows}
        missing = set(accepted) - set(in_pg)
        assert not missing, f"{len(missing)} accepted tasks are not in Postgres: {sorted(missing)[:5]}"
        for tid, (cid, uid, title) in accepted.items():
            assert in_pg[tid] == (uid, title), (tid, in_pg[tid], uid, title)
        extras = {tid: t for tid, t in in_pg.items() if tid not in accepted}
        for tid, (_owner, title) in extras.items():
            assert title in in_doubt, f"task {tid} ({title}) exists but no create of it was ever sent or in doubt"
        titles = [t for _, t in in_pg.values()]
        assert len(titles) == len(set(titles)), "one create produced two tasks"
        expected_cids = set(cids)
        if extras:
            more = conn.execute("SELECT command_id::text, status FROM commands WHERE task_id = ANY(%s::uuid[])",
                                (list(extras),)).fetchall()
            assert len(more) == len(extras) and {s for _, s in more} == {"applied"}, more
            expected_cids |= {c for c, _ in more}

    # task-events from the beginning: one event (id) per applied command, nothing else.
    # Every command is applied (above): once the outbox has published every event of these
    # users, task-events holds all of them (and any second event of a command) below its
    # high watermark, which drain() reads up to.
    reader = TopicReader("task-events")
    try:
        wait_outbox_published(user_ids, timeout=90, topic="task-events")
        mine = [m for m in reader.drain(timeout=90) if m["key"] in user_ids]
    finally:
        reader.close()
    print(f"crash: {len(extras)} in-doubt creates were applied; {len(mine)} event records")
    ids_by_cid = {}
    for m in mine:
        ev = m["value"]
        assert isinstance(ev, dict), f"not JSON on task-events: {m['raw'][:200]!r}"
        assert_event_valid(ev)
        assert ev["type"] == "taskbus.task.created", ev
        ids_by_cid.setdefault(ev["data"]["command_id"], set()).add(ev["id"])
    missing = expected_cids - set(ids_by_cid)
    assert not missing, f"{len(missing)} applied commands have no event: {sorted(missing)[:5]}"
    assert set(ids_by_cid) == expected_cids, \
        f"events for commands never applied: {sorted(set(ids_by_cid) - expected_cids)[:5]}"
    doubled = {c: i for c, i in ids_by_cid.items() if len(i) > 1}
    assert not doubled, f"{len(doubled)} commands produced two different events: {list(doubled.items())[:3]}"
