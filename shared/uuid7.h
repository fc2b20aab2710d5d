/*
 * uuid7.h: UUIDv7 (RFC 9562) ids and UUID text validation.
 *
 * Owns: generation of time-ordered ids, random or derived from another id. Rules: ids from one
 * process are strictly increasing, also within one millisecond (a 12-bit counter in rand_a, then
 * the clock is borrowed forward); the rest is libsodium randomness. Thread-safe (a mutex guards the
 * last timestamp and counter).
 */
#ifndef TASKBUS_SHARED_UUID7_H
#define TASKBUS_SHARED_UUID7_H

#include <stdbool.h>
#include <stdint.h>

#define UUID_STR_LEN 37 /* 36 characters and the NUL */

/* Writes a new lower-case UUIDv7 into out. */
void uuid7_generate(char out[UUID_STR_LEN]);
/* Same, with an injected millisecond clock (tests). */
void uuid7_generate_at(char out[UUID_STR_LEN], uint64_t unix_ms);

/* A UUIDv7 that is a function of (from, label): the millisecond of from (a UUIDv7; 0 when
 * it is not one) and, for the rest, SHA-256 of label and from. So an id the writer makes
 * from a command id (a recurring task's next occurrence) is the same on every replay of
 * that command, and still sorts by time like every other id. */
void uuid7_derive(const char *from, const char *label, char out[UUID_STR_LEN]);

/* True for the 8-4-4-4-12 hex form of any UUID version. */
bool uuid_is_valid(const char *text);
/* The lower-case form of a valid UUID into out (so "ABC…" and "abc…" name one thing);
 * false (out untouched) for anything else. */
bool uuid_canonical(const char *text, char out[UUID_STR_LEN]);
/* Milliseconds since the epoch held by a UUIDv7; 0 when text is not a v7. */
uint64_t uuid7_unix_ms(const char *text);

#endif
