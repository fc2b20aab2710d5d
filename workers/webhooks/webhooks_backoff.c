/*
 * webhooks_backoff.c: when a failed webhook delivery is tried again (see
 * webhooks_backoff.h).
 */
#include "workers/webhooks/webhooks_backoff.h"

#include <sodium.h>
#include <stdint.h>

int webhooks_backoff_ceiling_ms(int attempt) {
    long long d = WEBHOOKS_BACKOFF_BASE_MS;
    for (int i = 1; i < attempt && d < WEBHOOKS_BACKOFF_MAX_MS; i++) {
        d *= 2;
    }
    return (int)(d > WEBHOOKS_BACKOFF_MAX_MS ? WEBHOOKS_BACKOFF_MAX_MS : d);
}

int webhooks_backoff_ms(int attempt) {
    int d = webhooks_backoff_ceiling_ms(attempt);
    return d / 2 + (int)randombytes_uniform((uint32_t)(d / 2) + 1);
}
