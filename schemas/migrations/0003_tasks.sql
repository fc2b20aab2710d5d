-- 0003_tasks.sql: tasks, the command log, idempotency keys, imports, and the writer's
-- journal of after-commit effects.
-- tasks: written only by taskbus-writer (workers/writer_*.c); readers select
--   TASK_SELECT_COLUMNS (shared/task_model.h). priority_rank and search are generated so
--   sorting by priority and full-text search never depend on the writer remembering them.
-- commands: one row per applied or rejected command (primary key command_id), so a
--   command produced twice (API retry, importer restart) is applied once.
-- idempotency_keys: the first response to a POST with Idempotency-Key, per user, 24 h.
-- imports, import_items: bulk imports, produced as create commands by taskbus-importer.
-- writer_pending_effects: UNLOGGED on purpose (no WAL per batch): it only has to outlive
--   a crash of the writer between its commit and its Redis effects, not of Postgres.
-- Migrations are append-only: never edit this file once applied; add a new one.

CREATE TABLE tasks (
    id            uuid PRIMARY KEY,
    owner_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title         text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    description   text NOT NULL DEFAULT '' CHECK (char_length(description) <= 10000),
    status        text NOT NULL DEFAULT 'todo'
                  CHECK (status IN ('todo', 'in_progress', 'done')),
    priority      text NOT NULL DEFAULT 'medium'
                  CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
    priority_rank smallint GENERATED ALWAYS AS (
                      CASE priority WHEN 'low' THEN 0 WHEN 'medium' THEN 1
                                    WHEN 'high' THEN 2 WHEN 'urgent' THEN 3 END) STORED,
    due_at        timestamptz,
    tags          text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 20),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz,
    version       bigint NOT NULL DEFAULT 1 CHECK (version >= 1),
    search        tsvector GENERATED ALWAYS AS (
                      to_tsvector('simple', title || ' ' || description)) STORED,
    -- A done task always says when; any other status never does.
    CHECK ((status = 'done') = (completed_at IS NOT NULL))
);

CREATE INDEX tasks_search_idx ON tasks USING gin (search);
CREATE INDEX tasks_tags_idx ON tasks USING gin (tags);
-- Keyset pagination: one index per sort, ending in id so (sort key, id) is unique.
CREATE INDEX tasks_owner_created_idx ON tasks (owner_id, created_at, id);
CREATE INDEX tasks_owner_updated_idx ON tasks (owner_id, updated_at, id);
CREATE INDEX tasks_owner_due_idx ON tasks (owner_id, due_at, id);
CREATE INDEX tasks_owner_priority_idx ON tasks (owner_id, priority_rank, id);

CREATE TABLE commands (
    command_id   uuid PRIMARY KEY,
    user_id      uuid NOT NULL,
    task_id      uuid NOT NULL,
    type         text NOT NULL CHECK (type IN ('task.create', 'task.update', 'task.delete')),
    status       text NOT NULL CHECK (status IN ('applied', 'rejected')),
    problem      jsonb,
    task_version bigint,
    import_id    uuid,
    applied_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX commands_user_idx ON commands (user_id);

CREATE TABLE idempotency_keys (
    user_id          uuid NOT NULL,
    key              text NOT NULL,
    request_hash     text NOT NULL,
    state            text NOT NULL CHECK (state IN ('in_flight', 'done')),
    status_code      int,
    response_headers jsonb,
    response_body    text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    PRIMARY KEY (user_id, key)
);

-- Expired keys are purged by expires_at.
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);

CREATE TABLE imports (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL,
    status      text NOT NULL,
    total       int NOT NULL DEFAULT 0,
    accepted    int NOT NULL DEFAULT 0,
    rejected    int NOT NULL DEFAULT 0,
    errors      jsonb NOT NULL DEFAULT '[]',
    created_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);

CREATE INDEX imports_user_idx ON imports (user_id, created_at);

CREATE TABLE import_items (
    import_id   uuid NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    seq         int NOT NULL,
    command_id  uuid NOT NULL UNIQUE,
    task_id     uuid NOT NULL,
    fields      jsonb NOT NULL,
    produced_at timestamptz,
    PRIMARY KEY (import_id, seq)
);

-- The importer scans only what is still to produce.
CREATE INDEX import_items_unproduced_idx ON import_items (import_id, seq)
    WHERE produced_at IS NULL;

CREATE UNLOGGED TABLE writer_pending_effects (
    id         bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    effects    text NOT NULL
);
