-- 0028_email_changes.sql: changes of an account's e-mail address waiting for the new
-- address's link (docs/decisions.md, "Issue 15", slice 3).
--
-- Owns: email_changes (one row per link mailed to a new address; only its SHA-256 is
-- stored, the raw token travels only in the email_change notification: its outbox row,
-- the notifications topic, the e-mail; valid 24 hours, used once).
-- Rules: a link completes only while the account still has old_email and the token_epoch
-- it had when the password was checked (a password change, a reset or a sign-out
-- everywhere in between voids it: the attacker who started a change from a stolen
-- session loses it with the session); completing one ends the user's other open links,
-- under the user row's lock. The UNIQUE e-mail of users decides a race for an
-- address.
-- Append-only: a change is a new migration file.

CREATE TABLE email_changes (
    token_hash bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    old_email  text NOT NULL,
    new_email  text NOT NULL,
    token_epoch bigint NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

CREATE INDEX email_changes_open_idx ON email_changes (user_id) WHERE used_at IS NULL;
