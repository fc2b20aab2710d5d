-- 0026_project_activity.sql: activity and analytics per project (docs/decisions.md, "Issue
-- 14", "Activity and analytics per project (slice 9)").
-- The two read-only consumers (taskbus-activity, taskbus-analytics) read task-events.v2
-- beside task-events: a v1 event feeds the user's tables of 0009 as before (who acted:
-- data.user_id), its v2 twin feeds these tables of the task's project (data.project_id,
-- who acted: data.actor_id). Each fact lands once in each: the twins are on different
-- topics and feed different tables. The rules of 0009 hold: every row is a pure function
-- of the events consumed, so `taskbus-admin reset-consumer` and a replay from offset 0 of
-- both topics rebuild identical tables; no foreign keys (a replay must rebuild rows of
-- projects, tasks and users that are gone; the API lists a project's rows only to its
-- members, so a deleted project's are read by nobody).
-- Migrations are append-only: never edit this file once applied; add a new one.

-- The activity log of a project: one row per v2 task event. type is the v2 CloudEvent
-- type; title the task's title in the event (NULL for deletions); data the event's data
-- as published.
CREATE TABLE project_activity (
    event_id    uuid PRIMARY KEY,
    project_id  uuid NOT NULL,
    actor_id    uuid NOT NULL,
    task_id     uuid NOT NULL,
    type        text NOT NULL,
    title       text,
    occurred_at timestamptz NOT NULL,
    data        jsonb NOT NULL
);
-- GET /api/v1/activity?project=: newest first, keyset on (occurred_at, event_id).
CREATE INDEX project_activity_keyset_idx
    ON project_activity (project_id, occurred_at DESC, event_id DESC);

-- Per project and UTC day: tasks created there (by the day of created_at) and completions
-- there (by the day of completed_at), as analytics_daily counts them per user.
CREATE TABLE analytics_project_daily (
    project_id uuid NOT NULL,
    day        date NOT NULL,
    created    bigint NOT NULL DEFAULT 0 CHECK (created >= 0),
    completed  bigint NOT NULL DEFAULT 0 CHECK (completed >= 0),
    PRIMARY KEY (project_id, day)
);

-- One row per taskbus.task.completed.v2 event, for the median of a project's day.
CREATE TABLE analytics_project_completions (
    event_id            uuid PRIMARY KEY,
    project_id          uuid NOT NULL,
    day                 date NOT NULL,
    seconds_to_complete double precision NOT NULL
);
CREATE INDEX analytics_project_completions_day_idx
    ON analytics_project_completions (project_id, day);
-- analytics_seen_events (0009) holds the v2 event ids the consumer counted too: ids are
-- unique across both topics.
