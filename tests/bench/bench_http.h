/*
 * bench_http.h: a baseline server of tests/bench, started as api/http_server.c starts the API.
 *
 * Owns: the one place where the baselines (hello_server.c, produce_server.c) set up
 * ulfius: the same MHD flags and option list as the API, with the same TASKBUS_HTTP_*
 * settings (read through shared/config, so a bench that changes them changes both), the
 * stop signals and the run until SIGINT/SIGTERM.
 * Rules: binds 127.0.0.1 only; bench_http_init blocks SIGINT/SIGTERM in the calling
 * thread before any other thread starts, so only bench_http_run's sigwait sees them.
 */
#ifndef TASKBUS_TESTS_BENCH_HTTP_H
#define TASKBUS_TESTS_BENCH_HTTP_H

#include <netinet/in.h>
#include <signal.h>
#include <ulfius.h>

#include "shared/config.h"

typedef struct bench_http {
    struct _u_instance inst;
    struct sockaddr_in bind;
    sigset_t stop;
    const char *name; /* for messages */
} bench_http;

/* Parses PORT, blocks the stop signals, ignores SIGPIPE and initialises the instance
 * (no post processing, as the API). 0, or -1 after printing why. */
int bench_http_init(bench_http *h, const char *name, const char *port_text);

/* Starts the server with cfg's HTTP settings, prints "<name> listening on ...", waits
 * for SIGINT/SIGTERM, then stops it. 0, or -1 when it could not listen. */
int bench_http_run(bench_http *h, const taskbus_config *cfg);

void bench_http_clean(bench_http *h);

#endif
