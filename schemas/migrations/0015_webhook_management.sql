-- 0015_webhook_management.sql: rotating a webhook's secret and redelivering a delivery
-- (docs/decisions.md "Managing a webhook").
-- webhooks.previous_secret: written by the API at a rotation (the secret it replaces), read
--   by taskbus-webhooks, which signs every delivery with both secrets while
--   previous_secret_expires_at is in the future (TASKBUS_WEBHOOK_SECRET_GRACE_SECONDS
--   after the rotation). A second rotation within the grace period replaces it: only the
--   secret in use just before the latest rotation stays valid.
-- webhook_deliveries.attempt_base: the attempts made before the latest redelivery (POST
--   .../deliveries/{id}/redeliver sets it to attempts); the sender counts the retry budget
--   (TASKBUS_WEBHOOK_MAX_ATTEMPTS) and the backoff from it, while attempts and the attempt
--   log keep counting from the first attempt ever.
-- Migrations are append-only: never edit this file once applied; add a new one.

ALTER TABLE webhooks
    ADD COLUMN previous_secret            text,
    ADD COLUMN previous_secret_expires_at timestamptz,
    -- Both or neither.
    ADD CONSTRAINT webhooks_previous_secret_check
        CHECK ((previous_secret IS NULL) = (previous_secret_expires_at IS NULL));

ALTER TABLE webhook_deliveries
    ADD COLUMN attempt_base integer NOT NULL DEFAULT 0,
    ADD CONSTRAINT webhook_deliveries_attempt_base_check
        CHECK (attempt_base BETWEEN 0 AND attempts);
