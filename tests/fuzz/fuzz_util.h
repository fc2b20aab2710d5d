/*
 * fuzz_util.h: what every libFuzzer target of tests/fuzz/ shares.
 *
 * Owns: cutting a fuzz input into NUL-terminated parts (lines, so the seed corpus stays
 * readable), the one way a target reports a broken invariant, and the fixed secrets and
 * clock the targets use. Rules: no state between inputs; every part is a fresh malloc'd
 * copy, so ASan sees any read past what the input really holds.
 */
#ifndef TASKBUS_TESTS_FUZZ_UTIL_H
#define TASKBUS_TESTS_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A view of the bytes not yet taken. */
typedef struct fuzz_input {
    const uint8_t *data;
    size_t size;
} fuzz_input;

/* The next line (without its '\n') as a new NUL-terminated string (free() it); the rest
 * of the input when there is no '\n'. Never NULL (aborts when out of memory). A NUL byte
 * inside the line stays in the copy, so C string functions see a shorter text: exactly
 * what they would see from a header. *len (may be NULL) is the full length. */
char *fuzz_take_line(fuzz_input *in, size_t *len);
/* Everything not yet taken, as a new NUL-terminated copy (free() it). */
char *fuzz_take_rest(fuzz_input *in, size_t *len);
/* The next byte, or 0 when the input is used up. */
uint8_t fuzz_take_byte(fuzz_input *in);

/* Reports a broken invariant on stderr and aborts, which libFuzzer records as a crash
 * with the input that caused it. */
void fuzz_fail(const char *file, int line, const char *what);
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__FILE__, __LINE__, #cond);                                                  \
    } while (0)

/* True when text holds only printable ASCII (what a problem detail and a log line may
 * carry). */
bool fuzz_printable(const char *text);

/* The HS256 / cursor secret every target uses (32 bytes, the minimum the API accepts). */
extern const unsigned char FUZZ_KEY[32];
/* The clock of targets that need one: 2026-01-01T00:00:00Z. */
#define FUZZ_NOW_S 1767225600LL

#endif
