/*
 * token_bucket.h: a token bucket over a caller-supplied monotonic clock.
 *
 * Owns: pacing arithmetic only (no clock reads, no locking): `rate` tokens per second
 * accrue up to `burst`; taking never drives the bucket negative. Rules: pure functions
 * of (bucket, now), so tests inject time; one bucket is used by one thread (the importer
 * keeps one per import it produces).
 */
#ifndef TASKBUS_SHARED_TOKEN_BUCKET_H
#define TASKBUS_SHARED_TOKEN_BUCKET_H

#include <stdint.h>

typedef struct token_bucket {
    double rate;   /* tokens per second, > 0 */
    double burst;  /* capacity, >= 1 */
    double tokens; /* available now (as of updated_ns) */
    int64_t updated_ns;
} token_bucket;

/* A full bucket as of now_ns. */
void token_bucket_init(token_bucket *b, double rate, double burst, int64_t now_ns);
/* Takes up to want whole tokens; returns how many were taken (0..want). */
int token_bucket_take(token_bucket *b, int want, int64_t now_ns);
/* Gives back n tokens that were taken but not used (capped at burst). */
void token_bucket_refund(token_bucket *b, int n);
/* Nanoseconds from now_ns until one whole token is available (0 when it already is). */
int64_t token_bucket_wait_ns(const token_bucket *b, int64_t now_ns);

#endif
