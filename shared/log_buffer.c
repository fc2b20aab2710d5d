/*
 * log_buffer.c: the write-behind log buffer (log_buffer.h).
 *
 * Owns: g_buf (its bytes, length and capacity), g_running and the flusher thread, all
 * under g_mu (global mutable state: one log stream per process). Rules: the flusher swaps
 * the buffer out under the lock and writes outside it, so appending never waits for
 * stderr; a direct write past the bound first takes the lock and flushes what is
 * buffered, so order is kept.
 */
#include "shared/log_buffer.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/time_util.h"

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
/* Held around every write(2) of buffered bytes, so the flusher's chunk and an overflow's
 * direct write never run at the same time (a write over PIPE_BUF is not atomic). Taken
 * after g_mu when both are held. */
static pthread_mutex_t g_write_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_wake = PTHREAD_COND_INITIALIZER;
static char *g_buf;
static size_t g_len, g_cap;
static bool g_running, g_stop, g_urgent;
static pthread_t g_thread;

void log_buffer_write_all(const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report a logging failure */
        }
        buf += n;
        len -= (size_t)n;
    }
}

/* Takes the buffered bytes out (the caller writes and frees them). Locked. */
static char *take_locked(size_t *len) {
    char *out = g_buf;
    *len = g_len;
    g_buf = NULL;
    g_len = g_cap = 0;
    return out;
}

/* Called locked: takes what is buffered, unlocks, writes it. The write lock is taken
 * before g_mu is let go, so chunks reach stderr in the order they were taken. */
static void flush_unlocking(void) {
    size_t len = 0;
    char *out = take_locked(&len);
    pthread_mutex_lock(&g_write_mu);
    pthread_mutex_unlock(&g_mu);
    if (out != NULL)
        log_buffer_write_all(out, len);
    pthread_mutex_unlock(&g_write_mu);
    free(out);
}

static void *flusher(void *arg) {
    (void)arg;
    pthread_mutex_lock(&g_mu);
    while (!g_stop) {
        if (!g_urgent && g_len < LOG_BUFFER_FLUSH_BYTES) {
            struct timespec deadline = time_monotonic_deadline_ms(LOG_BUFFER_FLUSH_MS);
            pthread_cond_timedwait(&g_wake, &g_mu, &deadline);
        }
        g_urgent = false;
        flush_unlocking();
        pthread_mutex_lock(&g_mu);
    }
    pthread_mutex_unlock(&g_mu);
    return NULL;
}

int log_buffer_start(void) {
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0 ||
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&g_wake, &attr) != 0)
        return -1;
    pthread_condattr_destroy(&attr);
    pthread_mutex_lock(&g_mu);
    g_stop = false;
    int rc = pthread_create(&g_thread, NULL, flusher, NULL);
    g_running = rc == 0;
    pthread_mutex_unlock(&g_mu);
    return rc == 0 ? 0 : -1;
}

void log_buffer_stop(void) {
    pthread_mutex_lock(&g_mu);
    bool was = g_running;
    g_running = false;
    g_stop = true;
    pthread_cond_signal(&g_wake);
    pthread_mutex_unlock(&g_mu);
    if (was)
        pthread_join(g_thread, NULL);
    pthread_mutex_lock(&g_mu);
    flush_unlocking();
}

/* Appends under the lock; false when it does not fit (bound or memory). */
static bool append_locked(const char *line, size_t len) {
    if (g_len + len > LOG_BUFFER_MAX_BYTES)
        return false;
    if (g_len + len > g_cap) {
        size_t cap = g_cap ? g_cap * 2 : LOG_BUFFER_FLUSH_BYTES;
        while (cap < g_len + len)
            cap *= 2;
        char *grown = realloc(g_buf, cap);
        if (grown == NULL)
            return false;
        g_buf = grown;
        g_cap = cap;
    }
    memcpy(g_buf + g_len, line, len);
    g_len += len;
    return true;
}

bool log_buffer_write(const char *line, size_t len, bool urgent) {
    pthread_mutex_lock(&g_mu);
    if (!g_running) {
        pthread_mutex_unlock(&g_mu);
        return false;
    }
    if (append_locked(line, len)) {
        if (urgent || g_len >= LOG_BUFFER_FLUSH_BYTES) {
            g_urgent = true;
            pthread_cond_signal(&g_wake);
        }
        pthread_mutex_unlock(&g_mu);
        return true;
    }
    /* Full: what is buffered goes first, then this line, both under the write lock. */
    size_t blen = 0;
    char *out = take_locked(&blen);
    pthread_mutex_lock(&g_write_mu);
    pthread_mutex_unlock(&g_mu);
    if (out != NULL)
        log_buffer_write_all(out, blen);
    log_buffer_write_all(line, len);
    pthread_mutex_unlock(&g_write_mu);
    free(out);
    return true;
}
