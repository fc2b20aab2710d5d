-- 0009_analytics_activity.sql: the tables of the two read-only consumers of task-events
-- (consumers/analytics_*.c as group taskbus-analytics, consumers/activity_*.c as group
-- taskbus-activity; docs/decisions.md "Analytics and activity").
-- Every row is a pure function of the events consumed, never of batch boundaries or the
-- time of consumption, so `taskbus-admin reset-consumer` followed by a replay from offset 0
-- rebuilds identical tables. No foreign keys to users or tasks: a replay must be able to
-- rebuild rows of tasks (and users) that no longer exist.
-- Migrations are append-only: never edit this file once applied; add a new one.

-- Per user and UTC day: tasks created (by the day of created_at) and completions (by the
-- day of completed_at; a task completed, reopened and completed again counts twice).
CREATE TABLE analytics_daily (
    user_id   uuid NOT NULL,
    day       date NOT NULL,
    created   bigint NOT NULL DEFAULT 0 CHECK (created >= 0),
    completed bigint NOT NULL DEFAULT 0 CHECK (completed >= 0),
    PRIMARY KEY (user_id, day)
);

-- One row per taskbus.task.completed event: the median of a day is percentile_cont(0.5)
-- over these rows, computed when read (a median cannot be kept as a running aggregate).
CREATE TABLE analytics_completions (
    event_id            uuid PRIMARY KEY,
    user_id             uuid NOT NULL,
    day                 date NOT NULL,
    seconds_to_complete double precision NOT NULL
);
CREATE INDEX analytics_completions_user_day_idx ON analytics_completions (user_id, day);

-- Every event id the analytics consumer has counted, inserted in the transaction that
-- counts it: a redelivered event (outbox relay at-least-once, replays) is counted once.
CREATE TABLE analytics_seen_events (
    event_id uuid PRIMARY KEY
);

-- The activity log: one row per task event. type is the CloudEvent type; title is the
-- task's title in the event (NULL for deletions, whose events carry none); data is the
-- event's data as published.
CREATE TABLE activity (
    event_id    uuid PRIMARY KEY,
    user_id     uuid NOT NULL,
    task_id     uuid NOT NULL,
    type        text NOT NULL,
    title       text,
    occurred_at timestamptz NOT NULL,
    data        jsonb NOT NULL
);
-- GET /api/v1/activity: newest first, keyset on (occurred_at, event_id) per user.
CREATE INDEX activity_user_keyset_idx ON activity (user_id, occurred_at DESC, event_id DESC);
