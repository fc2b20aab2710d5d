"""Reports (issue 4, docs/decisions.md "Reports"): POST /api/v1/reports queues a report,
taskbus-reporter streams the owner's tasks into a CSV or JSON file, GET shows the status,
/download returns the file with its Content-Type and Content-Disposition, and the owner
gets a report_ready notification on the `notifications` topic.

The central check: a report of thousands of tasks holds exactly the rows, in the same
order, that GET /api/v1/tasks pages through with the same filters.

Issue 11: a CSV cell of user text that a spreadsheet would run as a formula comes out
behind a single quote (the JSON report is unchanged); the retention expires an old report's
file (download 410) and deletes a report expired long ago (404), while a fresh one stays
(docs/decisions.md "CSV cells that are not formulas", "Retention").
"""

import csv
import io
import json
import os

import pytest

from helpers.api import API, assert_problem, is_uuid
from helpers import stack_control
from helpers.stack_control import env
from helpers.tasks import (IMPORT, TopicReader, pg, task_user, unique, wait_outbox_published,
                           wait_until)

REPORTS = f"{API}/reports"
N_TASKS = 3000
CSV_COLUMNS = ["id", "title", "description", "status", "priority", "due_at", "tags", "created_at",
               "updated_at", "completed_at", "version"]
STATUSES = ["todo", "in_progress", "done"]
PRIORITIES = ["low", "medium", "high", "urgent"]


def task_item(i, tag):
    item = {
        "title": f"report task {i}",
        "status": STATUSES[i % 3],
        "priority": PRIORITIES[i % 4],
        "tags": [tag] + (["odd"] if i % 2 else []),
    }
    if i % 7 == 0:
        item["title"] = f'report "task" {i}, with a comma'
    if i % 5 == 0:
        item["description"] = "first line\r\nsecond line; \"quoted\", and a comma"
    if i % 3 == 0:
        item["due_at"] = f"2031-{1 + i % 12:02d}-{1 + i % 28:02d}T10:{i % 60:02d}:00.250Z"
    return item


@pytest.fixture(scope="module")
def owner(api_url):
    """A user with N_TASKS tasks of every status and priority, created by one import."""
    api = task_user(api_url, "reports-owner")
    tag = unique("rep")
    items = [task_item(i, tag) for i in range(N_TASKS)]
    r = api.req("POST", IMPORT, data=json.dumps(items), headers={"Content-Type": "application/json"})
    assert r.status_code == 202, r.text[:500]
    assert r.json()["accepted"] == N_TASKS, r.json()
    import_id = r.json()["import_id"]

    def applied():
        p = api.req("GET", f"{IMPORT}/{import_id}")
        assert p.status_code == 200, p.text
        return p.json()["applied"] == N_TASKS

    wait_until(applied, 90, f"import of {N_TASKS} tasks applied", interval=1.0)
    return api


@pytest.fixture(scope="module")
def stranger(api_url):
    return task_user(api_url, "reports-stranger")


def post_report(api, body):
    return api.req("POST", REPORTS, json=body)


def wait_finished(api, report_id, timeout=60):
    """Polls the report until ready or failed; returns (document, statuses seen in order)."""
    seen = []

    def finished():
        r = api.req("GET", f"{REPORTS}/{report_id}")
        assert r.status_code == 200, r.text
        doc = r.json()
        if not seen or seen[-1] != doc["status"]:
            seen.append(doc["status"])
        return doc if doc["status"] in ("ready", "failed") else None

    doc = wait_until(finished, timeout, f"report {report_id} finished", interval=0.3)
    return doc, seen


def download(api, report_id):
    return api.req("GET", f"{REPORTS}/{report_id}/download")


def csv_row_of(task):
    """A task of the list as the reporter's CSV writes it (strings as csv reads them)."""
    out = []
    for col in CSV_COLUMNS:
        v = task[col]
        if v is None:
            out.append("")
        elif col == "tags":
            out.append(";".join(v))
        else:
            out.append(str(v))
    return out


def check_new_report(body, fmt):
    assert is_uuid(body["id"]), body
    assert body["status"] == "queued", body
    assert body["format"] == fmt, body
    assert body["row_count"] is None and body["finished_at"] is None, body


def test_csv_report_of_every_task_matches_the_list(owner):
    notes = TopicReader("notifications", from_beginning=False)
    try:
        r = post_report(owner, {"format": "csv"})
        assert r.status_code == 202, r.text
        body = r.json()
        check_new_report(body, "csv")
        assert r.headers["Location"] == f"{REPORTS}/{body['id']}"
        doc, seen = wait_finished(owner, body["id"])
        assert doc["status"] == "ready", doc
        # queued -> (running) -> ready, never backwards
        assert seen[-1] == "ready" and seen in (["queued", "running", "ready"], ["queued", "ready"],
                                                ["running", "ready"], ["ready"]), seen

        listed = owner.list_all()
        assert len(listed) == N_TASKS
        d = download(owner, body["id"])
        assert d.status_code == 200, d.text[:300]
        assert d.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert d.headers["Content-Disposition"] == f'attachment; filename="tasks-{body["id"]}.csv"'
        assert int(d.headers["Content-Length"]) == len(d.content) == doc["size_bytes"]
        assert d.content.endswith(b"\r\n") and b"\r\n" in d.content.split(b"\n", 1)[0] + b"\n"
        rows = list(csv.reader(io.StringIO(d.content.decode("utf-8"), newline="")))
        assert rows[0] == CSV_COLUMNS
        assert doc["row_count"] == len(rows) - 1 == N_TASKS, (doc, len(rows))
        assert rows[1:] == [csv_row_of(t) for t in listed]

        # the owner is told: one report_ready message for this report
        def announced():
            recs = notes.drain(timeout=30)
            return [m for m in recs if (m["value"] or {}).get("kind") == "report_ready"
                    and m["value"]["data"].get("report_id") == body["id"]]

        msgs = wait_until(announced, 30, "report_ready on notifications", interval=0.5)
        assert len(msgs) == 1, msgs
        m = msgs[0]["value"]
        assert m["user_id"] == owner.id and m["to"] == owner.user.email, m
        assert m["data"]["download_path"] == f"{REPORTS}/{body['id']}/download", m
        assert msgs[0]["key"] == owner.id
    finally:
        notes.close()


def test_json_report_with_filters_matches_the_list(owner):
    filters = {"status": ["todo", "in_progress"], "priority": "high,urgent", "tag": "odd",
               "due_before": "2031-09-01T00:00:00Z"}
    r = post_report(owner, {"format": "json", "filters": filters})
    assert r.status_code == 202, r.text
    body = r.json()
    check_new_report(body, "json")
    assert body["filters"] == {"status": ["todo", "in_progress"], "priority": ["high", "urgent"],
                               "tag": ["odd"], "due_before": "2031-09-01T00:00:00.000000Z"}, body
    doc, _ = wait_finished(owner, body["id"])
    assert doc["status"] == "ready", doc

    listed = owner.list_all({"status": "todo,in_progress", "priority": ["high", "urgent"],
                             "tag": "odd", "due_before": "2031-09-01T00:00:00Z"})
    assert 100 < len(listed) < N_TASKS, len(listed)  # the filter really filters
    d = download(owner, body["id"])
    assert d.status_code == 200, d.text[:300]
    assert d.headers["Content-Type"] == "application/json"
    assert d.headers["Content-Disposition"] == f'attachment; filename="tasks-{body["id"]}.json"'
    got = json.loads(d.content)
    assert doc["row_count"] == len(got) and doc["size_bytes"] == len(d.content)
    assert got == listed


def test_full_text_filter(owner):
    r = post_report(owner, {"format": "json", "filters": {"q": "comma"}})
    assert r.status_code == 202, r.text
    doc, _ = wait_finished(owner, r.json()["id"])
    got = json.loads(download(owner, doc["id"]).content)
    assert got == owner.list_all({"q": "comma"}) and len(got) > 0


@pytest.mark.single_stack_only
def test_download_before_ready_is_409_then_ready(owner):
    stack_control.stop("reporter")
    try:
        r = post_report(owner, {"format": "csv", "filters": {"status": "done"}})
        assert r.status_code == 202, r.text
        rid = r.json()["id"]
        wait_outbox_published([owner.id], topic="reports")  # on Kafka now; nobody builds it
        assert owner.req("GET", f"{REPORTS}/{rid}").json()["status"] == "queued"
        assert_problem(download(owner, rid), 409, "report-not-ready")
    finally:
        stack_control.start("reporter")
    doc, _ = wait_finished(owner, rid, timeout=90)
    assert doc["status"] == "ready" and doc["row_count"] == N_TASKS // 3, doc
    assert download(owner, rid).status_code == 200


def test_reports_are_private(owner, stranger):
    r = post_report(owner, {"format": "json", "filters": {"tag": "odd"}})
    rid = r.json()["id"]
    for path in (f"{REPORTS}/{rid}", f"{REPORTS}/{rid}/download"):
        assert_problem(stranger.req("GET", path), 404, "not-found")
    assert stranger.req("GET", REPORTS).json() == {"items": [], "next_cursor": None}
    assert_problem(owner.req("GET", f"{REPORTS}/not-a-uuid"), 404, "not-found")


def test_list_is_keyset_paginated_newest_first(owner):
    ids = [post_report(owner, {"format": "csv"}).json()["id"] for _ in range(3)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        r = owner.req("GET", REPORTS, params=params)
        assert r.status_code == 200, r.text
        seen.extend(x["id"] for x in r.json()["items"])
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen))
    assert seen[:3] == ids[::-1]
    assert_problem(owner.req("GET", REPORTS, params={"limit": 0}), 422, "validation-error")
    assert_problem(owner.req("GET", REPORTS, params={"cursor": "x"}), 422, "validation-error")


@pytest.mark.parametrize("body,field", [
    ({"format": "pdf"}, "format"),
    ({}, "format"),
    ({"format": "csv", "filters": {"status": "sleeping"}}, "filters.status"),
    ({"format": "csv", "filters": {"sort": "created_at"}}, "filters.sort"),
    ({"format": "csv", "filters": {"bogus": 1}}, "filters.bogus"),
    ({"format": "csv", "filters": {"due_before": "tomorrow"}}, "filters.due_before"),
    ({"format": "csv", "filters": {"tag": [1]}}, "filters.tag"),
    ({"format": "csv", "filters": []}, "filters"),
    ({"format": "csv", "extra": True}, "extra"),
])
def test_bad_requests_are_422(owner, body, field):
    p = assert_problem(post_report(owner, body), 422, "validation-error")
    assert field in [e["field"] for e in p["errors"]], p


@pytest.mark.single_stack_only(reason="reads the one reporter's pid file; the scaled stack runs reporter-1 and -2")
def test_reporter_memory_stays_bounded(owner):
    """Not a timing: the reporter's peak resident set after the reports above (recorded)."""
    pidfile = os.path.join(env("TASKBUS_DATA_DIR"), "run", "reporter.pid")
    with open(pidfile) as f:
        pid = int(f.read().strip())
    with open(f"/proc/{pid}/status") as f:
        status = dict(line.split(":", 1) for line in f if ":" in line)
    hwm_kib = int(status["VmHWM"].split()[0])
    print(f"taskbus-reporter VmHWM {hwm_kib} KiB")
    assert hwm_kib < 512 * 1024, status["VmHWM"]


FORMULA_TITLES = ['=HYPERLINK("http://x")', "@SUM(A1)"]


def test_csv_cells_that_read_as_formulas_are_prefixed_json_unchanged(api_url):
    api = task_user(api_url, "reports-formula")
    made = [api.create_applied({"title": t}) for t in FORMULA_TITLES]
    made.append(api.create_applied({"title": "a - b = c", "description": "-5 degrees\nand more",
                                    "tags": ["+1", "x"]}))
    made.append(api.create_applied({"title": "plain", "description": "\tindented"}))
    want = {t["id"]: t for t in made}
    r = post_report(api, {"format": "csv"})
    assert r.status_code == 202, r.text
    doc, _ = wait_finished(api, r.json()["id"])
    assert doc["status"] == "ready", doc
    d = download(api, doc["id"])
    assert d.status_code == 200, d.text[:300]
    assert b'"\'=HYPERLINK(""http://x"")"' in d.content and b'"\'@SUM(A1)"' in d.content, d.content
    rows = list(csv.reader(io.StringIO(d.content.decode("utf-8"), newline="")))
    assert rows[0] == CSV_COLUMNS and len(rows) == 1 + len(made), rows
    got = {row[0]: dict(zip(CSV_COLUMNS, row)) for row in rows[1:]}
    assert set(got) == set(want)
    for tid, task in want.items():
        row = got[tid]
        expected = csv_row_of(task)
        for col, value in zip(CSV_COLUMNS, expected):
            if col in ("title", "description", "tags") and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
                value = "'" + value
            assert row[col] == value, (col, row, task)
    titles = sorted(row["title"] for row in got.values())
    assert titles == sorted(["'=HYPERLINK(\"http://x\")", "'@SUM(A1)", "a - b = c", "plain"]), titles
    assert sorted(row["description"] for row in got.values()) == ["", "", "'\tindented",
                                                                   "'-5 degrees\nand more"]
    assert sorted(row["tags"] for row in got.values()) == ["", "", "", "'+1;x"]

    # The JSON report carries the text exactly as stored.
    r = post_report(api, {"format": "json"})
    doc, _ = wait_finished(api, r.json()["id"])
    got = json.loads(download(api, doc["id"]).content)
    assert got == api.list_all()
    assert sorted(t["title"] for t in got) == sorted(FORMULA_TITLES + ["a - b = c", "plain"])


def report_file_path(report_id, fmt):
    return os.path.join(env("TASKBUS_DATA_DIR"), "reports", f"{report_id}.{fmt}")


@pytest.mark.single_stack_only
def test_reports_retention_expires_old_files_410_and_deletes_long_expired(api_url):
    """The default retention (7 days) against rows made old in Postgres; the reporter's
    pass runs at its start, so a restart is the schedule's next turn (no sleeping)."""
    api = task_user(api_url, "reports-retention")
    api.create_applied({"title": "kept"})
    ids = []
    for _ in range(3):
        r = post_report(api, {"format": "csv"})
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
    for rid in ids:
        doc, _ = wait_finished(api, rid)
        assert doc["status"] == "ready" and doc["expired_at"] is None, doc
        assert os.path.exists(report_file_path(rid, "csv"))
    old, fresh, long_expired = ids
    with pg() as conn:
        conn.execute("UPDATE reports SET finished_at = now() - interval '30 days' WHERE id = %s",
                     (old,))
        conn.execute("UPDATE reports SET finished_at = now() - interval '60 days',"
                     " expired_at = now() - interval '30 days' WHERE id = %s", (long_expired,))
    stack_control.restart("reporter")

    def expired():
        doc = api.req("GET", f"{REPORTS}/{old}").json()
        return doc if doc["expired_at"] is not None else None

    doc = wait_until(expired, 60, "the old report expired", interval=0.3)
    assert doc["status"] == "ready" and doc["row_count"] == 1, doc
    assert not os.path.exists(report_file_path(old, "csv"))
    p = assert_problem(download(api, old), 410, "report-expired")
    assert "retention" in p["detail"] and p["title"] == "Report expired", p
    wait_until(lambda: api.req("GET", f"{REPORTS}/{long_expired}").status_code == 404, 60,
               "the long-expired report deleted", interval=0.3)
    assert_problem(download(api, long_expired), 404, "not-found")
    # The fresh report keeps its row and file.
    assert api.req("GET", f"{REPORTS}/{fresh}").json()["expired_at"] is None
    assert os.path.exists(report_file_path(fresh, "csv"))
    d = download(api, fresh)
    assert d.status_code == 200 and d.content.startswith(b"id,title,"), d.text[:300]
