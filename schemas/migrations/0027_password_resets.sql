-- 0027_password_resets.sql: password-reset links (docs/decisions.md, "Issue 15", slice 2).
--
-- Owns: password_resets (one row per issued reset token; only its SHA-256 is stored, the
-- raw token travels only in the password_reset notification: its outbox row, the
-- notifications topic, the e-mail; valid 1 hour, used once).
-- Rules: a token is bound to the address it was mailed to (email): it redeems only while
-- the account still has that address. A request for an address with no account stores a
-- row without user and address (the same write as for an account, so the answer's
-- timing tells nothing); no redeem can match it, since redeems join on the user. Redeeming one marks every open token of the user
-- used, under the user row's lock, so of two concurrent redeems one wins.
-- Append-only: a change is a new migration file.

CREATE TABLE password_resets (
    token_hash bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    user_id    uuid REFERENCES users (id) ON DELETE CASCADE,
    email      text,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    CHECK ((user_id IS NULL) = (email IS NULL))
);

CREATE INDEX password_resets_open_idx ON password_resets (user_id)
    WHERE used_at IS NULL AND user_id IS NOT NULL;
