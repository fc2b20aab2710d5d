-- 0034_email_change_reverts.sql: the way back from an address change the owner did not
-- make (docs/decisions.md, "Issue 15", "Undoing an address change").
--
-- Owns: email_change_reverts, one row per completed change away from a verified address:
-- the link mailed to the old address (kind email_change_revert) that puts it back with a
-- new password and ends every session. Rules: as password_resets since 0033, the API
-- stores a sealed hash and the notifier writes the hash of the token it mails (the row is
-- named by id in the notification), so the token exists only in the mail. A link redeems
-- once, within 7 days, whatever the address became since (whoever changed it cannot
-- change it again to kill the way back), and a revert closes the links of later changes
-- only. While a link is open its old address is reserved (email_reserved): no
-- registration and no other account's change takes it, so squatting cannot block the way
-- back. The rows go with the user (cascade) and a day after their expiry
-- (taskbus-scheduler's sweep of mailed links).
-- Append-only: a change is a new migration file.

CREATE TABLE email_change_reverts (
    id         uuid PRIMARY KEY,
    token_hash bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    old_email  text NOT NULL,
    new_email  text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX email_change_reverts_user_idx ON email_change_reverts (user_id);
CREATE INDEX email_change_reverts_open_idx ON email_change_reverts (old_email)
    WHERE used_at IS NULL;
CREATE INDEX email_change_reverts_expires_idx ON email_change_reverts (expires_at);

-- Whether addr is held for an open revert link of another account than except_user (NULL:
-- of any account): taken, as far as registering or changing to it goes.
CREATE FUNCTION email_reserved(addr text, except_user uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM email_change_reverts r WHERE r.old_email = addr
                   AND r.used_at IS NULL AND r.expires_at > statement_timestamp()
                   AND r.user_id IS DISTINCT FROM except_user)
$$;
