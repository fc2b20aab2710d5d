/*
 * time_util.h: clocks and RFC 3339 text.
 * Rules: wall-clock time is for timestamps only; durations use the monotonic clock.
 */
#ifndef TASKBUS_SHARED_TIME_UTIL_H
#define TASKBUS_SHARED_TIME_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

int64_t time_now_unix_ms(void);
int64_t time_monotonic_ns(void);
/* The CLOCK_MONOTONIC time ms milliseconds from now, for pthread_cond_timedwait on a
 * condvar whose clock is CLOCK_MONOTONIC. */
struct timespec time_monotonic_deadline_ms(int ms);
/* Sleeps ms milliseconds, the whole of them: a signal does not cut it short. */
void time_sleep_ms(int ms);
/* "2026-11-22T10:00:00.123Z"; out must hold at least 32 bytes. */
void time_format_rfc3339_ms(int64_t unix_ms, char *out, size_t outlen);

#endif
