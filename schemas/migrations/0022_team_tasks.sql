-- 0022_team_tasks.sql: a task in a team project has no owner (issue 14, docs/decisions.md
-- "Issue 14" / "Tasks in team projects (slice 3b)").
-- tasks.owner_id: the user whose Inbox holds the task; NULL for a task in a team project,
--   which belongs to the project and is read and written by its members (their role in
--   project_members decides). Every reader scoped by owner_id (the Inbox list, search,
--   stats, reports, reminders, the API's cached reads) therefore keeps seeing exactly the
--   Inbox, and a user's deletion (ON DELETE CASCADE of owner_id) never takes a team's
--   tasks with their creator. Dropping NOT NULL changes no row and rewrites nothing.
-- tasks_count_changes and task_counts_rebuild (0011) count per owner: a task without one
--   is not counted (per project counts come with the project stats).
-- Migrations are append-only: never edit this file once applied; add a new one.

ALTER TABLE tasks ALTER COLUMN owner_id DROP NOT NULL;

CREATE OR REPLACE FUNCTION tasks_count_changes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    zero_owner uuid[];
    zero_counter text[];
    zero_day timestamptz[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO task_counts AS c (owner_id, counter, day, n)
        SELECT r.owner_id, k.counter, k.day, count(*)
        FROM new_rows r, task_count_keys(r.status, r.priority, r.due_at, r.completed_at) k
        WHERE r.owner_id IS NOT NULL
        GROUP BY 1, 2, 3
        ORDER BY 1, 2, 3
        ON CONFLICT (owner_id, counter, day) DO UPDATE SET n = c.n + excluded.n;
        RETURN NULL;
    ELSIF TG_OP = 'DELETE' THEN
        WITH up AS (
            INSERT INTO task_counts AS c (owner_id, counter, day, n)
            SELECT r.owner_id, k.counter, k.day, -count(*)
            FROM old_rows r, task_count_keys(r.status, r.priority, r.due_at, r.completed_at) k
            WHERE r.owner_id IS NOT NULL
            GROUP BY 1, 2, 3
            ORDER BY 1, 2, 3
            ON CONFLICT (owner_id, counter, day) DO UPDATE SET n = c.n + excluded.n
            RETURNING c.owner_id, c.counter, c.day, c.n)
        SELECT array_agg(up.owner_id), array_agg(up.counter), array_agg(up.day)
        INTO zero_owner, zero_counter, zero_day
        FROM up WHERE up.n = 0;
    ELSE
        WITH up AS (
            INSERT INTO task_counts AS c (owner_id, counter, day, n)
            SELECT r.owner_id, k.counter, k.day, sum(r.sign)
            FROM (SELECT owner_id, status, priority, due_at, completed_at, 1 AS sign
                  FROM new_rows WHERE owner_id IS NOT NULL
                  UNION ALL
                  SELECT owner_id, status, priority, due_at, completed_at, -1
                  FROM old_rows WHERE owner_id IS NOT NULL) r,
                 task_count_keys(r.status, r.priority, r.due_at, r.completed_at) k
            GROUP BY 1, 2, 3
            HAVING sum(r.sign) <> 0
            ORDER BY 1, 2, 3
            ON CONFLICT (owner_id, counter, day) DO UPDATE SET n = c.n + excluded.n
            RETURNING c.owner_id, c.counter, c.day, c.n)
        SELECT array_agg(up.owner_id), array_agg(up.counter), array_agg(up.day)
        INTO zero_owner, zero_counter, zero_day
        FROM up WHERE up.n = 0;
    END IF;
    IF zero_owner IS NOT NULL THEN
        DELETE FROM task_counts c
        USING unnest(zero_owner, zero_counter, zero_day) AS z (owner_id, counter, day)
        WHERE c.owner_id = z.owner_id AND c.counter = z.counter AND c.day = z.day
          AND c.n = 0;
    END IF;
    RETURN NULL;
END
$$;

-- task_counts_rebuild (0011) recounts from tasks: a task without an owner is not counted
-- there either (task_counts.owner_id is NOT NULL).
CREATE OR REPLACE FUNCTION task_counts_rebuild(owner uuid DEFAULT NULL) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE tasks IN SHARE MODE;
    DELETE FROM task_counts WHERE owner IS NULL OR owner_id = owner;
    INSERT INTO task_counts (owner_id, counter, day, n)
    SELECT t.owner_id, k.counter, k.day, count(*)
    FROM tasks t, task_count_keys(t.status, t.priority, t.due_at, t.completed_at) k
    WHERE t.owner_id IS NOT NULL AND (owner IS NULL OR t.owner_id = owner)
    GROUP BY 1, 2, 3;
END
$$;
