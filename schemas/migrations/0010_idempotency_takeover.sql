-- Idempotency claims a retry can take over (issue 7, defect 1).
-- owner: the instance lease (api/instance_lease.h) of the API process that holds the
--   claim; a claim whose owner's advisory lock (7264004, owner) no session holds belongs to
--   a dead process, and the next retry takes it over at once. NULL: given up by its holder
--   with its command in doubt, free to take over.
-- plan: the ids the first attempt chose before producing anything (command and task ids,
--   issue time, import id). A takeover reuses them, so the writer's de-duplication by
--   command id makes a repeated command a no-op instead of a second task.
-- Migrations are append-only: never edit this file once applied; add a new one.
ALTER TABLE idempotency_keys ADD COLUMN owner int, ADD COLUMN plan jsonb;
