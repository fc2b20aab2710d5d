-- 0019_task_recurrence.sql: recurring tasks (issue 14, docs/decisions.md "Issue 14" /
-- "Recurring tasks").
-- tasks.recurrence: {"rule": <RRULE subset, canonical text>, "time_zone": <IANA name>},
--   NULL for a task that does not recur. Written only by taskbus-writer: a completion
--   (status moving into done) of a task with a rule clears it on that task and inserts
--   the next occurrence, carrying the rule on, in the same transaction.
-- The CHECK keeps the rule's anchor: the next occurrence is computed from due_at, so a
--   task with a rule always has one. The writer rejects a command that would break it
--   (422) before any statement runs; the constraint is the backstop.
-- Adding a nullable column without a default rewrites nothing, and the CHECK is added
--   NOT VALID: it holds for every row written from now on, and every existing row has a
--   NULL recurrence, which satisfies it, so validating would only scan tasks for nothing,
--   under the ACCESS EXCLUSIVE lock this file's transaction holds since the ADD COLUMN
--   (shared/migrate.c runs a file in one transaction), blocking reads and writes.
-- Migrations are append-only: never edit this file once applied; add a new one.

ALTER TABLE tasks ADD COLUMN recurrence jsonb;
ALTER TABLE tasks ADD CONSTRAINT tasks_recurrence_has_due
    CHECK (recurrence IS NULL OR (due_at IS NOT NULL AND jsonb_typeof(recurrence) = 'object'))
    NOT VALID;
