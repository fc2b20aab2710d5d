/*
 * webhooks_sender.h: the delivering half of taskbus-webhooks (docs/decisions.md
 * "Webhooks", "Managing a webhook").
 *
 * Owns: one thread that claims due deliveries (status pending, next_attempt_at <= now(),
 * webhook enabled) with FOR UPDATE SKIP LOCKED and leases them (next_attempt_at moves past
 * the attempt's timeout, so a second sender skips them and a crashed sender's claim
 * expires), checks the URL again with the SSRF guard and pins what it checked, POSTs
 * (webhooks_http.h), and records the attempt; and the sweep that disables webhooks whose
 * deliveries failed continuously for TASKBUS_WEBHOOK_DISABLE_AFTER_SECONDS.
 * Rules:
 * - 2xx is delivered; anything else (other statuses, transport errors, an address the
 *   guard refuses) is a failed attempt, retried after 1 s doubling per attempt (capped at
 *   an hour) with jitter (a uniform pick in the upper half), until
 *   TASKBUS_WEBHOOK_MAX_ATTEMPTS attempts; then the delivery is failed. Both count from
 *   the delivery's attempt_base (the attempts before its latest redelivery, 0 if none).
 * - Within the grace period after a secret rotation (previous_secret_expires_at), the
 *   previous secret signs too (webhooks_http.h).
 * - Every attempt is a webhook_attempts row, in the same transaction as the delivery's new
 *   state and the webhook's failing_since (set by a failure when unset, cleared by a
 *   success).
 * - Disabling a webhook, failing its pending deliveries and enqueueing the owner's
 *   webhook_disabled notification (shared/notification.h, through the outbox) commit
 *   together; the UPDATE ... WHERE enabled lets exactly one sender do it.
 * - A crash between the POST and the record sends that delivery again once its lease
 *   ends (at-least-once); Webhook-Id is the event id, so receivers de-duplicate.
 * Thread-safety: the wake flag and condvar are guarded by the sender's mutex; everything
 * else belongs to the sender thread.
 */
#ifndef TASKBUS_WORKERS_WEBHOOKS_WEBHOOKS_SENDER_H
#define TASKBUS_WORKERS_WEBHOOKS_WEBHOOKS_SENDER_H

#include <stddef.h>

#include "shared/config.h"
#include "shared/pg_pool.h"

typedef struct webhooks_sender webhooks_sender;

/* Parses TASKBUS_WEBHOOK_ALLOW; NULL with err when it is malformed. */
webhooks_sender *webhooks_sender_create(pg_pool *pg, const taskbus_config *cfg, char *err,
                                        size_t errlen);
/* Starts the thread; it runs until daemon_should_stop(). 0, or -1 with err. */
int webhooks_sender_start(webhooks_sender *s, char *err, size_t errlen);
/* Wakes the thread now (new deliveries committed). s is a webhooks_sender. */
void webhooks_sender_wake(void *s);
/* Joins the thread (after a stop was requested) and frees. */
void webhooks_sender_destroy(webhooks_sender *s);

#endif
