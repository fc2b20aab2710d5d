-- 0016_task_state_tombstones.sql: every way a task leaves Postgres reaches the compacted
-- task-state topic (issue 12, docs/decisions.md "Issue 12": tombstones).
-- outbox.payload: may now be NULL, on rows of topic 'task-state' only (a tombstone: the
--   relay produces a NULL value, workers/relay/relay_state.h). shared/bus.h names the
--   topic (TASK_STATE_TOPIC); SQL cannot include it, so it is spelled here and in the
--   trigger below.
-- tasks_state_tombstones: AFTER DELETE ON tasks, per statement (transition table, as
--   0011's counters): one outbox row per removed task, topic 'task-state', key = the task
--   id, payload NULL, in the deleting transaction. It covers every delete that carries no
--   taskbus.task.deleted event: a user's deletion (taskbus-admin delete-user, an
--   operator's DELETE FROM users: the tasks go by ON DELETE CASCADE), an operator's
--   DELETE FROM tasks. The writer, whose deletes each write a taskbus.task.deleted event
--   (from which the relay derives the same tombstone), sets the transaction-local
--   setting taskbus.task_deletes_evented = 'on' in its DELETE statement, so its deletes
--   add nothing here.
-- tasks_state_truncate: BEFORE TRUNCATE ON tasks (TRUNCATE fires no DELETE trigger; a
--   TRUNCATE users CASCADE truncates tasks too): one tombstone row per task still there.
-- Triggers do not fire under session_replication_role = replica (a data-only restore
--   with --disable-triggers): such a restore must be followed by taskbus-admin's backfill.
-- Migrations are append-only: never edit this file once applied; add a new one.

ALTER TABLE outbox ALTER COLUMN payload DROP NOT NULL;
ALTER TABLE outbox ADD CONSTRAINT outbox_payload_null_only_on_task_state
    CHECK (payload IS NOT NULL OR topic = 'task-state');

CREATE FUNCTION tasks_state_tombstones() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('taskbus.task_deletes_evented', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'TRUNCATE' THEN
        INSERT INTO outbox (event_id, topic, key, payload)
        SELECT gen_random_uuid(), 'task-state', t.id::text, NULL FROM tasks t ORDER BY t.id;
    ELSE
        INSERT INTO outbox (event_id, topic, key, payload)
        SELECT gen_random_uuid(), 'task-state', o.id::text, NULL FROM old_rows o ORDER BY o.id;
    END IF;
    IF FOUND THEN
        PERFORM pg_notify('outbox', '');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER tasks_state_tombstones AFTER DELETE ON tasks
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tasks_state_tombstones();
CREATE TRIGGER tasks_state_truncate BEFORE TRUNCATE ON tasks
    FOR EACH STATEMENT EXECUTE FUNCTION tasks_state_tombstones();
