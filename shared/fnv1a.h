/*
 * fnv1a.h: the 64-bit FNV-1a hash of a string, for in-process tables (the near cache, the
 * verified-token table). Not for anything an attacker may aim at for cost: every table
 * that uses it bounds its chains or is direct-mapped.
 */
#ifndef TASKBUS_SHARED_FNV1A_H
#define TASKBUS_SHARED_FNV1A_H

#include <stdint.h>

static inline uint64_t fnv1a64(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

#endif
