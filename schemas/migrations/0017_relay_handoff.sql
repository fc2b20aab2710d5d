-- 0017_relay_handoff.sql: how the last publishing relay left (docs/decisions.md,
-- "Issue 12" / "The relay's handoff fence").
-- relay_handoff: one row. leader = the instance id (a UUIDv7 each relay process draws at
--   start) of the relay that last took the publishing lock; stopped_cleanly = that relay
--   stopped gracefully after its producer had no message left without a delivery report
--   and no failed report within the fence, and wrote so in its lock session before it
--   gave the lock up. A relay that takes the lock and finds stopped_cleanly false (a crash,
--   a lost Postgres session, a stop whose flush timed out), or no row, waits out the fence
--   before its first publish (FENCE_MS in workers/relay/relay_leader.h: the pass's delivery
--   deadline, in which an old leader may still enqueue, plus the producer's
--   message.timeout.ms plus a margin), unless it is itself that leader and its own
--   producer is drained; so records still queued in a previous leader do not land after
--   the new leader's.
-- The row starts clean on a fresh database; on an upgrade (users exist) it starts not
-- clean, because the relays before 0017 gave the lock up before they flushed.
CREATE TABLE relay_handoff (
    only_row        boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    leader          text NOT NULL,
    stopped_cleanly boolean NOT NULL,
    changed_at      timestamptz NOT NULL DEFAULT now()
);
INSERT INTO relay_handoff (leader, stopped_cleanly)
SELECT '', NOT EXISTS (SELECT 1 FROM users);
