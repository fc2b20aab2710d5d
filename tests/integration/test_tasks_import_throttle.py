"""Concurrent imports under taskbus-importer's throttle (decisions.md, "Issue 9", "Import
throttle"): two imports of one user and one of another, queued while the importer is
stopped so that its first scan owns all three, are applied exactly (every item once,
status done, counts right), share every tick fairly (half per user, then half per
import) and interleave in the order the writer applied them.

Nothing here depends on timing. The fair split is read from import_items.produced_at:
the importer produces one tick in one transaction, so the items of a tick share its
now(). The interleaving holds by construction: the throttle never has more than
TASKBUS_IMPORT_MAX_LAG (2 000 by default, which tests/run keeps) import commands produced
and not yet applied, so when the last item of one import is produced, the first items of
the others (produced in the first tick, more than 2 000 items earlier) were committed by
the writer already, and a later writer transaction applies that last item.
"""

import json
import os

import pytest

from helpers import stack_control
from helpers.tasks import IMPORT, pg, task_user, unique, wait_until

pytestmark = pytest.mark.single_stack_only

N = 5000  # items per import: more than twice the in-flight window, see above
WINDOW = int(os.environ.get("TASKBUS_IMPORT_MAX_LAG") or 2000)


def post_import(api, tag, n):
    body = "\n".join(json.dumps({"title": f"{tag} {i}", "tags": [tag]}) for i in range(n)) + "\n"
    r = api.req("POST", IMPORT, data=body, headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 202, r.text[:300]
    b = r.json()
    assert b["accepted"] == n and b["rejected"] == 0, b
    return b["import_id"]


def progress(api, import_id):
    r = api.req("GET", f"{IMPORT}/{import_id}")
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def imports(api_url):
    """{name: (api, import_id, tag)} of three imports queued while no importer ran."""
    assert 2 * N > WINDOW + N // 10, "the interleaving proof needs imports larger than the window"
    alice = task_user(api_url, "import-fair-alice")
    bob = task_user(api_url, "import-fair-bob")
    stack_control.stop("importer")
    try:
        queued = {}
        for name, api in (("a1", alice), ("a2", alice), ("b", bob)):
            tag = unique(f"fair-{name}")
            queued[name] = (api, post_import(api, tag, N), tag)
        for api, iid, _ in queued.values():
            assert progress(api, iid)["produced"] == 0, "produced while the importer was stopped"
    finally:
        stack_control.start("importer")

    def all_done():
        states = {n: progress(api, iid) for n, (api, iid, _) in queued.items()}
        return states if all(s["status"] == "done" and s["applied"] == N for s in states.values()) else None

    wait_until(all_done, 300, "three imports applied", interval=0.5)
    return queued


def test_every_item_applied_once_and_counts_right(imports):
    with pg() as db:
        for name, (api, iid, tag) in imports.items():
            p = progress(api, iid)
            assert p["status"] == "done" and p["finished_at"], p
            assert (p["total"], p["accepted"], p["rejected"], p["produced"], p["applied"], p["failed"]) == \
                (N, N, 0, N, N, 0), p
            # One applied commands row per item, each for the item's task, and each task
            # there once with the item's title.
            row = db.execute(
                "SELECT count(*), count(c.command_id), count(*) FILTER (WHERE c.status = 'applied'),"
                " count(DISTINCT t.id), count(*) FILTER (WHERE t.title = %s || ' ' || (i.seq - 1))"
                " FROM import_items i LEFT JOIN commands c ON c.command_id = i.command_id"
                " LEFT JOIN tasks t ON t.id = i.task_id AND t.id = c.task_id"
                " WHERE i.import_id = %s", (tag, iid)).fetchone()
            assert row == (N, N, N, N, N), (name, row)
            owner = db.execute("SELECT user_id::text FROM imports WHERE id = %s", (iid,)).fetchone()[0]
            (tasks,) = db.execute("SELECT count(*) FROM tasks WHERE owner_id = %s AND %s = ANY(tags)",
                                  (owner, tag)).fetchone()
            assert tasks == N, (name, tasks)
            (commands,) = db.execute("SELECT count(*) FROM commands WHERE import_id = %s", (iid,)).fetchone()
            assert commands == N, (name, commands)


def test_every_tick_is_shared_half_per_user_then_half_per_import(imports):
    """Until one of them has its last items produced, every tick gives bob's import as
    many items as alice's two together and alice's two the same (each within the one item
    a split into halves leaves over)."""
    ids = {name: iid for name, (_, iid, _) in imports.items()}
    with pg() as db:
        rows = db.execute(
            "SELECT produced_at, import_id::text, count(*) FROM import_items"
            " WHERE import_id = ANY(%s::uuid[]) GROUP BY 1, 2 ORDER BY 1",
            (list(ids.values()),)).fetchall()
    ticks = {}
    for at, iid, n in rows:
        ticks.setdefault(at, {})[iid] = n
    order = sorted(ticks)
    first_end = min(max(at for at in order if iid in ticks[at]) for iid in ids.values())
    shared = [ticks[at] for at in order if at < first_end]
    assert len(shared) >= 2, f"the imports were produced in {len(order)} tick(s): nothing to compare"
    for t in shared:
        a1, a2, b = (t.get(ids[k], 0) for k in ("a1", "a2", "b"))
        assert abs(a1 - a2) <= 1 and abs(b - (a1 + a2)) <= 1, (a1, a2, b, len(shared))
    # The first scan owned all three: each had items in the first tick.
    assert all(ticks[order[0]].get(i, 0) > 0 for i in ids.values()), ticks[order[0]]


def test_the_imports_interleave_as_applied(imports):
    """Each import had commands applied before the last command of each other one."""
    with pg() as db:
        span = {
            name: db.execute("SELECT min(applied_at), max(applied_at) FROM commands WHERE import_id = %s",
                             (iid,)).fetchone()
            for name, (_, iid, _) in imports.items()
        }
    for x in span:
        for y in span:
            if x != y:
                assert span[x][0] < span[y][1], f"{x} started after {y} ended: {span}"
