/*
 * daemon_probes.c: the readiness checks (see daemon_probes.h).
 *
 * Owns: the probe clients (created once, destroyed at exit). Rules: a reason never holds
 * a secret: the pools' and librdkafka's error texts name host and port only.
 */
#include "shared/daemon_probes.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/bus.h"
#include "shared/errbuf.h"
#include "shared/kafka_conf.h"
#include "shared/pg_pool.h"
#include "shared/redis_pool.h"

struct daemon_probes {
    pg_pool *pg;
    rd_kafka_t *kafka;
    redis_pool *redis;
};

/* conninfo with connect_timeout added (a URL gets "?"/"&", a key=value string a pair),
 * so a reconnect to an unreachable host is bounded. malloc'd, or NULL. */
static char *with_connect_timeout(const char *conninfo) {
    if (strstr(conninfo, "connect_timeout") != NULL) {
        return strdup(conninfo);
    }
    bool url =
        strncmp(conninfo, "postgresql://", 13) == 0 || strncmp(conninfo, "postgres://", 11) == 0;
    const char *sep = url ? (strchr(conninfo, '?') != NULL ? "&" : "?") : " ";
    size_t n = strlen(conninfo) + 32;
    char *out = malloc(n);
    if (out != NULL) {
        snprintf(out, n, "%s%sconnect_timeout=%d", conninfo, sep, DAEMON_PROBE_CONNECT_S);
    }
    return out;
}

static int create_postgres(daemon_probes *p, const taskbus_config *cfg, char *err, size_t errlen) {
    char *conninfo = with_connect_timeout(cfg->database_url);
    if (conninfo == NULL) {
        errbuf_setf(err, errlen, "out of memory");
        return -1;
    }
    char why[256];
    p->pg = pg_pool_create(conninfo, 1, DAEMON_PROBE_TIMEOUT_MS, why, sizeof why);
    free(conninfo);
    if (p->pg == NULL) {
        errbuf_setf(err, errlen, "DATABASE_URL: %s", why);
        return -1;
    }
    return 0;
}

static int create_kafka(daemon_probes *p, const taskbus_config *cfg, const char *service, char *err,
                        size_t errlen) {
    char client_id[96];
    snprintf(client_id, sizeof client_id, PROBE_CLIENT_ID_FMT, service);
    const char *const kv[][2] = {
        {"client.id", client_id},
        {"socket.connection.setup.timeout.ms", "1000"},
        {NULL, NULL},
    };
    rd_kafka_conf_t *conf = kafka_conf_new(cfg->kafka_brokers, kv, KAFKA_LOG_DEBUG, err, errlen);
    if (conf == NULL) {
        return -1;
    }
    p->kafka = kafka_conf_open(RD_KAFKA_PRODUCER, conf, "kafka readiness probe", err, errlen);
    return p->kafka != NULL ? 0 : -1;
}

daemon_probes *daemon_probes_create(const taskbus_config *cfg, const char *service, unsigned needs,
                                    char *err, size_t errlen) {
    daemon_probes *p = calloc(1, sizeof *p);
    if (p == NULL) {
        errbuf_setf(err, errlen, "readiness probes: out of memory");
        return NULL;
    }
    bool ok = true;
    if ((needs & DAEMON_NEEDS_POSTGRES) != 0) {
        ok = create_postgres(p, cfg, err, errlen) == 0;
    }
    if (ok && (needs & DAEMON_NEEDS_KAFKA) != 0) {
        ok = create_kafka(p, cfg, service, err, errlen) == 0;
    }
    if (ok && (needs & DAEMON_NEEDS_REDIS) != 0) {
        int timeout = cfg->redis_timeout_ms < DAEMON_PROBE_TIMEOUT_MS ? cfg->redis_timeout_ms
                                                                      : DAEMON_PROBE_TIMEOUT_MS;
        char why[256];
        p->redis = redis_pool_create(cfg->redis_url, 1, timeout, why, sizeof why);
        if (p->redis == NULL) {
            errbuf_setf(err, errlen, "REDIS_URL: %s", why);
            ok = false;
        }
    }
    if (!ok) {
        daemon_probes_destroy(p);
        return NULL;
    }
    return p;
}

void daemon_probes_destroy(daemon_probes *p) {
    if (p == NULL) {
        return;
    }
    pg_pool_destroy(p->pg);
    if (p->kafka != NULL) {
        rd_kafka_destroy(p->kafka);
    }
    if (p->redis != NULL) {
        redis_pool_destroy(p->redis);
    }
    free(p);
}

static bool check_kafka(rd_kafka_t *rk, char *err, size_t errlen) {
    return kafka_ping(rk, DAEMON_PROBE_TIMEOUT_MS, err, errlen);
}

/* One check, run on its own thread. */
typedef struct probe_run {
    const char *name;
    daemon_probes *p;
    bool (*check)(daemon_probes *p, char *err, size_t errlen);
    bool ok;
    char why[256];
    pthread_t thread;
    bool threaded;
} probe_run;

static bool check_postgres(daemon_probes *p, char *err, size_t errlen) {
    return pg_pool_ping(p->pg, DAEMON_PROBE_TIMEOUT_MS, err, errlen);
}

static bool check_kafka_probe(daemon_probes *p, char *err, size_t errlen) {
    return check_kafka(p->kafka, err, errlen);
}

static bool check_redis(daemon_probes *p, char *err, size_t errlen) {
    return redis_pool_ping(p->redis, err, errlen);
}

static void *run_probe(void *arg) {
    probe_run *r = arg;
    r->why[0] = '\0';
    r->ok = r->check(r->p, r->why, sizeof r->why);
    return NULL;
}

/* Records name: "ok" or the reason; false on failure. */
static bool record(json_t *checks, const char *name, bool ok, const char *why) {
    json_t *v = json_string(ok ? "ok" : (why[0] != '\0' ? why : "unavailable"));
    if (v == NULL) {
        v = json_string("unavailable"); /* a reason that was not UTF-8 */
    }
    if (json_object_set_new(checks, name, v) != 0) {
        return false;
    }
    return ok;
}

bool daemon_probes_check(daemon_probes *p, json_t *checks) {
    probe_run runs[3];
    size_t n = 0;
    if (p->pg != NULL) {
        runs[n++] = (probe_run){.name = "postgres", .p = p, .check = check_postgres};
    }
    if (p->kafka != NULL) {
        runs[n++] = (probe_run){.name = "kafka", .p = p, .check = check_kafka_probe};
    }
    if (p->redis != NULL) {
        runs[n++] = (probe_run){.name = "redis", .p = p, .check = check_redis};
    }
    /* At once: the slowest dependency bounds /ready, not their sum. The last runs here. */
    for (size_t i = 0; i + 1 < n; i++) {
        runs[i].threaded = pthread_create(&runs[i].thread, NULL, run_probe, &runs[i]) == 0;
        if (!runs[i].threaded) {
            run_probe(&runs[i]);
        }
    }
    if (n > 0) {
        run_probe(&runs[n - 1]);
    }
    bool all = true;
    for (size_t i = 0; i < n; i++) {
        if (runs[i].threaded && pthread_join(runs[i].thread, NULL) != 0) {
            runs[i].ok = false;
            snprintf(runs[i].why, sizeof runs[i].why, "the check's thread could not be joined");
        }
        all = record(checks, runs[i].name, runs[i].ok, runs[i].why) && all;
    }
    return all;
}
