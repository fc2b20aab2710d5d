-- 0023_task_assignees.sql: a task's assignee (issue 14, docs/decisions.md "Issue 14" /
-- "Assignees (slice 4)").
-- tasks.assignee_id: the member the task is assigned to, NULL when nobody is. The API and
--   taskbus-writer (at apply, under the project's FOR SHARE lock) accept only an editor
--   or owner of the task's project (an Inbox's only member is its owner); a member
--   removed or demoted later keeps the assignment, which no longer shows them the task
--   (every read joins the membership).
-- ON DELETE SET NULL: a deleted user's assignments end with the account. An Inbox task
--   is assigned to its owner or nobody, and the owner's deletion deletes it, so no cached
--   task changes under this rule; a team task is never cached (0022).
-- tasks_assignee_idx serves GET /tasks?assignee= (the assignee's tasks in created order,
--   then the membership join) and the foreign key's check on a user's deletion; partial,
--   so unassigned tasks cost nothing to write.
-- Adding a nullable column without a default rewrites nothing.
-- Migrations are append-only: never edit this file once applied; add a new one.

ALTER TABLE tasks ADD COLUMN assignee_id uuid REFERENCES users (id) ON DELETE SET NULL;
CREATE INDEX tasks_assignee_idx ON tasks (assignee_id, created_at, id)
    WHERE assignee_id IS NOT NULL;
