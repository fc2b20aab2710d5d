/*
 * main.c: the taskbus-api process.
 *
 * Owns: start-up (configuration, logging, libsodium, Postgres and Redis pools, the Kafka
 * producer, the SSE hub, the JWT key, the HTTP server) and the graceful stop on
 * SIGTERM/SIGINT: end the event streams, stop accepting, let requests in flight finish
 * (bounded by DRAIN_MS), flush the producer, close the hub and the pools, exit 0.
 * Rules: SIGTERM and SIGINT are blocked before any thread starts and taken with sigwait
 * here, so no other thread ever runs a handler. Migrations are not run here
 * (taskbus-admin migrate does). It listens only once warm (warm_up), bounded. Exit codes: 0
 * stopped, 1 could not start, 2 bad configuration.
 */
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "api/cors.h"
#include "api/http_context.h"
#include "api/http_server.h"
#include "api/instance_lease.h"
#include "api/near_cache.h"
#include "api/near_cache_lease.h"
#include "api/rate_limiter.h"
#include "api/read_replica.h"
#include "api/sse_hub.h"
#include "api/user_deletions.h"
#include "shared/build_info.h"
#include "shared/bus.h"
#include "shared/config.h"
#include "shared/log.h"
#include "shared/process_metrics.h"
#include "shared/time_util.h"
#include "shared/log_buffer.h"

/* Inside Kubernetes' default 30 s termination grace, with time left for the flush. */
#define DRAIN_MS 25000
/* Longest wait before listening for the pools to connect and the near-cache lease to be
 * held (warm_up); past it the API listens anyway and /ready says what is missing. */
#define WARMUP_MS 5000
#define WARMUP_POLL_MS 20
#define PRODUCER_FLUSH_MS 4000
#define JWT_MIN_KEY_BYTES 32
#define JWT_GENERATED_KEY_BYTES 48

static int parse_args(int argc, char **argv) {
    if (build_info_asked(argc, argv)) {
        build_info_print(stdout, "taskbus-api");
        return 1;
    }
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        config_print_help(stdout, "taskbus-api", "the taskbus HTTP API");
        return 1;
    }
    if (argc > 1) {
        fprintf(stderr, "taskbus-api: unexpected argument %s (try --help)\n", argv[1]);
        return -1;
    }
    return 0;
}

static int block_stop_signals(sigset_t *set) {
    if (sigemptyset(set) != 0 || sigaddset(set, SIGTERM) != 0 || sigaddset(set, SIGINT) != 0) {
        return -1;
    }
    return pthread_sigmask(SIG_BLOCK, set, NULL) == 0 ? 0 : -1;
}

/* The configured key, or a random one (tokens then die with the process). */
static int setup_jwt_key(const taskbus_config *cfg, api_app *app,
                         unsigned char generated[JWT_GENERATED_KEY_BYTES]) {
    if (cfg->jwt_secret != NULL) {
        size_t len = strlen(cfg->jwt_secret);
        if (len < JWT_MIN_KEY_BYTES) {
            fprintf(stderr, "taskbus-api: TASKBUS_JWT_SECRET must be at least %d bytes\n",
                    JWT_MIN_KEY_BYTES);
            return -1;
        }
        app->jwt_key = (const unsigned char *)cfg->jwt_secret;
        app->jwt_key_len = len;
        return 0;
    }
    randombytes_buf(generated, JWT_GENERATED_KEY_BYTES);
    app->jwt_key = generated;
    app->jwt_key_len = JWT_GENERATED_KEY_BYTES;
    LOG_WARNF("TASKBUS_JWT_SECRET is unset: using a random key; tokens stop working when this "
              "process exits and are not accepted by other API instances");
    return 0;
}

static void close_backends(api_app *app) {
    near_cache_lease_stop(app->nc_lease);
    app->nc_lease = NULL;
    near_cache_destroy(app->near_cache);
    app->near_cache = NULL;
    api_rate_limiter_stop(app->limiter);
    app->limiter = NULL;
    instance_lease_stop(app->lease);
    app->lease = NULL;
    sse_hub_destroy(app->sse_hub);
    app->sse_hub = NULL;
    if (app->producer != NULL) {
        kafka_producer_destroy(app->producer, PRODUCER_FLUSH_MS);
    }
    if (app->pg_read != NULL && app->pg_read != app->pg) {
        pg_pool_destroy(app->pg_read);
    }
    read_replica_destroy(app->replica);
    app->replica = NULL;
    if (app->pg != NULL) {
        pg_pool_destroy(app->pg);
    }
    if (app->redis != NULL) {
        redis_pool_destroy(app->redis);
    }
    app->producer = NULL;
    app->pg = app->pg_read = NULL;
    app->redis = NULL;
}

/* The near cache and its lease thread. TASKBUS_NEAR_CACHE_MIB=0 makes a cache that keeps
 * nothing, but the lease still runs: it also decides whether the Redis cache may be
 * trusted (and drives the Redis breaker). */
static int open_near_cache(api_app *app, const taskbus_config *cfg) {
    char err[512];
    app->near_cache = near_cache_create((size_t)cfg->near_cache_mib * 1024 * 1024);
    if (app->near_cache == NULL) {
        LOG_ERRORF("near cache: out of memory");
        return -1;
    }
    app->nc_lease = near_cache_lease_start(cfg, app->near_cache, app->redis, err, sizeof err);
    if (app->nc_lease == NULL) {
        LOG_ERRORF("near cache: %s", err);
        return -1;
    }
    return 0;
}

/* Pools connect lazily, so this fails only on malformed settings. */
static int open_backends(api_app *app, const taskbus_config *cfg) {
    char err[512];
    app->pg = pg_pool_create(cfg->database_url, cfg->pg_pool_size, cfg->pg_statement_timeout_ms,
                             err, sizeof err);
    if (app->pg == NULL) {
        LOG_ERRORF("DATABASE_URL: %s", err);
        return -1;
    }
    app->pg_read = app->pg;
    if (cfg->database_read_url != NULL) {
        app->pg_read = pg_pool_create(cfg->database_read_url, cfg->pg_pool_size,
                                      cfg->pg_statement_timeout_ms, err, sizeof err);
        if (app->pg_read == NULL) {
            LOG_ERRORF("DATABASE_READ_URL: %s", err);
            return -1;
        }
    }
    app->replica = read_replica_create(app->pg_read != app->pg);
    if (app->replica == NULL) {
        LOG_ERRORF("read replica: out of memory");
        return -1;
    }
    app->redis = redis_pool_create(cfg->redis_url, cfg->redis_pool_size, cfg->redis_timeout_ms, err,
                                   sizeof err);
    if (app->redis == NULL) {
        LOG_ERRORF("REDIS_URL: %s", err);
        return -1;
    }
    app->limiter = api_rate_limiter_start(cfg, err, sizeof err);
    if (app->limiter == NULL) {
        LOG_ERRORF("rate limiter: %s", err);
        return -1;
    }
    if (open_near_cache(app, cfg) != 0) {
        return -1;
    }
    app->lease = instance_lease_start(cfg->database_url);
    if (app->lease == NULL) {
        LOG_ERRORF("instance lease: cannot start its thread");
        return -1;
    }
    app->producer = kafka_producer_create(cfg->kafka_brokers, API_CLIENT_ID,
                                          cfg->kafka_produce_timeout_ms, err, sizeof err);
    if (app->producer == NULL) {
        LOG_ERRORF("KAFKA_BROKERS: %s", err);
        return -1;
    }
    sse_hub_params hub = {.redis_url = cfg->redis_url,
                          .redis_timeout_ms = cfg->redis_timeout_ms,
                          .max_per_user = cfg->sse_max_per_user,
                          .max_per_instance = cfg->sse_max_per_instance};
    app->sse_hub = sse_hub_create(&hub, err, sizeof err);
    if (app->sse_hub == NULL) {
        LOG_ERRORF("SSE hub: %s", err);
        return -1;
    }
    return 0;
}

static int wait_for_stop(const sigset_t *set) {
    for (;;) {
        int sig = 0;
        int rc = sigwait(set, &sig);
        if (rc == 0 && (sig == SIGTERM || sig == SIGINT)) {
            return sig;
        }
        if (rc != 0) {
            LOG_ERRORF("sigwait failed (%s); stopping", strerror(rc));
            return 0;
        }
    }
}

/* Before listening: a load balancer without health checks (nginx OSS) sends traffic as
 * soon as the port accepts, so an instance that listened cold took a burst with empty
 * Postgres pools and no near-cache lease (every read then goes to Postgres): the scale
 * suite's rolling restart saw keyed writes answered 503 "no free connection within
 * 2000 ms" on the instance just started. Bounded: a refused connect ends a pool's warm-up
 * at once, an unreachable host after pg_pool's connect timeout (once per pool), and the
 * lease is waited for until WARMUP_MS after the start; so a missing dependency only
 * delays the listening socket, and /ready reports it. */
static void warm_up(api_app *app) {
    int64_t start = time_monotonic_ns();
    int64_t deadline = start + (int64_t)WARMUP_MS * 1000000;
    char err[256] = "";
    int pg = pg_pool_warm(app->pg, err, sizeof err);
    if (pg == 0)
        LOG_WARNF("warm-up: no Postgres connection (%s)", err);
    if (app->pg_read != app->pg && pg_pool_warm(app->pg_read, err, sizeof err) == 0)
        LOG_WARNF("warm-up: no read replica connection (%s)", err);
    while (!near_cache_lease_valid(app->near_cache) && time_monotonic_ns() < deadline)
        time_sleep_ms(WARMUP_POLL_MS);
    log_json(LOG_INFO, "warm",
             json_pack("{s:i,s:b,s:f}", "postgres_connections", pg, "near_cache_lease",
                       near_cache_lease_valid(app->near_cache), "seconds",
                       (double)(time_monotonic_ns() - start) / 1e9));
}

static int serve(api_app *app, const taskbus_config *cfg, const sigset_t *stop_signals) {
    char err[512];
    /* Deleted users' tokens are refused from the first request on (user_deletions.h). */
    user_deletions *deletions = user_deletions_start(app, err, sizeof err);
    if (deletions == NULL) {
        LOG_ERRORF("user deletions: %s", err);
        return -1;
    }
    warm_up(app);
    http_server *srv = http_server_start(app, err, sizeof err);
    if (srv == NULL) {
        LOG_ERRORF("HTTP server: %s", err);
        user_deletions_stop(deletions);
        return -1;
    }
    log_json(LOG_INFO, "listening",
             json_pack("{s:s,s:i}", "host", cfg->http_host, "port", cfg->http_port));
    int sig = wait_for_stop(stop_signals);
    log_json(LOG_INFO, "stopping",
             json_pack("{s:s}", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM"));
    /* SSE streams never finish on their own: end them first, so the drain below waits
     * only for ordinary requests. */
    sse_hub_shutdown(app->sse_hub);
    http_server_stop(srv, DRAIN_MS);
    user_deletions_stop(deletions);
    return 0;
}

int main(int argc, char **argv) {
    int args = parse_args(argc, argv);
    if (args != 0) {
        return args > 0 ? 0 : 2;
    }
    sigset_t stop_signals;
    if (block_stop_signals(&stop_signals) != 0 || signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        fprintf(stderr, "taskbus-api: could not set up signal handling\n");
        return 1;
    }
    taskbus_config cfg;
    char err[512];
    if (config_load(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "taskbus-api: %s\n", err);
        return 2;
    }
    log_level level = LOG_INFO;
    bool level_ok = log_level_parse(cfg.log_level, &level) == 0;
    log_init("api", level);
    build_info_register("api");
    process_metrics_register();
    if (!level_ok) {
        LOG_WARNF("TASKBUS_LOG_LEVEL is not one of debug, info, warn, error; using info");
    }
    if (sodium_init() < 0) {
        LOG_ERRORF("sodium_init failed");
        config_free(&cfg);
        return 1;
    }
    api_app app = {.cfg = &cfg};
    unsigned char generated_key[JWT_GENERATED_KEY_BYTES];
    if (setup_jwt_key(&cfg, &app, generated_key) != 0) {
        config_free(&cfg);
        return 2;
    }
    cors_origins *cors = NULL; /* owned here; app.cors borrows it until the end */
    char cors_err[512];
    if (cors_origins_parse(cfg.cors_origins, &cors, cors_err, sizeof cors_err) != 0) {
        fprintf(stderr, "taskbus-api: %s\n", cors_err);
        config_free(&cfg);
        return 2;
    }
    app.cors = cors;
    /* One access-log line per request: written behind, many lines per write(2). */
    if (log_buffer_start() != 0) {
        LOG_WARNF("log buffer: no thread; writing every line directly");
    }
    int rc = open_backends(&app, &cfg) == 0 ? serve(&app, &cfg, &stop_signals) : -1;
    close_backends(&app);
    cors_origins_free(cors);
    sodium_memzero(generated_key, sizeof generated_key);
    config_free(&cfg);
    if (rc == 0) {
        LOG_INFOF("stopped");
    }
    log_buffer_stop();
    return rc == 0 ? 0 : 1;
}
