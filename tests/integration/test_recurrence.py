"""Recurring tasks end to end (issue 14; docs/decisions.md "Slice 2: recurring tasks", the OpenAPI
TaskRecurrence): a task may carry `recurrence: {rule, time_zone}`, stored in its
canonical text, present only when the task recurs; completing it makes taskbus-writer
insert the next occurrence in the transaction of the completion.

Owns: the API's checks of a recurrence (422 per field, the rule's part first in the
message), the writer's rule "a recurring task has a due_at" (what the API cannot see is
rejected by the writer), the next occurrence (its fields, its due date computed here with
zoneinfo, across daylight-saving changes, COUNT and UNTIL), its visibility (GET, list, paged),
its events on task-events (which carry no `recurrence` yet), an import with recurrences, its due-soon reminder, that a client
that never sends a recurrence never sees the member, and a kill -9 of the writer under a
load of completions (exactly one next occurrence per applied completion).
Rules: every test registers its own users; every wait is on a condition (helpers'
wait_until, wait_command, the outbox and watermark fences), never a pause that usually
suffices; expected due dates are computed with zoneinfo and, for the documented examples,
also compared with their literal values.
"""

import hashlib
import json
import os
import re
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from helpers import stack_control
from helpers.api import assert_problem, error_fields, is_uuid
from helpers.kafka_events import EventCollector
from helpers.stack_control import env
from helpers.tasks import (API_TASK_KEYS, IMPORT, TASK_KEYS, TopicReader, assert_event_valid, parse_time, pg,
                           rfc3339, task_of, task_user, unique, wait_outbox_published, wait_until)

DUE = "2031-06-10T09:00:00.000Z"  # a valid due date for the bodies that need one
PART_PREFIX = re.compile(r"^(FREQ|INTERVAL|BYDAY|BYMONTHDAY|COUNT|UNTIL): ")
# The labels taskbus-writer derives a next occurrence's ids with (workers/writer/
# writer_execute.c, uuid7_derive in shared/uuid7.c): the task id and the command id.
NEXT_TASK_LABEL = "taskbus next occurrence task"
NEXT_COMMAND_LABEL = "taskbus next occurrence command"


@pytest.fixture(scope="module")
def task_events(api_url):
    c = EventCollector(env("KAFKA_BROKERS"), "task-events")
    yield c
    c.close()


# --- helpers ----------------------------------------------------------------------------------


def rec(rule, zone="Europe/Berlin"):
    return {"rule": rule, "time_zone": zone}


def recurring_body(tag, rule="FREQ=WEEKLY", zone="Europe/Berlin", due=DUE, **over):
    body = {"title": unique("rec"), "description": "water the plants", "priority": "high",
            "tags": [tag, "home"], "due_at": due, "recurrence": rec(rule, zone)}
    body.update(over)
    return body


def wall_clock_shift(due_text, zone, **delta):
    """due_text moved by delta in zone's local wall-clock time (aware datetime arithmetic
    keeps the local time and takes the offset of the new date), as API text."""
    local = parse_time(due_text).astimezone(ZoneInfo(zone))
    return rfc3339(local + timedelta(**delta))


def local_replace(due_text, zone, **fields):
    """due_text with local date fields replaced in zone (the same wall-clock time)."""
    local = parse_time(due_text).astimezone(ZoneInfo(zone))
    return rfc3339(local.replace(**fields))


def derived_id(command_id, label):
    """The UUIDv7 taskbus-writer derives from a command id: the command's millisecond
    timestamp, then the first 80 bits of SHA-256("<label>:<command id>") with the version
    and variant bits set."""
    ms = int(command_id.replace("-", "")[:12], 16)
    h = hashlib.sha256(f"{label}:{command_id}".encode()).digest()
    b = bytearray(ms.to_bytes(6, "big") + h[:10])
    b[6] = 0x70 | (b[6] & 0x0F)
    b[8] = 0x80 | (b[8] & 0x3F)
    return str(uuid.UUID(bytes=bytes(b)))


def errors_by_field(problem):
    """{field: [messages]} of a validation problem, fields normalised as error_fields does."""
    names = error_fields(problem)
    out = {}
    for name, e in zip(names, problem["errors"]):
        out.setdefault(name, []).append(e["message"])
    return out


def apply_patch(api, tid, body, **kw):
    """PATCH answered 202; waits until applied; returns (command id, the 202's task)."""
    r = api.patch(tid, body, **kw)
    assert r.status_code == 202, f"PATCH {body}: {r.status_code} {r.text[:300]}"
    cid = r.json()["command_id"]
    api.wait_command(cid)
    return cid, task_of(r.json())


def series_of(api, tag):
    """Every task of the tag, oldest due date first."""
    return sorted(api.list_all({"tag": tag}), key=lambda t: (t["due_at"] or "", t["created_at"]))


def get_task(api, tid):
    g = api.get(tid)
    assert g.status_code == 200, f"GET {tid}: {g.status_code} {g.text[:300]}"
    return g.json()


def assert_next_occurrence(nxt, done, due, rule, zone):
    """nxt is the next occurrence of the completed task done: a new todo task with done's
    content, due at due, carrying rule in zone."""
    assert nxt["id"] != done["id"] and is_uuid(nxt["id"], 7), nxt
    for k in ("title", "description", "priority", "tags"):
        assert nxt[k] == done[k], (k, nxt, done)
    assert nxt["status"] == "todo" and nxt["completed_at"] is None and nxt["version"] == 1, nxt
    assert nxt["due_at"] == due, f"next due_at {nxt['due_at']}, expected {due}"
    assert nxt["recurrence"] == {"rule": rule, "time_zone": zone}, nxt


# --- storing and checking a recurrence ------------------------------------------------------


CANONICAL = [
    ("rrule:byday=mo;freq=weekly", "FREQ=WEEKLY;BYDAY=MO"),
    ("Count=3;Interval=2;Freq=Daily", "FREQ=DAILY;INTERVAL=2;COUNT=3"),
    ("until=20311231T235959z;bymonthday=-1,15;freq=monthly", "FREQ=MONTHLY;BYMONTHDAY=-1,15;UNTIL=20311231T235959Z"),
    ("RRULE:FREQ=MONTHLY;BYDAY=-1FR", "FREQ=MONTHLY;BYDAY=-1FR"),
    ("freq=yearly", "FREQ=YEARLY"),
]


@pytest.mark.parametrize("rule,canonical", CANONICAL, ids=[c for _, c in CANONICAL])
def test_the_rule_is_stored_in_its_canonical_text(api_url, rule, canonical):
    api = task_user(api_url, "recurrence-canonical")
    tag = unique("canon")
    r = api.create(recurring_body(tag, rule=rule, zone="America/New_York"))
    assert r.status_code == 202, r.text
    predicted = task_of(r.json())
    want = {"rule": canonical, "time_zone": "America/New_York"}
    assert predicted["recurrence"] == want, predicted
    api.wait_command(r.json()["command_id"])
    assert get_task(api, predicted["id"])["recurrence"] == want
    (listed,) = api.list_all({"tag": tag})
    assert listed["recurrence"] == want, listed


def test_a_null_recurrence_is_no_member(api_url):
    api = task_user(api_url, "recurrence-null")
    r = api.create({"title": unique("plain"), "due_at": DUE, "recurrence": None})
    assert r.status_code == 202, r.text
    assert "recurrence" not in task_of(r.json()), r.json()
    api.wait_command(r.json()["command_id"])
    g = get_task(api, task_of(r.json())["id"])
    assert set(g) == API_TASK_KEYS, f"a task without a recurrence answers {sorted(set(g) ^ API_TASK_KEYS)}"


INVALID = [
    # (recurrence, field, what the message starts with: a part, "" for none)
    (rec("FREQ=WEEKLY;BYDAY=XX"), "recurrence.rule", "BYDAY"),
    (rec("FREQ=HOURLY"), "recurrence.rule", "FREQ"),
    (rec("INTERVAL=2"), "recurrence.rule", "FREQ"),
    (rec("FREQ=DAILY;FREQ=WEEKLY"), "recurrence.rule", "FREQ"),
    (rec("FREQ=DAILY;COUNT=0"), "recurrence.rule", "COUNT"),
    (rec("FREQ=DAILY;COUNT=10001"), "recurrence.rule", "COUNT"),
    (rec("FREQ=DAILY;COUNT=3;UNTIL=20311231"), "recurrence.rule", "COUNT"),
    (rec("FREQ=DAILY;UNTIL=20311340"), "recurrence.rule", "UNTIL"),
    (rec("FREQ=DAILY;UNTIL=2031-12-31"), "recurrence.rule", "UNTIL"),
    (rec("FREQ=DAILY;INTERVAL=0"), "recurrence.rule", "INTERVAL"),
    (rec("FREQ=WEEKLY;BYDAY=1MO"), "recurrence.rule", "BYDAY"),
    (rec("FREQ=WEEKLY;BYDAY=,MO"), "recurrence.rule", "BYDAY"),
    (rec("FREQ=WEEKLY;BYMONTHDAY=1"), "recurrence.rule", "BYMONTHDAY"),
    (rec("FREQ=MONTHLY;BYMONTHDAY=32"), "recurrence.rule", "BYMONTHDAY"),
    (rec("FREQ=DAILY;BYHOUR=9"), "recurrence.rule", ""),
    (rec("not a rule"), "recurrence.rule", ""),
    (rec(""), "recurrence.rule", ""),
    (rec("FREQ=DAILY;" + "x" * 200), "recurrence.rule", ""),
    (rec("FREQ=DAILY", "Mars/Olympus"), "recurrence.time_zone", ""),
    (rec("FREQ=DAILY", "../etc/passwd"), "recurrence.time_zone", ""),
    (rec("FREQ=DAILY", ""), "recurrence.time_zone", ""),
    # rules that could never occur
    (rec("FREQ=MONTHLY;BYDAY=6MO"), "recurrence.rule", "BYDAY"),
    (rec("FREQ=MONTHLY;BYMONTHDAY=31;BYDAY=1MO"), "recurrence.rule", "BYMONTHDAY"),
    # zoneinfo names outside zone.tab: host-dependent or aliases
    (rec("FREQ=DAILY", "right/Europe/Berlin"), "recurrence.time_zone", ""),
    (rec("FREQ=DAILY", "US/Eastern"), "recurrence.time_zone", ""),
    (rec("FREQ=DAILY", "localtime"), "recurrence.time_zone", ""),
    ({"rule": "FREQ=DAILY", "time_zone": "UTC", "anchor": "x"}, "recurrence.anchor", ""),
    ({"rule": "FREQ=DAILY", "time_zone": "UTC", "\u00e9" * 40: "x"}, "recurrence", ""),
    ({"time_zone": "UTC"}, "recurrence.rule", ""),
    ({"rule": "FREQ=DAILY"}, "recurrence.time_zone", ""),
    ({"rule": 5, "time_zone": "UTC"}, "recurrence.rule", ""),
    ("FREQ=DAILY", "recurrence", ""),
    (5, "recurrence", ""),
]


def assert_recurrence_422(resp, field, part):
    p = assert_problem(resp, 422, "validation-error")
    by_field = errors_by_field(p)
    assert field in by_field, f"{field} not among {sorted(by_field)}: {p['errors']}"
    for msg in by_field[field]:
        if part:
            assert msg.startswith(part + ": "), f"{field}: {msg!r} does not start with {part + ': '!r}"
        elif field == "recurrence.rule":
            assert not PART_PREFIX.match(msg), f"{field}: {msg!r} names a part; the rule as a whole is refused"


@pytest.mark.parametrize("recurrence,field,part", INVALID,
                         ids=[f"{i}-{f}-{p or 'whole'}" for i, (_, f, p) in enumerate(INVALID)])
def test_an_invalid_recurrence_is_422_on_its_field(api_url, recurrence, field, part):
    api = task_user(api_url, "recurrence-invalid")
    tag = unique("bad")
    body = {"title": unique("bad"), "due_at": DUE, "tags": [tag], "recurrence": recurrence}
    assert_recurrence_422(api.create(body), field, part)
    assert api.list({"tag": tag}).json()["items"] == [], "a refused create made a task"


INVALID_PATCH = [
    (rec("FREQ=WEEKLY;BYDAY=XX"), "recurrence.rule", "BYDAY"),
    (rec("FREQ=DAILY", "Mars/Olympus"), "recurrence.time_zone", ""),
    ({"rule": "FREQ=DAILY", "time_zone": "UTC", "anchor": "x"}, "recurrence.anchor", ""),
    ("FREQ=DAILY", "recurrence", ""),
]


@pytest.mark.parametrize("recurrence,field,part", INVALID_PATCH, ids=["byday", "zone", "member", "string"])
def test_an_invalid_recurrence_in_a_patch_is_422(api_url, recurrence, field, part):
    api = task_user(api_url, "recurrence-invalid-patch")
    t = api.create_applied({"title": unique("pv"), "due_at": DUE})
    assert_recurrence_422(api.patch(t["id"], {"recurrence": recurrence}), field, part)
    g = get_task(api, t["id"])
    assert g["version"] == t["version"] and "recurrence" not in g, g


# --- a recurring task needs a due date ------------------------------------------------------


@pytest.mark.parametrize("due", ["absent", None], ids=["due-absent", "due-null"])
def test_creating_a_recurring_task_without_due_at_is_422(api_url, due):
    api = task_user(api_url, "recurrence-needs-due")
    body = {"title": unique("nodue"), "recurrence": rec("FREQ=DAILY")}
    if due is None:
        body["due_at"] = None
    p = assert_problem(api.create(body), 422, "validation-error")
    assert "due_at" in error_fields(p), p["errors"]


def test_a_patch_setting_a_rule_and_clearing_due_at_is_422_at_the_api(api_url):
    api = task_user(api_url, "recurrence-patch-due")
    t = api.create_applied({"title": unique("pd"), "due_at": DUE})
    p = assert_problem(api.patch(t["id"], {"recurrence": rec("FREQ=DAILY"), "due_at": None}), 422,
                       "validation-error")
    assert "due_at" in error_fields(p), p["errors"]
    assert get_task(api, t["id"])["version"] == t["version"]


def test_clearing_the_due_at_of_a_recurring_task_is_rejected_by_the_writer(api_url):
    """The API does not see the stored rule: it accepts the patch, the writer rejects it
    (GET /commands/{id} says so) and the task is left as it was."""
    api = task_user(api_url, "recurrence-writer-due")
    t = api.create_applied(recurring_body(unique("wd")))
    r = api.patch(t["id"], {"due_at": None})
    assert r.status_code == 202, r.text
    out = api.wait_command(r.json()["command_id"], want="rejected")
    problem = out["problem"]
    assert problem["status"] == 422 and problem["type"].endswith("validation-error"), problem
    g = get_task(api, t["id"])
    assert g["version"] == t["version"] and g["due_at"] == t["due_at"] and g["recurrence"] == t["recurrence"], g
    # Stopping the series in the same patch is the way to clear the due date.
    apply_patch(api, t["id"], {"due_at": None, "recurrence": None})
    g = get_task(api, t["id"])
    assert g["due_at"] is None and "recurrence" not in g and g["version"] == t["version"] + 1, g


def test_adding_a_rule_to_a_task_without_due_at_is_rejected_by_the_writer(api_url):
    """Prefer: wait answers the writer's rejection (or 202 when it takes longer, and then
    the command's outcome says it)."""
    api = task_user(api_url, "recurrence-writer-rule")
    t = api.create_applied({"title": unique("nd")})
    assert t["due_at"] is None
    r = api.patch(t["id"], {"recurrence": rec("FREQ=DAILY")}, wait=10)
    if r.status_code == 202:
        problem = api.wait_command(r.json()["command_id"], want="rejected")["problem"]
        assert problem["status"] == 422 and problem["type"].endswith("validation-error"), problem
    else:
        assert_problem(r, 422, "validation-error")
    g = get_task(api, t["id"])
    assert g["version"] == t["version"] and "recurrence" not in g, g


# --- the next occurrence ----------------------------------------------------------------------


NEXT = [
    # (id, rule, zone, due_at, expected next due_at from zoneinfo, its literal value or None,
    #  the rule the next occurrence carries)
    ("berlin-march-change", "FREQ=WEEKLY", "Europe/Berlin", "2031-03-24T08:00:00.000Z",
     lambda d, z: wall_clock_shift(d, z, days=7), "2031-03-31T07:00:00.000Z", "FREQ=WEEKLY"),
    ("berlin-october-change", "FREQ=WEEKLY", "Europe/Berlin", "2031-10-20T07:00:00.000Z",
     lambda d, z: wall_clock_shift(d, z, days=7), "2031-10-27T08:00:00.000Z", "FREQ=WEEKLY"),
    ("new-york-byday-across-change", "FREQ=WEEKLY;BYDAY=MO,TH", "America/New_York", "2031-03-06T14:30:00.000Z",
     lambda d, z: wall_clock_shift(d, z, days=4), "2031-03-10T13:30:00.000Z", "FREQ=WEEKLY;BYDAY=MO,TH"),
    ("due-off-the-rule-days", "FREQ=WEEKLY;BYDAY=MO", "Europe/Berlin", "2031-06-11T07:00:00.000Z",
     lambda d, z: wall_clock_shift(d, z, days=5), "2031-06-16T07:00:00.000Z", "FREQ=WEEKLY;BYDAY=MO"),
    ("last-friday-across-change", "FREQ=MONTHLY;BYDAY=-1FR", "Europe/Berlin", "2031-03-28T08:00:00.000Z",
     lambda d, z: local_replace(d, z, month=4, day=25), "2031-04-25T07:00:00.000Z", "FREQ=MONTHLY;BYDAY=-1FR"),
    ("31st-skips-february-ms-kept", "FREQ=MONTHLY;BYMONTHDAY=31;COUNT=3", "UTC", "2031-01-31T10:00:00.250Z",
     lambda d, z: local_replace(d, z, month=3), "2031-03-31T10:00:00.250Z", "FREQ=MONTHLY;BYMONTHDAY=31;COUNT=2"),
    ("interval-count-tokyo", "FREQ=DAILY;INTERVAL=2;COUNT=3", "Asia/Tokyo", "2031-06-10T00:00:00.000Z",
     lambda d, z: wall_clock_shift(d, z, days=2), "2031-06-12T00:00:00.000Z", "FREQ=DAILY;INTERVAL=2;COUNT=2"),
    ("until-not-reached", "FREQ=DAILY;UNTIL=20310612T000000Z", "UTC", "2031-06-10T09:00:00.000Z",
     lambda d, z: wall_clock_shift(d, z, days=1), "2031-06-11T09:00:00.000Z", "FREQ=DAILY;UNTIL=20310612T000000Z"),
]


@pytest.mark.parametrize("case", NEXT, ids=[c[0] for c in NEXT])
def test_completing_inserts_the_next_occurrence(api_url, case):
    _, rule, zone, due, expect, literal, next_rule = case
    want = expect(due, zone)
    if literal is not None:
        assert want == literal, f"the test's own expectation: zoneinfo says {want}, the case says {literal}"
    api = task_user(api_url, "recurrence-next")
    tag = unique("next")
    t = api.create_applied(recurring_body(tag, rule=rule, zone=zone, due=due))
    assert t["recurrence"] == {"rule": rule, "time_zone": zone}, t

    cid, predicted = apply_patch(api, t["id"], {"status": "done"})
    assert predicted["status"] == "done" and "recurrence" not in predicted, \
        f"the 202 of a completion still shows the rule it hands on: {predicted}"
    done = get_task(api, t["id"])
    assert done["status"] == "done" and done["completed_at"] is not None, done
    assert "recurrence" not in done, f"the completed task kept its recurrence: {done}"

    # Applied means visible: the next occurrence is in the list and behind its id now.
    tasks = series_of(api, tag)
    assert [x["id"] for x in tasks].count(t["id"]) == 1 and len(tasks) == 2, \
        f"{len(tasks)} tasks after one completion: {[(x['id'], x['due_at'], x['status']) for x in tasks]}"
    (nxt,) = [x for x in tasks if x["id"] != t["id"]]
    assert_next_occurrence(nxt, done, want, next_rule, zone)
    assert get_task(api, nxt["id"]) == nxt, "GET of the next occurrence differs from its list item"
    assert nxt["id"] == derived_id(cid, NEXT_TASK_LABEL), \
        f"the next occurrence's id {nxt['id']} is not the one derived from command {cid}"


def test_a_series_is_listed_page_by_page(api_url):
    """The occurrences are ordinary tasks of the list: paged one task at a time, in each
    sort, the pages give every task once and in the order of a single page."""
    api = task_user(api_url, "recurrence-pages")
    tag = unique("pages")
    head = api.create_applied(recurring_body(tag, rule="FREQ=DAILY;COUNT=4", zone="UTC", due=DUE))
    plain = api.create_applied({"title": unique("plain"), "tags": [tag], "due_at": "2031-06-20T09:00:00.000Z"})
    for _ in range(2):
        apply_patch(api, head["id"], {"status": "done"})
        (head,) = [x for x in series_of(api, tag) if x["status"] == "todo" and x["id"] != plain["id"]]
    assert head["recurrence"]["rule"] == "FREQ=DAILY;COUNT=2", head
    for sort in (None, "due_at", "-due_at", "created_at", "-priority"):
        params = {"tag": tag} if sort is None else {"tag": tag, "sort": sort}
        whole = [x["id"] for x in api.list_all(params, limit=100)]
        assert len(whole) == 4, f"{params}: {len(whole)} tasks in one page"
        paged = [x["id"] for x in api.list_all(params, limit=1)]
        assert paged == whole, f"{params}: paged by 1 {paged}, one page {whole}"
    dues = [x["due_at"] for x in api.list_all({"tag": tag, "sort": "due_at"}, limit=1)]
    assert dues == ["2031-06-10T09:00:00.000Z", "2031-06-11T09:00:00.000Z", "2031-06-12T09:00:00.000Z",
                    "2031-06-20T09:00:00.000Z"], dues


SERIES_END = [
    ("count-1", "FREQ=DAILY;COUNT=1", "2031-06-10T09:00:00.000Z"),
    ("until-date-time-passed", "FREQ=DAILY;UNTIL=20310610T235959Z", "2031-06-10T09:00:00.000Z"),
    ("until-date-passed", "FREQ=DAILY;UNTIL=20310610", "2031-06-10T09:00:00.000Z"),
    ("until-before-due", "FREQ=WEEKLY;UNTIL=20310101", "2031-06-10T09:00:00.000Z"),
]


@pytest.mark.parametrize("case", SERIES_END, ids=[c[0] for c in SERIES_END])
def test_an_ended_series_inserts_nothing(api_url, case):
    _, rule, due = case
    api = task_user(api_url, "recurrence-end")
    tag = unique("end")
    t = api.create_applied(recurring_body(tag, rule=rule, zone="UTC", due=due))
    apply_patch(api, t["id"], {"status": "done"})
    tasks = series_of(api, tag)
    assert [x["id"] for x in tasks] == [t["id"]], \
        f"{rule} from {due}: a next occurrence was inserted: {[(x['due_at'], x.get('recurrence')) for x in tasks]}"
    assert "recurrence" not in tasks[0] and tasks[0]["status"] == "done", tasks[0]


def test_count_counts_down_to_the_end_of_the_series(api_url):
    api = task_user(api_url, "recurrence-count")
    tag = unique("count")
    zone = "Europe/Berlin"
    t = api.create_applied(recurring_body(tag, rule="FREQ=DAILY;COUNT=3", zone=zone, due="2031-10-25T07:30:00.000Z"))
    dues = [t["due_at"]]
    head = t
    for left in (2, 1):
        apply_patch(api, head["id"], {"status": "done"})
        (head,) = [x for x in series_of(api, tag) if x["status"] == "todo"]
        dues.append(head["due_at"])
        assert head["recurrence"]["rule"] == f"FREQ=DAILY;COUNT={left}", head
    apply_patch(api, head["id"], {"status": "done"})
    tasks = series_of(api, tag)
    assert len(tasks) == 3 and all(x["status"] == "done" and "recurrence" not in x for x in tasks), tasks
    # 09:30 local every day, across the October change (2031-10-26).
    assert dues == [wall_clock_shift(t["due_at"], zone, days=k) for k in range(3)], dues
    assert dues == ["2031-10-25T07:30:00.000Z", "2031-10-26T08:30:00.000Z", "2031-10-27T08:30:00.000Z"], dues


def test_reopening_and_completing_again_inserts_nothing_more(api_url):
    api = task_user(api_url, "recurrence-reopen")
    tag = unique("reopen")
    t = api.create_applied(recurring_body(tag))
    apply_patch(api, t["id"], {"status": "done"})
    assert len(series_of(api, tag)) == 2
    _, reopened = apply_patch(api, t["id"], {"status": "todo"})
    assert "recurrence" not in reopened and "recurrence" not in get_task(api, t["id"])
    apply_patch(api, t["id"], {"status": "done"})
    tasks = series_of(api, tag)
    assert len(tasks) == 2, f"a second completion of the same task inserted another occurrence: {tasks}"


def test_writes_sent_without_waiting_make_one_occurrence(api_url):
    """A completion that also edits the task, a second completion, a reopen, a third
    completion and a rename, sent back to back (the writer may apply them in one batch or
    several): exactly one next occurrence, with the content the completing patch left."""
    api = task_user(api_url, "recurrence-rapid")
    tag = unique("rapid")
    t = api.create_applied(recurring_body(tag, rule="FREQ=WEEKLY", zone="Europe/Berlin",
                                          due="2031-03-24T08:00:00.000Z"))
    patches = [{"status": "done", "title": "renamed when done", "priority": "low", "tags": [tag, "moved"]},
               {"status": "done"}, {"status": "todo"}, {"status": "done"}, {"title": "renamed after"}]
    cids = []
    for body in patches:
        r = api.patch(t["id"], body)
        assert r.status_code == 202, f"PATCH {body}: {r.status_code} {r.text[:300]}"
        cids.append(r.json()["command_id"])
    for cid in cids:
        api.wait_command(cid)
    tasks = series_of(api, tag)
    assert len(tasks) == 2, f"{len(tasks)} tasks: {[(x['title'], x['status'], x['due_at']) for x in tasks]}"
    done = get_task(api, t["id"])
    assert done["status"] == "done" and done["title"] == "renamed after" and "recurrence" not in done, done
    (nxt,) = [x for x in tasks if x["id"] != t["id"]]
    assert nxt["id"] == derived_id(cids[0], NEXT_TASK_LABEL), (nxt["id"], cids)
    assert (nxt["title"], nxt["priority"], nxt["tags"]) == ("renamed when done", "low", [tag, "moved"]), nxt
    assert nxt["due_at"] == "2031-03-31T07:00:00.000Z" and nxt["recurrence"]["rule"] == "FREQ=WEEKLY", nxt


def test_a_task_created_done_keeps_its_rule_until_completed_again(api_url):
    """Only a move into done hands the rule on: created done, the task keeps it; reopened
    and completed, it makes its next occurrence."""
    api = task_user(api_url, "recurrence-created-done")
    tag = unique("cdone")
    t = api.create_applied(recurring_body(tag, rule="FREQ=DAILY", zone="UTC", status="done"))
    assert t["status"] == "done" and t["recurrence"] == {"rule": "FREQ=DAILY", "time_zone": "UTC"}, t
    assert [x["id"] for x in series_of(api, tag)] == [t["id"]]
    _, reopened = apply_patch(api, t["id"], {"status": "todo"})
    assert reopened["recurrence"] == t["recurrence"], reopened
    apply_patch(api, t["id"], {"status": "done"})
    tasks = series_of(api, tag)
    assert len(tasks) == 2 and "recurrence" not in get_task(api, t["id"]), tasks
    assert_next_occurrence(tasks[1], get_task(api, t["id"]), wall_clock_shift(DUE, "UTC", days=1), "FREQ=DAILY", "UTC")


def test_completing_with_recurrence_null_inserts_nothing(api_url):
    api = task_user(api_url, "recurrence-stop-complete")
    tag = unique("stopdone")
    t = api.create_applied(recurring_body(tag))
    apply_patch(api, t["id"], {"status": "done", "recurrence": None})
    tasks = series_of(api, tag)
    assert [x["id"] for x in tasks] == [t["id"]], tasks
    assert tasks[0]["status"] == "done" and "recurrence" not in tasks[0], tasks[0]


def test_a_patch_sets_keeps_and_stops_the_rule(api_url):
    api = task_user(api_url, "recurrence-patch")
    tag = unique("patch")
    t = api.create_applied({"title": unique("p"), "due_at": DUE, "tags": [tag]})
    _, predicted = apply_patch(api, t["id"], {"recurrence": rec("freq=daily;count=2", "UTC")})
    want = {"rule": "FREQ=DAILY;COUNT=2", "time_zone": "UTC"}
    assert predicted["recurrence"] == want, predicted
    assert get_task(api, t["id"])["recurrence"] == want
    # A patch of another field leaves the rule alone (and the 202 shows it).
    _, predicted = apply_patch(api, t["id"], {"title": "renamed"})
    assert predicted["recurrence"] == want and predicted["title"] == "renamed", predicted
    g = get_task(api, t["id"])
    assert g["recurrence"] == want and g["title"] == "renamed", g
    # null stops the series: no member, and a completion then inserts nothing.
    _, predicted = apply_patch(api, t["id"], {"recurrence": None})
    assert "recurrence" not in predicted, predicted
    assert "recurrence" not in get_task(api, t["id"])
    apply_patch(api, t["id"], {"status": "done"})
    assert [x["id"] for x in series_of(api, tag)] == [t["id"]]


def test_a_completion_that_sets_a_new_rule_hands_that_rule_on(api_url):
    api = task_user(api_url, "recurrence-new-rule")
    tag = unique("newrule")
    t = api.create_applied(recurring_body(tag, rule="FREQ=WEEKLY", zone="Europe/Berlin",
                                          due="2031-03-24T08:00:00.000Z"))
    apply_patch(api, t["id"], {"status": "done", "recurrence": rec("FREQ=DAILY;COUNT=4", "UTC")})
    tasks = series_of(api, tag)
    assert len(tasks) == 2, tasks
    nxt = tasks[1]
    assert_next_occurrence(nxt, get_task(api, t["id"]), "2031-03-25T08:00:00.000Z", "FREQ=DAILY;COUNT=3", "UTC")


# --- events -----------------------------------------------------------------------------------


def without_rule(task):
    """The task as its events carry it: no recurrence and no project_id (yet)."""
    return {k: v for k, v in task.items() if k not in ("recurrence", "project_id")}


def event_task(data):
    return {k: v for k, v in data.items() if k not in ("user_id", "command_id")}


def test_the_next_occurrence_has_its_own_created_event(api_url, task_events):
    """On task-events, keyed by the owner and in this order: the recurring task's created
    event, the completion's completed event, and exactly one created event of the next
    occurrence, whose command id is its own (derived from the completion's, an applied
    task.create that GET /commands/{id} answers) and whose data is the task as GET
    answers it. Task events carry no `recurrence` (yet: release 0.1.0's event schemas
    closed data; docs/decisions.md "Task events do not carry recurrence yet")."""
    api = task_user(api_url, "recurrence-events")
    tag = unique("ev")
    t = api.create_applied(recurring_body(tag, due="2031-03-24T08:00:00.000Z"))
    rid = f"it-rec-{uuid.uuid4().hex}"
    cid, _ = apply_patch(api, t["id"], {"status": "done"}, headers={"X-Request-ID": rid})
    tasks = series_of(api, tag)
    (nxt,) = [x for x in tasks if x["id"] != t["id"]]
    done = get_task(api, t["id"])

    wait_outbox_published([api.id], topic="task-events")
    task_events.wait_caught_up()
    seen = sorted(task_events.matching(lambda m: m["key"] == api.id), key=lambda m: (m["partition"], m["offset"]))
    assert len({m["partition"] for m in seen}) == 1, "one user's events span partitions"
    ids_of = {}  # (type, task id) -> event ids
    first = {}  # event id -> first record
    for m in seen:
        ev = m["value"]
        assert isinstance(ev, dict), f"not JSON on task-events: {m['raw'][:200]!r}"
        ids_of.setdefault((ev["type"], ev["data"]["id"]), set()).add(ev["id"])
        first.setdefault(ev["id"], m)
    events = list(first.values())
    assert [(m["value"]["type"], m["value"]["data"]["id"]) for m in events] == [
        ("taskbus.task.created", t["id"]), ("taskbus.task.completed", t["id"]), ("taskbus.task.created", nxt["id"])], \
        [(m["value"]["type"], m["value"]["data"]["id"]) for m in events]
    assert len(ids_of[("taskbus.task.created", nxt["id"])]) == 1, "two created events for one next occurrence"

    created, completed, nxt_created = (m["value"]["data"] for m in events)
    for data in (created, completed, nxt_created):
        assert "recurrence" not in data, f"a task event carries recurrence: {data}"
    assert event_task(created) == without_rule(t), (created, t)
    assert completed["command_id"] == cid and completed["status"] == "done", completed
    assert event_task(completed) == without_rule(done), (completed, done)
    assert nxt_created["user_id"] == api.id and events[2]["key"] == api.id, events[2]
    assert nxt_created["command_id"] != cid and is_uuid(nxt_created["command_id"], 7), nxt_created
    assert nxt_created["command_id"] == derived_id(cid, NEXT_COMMAND_LABEL), nxt_created
    assert event_task(nxt_created) == without_rule(nxt), (nxt_created, nxt)
    c = api.command(nxt_created["command_id"])
    assert c.status_code == 200, f"GET /commands of the next occurrence's command: {c.status_code} {c.text[:300]}"
    assert c.json()["status"] == "applied" and c.json()["task_id"] == nxt["id"] and "create" in c.json()["type"], \
        c.json()
    # The completion's request caused both events.
    assert events[1]["headers"].get("request_id") == rid and events[2]["headers"].get("request_id") == rid, \
        (events[1]["headers"], events[2]["headers"])
    with pg() as conn:
        rows = conn.execute("SELECT command_id::text, type, status, task_id::text FROM commands WHERE task_id = %s",
                            (nxt["id"],)).fetchall()
    assert rows == [(nxt_created["command_id"], "task.create", "applied", nxt["id"])], rows
    for m in events:
        assert_event_valid(m["value"])


def test_a_client_that_never_sends_recurrence_never_sees_it(api_url, task_events):
    """A v1 client: no `recurrence` member in any answer, list item or event."""
    api = task_user(api_url, "recurrence-v1")
    tag = unique("v1")
    r = api.create({"title": unique("v1"), "due_at": DUE, "tags": [tag]})
    assert r.status_code == 202, r.text
    seen = [("202 create", task_of(r.json()))]
    api.wait_command(r.json()["command_id"])
    tid = task_of(r.json())["id"]
    seen.append(("GET", get_task(api, tid)))
    seen += [("list", x) for x in api.list_all({"tag": tag})]
    _, predicted = apply_patch(api, tid, {"title": "renamed"})
    seen.append(("202 patch", predicted))
    w = api.patch(tid, {"status": "done"}, wait=10)
    assert w.status_code in (200, 202), w.text
    if w.status_code == 202:
        api.wait_command(w.json()["command_id"])
        seen.append(("202 complete", task_of(w.json())))
    else:
        seen.append(("200 complete", w.json()))
    seen.append(("GET done", get_task(api, tid)))
    for where, task in seen:
        want = TASK_KEYS if where == "202 create" else API_TASK_KEYS  # the writer places it
        assert set(task) == want, f"{where}: members {sorted(set(task) ^ want)}"
    assert [x["id"] for x in api.list_all({"tag": tag})] == [tid], "a task that does not recur was repeated"

    wait_outbox_published([api.id], topic="task-events")
    task_events.wait_caught_up()
    mine = task_events.matching(lambda m: m["key"] == api.id)
    assert {m["value"]["type"] for m in mine} == {"taskbus.task.created", "taskbus.task.updated",
                                                  "taskbus.task.completed"}, [m["value"]["type"] for m in mine]
    for m in mine:
        assert set(m["value"]["data"]) == TASK_KEYS | {"user_id", "command_id"}, m["value"]["data"]
        assert_event_valid(m["value"])


# --- imports ----------------------------------------------------------------------------------


def test_an_ndjson_import_creates_recurring_tasks(api_url):
    api = task_user(api_url, "recurrence-import")
    tag = unique("imp")
    lines = [
        {"title": "imp weekly", "tags": [tag], "due_at": "2031-03-24T08:00:00.000Z",
         "recurrence": rec("rrule:freq=weekly", "Europe/Berlin")},
        {"title": "imp plain", "tags": [tag], "due_at": DUE},
        {"title": "imp bad rule", "tags": [tag], "due_at": DUE, "recurrence": rec("FREQ=WEEKLY;BYDAY=XX")},
        {"title": "imp no due", "tags": [tag], "recurrence": rec("FREQ=DAILY")},
        {"title": "imp null", "tags": [tag], "recurrence": None},
    ]
    r = api.req("POST", IMPORT, data="\n".join(json.dumps(x) for x in lines) + "\n",
                headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 202, r.text
    b = r.json()
    assert b["accepted"] == 3 and b["rejected"] == 2, b
    errs = {e["line"]: e for e in b["errors"]}
    assert sorted(errs) == [3, 4], b["errors"]
    assert errs[3]["field"].lstrip("/$.") == "recurrence.rule" and errs[3]["message"].startswith("BYDAY: "), errs[3]
    assert errs[4]["field"].lstrip("/$.") == "due_at", errs[4]

    def imported():
        p = api.req("GET", f"{IMPORT}/{b['import_id']}")
        assert p.status_code == 200, p.text
        return p.json() if p.json()["applied"] == 3 else None

    wait_until(imported, 60, f"import {b['import_id']} applied 3", interval=0.25)
    by_title = {x["title"]: x for x in api.list_all({"tag": tag})}
    assert sorted(by_title) == ["imp null", "imp plain", "imp weekly"], sorted(by_title)
    weekly = by_title["imp weekly"]
    assert weekly["recurrence"] == {"rule": "FREQ=WEEKLY", "time_zone": "Europe/Berlin"}, weekly
    assert "recurrence" not in by_title["imp plain"] and "recurrence" not in by_title["imp null"], by_title

    apply_patch(api, weekly["id"], {"status": "done"})
    nexts = [x for x in api.list_all({"tag": tag}) if x["title"] == "imp weekly" and x["id"] != weekly["id"]]
    assert len(nexts) == 1, nexts
    assert_next_occurrence(nexts[0], get_task(api, weekly["id"]), "2031-03-31T07:00:00.000Z", "FREQ=WEEKLY",
                           "Europe/Berlin")


# --- reminders --------------------------------------------------------------------------------


LEAD_S = int(os.environ.get("TASKBUS_REMINDER_LEAD_SECONDS") or 3600)
REMIND_DUE_S = 100  # the next occurrence is due this far ahead: inside the 120 s lead


def test_the_next_occurrence_is_reminded(api_url):
    """A daily task due a day minus 100 s ago (in the past: never reminded) is completed;
    its next occurrence is due in 100 s, inside the stack's 120 s lead (tests/run), so the
    scheduler sends a due_soon for the NEW task id."""
    assert LEAD_S == 120, f"the test stack must run with TASKBUS_REMINDER_LEAD_SECONDS=120 (got {LEAD_S})"
    api = task_user(api_url, "recurrence-remind")
    tag = unique("remind")
    due = datetime.now(timezone.utc) + timedelta(seconds=REMIND_DUE_S) - timedelta(days=1)
    t = api.create_applied(recurring_body(tag, rule="FREQ=DAILY", zone="UTC", due=rfc3339(due)))
    reader = TopicReader("notifications", from_beginning=False)
    try:
        apply_patch(api, t["id"], {"status": "done"})
        (nxt,) = [x for x in series_of(api, tag) if x["id"] != t["id"]]
        assert nxt["due_at"] == rfc3339(due + timedelta(days=1)), (nxt["due_at"], due)
        assert parse_time(nxt["due_at"]) > datetime.now(timezone.utc) + timedelta(seconds=10), \
            "the test ran too slowly: the next occurrence is about to be due"

        def reminded():
            reader.drain()
            return [m for m in reader.records if isinstance(m["value"], dict)
                    and m["value"].get("user_id") == api.id and m["value"].get("kind") == "due_soon"]

        msgs = wait_until(reminded, 60, f"a due_soon for the next occurrence {nxt['id']}", interval=0.3)
    finally:
        reader.close()
    assert [m["value"]["data"] for m in msgs] == [{"task_id": nxt["id"], "title": nxt["title"], "due_at": nxt["due_at"]}], \
        [m["value"] for m in msgs]
    assert msgs[0]["key"] == api.id, msgs[0]
    with pg() as conn:
        rows = conn.execute("SELECT task_id::text, due_at, user_id::text FROM reminders WHERE task_id = ANY(%s::uuid[])",
                            ([t["id"], nxt["id"]],)).fetchall()
    assert rows == [(nxt["id"], parse_time(nxt["due_at"]), api.id)], rows


# --- kill -9 of the writer under completions ---------------------------------------------------


CRASH_USERS = 4
CRASH_SERIES = 10  # per user
# COUNT=8: each series can take 8 completions (7 next occurrences). While the writer is
# down every series can still take one completion, so one fault cycle may use up about a
# series' worth of completions; 8 leaves the load running well after the third restart.
CRASH_COUNT = 8
CRASH_ZONE = "Europe/Berlin"
CRASH_DUE = "2031-06-01T07:00:00.000Z"  # 09:00 CEST; the series stay in summer time
CRASH_PAUSE = 0.15  # between two requests of one user: under the per-user and per-IP limits


class Series:
    """One recurring task's chain, as its client drives it."""

    def __init__(self, owner, title, tag, head):
        self.owner, self.title, self.tag = owner, title, tag
        self.head = head  # the open occurrence's id; None once the series has ended
        self.inflight = None  # the completion command sent for head, until seen applied
        self.completions = []  # (command id, task id) of every accepted completion


@pytest.mark.single_stack_only
def test_kill_writer_under_recurring_completions(api_url):
    """Users complete recurring tasks, then each next occurrence as it appears, while the
    writer is killed -9 and restarted three times. Afterwards: every accepted completion is
    applied, every series is a chain of COUNT tasks due one local day apart with no due date
    twice, each task has exactly one create command and one created event, each completion
    exactly one completed event."""
    apis = [task_user(api_url, f"recurrence-crash-{k}") for k in range(CRASH_USERS)]
    user_ids = [a.id for a in apis]
    reader = TopicReader("task-events", from_beginning=False)
    try:
        series = {a.id: [] for a in apis}
        for a in apis:
            for s in range(CRASH_SERIES):
                tag = unique(f"crash{s}")
                t = a.create_applied({"title": f"crash-rec-{s:02d}-{tag}", "tags": [tag], "due_at": CRASH_DUE,
                                      "recurrence": rec(f"FREQ=DAILY;COUNT={CRASH_COUNT}", CRASH_ZONE)})
                series[a.id].append(Series(a.id, t["title"], tag, t["id"]))

        lock = threading.Lock()  # guards accepted, applied, rounds and problems
        accepted = []  # completion command ids answered 202
        applied = [0]
        rounds = [0] * len(apis)  # full passes of each client over its live series
        problems = []  # anything a client saw that it must not
        stop = threading.Event()

        def drive(k, api, mine):
            api = api.clone()
            while not stop.is_set():
                live = [s for s in mine if s.head is not None]
                if not live:
                    return
                for s in live:
                    if stop.is_set():
                        return
                    try:
                        step(api, s)
                    except Exception as e:  # noqa: BLE001 - reported by the test
                        with lock:
                            problems.append(f"{s.title}: {type(e).__name__}: {e}")
                        s.head = None
                    time.sleep(CRASH_PAUSE)
                with lock:
                    rounds[k] += 1

        def step(api, s):
            if s.inflight is None:
                r = api.patch(s.head, {"status": "done"}, timeout=15)
                if r.status_code != 202:
                    raise AssertionError(f"completion of {s.head}: {r.status_code} {r.text[:200]}")
                s.inflight = r.json()["command_id"]
                s.completions.append((s.inflight, s.head))
                with lock:
                    accepted.append(s.inflight)
                return
            r = api.command(s.inflight)
            if r.status_code in (404, 503) or (r.status_code == 200 and r.json().get("status") == "pending"):
                return
            assert r.status_code == 200 and r.json().get("status") == "applied", \
                f"completion {s.inflight}: {r.status_code} {r.text[:200]}"
            with lock:
                applied[0] += 1
            lr = api.list({"tag": s.tag, "status": "todo"})
            assert lr.status_code == 200, f"list: {lr.status_code} {lr.text[:200]}"
            items = lr.json()["items"]
            done_n = len(s.completions)
            if done_n < CRASH_COUNT:
                assert len(items) == 1, f"after completion {done_n} (applied) {len(items)} open occurrences: {items}"
                want = {"rule": f"FREQ=DAILY;COUNT={CRASH_COUNT - done_n}", "time_zone": CRASH_ZONE}
                assert items[0].get("recurrence") == want, f"occurrence {done_n + 1}: {items[0]}"
                s.head = items[0]["id"]
            else:
                assert items == [], f"the series went on after COUNT: {items}"
                s.head = None
            s.inflight = None

        def load_goes_on(more, what):
            """Waits until `more` further completions were accepted (each fault meets real
            load, however slow the machine); fails at once on a problem."""
            with lock:
                target = len(accepted) + more

            def reached():
                with lock:
                    if problems:
                        return True
                    n = len(accepted)
                if n < target and not any(th.is_alive() for th in threads):
                    raise AssertionError(f"the load ended before the fault schedule ({n} of {target} completions)")
                return n >= target

            wait_until(reached, 90, f"{more} more completions accepted {what}", interval=0.05)

        def clients_go_round(n, what):
            """Waits until every client made n more full passes over its series. While the
            writer is down a series takes a completion only if its last one was applied
            before the kill, so the load then is counted in passes, not in completions:
            after the second pass every series that could take one has sent it, and every
            other one has polled its pending completion."""
            with lock:
                start = list(rounds)

            def passed():
                with lock:
                    if problems:
                        return True
                    return all(rounds[k] >= start[k] + n or not th.is_alive() for k, th in enumerate(threads))

            wait_until(passed, 90, f"every client went {n} more times over its series {what}", interval=0.05)

        threads = [threading.Thread(target=drive, args=(k, a, series[a.id]), daemon=True)
                   for k, a in enumerate(apis)]
        for th in threads:
            th.start()
        try:
            down_accepted = []  # completions accepted while the writer was down, per fault
            load_goes_on(20, "before the first fault")
            for n in range(3):
                stack_control.kill("writer")
                with lock:
                    before = len(accepted)
                clients_go_round(3, f"while the writer is down ({n + 1})")
                with lock:
                    down_accepted.append(len(accepted) - before)
                stack_control.start("writer")
                load_goes_on(20, f"after the writer restarted ({n + 1})")
            with lock:
                at_last_restart = len(accepted)
            deadline = time.monotonic() + 300
            for th in threads:
                th.join(timeout=max(0.1, deadline - time.monotonic()))
        finally:
            stop.set()
            for th in threads:
                th.join(timeout=30)
            # Whatever happened above, leave a running writer for the next tests.
            stack_control.start("writer", check=False)
        assert not any(th.is_alive() for th in threads), "the completions did not finish within 300 s"
        assert not problems, f"{len(problems)} problems under load: {problems[:5]}"
        all_series = [s for ss in series.values() for s in ss]
        print(f"recurrence crash: {len(accepted)} completions accepted ({at_last_restart} by the last restart; "
              f"{down_accepted} while the writer was down), {applied[0]} seen applied")
        assert len(accepted) == CRASH_USERS * CRASH_SERIES * CRASH_COUNT, len(accepted)

        with pg() as conn:
            rows = conn.execute("SELECT command_id::text, status FROM commands WHERE command_id = ANY(%s::uuid[])",
                                (accepted,)).fetchall()
            assert sorted(c for c, _ in rows) == sorted(accepted), "accepted completions without one commands row each"
            assert {s for _, s in rows} == {"applied"}, f"completions not applied: {sorted({s for _, s in rows})}"
            dup = conn.execute("SELECT command_id, count(*) FROM commands WHERE user_id = ANY(%s::uuid[])"
                               " GROUP BY command_id HAVING count(*) > 1", (user_ids,)).fetchall()
            assert not dup, f"commands recorded twice: {dup[:5]}"
            tasks = conn.execute("SELECT id::text, owner_id::text, title, due_at, status, recurrence FROM tasks"
                                 " WHERE owner_id = ANY(%s::uuid[])", (user_ids,)).fetchall()
            creates = conn.execute("SELECT task_id::text, command_id::text FROM commands"
                                   " WHERE user_id = ANY(%s::uuid[]) AND type = 'task.create' AND status = 'applied'",
                                   (user_ids,)).fetchall()

        # Every series: COUNT tasks, due one local day apart, no due date twice, all done.
        chains = {}
        for tid, owner, title, due_at, status, recurrence in tasks:
            chains.setdefault((owner, title), []).append((due_at, tid, status, recurrence))
        assert set(chains) == {(s.owner, s.title) for s in all_series}, "tasks outside the series, or a series lost"
        for s in all_series:
            chain = sorted(chains[(s.owner, s.title)])
            dues = [d for d, *_ in chain]
            assert len(set(dues)) == len(dues), f"{s.title}: two tasks share a due date: {dues}"
            want_n = min(1 + len(s.completions), CRASH_COUNT)
            assert len(chain) == want_n, f"{s.title}: {len(chain)} tasks after {len(s.completions)} applied completions"
            want_dues = [parse_time(wall_clock_shift(CRASH_DUE, CRASH_ZONE, days=k)) for k in range(want_n)]
            assert dues == want_dues, f"{s.title}: due dates {dues}"
            assert [tid for _, tid, _, _ in chain] == [tid for _, tid in s.completions], \
                f"{s.title}: the completed tasks are not the chain, in order"
            assert all(st == "done" and r is None for _, _, st, r in chain), f"{s.title}: {chain}"

        # Each task has exactly one create command: its own create, or the derived one.
        task_ids = {tid for tid, *_ in tasks}
        create_of = {}
        for tid, cid in creates:
            assert tid not in create_of, f"task {tid} has two create commands"
            create_of[tid] = cid
        assert set(create_of) == task_ids, f"tasks without a create command: {sorted(task_ids - set(create_of))[:5]}"

        # task-events: one created event (id) per task, one completed event per completion.
        wait_outbox_published(user_ids, timeout=90, topic="task-events")
        mine = [m for m in reader.drain(timeout=90) if m["key"] in user_ids]
    finally:
        reader.close()
    created, completed, invalid = {}, {}, []
    owner_of = {tid: owner for tid, owner, *_ in tasks}
    for m in mine:
        ev = m["value"]
        assert isinstance(ev, dict), f"not JSON on task-events: {m['raw'][:200]!r}"
        data = ev["data"]
        if ev["type"] == "taskbus.task.created":
            created.setdefault(data["id"], set()).add(ev["id"])
            assert data["command_id"] == create_of.get(data["id"]), (data, create_of.get(data["id"]))
            assert data["user_id"] == owner_of.get(data["id"]) == m["key"], (data, m["key"])
        elif ev["type"] == "taskbus.task.completed":
            completed.setdefault(data["command_id"], set()).add(ev["id"])
            assert "recurrence" not in data, data
        else:
            raise AssertionError(f"an event no completion causes: {ev['type']} {data}")
        try:
            assert_event_valid(ev)
        except AssertionError as e:
            invalid.append(str(e).splitlines()[0])
    assert set(created) == task_ids, \
        f"created events: {len(task_ids - set(created))} tasks without one, {len(set(created) - task_ids)} unknown"
    doubled = {t: i for t, i in created.items() if len(i) > 1}
    assert not doubled, f"{len(doubled)} tasks with two different created events: {list(doubled.items())[:3]}"
    assert set(completed) == set(accepted), "completed events do not match the completions"
    doubled = {c: i for c, i in completed.items() if len(i) > 1}
    assert not doubled, f"{len(doubled)} completions with two different completed events: {list(doubled.items())[:3]}"
    assert not invalid, f"{len(invalid)} events fail their schema, e.g. {invalid[0]}"
