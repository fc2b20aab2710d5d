-- 0034_email_change_reverts.sql: the way back from an address change the owner did not
-- make (docs/decisions.md, "Issue 15", "Undoing an address change").
--
-- Owns: email_change_reverts, one row per completed address change: the link mailed to the
-- old address (kind email_change_revert) that puts the old address back with a new
-- password and ends every session. Rules: as password_resets since 0033, the API stores a
-- sealed hash and the notifier writes the hash of the token it mails (the row is named by
-- id in the notification), so the token exists only in the mail. A link redeems once,
-- within 7 days, and only while the account still has the address the change gave it
-- (new_email); the old address must still be free (409 otherwise). The rows go with the
-- user (cascade) and a day after their expiry (taskbus-scheduler's sweep of mailed links).
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
CREATE INDEX email_change_reverts_expires_idx ON email_change_reverts (expires_at);
