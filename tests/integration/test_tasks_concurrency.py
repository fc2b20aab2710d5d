"""16 clients create 300 tasks of one user at once; every one is applied; paging through
the list (limit 7) returns each exactly once, while another client keeps creating tasks
for the same user during the paging (issue 3, "Tests that must exist and pass")."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from helpers.tasks import task_of, task_user, wait_until

CLIENTS = 16
TASKS = 300


def test_parallel_creates_then_paging_under_writes(api_url):
    owner = task_user(api_url, "tasks-concurrency")
    apis = [owner.clone() for _ in range(CLIENTS)]
    accepted = {}  # task id -> command id (status 202) or None (201: applied already)
    lock = threading.Lock()  # guards accepted
    start = threading.Barrier(CLIENTS)

    def worker(k):
        api = apis[k]
        start.wait()
        out = []
        for i in range(k, TASKS, CLIENTS):
            r = api.create({"title": f"conc-{i:03d}", "tags": [f"c{k}"]}, wait=5)
            assert r.status_code in (201, 202), f"create {i}: {r.status_code} {r.text[:300]}"
            body = r.json()
            out.append((task_of(body)["id"], body.get("command_id") if r.status_code == 202 else None))
        with lock:
            for tid, cid in out:
                assert tid not in accepted, f"task id {tid} handed out twice"
                accepted[tid] = cid
        return len(out)

    with ThreadPoolExecutor(CLIENTS) as pool:
        assert sum(pool.map(worker, range(CLIENTS))) == TASKS
    assert len(accepted) == TASKS

    for tid, cid in accepted.items():
        if cid is not None:
            owner.wait_command(cid, timeout=60)

    everything = owner.list_all(limit=100)
    assert len(everything) == TASKS, f"listed {len(everything)} of {TASKS}"
    assert {t["id"] for t in everything} == set(accepted), "the listed tasks are not the created ones"
    assert sorted(t["title"] for t in everything) == [f"conc-{i:03d}" for i in range(TASKS)]

    # Paging by 7 while another client of the same user keeps creating.
    before = {t["id"] for t in everything}
    stop = threading.Event()
    extra = []
    refused = []
    writer_api = owner.clone()

    def keep_creating():
        n = 0
        while not stop.is_set() and n < 150:
            r = writer_api.create({"title": f"during-{n:03d}"})
            if r.status_code != 202:
                refused.append((r.status_code, r.text[:200]))
                break
            extra.append(task_of(r.json())["id"])
            n += 1
            time.sleep(0.02)

    bg = threading.Thread(target=keep_creating, daemon=True)
    bg.start()
    try:
        wait_until(lambda: len(extra) >= 3, 30, "the background creator started")
        pager = owner.clone()
        seen = pager.list_all(limit=7, max_pages=200)
    finally:
        stop.set()
        bg.join(timeout=30)
    assert not bg.is_alive()
    assert not refused, f"a create during paging was refused: {refused}"
    assert len(extra) >= 3
    seen_ids = [t["id"] for t in seen]
    dups = {i for i in seen_ids if seen_ids.count(i) > 1}
    assert not dups, f"{len(dups)} tasks repeated while paging"
    missing = before - set(seen_ids)
    assert not missing, f"{len(missing)} tasks that existed before paging began were skipped"
    assert set(seen_ids) <= before | set(extra), "paging returned a task nobody created"
    created = [t["created_at"] for t in seen]
    assert created == sorted(created, reverse=True), "the default order is not newest first"
