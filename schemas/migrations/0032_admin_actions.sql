-- 0032_admin_actions.sql: locked accounts, the admin audit log and the one function every
-- admin action goes through (docs/decisions.md, "Issue 15", "Slice 6: the admin API").
--
-- Owns:
-- - users.locked_at: a locked user cannot sign in or refresh (api/auth_sessions.c reads
--   it with the user row); locking ends every session and token at once through the
--   token epoch, as a password change does.
-- - admin_audit: one row per admin action, whoever ran it (an admin through the API, or
--   the operator's taskbus-admin, actor_id NULL). Ids only, no personal data; the rows
--   outlive an erased user (an audit trail the subject can erase is none), as
--   deleted_users and erased_users do.
-- - admin_user_action(): the rows locked in id order (actor and target: two admins acting
--   on each other wait, never deadlock), the actor checked under that lock (still an
--   admin, not locked), the change, the epoch moved when tokens must end, and the audit
--   row, all in the caller's transaction. The caller publishes the new epoch to Redis
--   before its COMMIT and adds the event (shared/admin_action.c).
-- Append-only: a change is a new migration file.

ALTER TABLE users ADD COLUMN locked_at timestamptz;

CREATE TABLE admin_audit (
    id         uuid PRIMARY KEY, -- a uuid7: newest first is id order
    at         timestamptz NOT NULL,
    actor_id   uuid,             -- NULL: taskbus-admin (the operator's command line)
    action     text NOT NULL CHECK (action IN ('lock', 'unlock', 'logout_all', 'set_role')),
    target_id  uuid NOT NULL,
    changed    boolean NOT NULL, -- false: the target was already so (a repeated lock)
    detail     jsonb NOT NULL DEFAULT '{}'::jsonb,
    request_id text
);
CREATE INDEX admin_audit_target_idx ON admin_audit (target_id, id);
CREATE INDEX admin_audit_actor_idx ON admin_audit (actor_id, id);

-- outcome: 'ok', 'not_admin' (the actor is no admin, or locked, or gone: the API answers
-- 404 as to any non-admin), 'own_account' (an admin cannot lock or re-role themselves:
-- there is always an admin left who can undo it), 'not_found' (no such target).
-- epoch_moved: token_epoch went up (lock, logout_all, a changed role): the caller
-- publishes token_epoch before its COMMIT. audit: the audit row's document, which is also
-- the data of the taskbus.admin.action event. target_doc: the target as the action left it
-- (admin_user_detail), the answer, read in the same transaction (a second read that failed
-- after the COMMIT would answer 503 and invite a retry that acts twice).
CREATE FUNCTION admin_user_action(p_audit_id uuid, p_actor uuid, p_target uuid,
                                  p_action text, p_role text, p_request_id text,
                                  OUT outcome text, OUT changed boolean,
                                  OUT epoch_moved boolean, OUT token_epoch bigint,
                                  OUT audit json, OUT target_doc json)
LANGUAGE plpgsql AS $$
DECLARE
    actor record;
    target record;
    at timestamptz := statement_timestamp();
    detail jsonb;
BEGIN
    -- NO KEY UPDATE, not UPDATE: rows inserted meanwhile that reference the user (a
    -- refresh token's rotation holding its row, a task) take KEY SHARE and go on, so no
    -- deadlock with the refresh_tokens UPDATE below.
    PERFORM 1 FROM users u WHERE u.id IN (p_actor, p_target) ORDER BY u.id FOR NO KEY UPDATE;
    IF p_actor IS NOT NULL THEN
        SELECT u.role, u.locked_at INTO actor FROM users u WHERE u.id = p_actor;
        IF NOT FOUND OR actor.role <> 'admin' OR actor.locked_at IS NOT NULL THEN
            outcome := 'not_admin';
            RETURN;
        END IF;
        IF p_actor = p_target AND p_action IN ('lock', 'set_role') THEN
            outcome := 'own_account';
            RETURN;
        END IF;
    END IF;
    SELECT u.role, u.locked_at, u.token_epoch INTO target FROM users u WHERE u.id = p_target;
    IF NOT FOUND THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    changed := CASE p_action
        WHEN 'lock' THEN target.locked_at IS NULL
        WHEN 'unlock' THEN target.locked_at IS NOT NULL
        WHEN 'logout_all' THEN true
        WHEN 'set_role' THEN target.role <> p_role
    END;
    IF changed IS NULL THEN
        RAISE EXCEPTION 'admin_user_action: unknown action %', p_action;
    END IF;
    -- Unlock moves the epoch and revokes too: a credential that raced the lock (a login or
    -- a refresh whose statements ran while it committed) dies then, so nothing issued
    -- before the unlock survives it.
    epoch_moved := changed;
    detail := CASE WHEN p_action = 'set_role'
                   THEN jsonb_build_object('role', p_role, 'previous_role', target.role)
                   ELSE '{}'::jsonb END;
    IF changed THEN
        UPDATE users u SET
            locked_at = CASE p_action WHEN 'lock' THEN at WHEN 'unlock' THEN NULL
                                      ELSE u.locked_at END,
            role = CASE WHEN p_action = 'set_role' THEN p_role ELSE u.role END,
            token_epoch = u.token_epoch + CASE WHEN epoch_moved THEN 1 ELSE 0 END,
            updated_at = at
        WHERE u.id = p_target;
    END IF;
    IF changed AND p_action IN ('lock', 'unlock', 'logout_all') THEN
        UPDATE refresh_tokens r SET revoked_at = at
        WHERE r.user_id = p_target AND r.revoked_at IS NULL;
    END IF;
    SELECT u.token_epoch INTO token_epoch FROM users u WHERE u.id = p_target;
    INSERT INTO admin_audit (id, at, actor_id, action, target_id, changed, detail, request_id)
    VALUES (p_audit_id, at, p_actor, p_action, p_target, changed, detail, p_request_id);
    SELECT admin_audit_doc(a) INTO audit FROM admin_audit a WHERE a.id = p_audit_id;
    SELECT admin_user_detail(u) INTO target_doc FROM users u WHERE u.id = p_target;
    outcome := 'ok';
END;
$$;

-- GET /api/v1/admin/users and .../users/{id}: an account as an admin sees it (never the
-- password hash).
CREATE FUNCTION admin_user_doc(u users) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', u.id, 'email', u.email, 'display_name', u.display_name,
        'role', u.role, 'email_verified', u.email_verified_at IS NOT NULL,
        'locked', u.locked_at IS NOT NULL, 'locked_at', taskbus_ts(u.locked_at),
        'created_at', taskbus_ts(u.created_at), 'updated_at', taskbus_ts(u.updated_at))
$$;

-- .../users/{id} adds what can still sign in: live sessions (refresh families neither
-- revoked nor expired) and live API tokens (of the current epoch, not revoked, not
-- expired).
CREATE FUNCTION admin_user_detail(u users) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT (admin_user_doc(u)::jsonb || jsonb_build_object(
        'active_sessions', (SELECT count(DISTINCT r.family_id) FROM refresh_tokens r
                            WHERE r.user_id = u.id AND r.revoked_at IS NULL
                              AND r.used_at IS NULL AND r.expires_at > now()),
        'api_tokens', (SELECT count(*) FROM api_tokens t
                       WHERE t.user_id = u.id AND t.revoked_at IS NULL
                         AND t.token_epoch = u.token_epoch
                         AND (t.expires_at IS NULL OR t.expires_at > now()))))::json
$$;

CREATE FUNCTION admin_audit_doc(a admin_audit) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', a.id, 'at', taskbus_ts(a.at), 'actor_id', a.actor_id,
        'action', a.action, 'target_id', a.target_id, 'changed', a.changed,
        'detail', a.detail, 'request_id', a.request_id)
$$;
