/*
 * hello_server.c: the benchmarks' baseline, a bare ulfius "hello" endpoint.
 *
 * Owns: one GET /hello answering "hello" as text/plain. The server is started by
 * bench_http.c exactly as api/http_server.c starts the API (same MHD flags, option list
 * and TASKBUS_HTTP_* settings), so the ratio of an API route to this figure measures what
 * the API's own work costs, not a different server setup.
 * Rules: usage `hello_server PORT`, with the API's environment (TASKBUS_HTTP_* as the API
 * reads them, defaults when unset); runs until SIGINT/SIGTERM; binds 127.0.0.1 only.
 */
#include <stdio.h>
#include <ulfius.h>

#include "shared/config.h"
#include "tests/bench/bench_http.h"

static int on_hello(const struct _u_request *req, struct _u_response *resp, void *user_data) {
    (void)req;
    (void)user_data;
    if (ulfius_set_string_body_response(resp, 200, "hello") != U_OK ||
        ulfius_add_header_to_response(resp, "Content-Type", "text/plain") != U_OK) {
        return U_CALLBACK_ERROR;
    }
    return U_CALLBACK_COMPLETE;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: hello_server PORT (HTTP settings: the API's TASKBUS_HTTP_*)\n");
        return 2;
    }
    taskbus_config cfg;
    char err[512];
    if (config_load(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "hello_server: %s\n", err);
        return 2;
    }
    bench_http h;
    int rc = 1;
    if (bench_http_init(&h, "hello_server", argv[1]) != 0) {
        config_free(&cfg);
        return 2;
    }
    if (ulfius_add_endpoint_by_val(&h.inst, "GET", NULL, "/hello", 0, on_hello, NULL) != U_OK) {
        fprintf(stderr, "hello_server: ulfius_add_endpoint_by_val failed\n");
    } else if (bench_http_run(&h, &cfg) == 0) {
        rc = 0;
    }
    bench_http_clean(&h);
    config_free(&cfg);
    return rc;
}
