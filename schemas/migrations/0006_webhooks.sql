-- 0006_webhooks.sql: webhooks, their deliveries and the log of every delivery attempt
-- (docs/decisions.md "Webhooks").
-- webhooks: written by the API (register, delete) and by taskbus-webhooks (failing_since,
--   disable). The secret is stored as is: it must sign every delivery; the API returns it
--   only in the 201 of the registration. failing_since is set by the first failed attempt
--   after a success and cleared by the next success; a webhook failing continuously for
--   TASKBUS_WEBHOOK_DISABLE_AFTER_SECONDS is disabled (enabled false, disabled_at, reason).
-- webhook_deliveries: one row per (webhook, event), inserted by taskbus-webhooks in its
--   consumer transaction; the unique pair makes a redelivered event add nothing. The
--   sender picks due rows (status pending, next_attempt_at <= now()) with FOR UPDATE SKIP
--   LOCKED, so several senders never deliver one row at once. The id is a UUIDv7 (keyset
--   order of the deliveries log).
-- webhook_attempts: one row per HTTP attempt (the deliveries log shows them).
-- Migrations are append-only: never edit this file once applied; add a new one.

CREATE TABLE webhooks (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url             text NOT NULL CHECK (char_length(url) BETWEEN 1 AND 2048),
    event_types     text[] NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 20),
    secret          text NOT NULL,
    enabled         boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    failing_since   timestamptz,
    disabled_at     timestamptz,
    disabled_reason text,
    -- A disabled webhook always says when and why; an enabled one never does.
    CHECK (enabled = (disabled_at IS NULL))
);

CREATE INDEX webhooks_user_idx ON webhooks (user_id, id);

CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,
    webhook_id       uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id         uuid NOT NULL,
    event_type       text NOT NULL,
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    UNIQUE (webhook_id, event_id)
);

-- The sender's scan: due pending deliveries only.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
-- The deliveries log: newest first, keyset on id.
CREATE INDEX webhook_deliveries_log_idx ON webhook_deliveries (webhook_id, id);

CREATE TABLE webhook_attempts (
    id          bigserial PRIMARY KEY,
    delivery_id uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt     integer NOT NULL CHECK (attempt >= 1),
    started_at  timestamptz NOT NULL DEFAULT now(),
    duration_ms integer NOT NULL DEFAULT 0,
    status_code integer,
    error       text
);

CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, attempt);
