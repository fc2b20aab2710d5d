-- 0024_project_task_counts.sql: the task counters of a team project (issue 14,
-- docs/decisions.md "Issue 14" / "Stats per project (slice 6)").
-- task_counts.owner_id is from here on the counters' scope: a task in an Inbox counts for
--   its owner (as since 0011), a task in a team project (owner_id NULL, 0022) for its
--   project. Users and projects are distinct rows with UUIDv7 ids, so the two kinds of
--   scope never share a key, and GET /api/v1/tasks/stats?project= reads a team project's
--   counters exactly as a user's are read: its cost does not grow with the project's
--   tasks. The column keeps its name: an API of the release before reads it by name.
-- tasks_count_changes (0011, 0022) counts each row for COALESCE(owner_id, project_id): a
--   move between an Inbox and a team project, or between two teams, takes one from the
--   scope it leaves and adds one to the scope it enters (the update's old and new rows).
--   A project is deleted only empty (0020), so its counters are gone by then (a counter
--   that reaches zero is deleted), and no foreign key is needed.
-- task_counts_rebuild(scope) recounts one scope (a user or a team project; NULL:
--   everybody).
-- The backfill counts the team tasks that 0022 left uncounted. The SHARE lock taken first
--   keeps every writer out until this transaction commits, so no write falls between the
--   function's replacement and the count.
-- tasks_project_open_due_idx, tasks_project_completed_idx: the rows of the one day a
--   stats boundary falls in, for a team project (0011's owner indexes do the same for an
--   Inbox). Partial on owner_id IS NULL: Inbox tasks are not in them.
-- Migrations are append-only: never edit this file once applied; add a new one.

LOCK TABLE tasks IN SHARE MODE;

CREATE OR REPLACE FUNCTION tasks_count_changes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    zero_owner uuid[];
    zero_counter text[];
    zero_day timestamptz[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO task_counts AS c (owner_id, counter, day, n)
        SELECT COALESCE(r.owner_id, r.project_id), k.counter, k.day, count(*)
        FROM new_rows r, task_count_keys(r.status, r.priority, r.due_at, r.completed_at) k
        GROUP BY 1, 2, 3
        ORDER BY 1, 2, 3
        ON CONFLICT (owner_id, counter, day) DO UPDATE SET n = c.n + excluded.n;
        RETURN NULL;
    ELSIF TG_OP = 'DELETE' THEN
        WITH up AS (
            INSERT INTO task_counts AS c (owner_id, counter, day, n)
            SELECT COALESCE(r.owner_id, r.project_id), k.counter, k.day, -count(*)
            FROM old_rows r, task_count_keys(r.status, r.priority, r.due_at, r.completed_at) k
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
            SELECT r.scope, k.counter, k.day, sum(r.sign)
            FROM (SELECT COALESCE(owner_id, project_id) AS scope, status, priority, due_at,
                         completed_at, 1 AS sign
                  FROM new_rows
                  UNION ALL
                  SELECT COALESCE(owner_id, project_id), status, priority, due_at,
                         completed_at, -1
                  FROM old_rows) r,
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

CREATE OR REPLACE FUNCTION task_counts_rebuild(owner uuid DEFAULT NULL) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE tasks IN SHARE MODE;
    DELETE FROM task_counts WHERE owner IS NULL OR owner_id = owner;
    INSERT INTO task_counts (owner_id, counter, day, n)
    SELECT COALESCE(t.owner_id, t.project_id), k.counter, k.day, count(*)
    FROM tasks t, task_count_keys(t.status, t.priority, t.due_at, t.completed_at) k
    WHERE owner IS NULL OR t.owner_id = owner OR (t.owner_id IS NULL AND t.project_id = owner)
    GROUP BY 1, 2, 3;
END
$$;

INSERT INTO task_counts (owner_id, counter, day, n)
SELECT t.project_id, k.counter, k.day, count(*)
FROM tasks t, task_count_keys(t.status, t.priority, t.due_at, t.completed_at) k
WHERE t.owner_id IS NULL
GROUP BY 1, 2, 3;

CREATE INDEX tasks_project_open_due_idx ON tasks (project_id, due_at)
    WHERE owner_id IS NULL AND status <> 'done';
CREATE INDEX tasks_project_completed_idx ON tasks (project_id, completed_at)
    WHERE owner_id IS NULL AND completed_at IS NOT NULL;
