-- 0033_reset_token_by_notifier.sql: the password-reset token is made by the notifier, so
-- it exists only in the e-mail (docs/decisions.md, "Issue 15", "The reset token is the
-- mail's").
--
-- Owns: password_resets.id, the row's name in the password_reset notification ({reset_id}),
-- by which taskbus-notifier finds the row and writes the hash of the token it mails. The
-- API now stores a sealed hash (of a token it makes and wipes at once: nothing redeems the
-- row until the notifier's hash replaces it), so the token no longer passes through the
-- outbox row and the notifications topic. Rows from before have no id and keep working.
-- Append-only: a change is a new migration file.

ALTER TABLE password_resets ADD COLUMN id uuid UNIQUE;
