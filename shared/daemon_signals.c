/*
 * daemon_signals.c: SIGTERM/SIGINT set the stop flag; SIGPIPE is ignored.
 *
 * Rules: the handler does nothing but store to a volatile sig_atomic_t, the only kind of
 * object a handler may write (C17 7.14.1.1). No SA_RESTART, so a blocked poll() in the
 * thread that takes the signal wakes with EINTR and the loop notices the flag at once.
 */
#include "shared/daemon_signals.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "shared/daemon_heartbeat.h"

/* Process-wide by nature (signals are): written by the handler, read by every loop.
 * sig_atomic_t needs no lock. */
static volatile sig_atomic_t stop_requested = 0;

static void on_stop_signal(int signo) {
    (void)signo;
    stop_requested = 1;
}

int daemon_signals_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    if (sigemptyset(&sa.sa_mask) != 0) {
        return -1;
    }
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0) {
        return -1;
    }
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    if (sigemptyset(&ign.sa_mask) != 0 || sigaction(SIGPIPE, &ign, NULL) != 0) {
        return -1;
    }
    return 0;
}

volatile sig_atomic_t *daemon_stop_flag(void) {
    return &stop_requested;
}

bool daemon_should_stop(void) {
    return stop_requested != 0;
}

void daemon_request_stop(void) {
    stop_requested = 1;
}

bool daemon_sleep_ms(int ms) {
    const int step_ms = 50;
    while (ms > 0 && !stop_requested) {
        daemon_heartbeat_touch(); /* waiting on purpose is not a stalled loop */
        int now_ms = ms < step_ms ? ms : step_ms;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)now_ms * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !stop_requested) {
        }
        ms -= now_ms;
    }
    return stop_requested != 0;
}
