-- 0012_near_cache.sql: what the near-cache protocol needs from the writer's journal
-- (docs/decisions.md, "Near cache").
-- writer_pending_effects becomes durable: API instances stop trusting caches while a row
--   older than the journal grace exists, and a crash of Postgres must not forget one.
-- created_at is the insert's clock (not the transaction's start), which the grace is
--   measured against.
-- released: the writer has waited long enough after seeing the row that no API lease
--   granted before it can still serve; its commands may be reported applied from
--   Postgres although Redis does not have their effects yet.
-- commands.effects_id: the journal row holding a command's effects, so a report from
--   Postgres can tell whether they were delivered (row gone) or released.
ALTER TABLE writer_pending_effects SET LOGGED;
ALTER TABLE writer_pending_effects ALTER COLUMN created_at SET DEFAULT clock_timestamp();
ALTER TABLE writer_pending_effects ADD COLUMN released boolean NOT NULL DEFAULT false;
ALTER TABLE commands ADD COLUMN effects_id bigint;
