-- 0020_task_projects.sql: every task belongs to a project (issue 14, docs/decisions.md
-- "Issue 14" / "Tasks in projects (slice 3a)").
-- tasks.project_id: the project the task is in. Every task written before this migration
--   was its owner's, so it moves into the owner's Inbox (0018 made one for every user).
--   taskbus-writer names the project in its INSERTs; tasks_default_project fills an
--   INSERT that names none (a writer of the release before, still running during a rolling
--   deploy, or an operator's INSERT) with the owner's Inbox, the only project such a
--   writer knows. Its WHEN clause keeps it off the writer's path when the column is given.
-- The foreign key has no ON DELETE action: a project with tasks is not deleted
--   (project_delete answers 'not_empty', the API 409 project-not-empty), except an Inbox
--   with its user: the user's cascade deletes the user's tasks in the same statement, and
--   NO ACTION checks at the statement's end, when those rows are gone.
-- The backfill runs with the count triggers (0011) disabled: moving a task between
--   projects changes no counter, and a statement trigger over every row would only net
--   to nothing. shared/migrate.c runs this file in one transaction holding ACCESS
--   EXCLUSIVE on tasks from the ADD COLUMN on, so no write sees the triggers off. It is
--   an outage of what needs the table (48 s for a million tasks on the 2-core dev box):
--   the services' statements on it time out and are answered 503 or retried, nothing is
--   lost (docs/decisions.md, "Tasks in projects (slice 3a)").
-- tasks_project_idx serves the foreign key's check on a project's deletion and the
--   project's task list.
-- Migrations are append-only: never edit this file once applied; add a new one.

ALTER TABLE tasks ADD COLUMN project_id uuid;

ALTER TABLE tasks DISABLE TRIGGER tasks_count_update;
UPDATE tasks t SET project_id = p.id FROM projects p WHERE p.inbox_of = t.owner_id;
ALTER TABLE tasks ENABLE TRIGGER tasks_count_update;

ALTER TABLE tasks ALTER COLUMN project_id SET NOT NULL;
ALTER TABLE tasks ADD CONSTRAINT tasks_project_id_fkey
    FOREIGN KEY (project_id) REFERENCES projects (id);
CREATE INDEX tasks_project_idx ON tasks (project_id);

CREATE FUNCTION tasks_default_project() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT p.id INTO NEW.project_id FROM projects p WHERE p.inbox_of = NEW.owner_id;
    RETURN NEW;
END
$$;

CREATE TRIGGER tasks_default_project BEFORE INSERT ON tasks
    FOR EACH ROW WHEN (NEW.project_id IS NULL) EXECUTE FUNCTION tasks_default_project();

-- project_delete (0018) with one more refusal: 'not_empty' while tasks are in the project
-- (they are moved or deleted first; a delete never takes a team's tasks with it).
CREATE OR REPLACE FUNCTION project_delete(pid uuid, actor uuid, if_version bigint,
                                          OUT outcome text, OUT doc text)
    LANGUAGE plpgsql AS $$
DECLARE
    my_role text;
    p projects;
BEGIN
    my_role := project_lock_role(pid, actor);
    SELECT * INTO p FROM projects WHERE id = pid;
    outcome := project_refusal(my_role, 'owner');
    IF outcome IS NOT NULL THEN
        RETURN;
    END IF;
    IF if_version IS NOT NULL AND if_version <> p.version THEN
        outcome := 'precondition';
    ELSIF p.inbox_of IS NOT NULL THEN
        outcome := 'inbox';
    ELSIF EXISTS (SELECT 1 FROM tasks t WHERE t.project_id = pid) THEN
        outcome := 'not_empty';
    ELSE
        DELETE FROM projects WHERE id = pid;
        outcome := 'ok';
    END IF;
END
$$;
