-- 0002_accounts.sql: user accounts and refresh-token sessions (docs/decisions.md, "Accounts").
--
-- Owns: users (the e-mail is stored normalised: trimmed, ASCII lower-cased, so the UNIQUE
-- constraint is the one guard against duplicate accounts, races included) and
-- refresh_tokens (one row per issued refresh token; a session is a family of rows linked
-- by family_id, each rotation marks the old row used and adds the next one). Rules: the
-- token itself is never stored, only its SHA-256; token_epoch only grows (logout-all,
-- password change and role change bump it, and access tokens carrying an older epoch are
-- refused). Append-only: a change is a new migration file.

CREATE TABLE users (
    id                uuid PRIMARY KEY,
    email             text NOT NULL UNIQUE
                      CHECK (char_length(email) BETWEEN 3 AND 254 AND email = btrim(email)),
    password_hash     text NOT NULL,
    display_name      text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 100),
    role              text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    email_verified_at timestamptz,
    token_epoch       bigint NOT NULL DEFAULT 0 CHECK (token_epoch >= 0),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE refresh_tokens (
    id         uuid PRIMARY KEY,
    family_id  uuid NOT NULL,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz
);

-- Revoking a session (logout, reuse detection) and the middleware's Postgres fallback
-- look a family up; logout-all and expired-row cleanup look a user's rows up.
CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_id_idx ON refresh_tokens (user_id);
