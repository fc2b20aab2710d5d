-- 0018_projects.sql: projects, their members and invitations (issue 14, slice 1;
-- docs/decisions.md "Issue 14" / "Slice 1").
-- projects: inbox_of is set only on a user's personal Inbox (one per user, made by the
--   users_inbox trigger with the user row); it goes with its user.
-- project_members: the roles. A user's memberships are read by (user_id, project_id).
-- project_invitations: pending invitations only; accepting or revoking deletes the row,
--   an expired one is ignored and replaced by the next invitation of the same address.
-- Rules: every change of a project, its members or its invitations goes through one of
--   the project_* functions below, and each of them locks the project row FOR UPDATE
--   before it reads the members, so concurrent changes of one project are serialised and
--   "at least one owner" is checked against the final state (two owners demoting each
--   other: the second finds itself the last owner). Each function answers one row
--   (outcome, doc): outcome 'ok' with doc the JSON text of the answer ('quiet': the same,
--   but nothing happened worth an event or a mail: a renewed invitation, a role set to
--   what it was), or 'not_found'
--   (not a member: no oracle), 'forbidden' (a member whose role is too low), 'inbox'
--   (the Inbox is personal), 'last_owner', 'already_member', 'limit', 'unverified',
--   'precondition' (the If-Match version is not the current one). Who may do what is
--   decided only here: project_role_rank is the one ordering of roles. The API commits
--   whatever a function decided (a refusal changes nothing, or only what the function
--   says), and writes the change's event in the same transaction.
-- Migrations are append-only: never edit this file once applied; add a new one.

-- A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits, version 7 and
-- variant 10, the same layout as shared/uuid7.c makes.
CREATE FUNCTION taskbus_uuid7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
    SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
               PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint)
                                 FROM 3)
               FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$;

CREATE FUNCTION taskbus_ts(ts timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

CREATE TABLE projects (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100 AND btrim(name) <> ''),
    description text NOT NULL DEFAULT '' CHECK (char_length(description) <= 10000),
    archived    boolean NOT NULL DEFAULT false,
    inbox_of    uuid UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    version     bigint NOT NULL DEFAULT 1 CHECK (version >= 1),
    CHECK (inbox_of IS NULL OR NOT archived)
);

CREATE TABLE project_members (
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    added_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX project_members_user_idx ON project_members (user_id, project_id);

CREATE TABLE project_invitations (
    id         uuid PRIMARY KEY,
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    email      text NOT NULL,
    role       text NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    invited_by uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    UNIQUE (project_id, email)
);
CREATE INDEX project_invitations_email_idx ON project_invitations (email);

-- ---------------------------------------------------------------- the Inbox

CREATE FUNCTION users_create_inbox() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pid uuid := taskbus_uuid7();
BEGIN
    INSERT INTO projects (id, name, inbox_of) VALUES (pid, 'Inbox', NEW.id);
    INSERT INTO project_members (project_id, user_id, role) VALUES (pid, NEW.id, 'owner');
    RETURN NULL;
END
$$;

CREATE TRIGGER users_inbox AFTER INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION users_create_inbox();

-- Every user who registered before this migration gets theirs, dated with the account.
WITH made AS (
    INSERT INTO projects (id, name, inbox_of, created_at, updated_at)
    SELECT taskbus_uuid7(), 'Inbox', u.id, u.created_at, u.created_at FROM users u
    RETURNING id, inbox_of, created_at)
INSERT INTO project_members (project_id, user_id, role, added_at)
SELECT id, inbox_of, 'owner', created_at FROM made;

-- ---------------------------------------------------------------- documents

CREATE FUNCTION project_role_rank(role text) RETURNS int LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE role WHEN 'viewer' THEN 1 WHEN 'editor' THEN 2 WHEN 'owner' THEN 3 ELSE 0 END
$$;

CREATE FUNCTION project_doc(p projects, role text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', p.id, 'name', p.name, 'description', p.description,
                             'archived', p.archived, 'inbox', p.inbox_of IS NOT NULL,
                             'role', role, 'created_at', taskbus_ts(p.created_at),
                             'updated_at', taskbus_ts(p.updated_at), 'version', p.version)::text
$$;

CREATE FUNCTION project_member_doc(m project_members) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('user_id', m.user_id, 'email', u.email,
                             'display_name', u.display_name, 'role', m.role,
                             'added_at', taskbus_ts(m.added_at))
    FROM users u WHERE u.id = m.user_id
$$;

CREATE FUNCTION project_invitation_doc(i project_invitations) RETURNS json
    LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', i.id, 'project_id', i.project_id, 'email', i.email,
                             'role', i.role, 'status', 'pending', 'invited_by', i.invited_by,
                             'created_at', taskbus_ts(i.created_at),
                             'expires_at', taskbus_ts(i.expires_at))
$$;

-- ---------------------------------------------------------------- the gate

-- Locks project pid (FOR UPDATE) and answers the actor's role in it: NULL when there is
-- no such project or the actor is not a member (both are 'not_found' to the caller).
CREATE FUNCTION project_lock_role(pid uuid, actor uuid) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM projects WHERE id = pid FOR UPDATE;
    RETURN (SELECT m.role FROM project_members m WHERE m.project_id = pid AND m.user_id = actor);
END
$$;

-- The outcome of an actor with role (NULL: not a member) asking for need: NULL when
-- allowed, else 'not_found' or 'forbidden'.
CREATE FUNCTION project_refusal(role text, need text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN role IS NULL THEN 'not_found'
                WHEN project_role_rank(role) < project_role_rank(need) THEN 'forbidden' END
$$;

-- ---------------------------------------------------------------- projects

CREATE FUNCTION project_create(pid uuid, actor uuid, p_name text, p_description text,
                               max_projects int, OUT outcome text, OUT doc text)
    LANGUAGE plpgsql AS $$
DECLARE
    p projects;
BEGIN
    -- The user row is held, so a deleted user gets no project; concurrent creates of one
    -- user queue here, so the limit is exact.
    PERFORM 1 FROM users WHERE id = actor FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    -- The same id again is a retry of this create (an Idempotency-Key's plan after a lost
    -- answer): the project as it is, and nothing to announce twice.
    SELECT * INTO p FROM projects WHERE id = pid;
    IF FOUND THEN
        SELECT 'quiet', project_doc(p, m.role) INTO outcome, doc FROM project_members m
        WHERE m.project_id = pid AND m.user_id = actor;
        outcome := coalesce(outcome, 'not_found');
        RETURN;
    END IF;
    IF (SELECT count(*) FROM project_members WHERE user_id = actor) >= max_projects THEN
        outcome := 'limit';
        RETURN;
    END IF;
    INSERT INTO projects (id, name, description) VALUES (pid, p_name, p_description)
    RETURNING * INTO p;
    INSERT INTO project_members (project_id, user_id, role) VALUES (pid, actor, 'owner');
    outcome := 'ok';
    doc := project_doc(p, 'owner');
END
$$;

CREATE FUNCTION project_get(pid uuid, actor uuid, OUT outcome text, OUT doc text)
    LANGUAGE sql STABLE AS $$
    SELECT coalesce(max(CASE WHEN m.role IS NOT NULL THEN 'ok' END), 'not_found'),
           max(project_doc(p, m.role))
    FROM projects p JOIN project_members m ON m.project_id = p.id AND m.user_id = actor
    WHERE p.id = pid
$$;

-- Locks the project and answers the actor's role and its version (for If-Match, which
-- the API evaluates before it calls project_patch/project_delete in the same transaction).
CREATE FUNCTION project_version_for(pid uuid, actor uuid, OUT role text, OUT version bigint)
    LANGUAGE plpgsql AS $$
DECLARE
    my_role text;
    p projects;
BEGIN
    my_role := project_lock_role(pid, actor);
    SELECT * INTO p FROM projects WHERE id = pid;
    IF my_role IS NOT NULL THEN
        role := my_role;
        version := p.version;
    END IF;
END
$$;

-- A merge patch: NULL keeps a field. if_version NULL: no precondition.
CREATE FUNCTION project_patch(pid uuid, actor uuid, p_name text, p_description text,
                              p_archived boolean, if_version bigint,
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
    ELSIF p.inbox_of IS NOT NULL AND p_archived THEN
        outcome := 'inbox';
    ELSE
        UPDATE projects SET name = coalesce(p_name, name),
                            description = coalesce(p_description, description),
                            archived = coalesce(p_archived, archived),
                            version = version + 1, updated_at = now()
        WHERE id = pid RETURNING * INTO p;
        outcome := 'ok';
        doc := project_doc(p, my_role);
    END IF;
END
$$;

CREATE FUNCTION project_delete(pid uuid, actor uuid, if_version bigint, OUT outcome text,
                               OUT doc text)
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
    ELSE
        DELETE FROM projects WHERE id = pid;
        outcome := 'ok';
    END IF;
END
$$;

-- ---------------------------------------------------------------- members

-- The pending invitations who sent them in project pid: they go when the sender stops being
-- an owner (demoted, removed, left), so a removed owner cannot come back through an
-- invitation to another address of theirs. The caller holds the project's row lock.
CREATE FUNCTION project_drop_invitations_of(pid uuid, sender uuid) RETURNS void
    LANGUAGE sql AS $$
    DELETE FROM project_invitations WHERE project_id = pid AND invited_by = sender
$$;

CREATE FUNCTION project_members_list(pid uuid, actor uuid, OUT outcome text, OUT doc text)
    LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM project_members WHERE project_id = pid AND user_id = actor) THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    outcome := 'ok';
    SELECT coalesce(json_agg(project_member_doc(m) ORDER BY m.added_at, m.user_id), '[]')::text
    INTO doc FROM project_members m WHERE m.project_id = pid;
END
$$;

-- Sets target's role (the owner's). Demoting the last owner is 'last_owner'.
CREATE FUNCTION project_member_set_role(pid uuid, actor uuid, target uuid, p_role text,
                                        OUT outcome text, OUT doc text)
    LANGUAGE plpgsql AS $$
DECLARE
    my_role text;
    p projects;
    m project_members;
BEGIN
    my_role := project_lock_role(pid, actor);
    SELECT * INTO p FROM projects WHERE id = pid;
    outcome := project_refusal(my_role, 'owner');
    IF outcome IS NOT NULL THEN
        RETURN;
    END IF;
    SELECT * INTO m FROM project_members WHERE project_id = pid AND user_id = target;
    IF NOT FOUND THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    IF m.role = 'owner' AND p_role <> 'owner' AND (SELECT count(*) FROM project_members
            WHERE project_id = pid AND role = 'owner') = 1 THEN
        outcome := 'last_owner';
        RETURN;
    END IF;
    IF m.role = p_role THEN
        outcome := 'quiet';
        doc := project_member_doc(m)::text;
        RETURN;
    END IF;
    IF m.role = 'owner' THEN
        PERFORM project_drop_invitations_of(pid, target);
    END IF;
    UPDATE project_members SET role = p_role WHERE project_id = pid AND user_id = target
    RETURNING * INTO m;
    outcome := 'ok';
    doc := project_member_doc(m)::text;
END
$$;

-- Removes target: the owner removes anyone, every member removes themselves (leaving).
CREATE FUNCTION project_member_remove(pid uuid, actor uuid, target uuid, OUT outcome text,
                                      OUT doc text)
    LANGUAGE plpgsql AS $$
DECLARE
    my_role text;
    p projects;
    target_role text;
BEGIN
    my_role := project_lock_role(pid, actor);
    SELECT * INTO p FROM projects WHERE id = pid;
    outcome := project_refusal(my_role, CASE WHEN target = actor THEN 'viewer' ELSE 'owner' END);
    IF outcome IS NOT NULL THEN
        RETURN;
    END IF;
    SELECT role INTO target_role FROM project_members WHERE project_id = pid AND user_id = target;
    IF NOT FOUND THEN
        outcome := 'not_found';
    ELSIF p.inbox_of IS NOT NULL THEN
        outcome := 'inbox';
    ELSIF target_role = 'owner' AND (SELECT count(*) FROM project_members
            WHERE project_id = pid AND role = 'owner') = 1 THEN
        outcome := 'last_owner';
    ELSE
        PERFORM project_drop_invitations_of(pid, target);
        DELETE FROM project_members WHERE project_id = pid AND user_id = target;
        outcome := 'ok';
    END IF;
END
$$;

-- ---------------------------------------------------------------- invitations

-- Invites p_email (normalised by the API) with p_role for ttl seconds (the owner's). A
-- pending invitation of the address is renewed in place (same id). At most max_members
-- members and live invitations together.
CREATE FUNCTION project_invite(iid uuid, pid uuid, actor uuid, p_email text, p_role text,
                               ttl_seconds int, max_members int, OUT outcome text, OUT doc text)
    LANGUAGE plpgsql AS $$
DECLARE
    my_role text;
    p projects;
    i project_invitations;
BEGIN
    my_role := project_lock_role(pid, actor);
    SELECT * INTO p FROM projects WHERE id = pid;
    outcome := project_refusal(my_role, 'owner');
    IF outcome IS NOT NULL THEN
        RETURN;
    END IF;
    IF p.inbox_of IS NOT NULL THEN
        outcome := 'inbox';
        RETURN;
    END IF;
    -- Only a verified sender invites: the mail goes to any address and carries the
    -- project's name, so an unverified account cannot use it to write to strangers.
    IF (SELECT email_verified_at FROM users WHERE id = actor) IS NULL THEN
        outcome := 'unverified';
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM project_members m JOIN users u ON u.id = m.user_id
               WHERE m.project_id = pid AND u.email = p_email) THEN
        outcome := 'already_member';
        RETURN;
    END IF;
    IF (SELECT count(*) FROM project_members WHERE project_id = pid)
       + (SELECT count(*) FROM project_invitations
          WHERE project_id = pid AND expires_at > now() AND email <> p_email) >= max_members THEN
        outcome := 'limit';
        RETURN;
    END IF;
    INSERT INTO project_invitations AS x (id, project_id, email, role, invited_by, expires_at)
    VALUES (iid, pid, p_email, p_role, actor, now() + ttl_seconds * interval '1 second')
    ON CONFLICT (project_id, email) DO UPDATE
        SET role = excluded.role, invited_by = excluded.invited_by,
            expires_at = excluded.expires_at,
            id = CASE WHEN x.expires_at > now() THEN x.id ELSE excluded.id END,
            created_at = CASE WHEN x.expires_at > now() THEN x.created_at ELSE now() END
    RETURNING * INTO i;
    -- A renewal (same id) is not mailed again: the invitee has the first mail, and
    -- GET /api/v1/invitations lists it; so re-inviting cannot be used to send mail on and on.
    outcome := CASE WHEN i.id = iid THEN 'ok' ELSE 'quiet' END;
    doc := project_invitation_doc(i)::text;
END
$$;

CREATE FUNCTION project_invitations_list(pid uuid, actor uuid, OUT outcome text, OUT doc text)
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
    outcome := 'ok';
    SELECT coalesce(json_agg(project_invitation_doc(i) ORDER BY i.created_at, i.id), '[]')::text
    INTO doc FROM project_invitations i WHERE i.project_id = pid AND i.expires_at > now();
END
$$;

CREATE FUNCTION project_invitation_revoke(pid uuid, iid uuid, actor uuid, OUT outcome text,
                                          OUT doc text)
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
    DELETE FROM project_invitations WHERE id = iid AND project_id = pid AND expires_at > now();
    outcome := CASE WHEN FOUND THEN 'ok' ELSE 'not_found' END;
END
$$;

-- The actor's pending invitations, each with project_name; none until the actor's address
-- is verified (whoever registered an address first must not read what was meant for its
-- owner).
CREATE FUNCTION project_invitations_of(actor uuid) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce(json_agg((project_invitation_doc(i)::jsonb
                              || jsonb_build_object('project_name', p.name))
                             ORDER BY i.created_at, i.id), '[]')::text
    FROM users u JOIN project_invitations i ON i.email = u.email AND i.expires_at > now()
    JOIN projects p ON p.id = i.project_id
    WHERE u.id = actor AND u.email_verified_at IS NOT NULL
$$;

-- The invitee accepts: only an invitation of the project to the actor's own address,
-- still live; the address must be verified ('unverified'); an actor who is a member
-- already gets 'already_member' (and the moot invitation is gone).
CREATE FUNCTION project_invitation_accept(pid uuid, iid uuid, actor uuid, max_projects int,
                                          OUT outcome text, OUT doc text)
    LANGUAGE plpgsql AS $$
DECLARE
    my_role text;
    p projects;
    u users;
    i project_invitations;
BEGIN
    SELECT * INTO u FROM users WHERE id = actor FOR NO KEY UPDATE;
    my_role := project_lock_role(pid, actor);
    SELECT * INTO p FROM projects WHERE id = pid;
    -- Only while its sender is an owner (an owner who loses the role takes their
    -- invitations along: project_drop_invitations_of; this holds even if one was missed).
    SELECT * INTO i FROM project_invitations x
    WHERE x.id = iid AND x.project_id = pid AND x.expires_at > now() AND x.email = u.email
      AND EXISTS (SELECT 1 FROM project_members o WHERE o.project_id = pid
                  AND o.user_id = x.invited_by AND o.role = 'owner');
    IF NOT FOUND THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    IF u.email_verified_at IS NULL THEN
        outcome := 'unverified';
        RETURN;
    END IF;
    IF my_role IS NOT NULL THEN
        -- Already a member (invited under another address too): the invitation is moot.
        DELETE FROM project_invitations WHERE id = iid;
        outcome := 'already_member';
        RETURN;
    END IF;
    IF (SELECT count(*) FROM project_members WHERE user_id = actor) >= max_projects THEN
        outcome := 'limit';
        RETURN;
    END IF;
    INSERT INTO project_members (project_id, user_id, role) VALUES (pid, actor, i.role);
    DELETE FROM project_invitations WHERE id = iid;
    outcome := 'ok';
    doc := project_doc(p, i.role);
END
$$;
