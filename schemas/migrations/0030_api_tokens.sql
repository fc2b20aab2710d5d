-- 0030_api_tokens.sql: personal API tokens with scopes (docs/decisions.md, "Issue 15",
-- "Personal API tokens (slice 5)").
--
-- Owns: api_tokens, one row per token a user made (POST /api/v1/tokens). Only the token's
-- SHA-256 is stored; the raw token is shown once, in the 201. prefix is the token's first
-- characters, for people to recognise it in a list. scopes: what the token may do (the
-- names of api/api_token_scope.c). token_epoch is the user's token epoch when the token
-- was made: the token works only while users.token_epoch is still that (a password change
-- or reset, signing out everywhere and a role change end it, as they end every session).
-- revoked_at: DELETE /api/v1/tokens/{id}. last_used_at is written at most twice a minute
-- per token (when it is half a minute old and an instance checks the token again).
-- Append-only: a change is a new migration file.

CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    scopes       text[] NOT NULL CHECK (cardinality(scopes) >= 1),
    token_hash   bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    prefix       text NOT NULL,
    token_epoch  bigint NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT statement_timestamp(),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- GET /api/v1/tokens: the user's tokens, oldest first.
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id, created_at, id);
