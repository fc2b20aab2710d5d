"""POST /api/v1/tasks/import: JSON arrays and NDJSON validated line by line, accepted
items produced as ordinary creates by taskbus-importer, progress readable by its owner
only, and a size bound (decisions.md: more than 10 000 tasks is 413 or 422)."""

import json
import os

import pytest

from helpers import stack_control
from helpers.api import assert_problem, is_uuid
from helpers.tasks import IMPORT, pg, task_user, unique, wait_until


@pytest.fixture(scope="module")
def alice(api_url):
    return task_user(api_url, "tasks-import-alice")


@pytest.fixture(scope="module")
def bob(api_url):
    return task_user(api_url, "tasks-import-bob")


def post_import(api, data, content_type):
    return api.req("POST", IMPORT, data=data, headers={"Content-Type": content_type})


def progress(api, import_id):
    return api.req("GET", f"{IMPORT}/{import_id}")


def wait_imported(api, import_id, accepted, timeout=60):
    def done():
        r = progress(api, import_id)
        assert r.status_code == 200, r.text
        b = r.json()
        return b if b["applied"] == accepted else None

    return wait_until(done, timeout, f"import {import_id} applied {accepted}", interval=0.25)


def error_lines(body):
    errs = body["errors"]
    assert isinstance(errs, list)
    for e in errs:
        # field is null when the line as a whole is not a JSON object.
        assert isinstance(e["line"], int) and isinstance(e["field"], (str, type(None))) and e["message"], e
    return sorted({e["line"] for e in errs})


def test_json_array_with_three_bad_items(alice):
    tag = unique("imp")
    items = [{"title": f"imported {i}", "priority": "low", "tags": [tag]} for i in range(50)]
    bad = {7: {"title": ""}, 23: {"status": "sleeping"}, 41: {"bogus": True}}
    for i, b in bad.items():
        items[i].update(b)
    r = post_import(alice, json.dumps(items), "application/json")
    assert r.status_code == 202, r.text
    b = r.json()
    assert is_uuid(b["import_id"]), b
    assert b["accepted"] == 47 and b["rejected"] == 3, b
    # Lines count from 1: the n-th task of the array is line n.
    assert error_lines(b) == [8, 24, 42], b["errors"]
    fields = {e["line"]: e["field"].lstrip("/$.") for e in b["errors"]}
    assert fields[8].startswith("title") and fields[24].startswith("status") and fields[42].startswith("bogus"), fields

    final = wait_imported(alice, b["import_id"], 47)
    assert final["total"] == 50 and final["accepted"] == 47 and final["rejected"] == 3, final
    assert final["produced"] == 47, final
    assert final["status"] in ("done", "completed", "applied", "finished"), final
    assert error_lines(final) == [8, 24, 42]

    listed = alice.list_all({"tag": tag})
    assert sorted(t["title"] for t in listed) == sorted(f"imported {i}" for i in range(50) if i not in bad)
    assert all(t["priority"] == "low" for t in listed)


def test_ndjson(alice):
    tag = unique("nd")
    lines = [json.dumps({"title": f"nd {i}", "tags": [tag]}) for i in range(5)]
    lines[3] = json.dumps({"title": "x" * 201, "tags": [tag]})
    lines.insert(2, "{this is not json")
    r = post_import(alice, "\n".join(lines) + "\n", "application/x-ndjson")
    assert r.status_code == 202, r.text
    b = r.json()
    assert b["accepted"] == 4 and b["rejected"] == 2, b
    assert error_lines(b) == [3, 5], b["errors"]
    by_line = {e["line"]: e["field"] for e in b["errors"]}
    assert by_line[3] in (None, "") and by_line[5].lstrip("/$.").startswith("title"), by_line
    wait_imported(alice, b["import_id"], 4)
    assert sorted(t["title"] for t in alice.list_all({"tag": tag})) == ["nd 0", "nd 1", "nd 2", "nd 4"]


def test_more_than_10000_is_refused(alice):
    tag = unique("big")
    items = [{"title": f"b{i}", "tags": [tag]} for i in range(10001)]
    r = post_import(alice, json.dumps(items), "application/json")
    assert r.status_code in (413, 422), r.text[:300]
    assert_problem(r, r.status_code)
    assert alice.list({"tag": tag}).json()["items"] == [], "a refused import created tasks"


def test_imports_are_private(alice, bob):
    r = post_import(alice, json.dumps([{"title": "mine"}]), "application/json")
    assert r.status_code == 202, r.text
    iid = r.json()["import_id"]
    assert_problem(progress(bob, iid), 404, "not-found")
    assert_problem(progress(bob, "not-a-uuid"), 404, "not-found")
    assert progress(alice, iid).status_code == 200


def test_bad_import_bodies(alice):
    r = post_import(alice, '{"title": "not an array"}', "application/json")
    assert_problem(r, r.status_code)
    assert r.status_code in (400, 422), r.text
    assert_problem(post_import(alice, "[1, 2", "application/json"), 400, "malformed-json")
    assert_problem(post_import(alice, "title,priority\nx,low\n", "text/csv"), 415, "unsupported-media-type")
    r = post_import(alice, "[]", "application/json")
    assert r.status_code in (202, 422), r.text


# The in-flight window of taskbus-importer (TASKBUS_IMPORT_MAX_LAG, 2 000 by default): the
# most import commands it has produced and the writer has not applied yet.
WINDOW = int(os.environ.get("TASKBUS_IMPORT_MAX_LAG") or 2000)
FLOOD = 10000


@pytest.mark.single_stack_only
def test_an_import_never_starves_interactive_writes(alice):
    """An interactive create sent during an import waits behind at most the importer's
    in-flight window of it, never behind the whole import. By construction: with the
    writer stopped nothing is applied, so the importer stops at its window; the create
    goes behind what was produced, and the rest of the import (at least FLOOD - WINDOW
    items, produced after it on the user's partition) is applied after it."""
    tag = unique("flood")
    items = [{"title": f"flood {i}", "tags": [tag]} for i in range(FLOOD)]
    stack_control.stop("writer")
    try:
        r = post_import(alice, json.dumps(items), "application/json")
        assert r.status_code == 202 and r.json()["accepted"] == FLOOD, r.text[:300]
        iid = r.json()["import_id"]
        wait_until(lambda: progress(alice, iid).json()["produced"] > 0, 60, "the import is being produced")
        c = alice.create({"title": "interactive during import"})
        assert c.status_code == 202, c.text[:300]
        cid = c.json()["command_id"]
        produced = progress(alice, iid).json()["produced"]
        assert 0 < produced <= WINDOW, f"{produced} produced with no writer running: the window is {WINDOW}"
    finally:
        stack_control.start("writer")
    alice.wait_command(cid, timeout=120)
    final = wait_imported(alice, iid, FLOOD, timeout=300)
    assert final["produced"] == FLOOD and final["rejected"] == 0 and final["status"] == "done", final
    with pg() as db:
        (behind,) = db.execute(
            "SELECT count(*) FROM commands WHERE import_id = %s"
            " AND applied_at >= (SELECT applied_at FROM commands WHERE command_id = %s)", (iid, cid)).fetchone()
    assert behind >= FLOOD - WINDOW, \
        f"only {behind} of {FLOOD} import commands were applied with or after the interactive one"
    assert len(alice.list_all({"tag": tag})) == FLOOD
