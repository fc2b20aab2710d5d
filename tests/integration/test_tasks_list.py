"""GET /api/v1/tasks: filters, sorts, keyset pages and their cursors; GET /tasks/stats.

One user's fixed set of tasks (module scope) is listed every way the API allows, and
each answer is checked against the same question asked of Python over the tasks as the
API itself describes them.
"""

from datetime import datetime, timedelta, timezone

import pytest

from helpers.api import assert_problem, error_fields
from helpers.tasks import PRIORITY_RANK, parse_time, rfc3339, task_user

NOW = datetime.now(timezone.utc).replace(microsecond=0)

# (title, description, final status, priority, due in days or None, tags)
SPECS = [
    ("alpha report", "quarterly numbers", "todo", "low", 1, ["work"]),
    ("alpha review", "zebra crossing plans", "in_progress", "medium", 2, ["work", "q3"]),
    ("buy milk", "semi skimmed", "todo", "urgent", -2, ["home"]),
    ("call plumber", "the zebra tap leaks", "done", "high", -5, ["home", "q3"]),
    ("dentist", "", "todo", "high", -1, []),
    ("file taxes", "alpha forms", "done", "urgent", 10, ["home", "work"]),
    ("gym", "legs", "in_progress", "low", 5, ["health"]),
    ("hire intern", "zebra alpha", "todo", "medium", 20, ["work", "q3"]),
    ("inbox zero", "email", "todo", "urgent", None, ["work"]),
    ("journal", "write daily", "done", "low", 3, ["health", "home"]),
    ("kitchen", "paint the walls", "in_progress", "high", 7, ["home"]),
    ("learn rust", "the book", "todo", "medium", 30, ["learning", "q3"]),
    ("move desk", "office", "todo", "low", -8, ["work"]),
]
DUE_SPLIT = NOW + timedelta(days=4, hours=12)  # between the due dates, never equal to one


@pytest.fixture(scope="module")
def lister(api_url):
    return task_user(api_url, "tasks-list")


@pytest.fixture(scope="module")
def tasks(lister):
    made = []
    for title, desc, status, prio, due, tags in SPECS:
        body = {"title": title, "description": desc, "priority": prio, "tags": tags,
                "status": "todo" if status == "done" else status}
        if due is not None:
            body["due_at"] = rfc3339(NOW + timedelta(days=due))
        made.append(lister.create_applied(body))
    for t, spec in zip(made, SPECS):
        if spec[2] == "done":
            r = lister.patch(t["id"], {"status": "done"}, if_match=t["version"], wait=5)
            assert r.status_code == 200, r.text
    items = lister.list_all()
    assert len(items) == len(SPECS), f"listed {len(items)} tasks, created {len(SPECS)}"
    return items


def ids(items):
    return [i["id"] for i in items]


def sort_key(name):
    if name == "priority":
        return lambda t: (PRIORITY_RANK[t["priority"]], t["id"])
    return lambda t: (parse_time(t[name]), t["id"])


def python_sorted(items, sort):
    desc = sort.startswith("-")
    name = sort.lstrip("-")
    if name == "due_at":
        dated = sorted((t for t in items if t["due_at"] is not None), key=sort_key(name), reverse=desc)
        undated = sorted((t for t in items if t["due_at"] is None), key=lambda t: t["id"], reverse=desc)
        return dated + undated  # nulls last, both ways
    return sorted(items, key=sort_key(name), reverse=desc)


def test_default_order_is_newest_first(lister, tasks):
    r = lister.list()
    assert r.status_code == 200, r.text
    body = r.json()
    assert ids(body["items"]) == ids(python_sorted(tasks, "-created_at"))
    assert body["next_cursor"] in (None, ""), "a 13-task list fits the default page of 20"
    assert ids(tasks) == ids(python_sorted(tasks, "-created_at"))


@pytest.mark.parametrize("sort", ["created_at", "-created_at", "updated_at", "-updated_at", "due_at",
                                  "-due_at", "priority", "-priority"])
def test_sort_matches_python_over_every_page(lister, tasks, sort):
    want = ids(python_sorted(tasks, sort))
    one = lister.list({"sort": sort, "limit": 100})
    assert one.status_code == 200, one.text
    assert ids(one.json()["items"]) == want, f"sort={sort}"
    paged = lister.list_all({"sort": sort}, limit=3)
    assert ids(paged) == want, f"sort={sort} paged by 3"


FILTERS = [
    ({"status": "todo"}, lambda t: t["status"] == "todo"),
    ({"status": "todo,done"}, lambda t: t["status"] in ("todo", "done")),
    ({"priority": "urgent"}, lambda t: t["priority"] == "urgent"),
    ({"priority": "high,urgent"}, lambda t: t["priority"] in ("high", "urgent")),
    ({"tag": "work"}, lambda t: "work" in t["tags"]),
    ({"tag": ["work", "q3"]}, lambda t: {"work", "q3"} <= set(t["tags"])),
    ({"due_before": rfc3339(DUE_SPLIT)}, lambda t: t["due_at"] is not None and parse_time(t["due_at"]) < DUE_SPLIT),
    ({"due_after": rfc3339(DUE_SPLIT)}, lambda t: t["due_at"] is not None and parse_time(t["due_at"]) > DUE_SPLIT),
    ({"q": "zebra"}, lambda t: "zebra" in (t["title"] + " " + t["description"]).split()),
    ({"q": "alpha"}, lambda t: "alpha" in (t["title"] + " " + t["description"]).split()),
    ({"q": "alpha zebra"}, lambda t: {"alpha", "zebra"} <= set((t["title"] + " " + t["description"]).split())),
    ({"status": "todo", "priority": "low,medium", "tag": "work"},
     lambda t: t["status"] == "todo" and t["priority"] in ("low", "medium") and "work" in t["tags"]),
    ({"status": "done", "tag": "nosuchtag"}, lambda t: False),
]


@pytest.mark.parametrize("params,pred", FILTERS, ids=[str(p) for p, _ in FILTERS])
def test_filters_match_python(lister, tasks, params, pred):
    want = ids(python_sorted([t for t in tasks if pred(t)], "-created_at"))
    got = lister.list_all(params, limit=4)
    assert ids(got) == want, f"{params}: got {[g['title'] for g in got]}"
    assert all(g["id"] in ids(tasks) for g in got)


def test_filters_with_a_sort(lister, tasks):
    params = {"status": "todo,in_progress", "sort": "-priority"}
    want = ids(python_sorted([t for t in tasks if t["status"] in ("todo", "in_progress")], "-priority"))
    assert ids(lister.list_all(params, limit=2)) == want


def test_items_are_whole_tasks(lister, tasks):
    byid = {t["id"]: t for t in tasks}
    for spec in SPECS:
        t = next(x for x in tasks if x["title"] == spec[0])
        assert t["status"] == spec[2] and t["priority"] == spec[3] and t["tags"] == spec[5], t
        assert (t["completed_at"] is not None) == (spec[2] == "done"), t
    g = lister.get(tasks[0]["id"]).json()
    assert g == byid[g["id"]], "a list item differs from GET of the same task"


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5"])
def test_limit_bounds(lister, tasks, limit):
    p = assert_problem(lister.list({"limit": limit}), 422, "validation-error")
    assert "limit" in error_fields(p)


def test_limit_edges(lister, tasks):
    r1 = lister.list({"limit": 1})
    assert r1.status_code == 200 and len(r1.json()["items"]) == 1 and r1.json()["next_cursor"]
    r100 = lister.list({"limit": 100})
    assert r100.status_code == 200 and len(r100.json()["items"]) == len(SPECS)
    assert not r100.json()["next_cursor"]


@pytest.mark.parametrize("params", [
    {"status": "blocked"}, {"priority": "critical"}, {"sort": "title"}, {"sort": "--due_at"},
    {"due_before": "next week"}, {"due_after": "2031-02-30T00:00:00Z"},
])
def test_bad_filters_are_422(lister, tasks, params):
    p = assert_problem(lister.list(params), 422, "validation-error")
    assert list(params)[0] in error_fields(p)


@pytest.mark.parametrize("cursor", ["garbage", "eyJmb28iOiJiYXIifQ", "!!!", "x" * 600])
def test_bad_cursor_is_422(lister, tasks, cursor):
    assert_problem(lister.list({"cursor": cursor}), 422)


def test_cursor_with_other_filters_or_sort_is_422(lister, tasks):
    r = lister.list({"status": "todo", "limit": 2})
    assert r.status_code == 200
    cur = r.json()["next_cursor"]
    assert cur, "6 todo tasks at limit 2 leave a next page"
    ok = lister.list({"status": "todo", "limit": 2, "cursor": cur})
    assert ok.status_code == 200, ok.text
    assert_problem(lister.list({"status": "done", "limit": 2, "cursor": cur}), 422)
    assert_problem(lister.list({"status": "todo", "sort": "due_at", "limit": 2, "cursor": cur}), 422)
    assert_problem(lister.list({"status": "todo", "q": "alpha", "limit": 2, "cursor": cur}), 422)
    # The page size may change along the way; it is not part of the question.
    assert lister.list({"status": "todo", "limit": 5, "cursor": cur}).status_code == 200


def test_stats_count_what_was_created(lister, tasks):
    r = lister.stats()
    assert r.status_code == 200, r.text
    s = r.json()
    by_status = s["by_status"]
    by_priority = s["by_priority"]
    for st in ("todo", "in_progress", "done"):
        assert by_status.get(st, 0) == sum(1 for x in SPECS if x[2] == st), (st, s)
    for pr in PRIORITY_RANK:
        assert by_priority.get(pr, 0) == sum(1 for x in SPECS if x[3] == pr), (pr, s)
    overdue = sum(1 for x in SPECS if x[4] is not None and x[4] < 0 and x[2] != "done")
    assert s["overdue"] == overdue, s
    assert s["done_last_7_days"] == sum(1 for x in SPECS if x[2] == "done"), s
    assert s.get("total", len(SPECS)) == len(SPECS), s
