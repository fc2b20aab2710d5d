-- 0010_deleted_users.sql: a deleted user reaches every API instance (docs/decisions.md,
-- "Accounts": deleted users).
-- deleted_users: one row per user deleted by any means (taskbus-admin delete-user, an
--   operator's DELETE FROM users, a future erasure), written by the trigger below in the
--   deleting transaction. Each API instance re-applies the rows younger than twice an
--   access token's life whenever its listening connection (re)connects, so a deletion it
--   did not hear about still refuses the user's tokens; it prunes rows a day older than
--   that. Only the id is kept (the account's data is gone with the row).
-- users_deleted: AFTER DELETE, per row: records the row and notifies the id on
--   taskbus_user_deleted (delivered at commit, to every listening API instance).
-- users_truncated: BEFORE TRUNCATE (which fires no DELETE trigger): records every user
--   and notifies an empty payload, which makes each instance catch up from the table.
-- deleted_at is clock_timestamp(), the moment of the delete, not of the transaction's
--   start. Migrations are append-only: never edit this file once applied; add a new one.

CREATE TABLE deleted_users (
    user_id    uuid PRIMARY KEY,
    deleted_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX deleted_users_deleted_at_idx ON deleted_users (deleted_at);

CREATE FUNCTION users_record_deletion() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO deleted_users (user_id, deleted_at) VALUES (OLD.id, clock_timestamp())
        ON CONFLICT (user_id) DO UPDATE SET deleted_at = excluded.deleted_at;
    PERFORM pg_notify('taskbus_user_deleted', OLD.id::text);
    RETURN NULL;
END
$$;

CREATE FUNCTION users_record_truncation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO deleted_users (user_id, deleted_at) SELECT id, clock_timestamp() FROM users
        ON CONFLICT (user_id) DO UPDATE SET deleted_at = excluded.deleted_at;
    PERFORM pg_notify('taskbus_user_deleted', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER users_deleted AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION users_record_deletion();

CREATE TRIGGER users_truncated BEFORE TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION users_record_truncation();
