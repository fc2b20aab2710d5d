-- 0005_notifications.sql: e-mail verification tokens and the notifier's record of sent mail
-- (docs/decisions.md, "Notifications and e-mail").
--
-- Owns: email_verifications (one row per issued verification token; only its SHA-256 is
-- stored, the raw token travels only inside the welcome e-mail's link; valid 48 h, used
-- once) and sent_notifications (one row per notification the SMTP server accepted,
-- written in the notifier's consumer transaction; a recorded id is never sent again).
-- Append-only: a change is a new migration file.

CREATE TABLE email_verifications (
    token_hash bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

CREATE INDEX email_verifications_user_id_idx ON email_verifications (user_id);

CREATE TABLE sent_notifications (
    notification_id uuid PRIMARY KEY,
    kind            text NOT NULL,
    user_id         uuid NOT NULL,
    sent_at         timestamptz NOT NULL DEFAULT now()
);
