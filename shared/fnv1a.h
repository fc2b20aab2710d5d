/*
 * fnv1a.h: the 64-bit FNV-1a hash of a string or of bytes, for in-process tables (the near
 * cache, the verified-token table) and fingerprints (the schema documents' cache). Not for
 * anything an attacker may aim at for cost: every table that uses it bounds its chains or is
 * direct-mapped.
 */
#ifndef TASKBUS_SHARED_FNV1A_H
#define TASKBUS_SHARED_FNV1A_H

#include <stddef.h>
#include <stdint.h>

#define FNV1A64_OFFSET 1469598103934665603ULL
#define FNV1A64_PRIME 1099511628211ULL

/* h continued over len bytes of data (start with FNV1A64_OFFSET). */
static inline uint64_t fnv1a64_update(uint64_t h, const void *data, size_t len) {
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= FNV1A64_PRIME;
    }
    return h;
}

static inline uint64_t fnv1a64(const char *s) {
    uint64_t h = FNV1A64_OFFSET;
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= FNV1A64_PRIME;
    }
    return h;
}

#endif
