/*
 * daemon.c: the daemon skeleton (see daemon.h).
 *
 * Owns: the order of start-up and teardown, and the state /ready reads (an atomic in a
 * struct on daemon_main's stack, alive until the listener has stopped: the listener's
 * threads read it without a lock).
 */
#include "shared/daemon.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/build_info.h"
#include "shared/daemon_heartbeat.h"
#include "shared/daemon_http.h"
#include "shared/daemon_signals.h"
#include "shared/log.h"
#include "shared/pg_pool.h"
#include "shared/problem.h"
#include "shared/metric_families.h"
#include "shared/process_metrics.h"

typedef enum { PHASE_STARTING, PHASE_RUNNING, PHASE_STOPPING } daemon_phase;

typedef struct daemon_state {
    atomic_int phase;
    int stall_limit_ms;
    daemon_probes *probes;
} daemon_state;

static const char *env_lookup(const char *name, void *ctx) {
    (void)ctx;
    return getenv(name);
}

static daemon_http_answer answer(int status, json_t *body) {
    daemon_http_answer a = {.status = status, .body = body};
    return a;
}

static daemon_http_answer on_health(void *ctx) {
    const daemon_state *st = ctx;
    long long age = (long long)daemon_heartbeat_age_ms();
    if (age <= st->stall_limit_ms) {
        return answer(200, json_pack("{s:s}", "status", "ok"));
    }
    char detail[160];
    snprintf(detail, sizeof detail, "the main loop has not turned for %lld ms (limit %d ms)", age,
             st->stall_limit_ms);
    return answer(503, problem_new(503, "service-unavailable", detail, NULL));
}

static daemon_http_answer on_ready(void *ctx) {
    daemon_state *st = ctx;
    int phase = atomic_load(&st->phase);
    if (phase != PHASE_RUNNING) {
        const char *detail = phase == PHASE_STARTING ? "not ready: starting (migrations, clients)"
                                                     : "not ready: stopping";
        return answer(503, problem_new(503, "service-unavailable", detail, NULL));
    }
    json_t *checks = json_object();
    if (checks == NULL) {
        return answer(500, problem_new(500, "internal-error", NULL, NULL));
    }
    if (daemon_probes_check(st->probes, checks)) {
        return answer(200, json_pack("{s:s,s:o}", "status", "ready", "checks", checks));
    }
    char failed[96] = "";
    const char *key;
    json_t *value;
    json_object_foreach(checks, key, value) {
        const char *text = json_string_value(value);
        if (text != NULL && strcmp(text, "ok") != 0) {
            size_t used = strlen(failed);
            snprintf(failed + used, sizeof failed - used, "%s%s", used > 0 ? ", " : "", key);
        }
    }
    char detail[160];
    snprintf(detail, sizeof detail, "not ready: %s unavailable", failed);
    json_t *problem = problem_new(503, "service-unavailable", detail, NULL);
    if (problem == NULL || json_object_set_new(problem, "checks", checks) != 0) {
        json_decref(problem);
        return answer(503, problem_new(503, "service-unavailable", detail, NULL));
    }
    return answer(503, problem);
}

/* Applies the migrations through a pool of its own (one connection, closed after). 0,
 * or main's exit code. */
static int migrate(const daemon_identity *id, const taskbus_config *cfg) {
    char err[512];
    pg_pool *pool =
        pg_pool_create(cfg->database_url, 1, cfg->pg_statement_timeout_ms, err, sizeof err);
    if (pool == NULL) {
        fprintf(stderr, "%s: DATABASE_URL: %s\n", id->program, err);
        return 2;
    }
    int rc = daemon_run_migrations(pool, cfg->schemas_dir, id->service);
    pg_pool_destroy(pool);
    if (rc != 0) {
        return daemon_should_stop() ? 0 : 1;
    }
    return 0;
}

/* The listener when the row has a port. 0, or main's exit code. */
static int listen_http(const daemon_row *row, const taskbus_config *cfg, daemon_state *st,
                       daemon_http **http) {
    char err[512];
    int port = 0;
    if (daemon_port_resolve(row->identity.service, row->port_offset, cfg->metrics_port, env_lookup,
                            NULL, &port, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", row->identity.program, err);
        return 2;
    }
    if (port == 0) {
        LOG_INFOF("%s: no /health, /ready, /metrics listener (port 0)", row->identity.service);
        return 0;
    }
    daemon_http_routes routes = {.health = on_health, .ready = on_ready, .ctx = st};
    *http = daemon_http_start(cfg->metrics_host, port, &routes, err, sizeof err);
    if (*http == NULL) {
        LOG_ERRORF("%s: /health, /ready, /metrics: %s", row->identity.service, err);
        return 1;
    }
    LOG_INFOF("%s: /health, /ready, /metrics on %s:%d", row->identity.service, cfg->metrics_host,
              port);
    return 0;
}

int daemon_main(const daemon_row *row, void *app, int argc, char **argv) {
    taskbus_config cfg;
    int rc = 0;
    if (!daemon_startup(&row->identity, argc, argv, &cfg, &rc)) {
        return rc;
    }
    build_info_register(row->identity.service);
    process_metrics_register();
    metric_families_register(row->identity.service, cfg.writer_topic);
    daemon_heartbeat_bind();
    daemon_state st = {
        .stall_limit_ms =
            (row->stall_limit_s > 0 ? row->stall_limit_s : DAEMON_STALL_LIMIT_S) * 1000,
    };
    atomic_init(&st.phase, PHASE_STARTING);
    char err[512];
    st.probes = daemon_probes_create(&cfg, row->identity.service, row->needs, err, sizeof err);
    if (st.probes == NULL) {
        fprintf(stderr, "%s: %s\n", row->identity.program, err);
        config_free(&cfg);
        return 2;
    }
    daemon_http *http = NULL;
    rc = listen_http(row, &cfg, &st, &http);
    bool started = false;
    if (rc == 0) {
        rc = migrate(&row->identity, &cfg);
        started = rc == 0 && !daemon_should_stop();
    }
    if (started) {
        rc = row->start(app, &cfg);
        if (rc == 0) {
            atomic_store(&st.phase, PHASE_RUNNING);
            daemon_heartbeat_touch();
            rc = row->run(app);
        }
        atomic_store(&st.phase, PHASE_STOPPING);
        row->stop(app);
    }
    daemon_http_stop(http);
    daemon_probes_destroy(st.probes);
    config_free(&cfg);
    LOG_INFOF("%s: stopped", row->identity.service);
    return rc;
}

int daemon_run_consumer(kafka_consumer_loop *loop, const char *service, const char *topic,
                        const char *group) {
    if (loop == NULL) {
        return 1;
    }
    LOG_INFOF("%s: consuming %s as group %s", service, topic, group);
    return kafka_consumer_loop_run(loop, daemon_stop_flag()) == 0 ? 0 : 1;
}
