-- 0008_reports.sql: reports of a user's tasks (docs/decisions.md "Reports").
-- reports: one row per POST /api/v1/reports, written by the API together with the
--   `reports` message (outbox) in one transaction; taskbus-reporter moves it
--   queued -> running -> ready | failed and fills row_count, size_bytes (or error) and
--   finished_at. filters holds the normalised filters of the task list (status, priority,
--   tags, due_before, due_after, q) the file was built with.
-- The index serves GET /api/v1/reports, a keyset list per user on (created_at, id).
-- Migrations are append-only: never edit this file once applied; add a new one.

CREATE TABLE reports (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    format      text NOT NULL CHECK (format IN ('csv', 'json')),
    filters     jsonb NOT NULL DEFAULT '{}',
    status      text NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'ready', 'failed')),
    row_count   bigint,
    size_bytes  bigint,
    error       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    -- A finished report says when; an unfinished one never does.
    CHECK ((status IN ('ready', 'failed')) = (finished_at IS NOT NULL))
);

CREATE INDEX reports_user_created_idx ON reports (user_id, created_at, id);
