-- 0021_invitation_expiry.sql: the index taskbus-scheduler's retention pass deletes expired
-- project invitations by (issue 14, docs/decisions.md "Issue 14": every reader already
-- ignores an invitation past expires_at, so the rows only took room). The pass takes the
-- earliest first, in batches, with SKIP LOCKED.
-- Migrations are append-only: never edit this file once applied; add a new one.

CREATE INDEX project_invitations_expires_idx ON project_invitations (expires_at);
