-- 0014_dlq_marks.sql: what taskbus-admin dlq did to one dead letter
-- (docs/decisions.md, "Dead letters, one by one").
-- dlq_marks: one row per dead letter (dead-letter topic, partition, offset) that an
--   operator skipped (`dlq skip`: never replayed again) or replayed alone
--   (`dlq replay --offset`). `dlq replay --all` (and replay-dlq) passes over both; a
--   skipped row is never turned into a replayed one.
CREATE TABLE dlq_marks (
    dlq_topic  text NOT NULL,
    partition  int NOT NULL,
    "offset"   bigint NOT NULL,
    action     text NOT NULL CHECK (action IN ('skipped', 'replayed')),
    marked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dlq_topic, partition, "offset")
);
