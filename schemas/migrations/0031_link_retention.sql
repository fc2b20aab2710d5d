-- 0031_link_retention.sql: the mailed links expire out of their tables (docs/decisions.md,
-- "Issue 15", "Expired links are pruned").
--
-- Owns: the indexes by expiry of email_verifications, password_resets (decoy rows of
-- unknown addresses included: one per reset request, so without a sweep anyone could
-- grow the table for ever) and email_changes, for taskbus-scheduler's retention pass,
-- which deletes rows a day past their expiry (workers/scheduler/scheduler_retention.h).
-- A link that is gone answers as an expired one did (400 invalid-token).
-- Append-only: a change is a new migration file.

CREATE INDEX email_verifications_expires_idx ON email_verifications (expires_at);
CREATE INDEX password_resets_expires_idx ON password_resets (expires_at);
CREATE INDEX email_changes_expires_idx ON email_changes (expires_at);
