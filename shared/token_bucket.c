/*
 * token_bucket.c: token bucket arithmetic (see token_bucket.h).
 * Rules: a clock that steps backwards adds nothing (elapsed time is clamped at 0).
 */
#include "shared/token_bucket.h"

#include <math.h>

static void refill(token_bucket *b, int64_t now_ns) {
    int64_t elapsed = now_ns - b->updated_ns;
    if (elapsed > 0) {
        b->tokens += (double)elapsed / 1e9 * b->rate;
        if (b->tokens > b->burst) {
            b->tokens = b->burst;
        }
        b->updated_ns = now_ns;
    }
}

void token_bucket_init(token_bucket *b, double rate, double burst, int64_t now_ns) {
    b->rate = rate > 0 ? rate : 1;
    b->burst = burst >= 1 ? burst : 1;
    b->tokens = b->burst;
    b->updated_ns = now_ns;
}

int token_bucket_take(token_bucket *b, int want, int64_t now_ns) {
    refill(b, now_ns);
    if (want <= 0) {
        return 0;
    }
    double whole = floor(b->tokens);
    int n = whole < (double)want ? (int)whole : want;
    b->tokens -= n;
    return n;
}

void token_bucket_refund(token_bucket *b, int n) {
    if (n <= 0) {
        return;
    }
    b->tokens += n;
    if (b->tokens > b->burst) {
        b->tokens = b->burst;
    }
}

int64_t token_bucket_wait_ns(const token_bucket *b, int64_t now_ns) {
    token_bucket t = *b;
    refill(&t, now_ns);
    if (t.tokens >= 1) {
        return 0;
    }
    return (int64_t)ceil((1 - t.tokens) / t.rate * 1e9);
}
