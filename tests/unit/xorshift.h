/*
 * xorshift.h: the pseudo-random sequence the differential unit tests draw inputs from.
 *
 * Owns: xorshift64 (Marsaglia). Rules: a fixed seed per test, so a failure repeats
 * exactly; not for anything but choosing test inputs. Header-only: each test is its own
 * executable.
 */
#ifndef TASKBUS_TESTS_UNIT_XORSHIFT_H
#define TASKBUS_TESTS_UNIT_XORSHIFT_H

#include <stdint.h>

/* The next value of the sequence in *state (never 0). */
static inline uint64_t xorshift64(uint64_t *state) {
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

#endif
