"""Due-soon reminders of taskbus-scheduler (issue 4; docs/decisions.md "Reminders").

Owns: the end-to-end check that open tasks due within TASKBUS_REMINDER_LEAD_SECONDS get
exactly one `due_soon` message on `notifications` and one `reminders` row per
(task_id, due_at), with two schedulers racing (the stack's and one this test starts),
that tasks due later or already done get none, that a new due date inside the lead
re-arms the reminder, and that moving back to an already-reminded due date sends nothing.
Rules: the stack runs with a 120 s lead and a 200 ms interval (tests/run); the test reads
`notifications` from its first offset and keeps only its own users' messages; the extra
scheduler logs to <data>/logs/scheduler-extra.log and is always stopped in a finally.
Whether the e-mail itself goes out is the notifier's test, not this one.
"""

import os
import signal
import subprocess
import time
from datetime import datetime, timedelta, timezone

from helpers.api import is_uuid
from helpers.stack_control import env
from helpers.tasks import TopicReader, parse_time, pg, rfc3339, task_user, unique, wait_until

LEAD_S = int(os.environ.get("TASKBUS_REMINDER_LEAD_SECONDS") or 3600)
INTERVAL_MS = int(os.environ.get("TASKBUS_SCHEDULER_INTERVAL_MS") or 1000)
# After the last expected reminder, this many scheduler passes must add nothing more.
QUIET_S = max(2.0, 10 * INTERVAL_MS / 1000)
INSIDE = 4  # open tasks due in DUE_S, per user
# Due dates sit near the end of the 120 s lead, so the steps below have about 95 s before
# the first one passes (a due date in the past is never reminded, which would make the
# "back to the reminded due date" step prove nothing; the guard there says so).
DUE_S = 100


class ExtraScheduler:
    """A second taskbus-scheduler with the stack's environment (sanitizer options too, so
    a report lands where tests/run looks)."""

    def __init__(self):
        binary = os.path.join(env("TASKBUS_BUILD_DIR"), "taskbus-scheduler")
        assert os.access(binary, os.X_OK), f"{binary} is not built"
        logs = os.path.join(env("TASKBUS_DATA_DIR"), "logs")
        os.makedirs(logs, exist_ok=True)
        self.log_path = os.path.join(logs, "scheduler-extra.log")
        self._log = open(self.log_path, "ab")
        self._start = os.fstat(self._log.fileno()).st_size  # a rerun appends; read only this run
        # Port 0: no /health, /ready, /metrics listener (the stack's own daemon holds the
        # port of the offset scheme; docs/decisions.md "Every daemon observable").
        self.proc = subprocess.Popen([binary], env={**os.environ, "TASKBUS_SCHEDULER_METRICS_PORT": "0"}, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def log(self):
        with open(self.log_path, "rb") as f:
            f.seek(self._start)
            return f.read().decode(errors="replace")

    def stop(self):
        """SIGTERM, SIGKILL after 20 s; returns the exit code."""
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(20)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
            return self.proc.returncode
        finally:
            self._log.close()


def reminder_rows(task_ids):
    with pg() as conn:
        rows = conn.execute(
            "SELECT task_id::text, due_at, user_id::text FROM reminders WHERE task_id = ANY(%s::uuid[])"
            " ORDER BY sent_at", (list(task_ids),)).fetchall()
    return rows


def due_soon_messages(reader, user_ids):
    """Every due_soon message of these users read so far (the topic from its start)."""
    reader.drain()
    return [r for r in reader.records
            if isinstance(r["value"], dict) and r["value"].get("user_id") in user_ids
            and r["value"].get("kind") == "due_soon"]


def by_task(msgs):
    out = {}
    for m in msgs:
        out.setdefault(m["value"]["data"]["task_id"], []).append(m)
    return out


def create(api, title, due, status=None):
    body = {"title": title, "due_at": rfc3339(due)}
    if status:
        body["status"] = status
    return api.create_applied(body)


def patch_due(api, task, due_text):
    r = api.patch(task["id"], {"due_at": due_text}, wait=5)
    assert r.status_code in (200, 202), f"PATCH due_at: {r.status_code} {r.text[:300]}"
    if r.status_code == 202:
        api.wait_command(r.json()["command_id"])
    g = api.get(task["id"])
    assert g.status_code == 200 and g.json()["due_at"] == due_text, (g.status_code, g.text[:300])
    return g.json()


def assert_message(m, user, task, due_text):
    v = m["value"]
    assert m["key"] == user.id, f"key {m['key']!r} is not the user id"
    assert v["kind"] == "due_soon" and v["user_id"] == user.id
    assert v["to"] == user.user.email, f"to {v['to']!r}, user {user.user.email!r}"
    assert is_uuid(v["notification_id"], 7), v
    assert v["data"] == {"task_id": task["id"], "title": task["title"], "due_at": due_text}, v["data"]
    assert m["headers"].get("request_id"), f"no request_id header: {m['headers']}"


def wait_messages(reader, user_ids, want, what):
    """Waits until the per-task message counts reach want ({task_id: n}); returns by_task."""
    def reached():
        got = by_task(due_soon_messages(reader, user_ids))
        return got if all(len(got.get(t, [])) >= n for t, n in want.items()) else None

    return wait_until(reached, 60, what, interval=0.3)


def test_due_soon_reminders(api_url):
    assert LEAD_S == 120, f"the test stack must run with TASKBUS_REMINDER_LEAD_SECONDS=120 (got {LEAD_S})"
    extra = ExtraScheduler()
    reader = None
    try:
        users = [task_user(api_url, "reminders") for _ in range(2)]
        uids = {u.id for u in users}
        now = datetime.now(timezone.utc)
        soon = now + timedelta(seconds=DUE_S)
        inside, outside = [], []
        for u in users:
            for i in range(INSIDE):
                inside.append((u, create(u, unique("soon"), soon + timedelta(milliseconds=7 * i))))
            outside.append((u, create(u, unique("later"), now + timedelta(hours=1))))
            outside.append((u, create(u, unique("done"), soon, status="done")))
        assert all(t["status"] == "done" for _, t in outside[1::2])

        reader = TopicReader("notifications")
        want = {t["id"]: 1 for _, t in inside}
        wait_messages(reader, uids, want, f"one due_soon per task due in {DUE_S} s")
        time.sleep(QUIET_S)  # both schedulers keep passing; nothing more may come
        got = by_task(due_soon_messages(reader, uids))
        for u, t in inside:
            assert len(got.get(t["id"], [])) == 1, f"task {t['id']}: {len(got.get(t['id'], []))} messages"
            assert_message(got[t["id"]][0], u, t, t["due_at"])
        for _, t in outside:
            assert t["id"] not in got, f"{t['title']} (due {t['due_at']}, {t['status']}) was reminded"
        assert len({m["value"]["notification_id"] for ms in got.values() for m in ms}) == len(inside)

        rows = reminder_rows([t["id"] for _, t in inside + outside])
        assert sorted(r[0] for r in rows) == sorted(t["id"] for _, t in inside), rows
        for u, t in inside:
            (row,) = [r for r in rows if r[0] == t["id"]]
            assert row[1] == parse_time(t["due_at"]) and row[2] == u.id, row

        # Re-arm: a due date moved inside the lead is a new (task_id, due_at) pair.
        u_a, a = inside[0]
        u_b, b = inside[1]
        first_due = a["due_at"]
        a2 = patch_due(u_a, a, rfc3339(datetime.now(timezone.utc) + timedelta(seconds=DUE_S + 10)))
        got = wait_messages(reader, uids, {a["id"]: 2}, "a second due_soon for the new due_at")
        assert_message(got[a["id"]][1], u_a, a2, a2["due_at"])
        rows = reminder_rows([a["id"]])
        assert sorted(r[1] for r in rows) == sorted([parse_time(first_due), parse_time(a2["due_at"])]), rows

        # Back to the reminded due_at: nothing new. B moves in the same breath, and its new
        # reminder proves the schedulers passed over A after the move.
        assert parse_time(first_due) > datetime.now(timezone.utc) + timedelta(seconds=5), \
            "the test ran too slowly: the first due date is about to pass"
        patch_due(u_a, a2, first_due)
        b2 = patch_due(u_b, b, rfc3339(datetime.now(timezone.utc) + timedelta(seconds=DUE_S + 15)))
        got = wait_messages(reader, uids, {b["id"]: 2}, "B's new due_at reminded")
        time.sleep(QUIET_S)
        got = by_task(due_soon_messages(reader, uids))
        assert len(got[a["id"]]) == 2, [m["value"]["data"] for m in got[a["id"]]]
        assert len(got[b["id"]]) == 2 and got[b["id"]][1]["value"]["data"]["due_at"] == b2["due_at"]
        assert len(reminder_rows([a["id"]])) == 2

        assert extra.proc.poll() is None, f"the extra scheduler died:\n{extra.log()[-3000:]}"
        assert "reminding due-soon tasks" in extra.log(), extra.log()[-3000:]
    finally:
        if reader is not None:
            reader.close()
        code = extra.stop()
    assert code == 0, f"the extra scheduler exited {code} on SIGTERM:\n{extra.log()[-3000:]}"
