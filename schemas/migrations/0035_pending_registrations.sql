-- 0035_pending_registrations.sql: registration without an account oracle (docs/decisions.md,
-- "Issue 15", "Registering without an account oracle").
--
-- Owns: pending_registrations, one row per POST /api/v1/auth/register: the account as it
-- will be (id, address, password hash, display name) until the link mailed to the address
-- (kind register_confirm) is opened. Rules: as password_resets, the API stores a sealed
-- hash and the notifier writes the hash of the token it mails (the row named by id), so
-- the token exists only in the mail; the notifier mints only while the address has no
-- account. A row is stored for a taken address too (the same work either way); it never
-- gets a live hash, because its mail is the link-less account_exists notice. A link
-- redeems once, within a day, into an account with the row's id, created verified; the
-- rows go a day after their expiry (taskbus-scheduler's sweep of mailed links), and with
-- the account when it is erased: its own row (its id) and every row of its address (they
-- hold the address, a password hash and a name). Only a free address's row keeps the
-- password hash; a taken or reserved one stores '' (the API decides in the INSERT), and
-- a confirmation must give the password whose hash the row holds.
-- Append-only: a change is a new migration file.

CREATE TABLE pending_registrations (
    id            uuid PRIMARY KEY,
    token_hash    bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    email         text NOT NULL,
    password_hash text NOT NULL,
    display_name  text NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz
);
CREATE INDEX pending_registrations_expires_idx ON pending_registrations (expires_at);
CREATE INDEX pending_registrations_email_idx ON pending_registrations (email);

CREATE FUNCTION users_erase_registrations() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM pending_registrations WHERE id = OLD.id OR email = OLD.email;
    RETURN OLD;
END
$$;

CREATE TRIGGER users_erase_registrations BEFORE DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION users_erase_registrations();
