-- 0013_retention.sql: what the retention passes need (docs/decisions.md "Retention").
-- reports.expired_at: when taskbus-reporter removed the report's file (or, for a failed
--   report, ended its retention) because it finished longer than
--   TASKBUS_REPORT_RETENTION_SECONDS ago; the download of such a report is 410. The row
--   itself is deleted one more retention period later (then 404). The partial index finds
--   the finished reports still to expire, and the expired ones to delete.
-- analytics_seen_events.seen_at: when the analytics consumer first counted the event; rows
--   older than TASKBUS_ANALYTICS_SEEN_RETENTION_SECONDS are deleted by taskbus-scheduler.
--   Existing rows take the time of this migration (a constant default: no table rewrite).
-- Migrations are append-only: never edit this file once applied; add a new one.

ALTER TABLE reports ADD COLUMN expired_at timestamptz;
ALTER TABLE reports ADD CONSTRAINT reports_expired_finished
    CHECK (expired_at IS NULL OR finished_at IS NOT NULL);
CREATE INDEX reports_retention_idx ON reports (finished_at) WHERE finished_at IS NOT NULL;

ALTER TABLE analytics_seen_events ADD COLUMN seen_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX analytics_seen_events_seen_at_idx ON analytics_seen_events (seen_at);
