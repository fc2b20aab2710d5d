/*
 * daemon_heartbeat.c: the liveness tick (see daemon_heartbeat.h).
 *
 * Owns: g_last_ns (atomic, written by the bound thread, read by the listener's threads),
 * g_bound and g_owner (written once by daemon_heartbeat_bind before the listener reads,
 * then only read; g_bound is atomic so a late bind is seen by every thread).
 */
#include "shared/daemon_heartbeat.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "shared/time_util.h"

static _Atomic int64_t g_last_ns;
static atomic_bool g_bound;
static pthread_t g_owner; /* valid once g_bound is true */

void daemon_heartbeat_bind(void) {
    g_owner = pthread_self();
    atomic_store(&g_bound, true);
    atomic_store(&g_last_ns, time_monotonic_ns());
}

void daemon_heartbeat_touch(void) {
    if (atomic_load_explicit(&g_bound, memory_order_acquire) &&
        !pthread_equal(g_owner, pthread_self())) {
        return;
    }
    atomic_store_explicit(&g_last_ns, time_monotonic_ns(), memory_order_relaxed);
}

int64_t daemon_heartbeat_age_ms(void) {
    int64_t last = atomic_load_explicit(&g_last_ns, memory_order_relaxed);
    if (last == 0) {
        return 0;
    }
    int64_t age = (time_monotonic_ns() - last) / 1000000;
    return age > 0 ? age : 0;
}
