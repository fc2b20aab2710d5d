/*
 * webhooks_backoff.h: when a failed webhook delivery is tried again.
 *
 * Owns: the retry schedule: after failed attempt n (from 1) the ceiling is
 * WEBHOOKS_BACKOFF_BASE_MS doubled n-1 times, capped at WEBHOOKS_BACKOFF_MAX_MS, and the
 * wait is a uniform pick in [ceiling/2, ceiling] (jitter, so a burst of failures does not
 * retry in lockstep). Rules: pure but for the random pick (libsodium's
 * randombytes_uniform, thread-safe once sodium_init ran).
 */
#ifndef TASKBUS_WORKERS_WEBHOOKS_WEBHOOKS_BACKOFF_H
#define TASKBUS_WORKERS_WEBHOOKS_WEBHOOKS_BACKOFF_H

#define WEBHOOKS_BACKOFF_BASE_MS 1000
#define WEBHOOKS_BACKOFF_MAX_MS 3600000

/* The ceiling of the wait after failed attempt n (n < 1 counts as 1). */
int webhooks_backoff_ceiling_ms(int attempt);

/* The wait after failed attempt n: in [ceiling/2, ceiling]. */
int webhooks_backoff_ms(int attempt);

#endif
