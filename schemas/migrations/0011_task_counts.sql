-- 0011_task_counts.sql: per-user task counters for GET /api/v1/tasks/stats (issue 8,
-- docs/decisions.md "Stats at scale"), kept in the transaction of every write to tasks.
-- task_counts: one row per (owner, counter, day) whose count is not zero. counter is
--   'status:<status>' or 'priority:<priority>' (day -infinity), 'open_due' (tasks not
--   done, by the UTC day of due_at) or 'completed' (by the UTC day of completed_at). Days
--   are date_bin('24 hours', ts, 2000-01-01 UTC): absolute 24-hour bins, whatever the
--   session's TimeZone; +/-infinity keep their own bins. The day counters let the stats
--   count "overdue" and "done in the last 7 days" exactly by adding whole days and
--   counting only the rows of the one day the boundary falls in (the partial indexes).
-- tasks_count_insert/update/delete: AFTER ... FOR EACH STATEMENT with transition tables,
--   so a writer batch (one set-based statement per kind of change) pays one statement
--   (aggregate + upsert), not a trigger per row. An update that moves no counted column
--   nets to nothing and writes nothing. The upsert locks its rows in key order (no
--   deadlock between two statements touching the same users), and a counter that
--   reaches zero is deleted: the table holds only non-zero counts, so a deleted user
--   (whose tasks go by the cascade) leaves nothing behind and no foreign key is needed.
-- tasks_count_truncate: a TRUNCATE of tasks empties the counters.
-- task_counts_rebuild(owner): recounts one user (NULL: everybody) from tasks under a
--   SHARE lock on tasks (writers wait, readers do not). The migration uses it; an operator
--   needs it only after writing tasks with triggers disabled (session_replication_role =
--   replica, a data-only restore with --disable-triggers).
-- The trigger is created before the backfill in this one transaction: CREATE TRIGGER's
--   lock keeps writers out until commit, so no write falls between count and trigger.
-- Migrations are append-only: never edit this file once applied; add a new one.

CREATE TABLE task_counts (
    owner_id uuid NOT NULL,
    counter  text NOT NULL,
    day      timestamptz NOT NULL,
    n        bigint NOT NULL,
    PRIMARY KEY (owner_id, counter, day)
);

-- The day bin of a timestamp (NULL stays NULL; infinities are their own bins).
CREATE FUNCTION task_count_day(ts timestamptz) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN isfinite(ts)
                THEN date_bin('24 hours', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00')
                ELSE ts END
$$;

-- The counters one task row adds to (each once).
CREATE FUNCTION task_count_keys(status text, priority text, due_at timestamptz,
                                completed_at timestamptz)
    RETURNS TABLE (counter text, day timestamptz)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT k.counter, k.day
    FROM (VALUES ('status:' || status, TIMESTAMPTZ '-infinity'),
                 ('priority:' || priority, TIMESTAMPTZ '-infinity'),
                 ('open_due', CASE WHEN status <> 'done' THEN task_count_day(due_at) END),
                 ('completed', task_count_day(completed_at))) AS k (counter, day)
    WHERE k.day IS NOT NULL
$$;

-- One statement per kind of change: the keys' net deltas, upserted in key order. An
-- insert only adds; a delete or an update may bring counters to zero, which are dropped.
CREATE FUNCTION tasks_count_changes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    zero_owner uuid[];
    zero_counter text[];
    zero_day timestamptz[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO task_counts AS c (owner_id, counter, day, n)
        SELECT r.owner_id, k.counter, k.day, count(*)
        FROM new_rows r, task_count_keys(r.status, r.priority, r.due_at, r.completed_at) k
        GROUP BY 1, 2, 3
        ORDER BY 1, 2, 3
        ON CONFLICT (owner_id, counter, day) DO UPDATE SET n = c.n + excluded.n;
        RETURN NULL;
    ELSIF TG_OP = 'DELETE' THEN
        WITH up AS (
            INSERT INTO task_counts AS c (owner_id, counter, day, n)
            SELECT r.owner_id, k.counter, k.day, -count(*)
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
            SELECT r.owner_id, k.counter, k.day, sum(r.sign)
            FROM (SELECT owner_id, status, priority, due_at, completed_at, 1 AS sign
                  FROM new_rows
                  UNION ALL
                  SELECT owner_id, status, priority, due_at, completed_at, -1
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

CREATE FUNCTION tasks_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM task_counts;
    RETURN NULL;
END
$$;

CREATE TRIGGER tasks_count_insert AFTER INSERT ON tasks
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tasks_count_changes();
CREATE TRIGGER tasks_count_update AFTER UPDATE ON tasks
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tasks_count_changes();
CREATE TRIGGER tasks_count_delete AFTER DELETE ON tasks
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tasks_count_changes();
CREATE TRIGGER tasks_count_truncate AFTER TRUNCATE ON tasks
    FOR EACH STATEMENT EXECUTE FUNCTION tasks_count_truncate();

CREATE FUNCTION task_counts_rebuild(owner uuid DEFAULT NULL) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE tasks IN SHARE MODE;
    DELETE FROM task_counts WHERE owner IS NULL OR owner_id = owner;
    INSERT INTO task_counts (owner_id, counter, day, n)
    SELECT t.owner_id, k.counter, k.day, count(*)
    FROM tasks t, task_count_keys(t.status, t.priority, t.due_at, t.completed_at) k
    WHERE owner IS NULL OR t.owner_id = owner
    GROUP BY 1, 2, 3;
END
$$;

SELECT task_counts_rebuild();

-- The rows of the one day a stats boundary falls in: open tasks by due date, done tasks
-- by completion time. IF NOT EXISTS: an operator may build them beforehand with CREATE
-- INDEX CONCURRENTLY under these names (docs/decisions.md); an invalid one (a concurrent
-- build that failed) is refused here rather than silently kept.
CREATE INDEX IF NOT EXISTS tasks_owner_open_due_idx ON tasks (owner_id, due_at)
    WHERE status <> 'done';
CREATE INDEX IF NOT EXISTS tasks_owner_completed_idx ON tasks (owner_id, completed_at)
    WHERE completed_at IS NOT NULL;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
               WHERE c.relname IN ('tasks_owner_open_due_idx', 'tasks_owner_completed_idx')
                 AND NOT i.indisvalid) THEN
        RAISE EXCEPTION 'an index of 0011_task_counts is invalid (a failed CREATE INDEX '
                        'CONCURRENTLY?): drop it and migrate again';
    END IF;
END
$$;
