-- 0029_account_erasure.sql: what deleting a user erases beyond the rows that cascade
-- (docs/decisions.md, "Issue 15", "Deleting the account (slice 4)").
--
-- Owns:
-- - users_erase_unlinked: BEFORE DELETE on users, per row: the user's rows in tables that
--   name the user without a foreign key (commands, idempotency_keys, imports and through
--   them import_items, sent_notifications, reminders) and the project invitations
--   addressed to the user's address. Whatever deletes the user (DELETE /users/me,
--   taskbus-admin delete-user, an operator's DELETE) erases them in the same transaction.
--   task_counts is not touched here: the cascade of the user's tasks brings its rows to
--   zero, and the tasks trigger of 0011 deletes zero rows.
-- - report_file_removals: one row per deleted report whose file may exist (not expired,
--   not failed), written by reports_record_removal (AFTER DELETE on reports, per row);
--   taskbus-reporter unlinks <dir>/<id>.<format> and deletes the row (report files are
--   named by report id only, so the row is the only way back to the file); a build that
--   finds its report gone and cannot remove its file records it here too.
-- - erased_users: the users whose taskbus.user.deleted event a read-only consumer
--   (taskbus-activity, taskbus-analytics) has applied: user id and Inbox project id only.
--   Kept forever and never reset with a consumer's tables: a replay from offset 0 reads
--   task events before the erasure on another topic, and must not bring the rows back.
-- Append-only: a change is a new migration file.

CREATE INDEX sent_notifications_user_idx ON sent_notifications (user_id);

CREATE FUNCTION users_erase_unlinked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM commands WHERE user_id = OLD.id;
    DELETE FROM idempotency_keys WHERE user_id = OLD.id;
    DELETE FROM imports WHERE user_id = OLD.id;
    DELETE FROM sent_notifications WHERE user_id = OLD.id;
    DELETE FROM reminders WHERE user_id = OLD.id;
    DELETE FROM project_invitations WHERE email = OLD.email;
    RETURN OLD;
END
$$;

CREATE TRIGGER users_erase_unlinked BEFORE DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION users_erase_unlinked();

CREATE TABLE report_file_removals (
    report_id  uuid PRIMARY KEY,
    format     text NOT NULL CHECK (format IN ('csv', 'json')),
    removed_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION reports_record_removal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.expired_at IS NULL AND OLD.status <> 'failed' THEN
        INSERT INTO report_file_removals (report_id, format) VALUES (OLD.id, OLD.format)
            ON CONFLICT (report_id) DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER reports_record_removal AFTER DELETE ON reports
    FOR EACH ROW EXECUTE FUNCTION reports_record_removal();

CREATE TABLE erased_users (
    user_id          uuid PRIMARY KEY,
    inbox_project_id uuid,
    erased_at        timestamptz NOT NULL
);
CREATE INDEX erased_users_inbox_idx ON erased_users (inbox_project_id);

-- The checks of an erasure, in the deleting transaction, before the DELETE: locks the user
-- row FOR UPDATE (expect_hash: the password_hash the caller verified the password against,
-- NULL for an operator; another value means the password changed meanwhile), then every
-- team project the user is a member of FOR UPDATE, in id order (the lock the project
-- functions of 0018 take, so no owner leaves or is demoted while this one goes). A user who
-- is the only owner of a team project is refused: the project would be left with nobody
-- who could manage or delete it. outcome: 'ok' (inbox: the user's Inbox; deleted_at: the
-- erasure's time as events spell it), 'not_found', 'changed', or 'sole_owner'
-- (sole_owned: the projects' ids, comma-separated, in id order).
CREATE FUNCTION user_erasure_lock(uid uuid, expect_hash text, OUT outcome text,
                                  OUT inbox uuid, OUT sole_owned text, OUT deleted_at text)
    LANGUAGE plpgsql AS $$
DECLARE
    stored_hash text;
BEGIN
    SELECT password_hash INTO stored_hash FROM users WHERE id = uid FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    IF expect_hash IS NOT NULL AND stored_hash <> expect_hash THEN
        outcome := 'changed';
        RETURN;
    END IF;
    PERFORM 1 FROM projects p JOIN project_members m ON m.project_id = p.id
        WHERE m.user_id = uid AND p.inbox_of IS NULL ORDER BY p.id FOR UPDATE OF p;
    SELECT string_agg(p.id::text, ',' ORDER BY p.id) INTO sole_owned
        FROM projects p JOIN project_members m
            ON m.project_id = p.id AND m.user_id = uid AND m.role = 'owner'
        WHERE p.inbox_of IS NULL AND NOT EXISTS (SELECT 1 FROM project_members o
            WHERE o.project_id = p.id AND o.role = 'owner' AND o.user_id <> uid);
    IF sole_owned IS NOT NULL THEN
        outcome := 'sole_owner';
        RETURN;
    END IF;
    SELECT id INTO inbox FROM projects WHERE inbox_of = uid;
    deleted_at := taskbus_ts(statement_timestamp());
    outcome := 'ok';
END
$$;
