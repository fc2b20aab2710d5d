"""Tasks in team projects (docs/decisions.md, "Issue 14" / "Tasks in team projects (slice 3b)").

Against the real stack: a member with editor rights creates a task in a team project
(`project_id` on POST); every member reads it, editors change and delete it, a viewer is
refused with 403 and a non-member sees 404 everywhere; the task belongs to the project
(no owner in Postgres), is never cached in anyone's Redis and is in nobody's Inbox list;
a removed member loses it at once; a member removed between the 202 and the apply gets a
`rejected` outcome with 403 from the writer; members list the project's tasks with
`?project=` (filters and paging as for the Inbox), non-members get 404; every member's
event stream shows every member's changes of the project's tasks, and a removed member's
shows none made after the removal; 16 clients of 4 members writing one project at once
get every command applied once, each task's in the order they were sent.

Rules: every test registers its own users; every wait is on a condition (Prefer: wait,
wait_command), never a sleep.
"""

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers import stack_control
from helpers.api import assert_problem
from helpers.tasks import SseReader, assert_event_valid, pg, redis_conn, task_of, wait_until
from test_notifications import mail_dir  # noqa: F401 - the fixture
from test_projects import join, person, verify


def team_of(make_user, mail_dir, tag, *roles):
    """An owner, a team project and one member per role (verified, joined)."""
    owner = person(make_user, f"{tag}-owner")
    members = [person(make_user, f"{tag}-{role}") for role in roles]
    if members:
        verify(mail_dir, *members)
    pid = owner.new_project(f"{tag} team")["id"]
    for m, role in zip(members, roles):
        join(owner, pid, m, role)
    return owner, pid, members


def created_in(who, pid, title, **fields):
    """who creates a task in pid and waits for it; returns the applied task."""
    r = who.create({"title": title, "project_id": pid, **fields})
    assert r.status_code == 202, f"create in {pid}: {r.status_code} {r.text[:300]}"
    predicted = task_of(r.json())
    assert predicted["project_id"] == pid, predicted
    who.wait_command(r.json()["command_id"])
    g = who.get(predicted["id"])
    assert g.status_code == 200, f"GET the new team task: {g.status_code} {g.text[:300]}"
    return g.json()


def owner_of_row(tid):
    with pg() as conn:
        row = conn.execute("SELECT owner_id::text, project_id::text FROM tasks WHERE id = %s",
                           (tid,)).fetchone()
    assert row is not None, f"task {tid} is not in Postgres"
    return row


def cached_keys(tid):
    return redis_conn().keys(f"*:task:{tid}")


def test_members_share_a_team_projects_tasks(make_user, mail_dir):
    owner, pid, (editor, viewer) = team_of(make_user, mail_dir, "team-share", "editor", "viewer")
    stranger = person(make_user, "team-share-stranger")

    t = created_in(editor, pid, "shared work")
    assert t["project_id"] == pid and t["version"] == 1, t
    assert owner_of_row(t["id"]) == (None, pid), "a team task must have no owner"
    for who in (owner, viewer):
        g = who.get(t["id"])
        assert g.status_code == 200 and g.json() == t, f"{who.email}: {g.status_code} {g.text[:300]}"
    assert_problem(stranger.get(t["id"]), 404, "not-found")

    # An owner changes it; the editor sees the change at once (no cache in between).
    p = owner.patch(t["id"], {"title": "renamed by the owner"}, if_match=1, wait=10)
    assert p.status_code in (200, 202), p.text
    if p.status_code == 202:
        owner.wait_command(p.json()["command_id"])
    g = editor.get(t["id"])
    assert g.status_code == 200 and g.json()["title"] == "renamed by the owner", g.text
    assert g.json()["version"] == 2 and g.headers["ETag"] == '"2"', (g.json(), g.headers)

    # A viewer reads but never writes; a stranger sees nothing, also through writes.
    assert_problem(viewer.patch(t["id"], {"title": "no"}), 403, "forbidden")
    assert_problem(viewer.delete(t["id"]), 403, "forbidden")
    assert_problem(viewer.create({"title": "no", "project_id": pid}), 403, "forbidden")
    assert_problem(stranger.patch(t["id"], {"title": "no"}), 404, "not-found")
    assert_problem(stranger.delete(t["id"]), 404, "not-found")
    assert_problem(stranger.create({"title": "no", "project_id": pid}), 404, "not-found")
    assert_problem(editor.create({"title": "no", "project_id": str(uuid.uuid4())}), 404, "not-found")
    assert_problem(editor.create({"title": "no", "project_id": "inbox"}), 422, "validation-error")
    assert_problem(editor.patch(t["id"], {"project_id": None}), 422, "validation-error")

    # The task is the project's: in nobody's Inbox list, in nobody's Redis cache.
    for who in (owner, editor, viewer):
        assert t["id"] not in {x["id"] for x in who.list_all()}, f"a team task in {who.email}'s Inbox"
    assert cached_keys(t["id"]) == [], "a team task was cached"

    # An editor deletes it; it is gone for everyone.
    d = editor.delete(t["id"], if_match=2, wait=10)
    assert d.status_code in (202, 204), d.text
    if d.status_code == 202:
        editor.wait_command(d.json()["command_id"])
    for who in (owner, editor, viewer):
        assert_problem(who.get(t["id"]), 404, "not-found")
    assert cached_keys(t["id"]) == [], "a team task's delete left a tombstone in a cache"


def test_members_list_a_team_projects_tasks(make_user, mail_dir):
    owner, pid, (editor, viewer) = team_of(make_user, mail_dir, "team-list", "editor", "viewer")
    stranger = person(make_user, "team-list-stranger")
    made = [created_in(owner if i % 2 else editor, pid, f"listed {i}", tags=["even" if i % 2 == 0 else "odd"])
            for i in range(5)]
    newest_first = [t["id"] for t in reversed(made)]
    for who in (owner, editor, viewer):
        listed = who.list_all({"project": pid}, limit=2)
        assert [t["id"] for t in listed] == newest_first, f"{who.email}: {listed}"
        assert listed[0] == made[-1], (listed[0], made[-1])
    evens = viewer.list_all({"project": pid, "tag": "even", "sort": "created_at"}, limit=2)
    assert [t["id"] for t in evens] == [made[0]["id"], made[2]["id"], made[4]["id"]], evens
    p = editor.patch(made[1]["id"], {"status": "done"}, wait=10)
    assert p.status_code in (200, 202), p.text
    if p.status_code == 202:
        editor.wait_command(p.json()["command_id"])
    done = owner.list_all({"project": pid, "status": "done"})
    assert [t["id"] for t in done] == [made[1]["id"]], done

    # The Inbox list is as it was, also when the Inbox is named; a cursor stays in its list.
    inbox = owner.inbox()["id"]
    assert not {t["id"] for t in owner.list_all()} & set(newest_first)
    assert owner.list_all({"project": inbox}) == owner.list_all()
    first = owner.list({"project": pid, "limit": 2})
    assert first.status_code == 200 and first.json()["next_cursor"], first.text
    assert_problem(owner.list({"cursor": first.json()["next_cursor"]}), 422, "validation-error")

    # Strangers, unknown ids, bad ids; a removed member at once.
    assert_problem(stranger.list({"project": pid}), 404, "not-found")
    assert_problem(owner.list({"project": str(uuid.uuid4())}), 404, "not-found")
    assert_problem(owner.list({"project": "inbox"}), 422, "validation-error")
    assert owner.remove_member(pid, viewer.id).status_code == 204
    assert_problem(viewer.list({"project": pid}), 404, "not-found")


def test_naming_ones_own_inbox_is_a_plain_create(make_user, mail_dir):
    me, _, _ = team_of(make_user, mail_dir, "team-own-inbox")
    inbox = me.inbox()["id"]
    r = me.create({"title": "into my inbox", "project_id": inbox}, wait=10)
    assert r.status_code in (201, 202), r.text
    if r.status_code == 202:
        me.wait_command(r.json()["command_id"])
    tid = task_of(r.json())["id"]
    assert owner_of_row(tid) == (me.id, inbox)
    assert tid in {x["id"] for x in me.list_all()}


def test_a_removed_member_loses_the_teams_tasks_at_once(make_user, mail_dir):
    owner, pid, (editor,) = team_of(make_user, mail_dir, "team-removed", "editor")
    t = created_in(editor, pid, "before the removal")
    assert editor.get(t["id"]).status_code == 200  # read once: any cache would hold it now
    r = owner.remove_member(pid, editor.id)
    assert r.status_code == 204, r.text
    assert_problem(editor.get(t["id"]), 404, "not-found")
    assert_problem(editor.patch(t["id"], {"title": "no"}), 404, "not-found")
    assert_problem(editor.create({"title": "no", "project_id": pid}), 404, "not-found")
    assert owner.get(t["id"]).status_code == 200, "the removal took the task from the owner"


@pytest.mark.single_stack_only
def test_a_member_removed_between_202_and_apply_is_rejected_403(make_user, mail_dir):
    """The writer checks the role again when it applies: the API accepted the change while
    the editor was a member; the owner removes them before the writer runs."""
    owner, pid, (editor,) = team_of(make_user, mail_dir, "team-race", "editor")
    t = created_in(editor, pid, "raced")
    stack_control.stop("writer")
    try:
        p = editor.patch(t["id"], {"title": "after the removal"})
        assert p.status_code == 202, p.text
        c = editor.create({"title": "created after the removal", "project_id": pid})
        assert c.status_code == 202, c.text
        r = owner.remove_member(pid, editor.id)
        assert r.status_code == 204, r.text
    finally:
        stack_control.start("writer")
    for accepted in (p, c):
        body = editor.wait_command(accepted.json()["command_id"], want="rejected")
        assert body["problem"]["status"] == 403, body
        assert body["problem"]["type"].endswith("/forbidden"), body
    g = owner.get(t["id"])
    assert g.status_code == 200 and g.json()["title"] == "raced" and g.json()["version"] == 1, g.text
    with pg() as conn:
        n = conn.execute("SELECT count(*) FROM tasks WHERE id = %s", (task_of(c.json())["id"],)).fetchone()[0]
    assert n == 0, "a rejected create left a task"


def event_about(reader, tid, event, timeout=20):
    """The next SSE frame of `event` about task tid (frames about other tasks are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no {event} of {tid} on the stream within {timeout} s"
        f = reader.next(left)
        if f.get("event") == event and isinstance(f.get("json"), dict) and f["json"]["data"]["id"] == tid:
            assert_event_valid(f["json"])
            return f["json"]


def logged_events_about(user_id, tid):
    """Every event about tid in the user's event log (what SSE serves and resumes from)."""
    entries = redis_conn().xrange(f"{{u:{user_id}}}:events:log")
    out = []
    for _, fields in entries:
        ev = json.loads(fields[b"event"] if b"event" in fields else fields["event"])
        if ev["data"]["id"] == tid:
            out.append(ev)
    return out


def effects_landed(command_ids):
    """Every effect of the batches that applied these commands is in Redis, every member's
    copy included: the writer deletes a batch's journal row (commands.effects_id) only
    after all of them landed."""
    def landed():
        with pg() as conn:
            return conn.execute(
                "SELECT count(*) FROM commands c JOIN writer_pending_effects w ON w.id = c.effects_id"
                " WHERE c.command_id = ANY(%s::uuid[])", (list(command_ids),)).fetchone()[0] == 0
    return landed


def test_members_see_each_others_changes_live(make_user, mail_dir):
    owner, pid, (editor, viewer) = team_of(make_user, mail_dir, "team-sse", "editor", "viewer")
    streams = {who.email: SseReader(who) for who in (owner, editor, viewer)}
    try:
        for name, st in streams.items():
            assert st.status == 200, f"{name}: {st.status}"
        t = created_in(editor, pid, "watched")
        for who in (owner, editor, viewer):
            ev = event_about(streams[who.email], t["id"], "task.created")
            assert ev["data"]["user_id"] == editor.id and ev["data"]["title"] == "watched", ev
        p = owner.patch(t["id"], {"status": "done"}, wait=10)
        assert p.status_code in (200, 202), p.text
        for who in (owner, editor, viewer):
            ev = event_about(streams[who.email], t["id"], "task.completed")
            assert ev["data"]["user_id"] == owner.id and ev["data"]["version"] == 2, ev

        # Removed, the viewer's log gets nothing the others do after the removal.
        assert owner.remove_member(pid, viewer.id).status_code == 204
        d = editor.delete(t["id"])
        assert d.status_code == 202, d.text
        editor.wait_command(d.json()["command_id"])
        event_about(streams[owner.email], t["id"], "task.deleted")
        wait_until(effects_landed([d.json()["command_id"]]), 30, "the delete's effects landed")
        kinds = [e["type"] for e in logged_events_about(viewer.id, t["id"])]
        assert kinds == ["taskbus.task.created", "taskbus.task.completed"], kinds
        assert [e["type"] for e in logged_events_about(owner.id, t["id"])][-1] == "taskbus.task.deleted"
    finally:
        for st in streams.values():
            st.close()


def test_sixteen_clients_of_four_members_write_one_project(make_user, mail_dir):
    """16 clients (4 each of an owner and three editors) create tasks in one team project
    and change each several times, never waiting for a change to be applied: every command
    is applied once, each task's changes in the order they were sent (its events' versions
    1, 2, 3, 4 in that order in every member's log), and the last change wins."""
    owner, pid, editors = team_of(make_user, mail_dir, "team-conc", "editor", "editor", "editor")
    people = [owner, *editors]
    clients = [(p, p.clone()) for p in people for _ in range(4)]
    steps, per_client = 3, 2
    start = threading.Barrier(len(clients))

    def worker(k):
        person_, c = clients[k]
        start.wait()
        mine, sent = [], []
        for j in range(per_client):
            r = c.create({"title": f"c{k}-t{j}-0", "project_id": pid}, wait=10)
            assert r.status_code in (201, 202), f"create: {r.status_code} {r.text[:300]}"
            if r.status_code == 202:
                c.wait_command(r.json()["command_id"], timeout=60)
            mine.append(task_of(r.json())["id"])
        for step in range(1, steps + 1):
            for j, tid in enumerate(mine):
                r = c.patch(tid, {"title": f"c{k}-t{j}-{step}"})
                assert r.status_code == 202, f"patch: {r.status_code} {r.text[:300]}"
                sent.append((c, r.json()["command_id"]))
        return mine, sent

    with ThreadPoolExecutor(len(clients)) as pool:
        results = list(pool.map(worker, range(len(clients))))
    for _, sent in results:
        for c, cid in sent:
            c.wait_command(cid, timeout=90)
    all_cids = [cid for _, sent in results for _, cid in sent]
    with pg() as conn:
        rows = conn.execute("SELECT status, count(*) FROM commands WHERE command_id = ANY(%s::uuid[])"
                            " GROUP BY status", (all_cids,)).fetchall()
    assert dict(rows) == {"applied": len(all_cids)}, rows
    wait_until(effects_landed(all_cids), 60, "the changes' effects landed")
    for k, (mine, _) in enumerate(results):
        for j, tid in enumerate(mine):
            g = owner.get(tid)
            assert g.status_code == 200, g.text
            assert g.json()["title"] == f"c{k}-t{j}-{steps}" and g.json()["version"] == 1 + steps, g.json()
            for who in people:
                versions = [e["data"]["version"] for e in logged_events_about(who.id, tid)]
                assert versions == list(range(1, 2 + steps)), (who.email, tid, versions)
