-- 0025_project_webhooks.sql: webhooks scoped to a project (docs/decisions.md, "Issue 14",
-- "Webhooks scoped to a project (slice 8)").
-- A webhook without project_id is its user's, as before: the v1 task events of what that
-- user did (task-events, matched on data.user_id). A webhook with project_id is the
-- project's: the v2 task events of every task in it (task-events.v2, matched on
-- data.project_id), whoever acted. The rule this file keeps: a project's webhook exists only
-- while the user who registered it is an owner of the project. The insert trigger refuses
-- one whose user is not (the API has answered 404 or 403 before; this closes the race with a
-- demotion), and the member triggers delete the user's webhooks of a project the moment they
-- stop being an owner there (demoted, removed, left; the project's deletion cascades), with
-- the pending deliveries, whose payloads are the project's tasks. Both take the project row
-- lock the project functions of 0018 take (FOR SHARE here against their FOR UPDATE), so an
-- insert and a demotion are ordered: the insert after it is refused, the demotion after it
-- deletes what was inserted.
-- Migrations are append-only: never edit this file once applied; add a new one.

ALTER TABLE webhooks ADD COLUMN project_id uuid REFERENCES projects (id) ON DELETE CASCADE;
CREATE INDEX webhooks_project_idx ON webhooks (project_id, id) WHERE project_id IS NOT NULL;

-- Refuses a project's webhook whose user is not an owner of the project: SQLSTATE 42501
-- with the message 'not_found' (not a member, or no such project) or 'forbidden' (a member
-- with a lower role), the outcomes of project_refusal (0018).
CREATE FUNCTION webhooks_check_project_owner() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    refusal text;
BEGIN
    PERFORM 1 FROM projects WHERE id = NEW.project_id FOR SHARE;
    -- A statement of its own, so it reads the members as they are once the lock is held.
    refusal := project_refusal((SELECT m.role FROM project_members m
                                WHERE m.project_id = NEW.project_id AND m.user_id = NEW.user_id),
                               'owner');
    IF refusal IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = refusal;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER webhooks_project_owner BEFORE INSERT OR UPDATE OF project_id, user_id ON webhooks
    FOR EACH ROW WHEN (NEW.project_id IS NOT NULL) EXECUTE FUNCTION webhooks_check_project_owner();

-- Deletes the webhooks of a project registered by a member who is no longer its owner.
-- The rows are locked in id order first: taskbus-webhooks' ingest inserts deliveries in
-- webhook id order (their foreign keys lock the webhooks), so the two never deadlock.
CREATE FUNCTION project_members_drop_webhooks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM webhooks WHERE project_id = OLD.project_id AND user_id = OLD.user_id
        ORDER BY id FOR UPDATE;
    DELETE FROM webhooks WHERE project_id = OLD.project_id AND user_id = OLD.user_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER project_members_owner_left AFTER DELETE ON project_members
    FOR EACH ROW WHEN (OLD.role = 'owner') EXECUTE FUNCTION project_members_drop_webhooks();
CREATE TRIGGER project_members_owner_demoted AFTER UPDATE OF role ON project_members
    FOR EACH ROW WHEN (OLD.role = 'owner' AND NEW.role <> 'owner')
    EXECUTE FUNCTION project_members_drop_webhooks();
