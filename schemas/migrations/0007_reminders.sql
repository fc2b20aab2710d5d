-- 0007_reminders.sql: due-soon reminders (docs/decisions.md, "Reminders").
-- reminders: one row per (task_id, due_at) that taskbus-scheduler has reminded, written
--   in the same transaction as the due_soon notification's outbox row. The primary key
--   is the guard: a second scheduler (or a replayed pass) cannot remind the same pair
--   twice, while a new due date is a new pair, so the reminder re-arms by itself.
--   user_id is the owner at the time of the reminder (for audits and per-user cleanup).
--   Rows go with their task (ON DELETE CASCADE).
-- tasks_due_open_idx: the scheduler's window scan (open tasks due within the lead) reads
--   only tasks that can still be reminded.
-- Migrations are append-only: never edit this file once applied; add a new one.

CREATE TABLE reminders (
    task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    due_at  timestamptz NOT NULL,
    user_id uuid NOT NULL,
    sent_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, due_at)
);

CREATE INDEX reminders_user_idx ON reminders (user_id);

CREATE INDEX tasks_due_open_idx ON tasks (due_at) WHERE status <> 'done' AND due_at IS NOT NULL;
