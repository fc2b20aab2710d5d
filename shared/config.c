/*
 * config.c: the one table of environment variables (docs/decisions.md, "Environment
 * variables"), parsed into a taskbus_config.
 *
 * Owns: names, defaults, ranges and --help text, all in VARS below; adding a variable is
 * one row there and one field in config.h. Rules: an empty value counts as unset (so
 * `FOO=` in a compose file means "the default"); integers are plain decimal, range
 * checked; booleans are 0/1/true/false; the first bad variable is reported by name and
 * loading stops without exiting. A secret's value never appears in an error or in help.
 */
#include "shared/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shared/bus.h"
#include "shared/errbuf.h"
#include "shared/log.h"

#ifndef TASKBUS_SOURCE_DIR
#define TASKBUS_SOURCE_DIR "."
#endif

/* K_DURATION: config_parse_duration_ms into an int64_t; min -1 allows "forever", min 1
 * refuses it (max unused). */
typedef enum { K_STR, K_INT, K_LONG, K_BOOL, K_RATE, K_LEVEL, K_DURATION } var_kind;

typedef struct var_def {
    const char *name;
    const char *def; /* NULL: unset unless given */
    var_kind kind;
    long min, max; /* the value's range; for strings, the length's */
    size_t offset;
    bool secret;
    const char *meaning;
} var_def;

#define F(field) offsetof(taskbus_config, field)
#define RATE_MAX_COUNT 1000000000L
#define RATE_MAX_PERIOD_S 604800L /* one week */

static const var_def VARS[] = {
    {"TASKBUS_HTTP_HOST", "127.0.0.1", K_STR, 1, 253, F(http_host), false, "API bind address"},
    {"TASKBUS_HTTP_PORT", "8080", K_INT, 1, 65535, F(http_port), false, "API port"},
    {"TASKBUS_HTTP_CONNECTION_LIMIT", "2000", K_INT, 1, 1000000, F(http_connection_limit), false,
     "open connections the API accepts"},
    {"TASKBUS_HTTP_IDLE_TIMEOUT_SECONDS", "30", K_INT, 1, 86400, F(http_idle_timeout_s), false,
     "idle keep-alive connections are closed after this"},
    {"TASKBUS_HTTP_THREAD_STACK_KIB", "256", K_INT, 64, 65536, F(http_thread_stack_kib), false,
     "stack per connection thread"},
    {"TASKBUS_HTTP_CONNECTION_MEMORY_KIB", "8", K_INT, 4, 1024, F(http_connection_memory_kib),
     false,
     "memory per connection for the request head and buffers (a request head larger than "
     "about this answers 431)"},
    {"TASKBUS_MAX_BODY_BYTES", "1048576", K_LONG, 1, 1073741824L, F(max_body_bytes), false,
     "larger request bodies answer 413"},
    {"TASKBUS_IMPORT_MAX_BODY_BYTES", "16777216", K_LONG, 1, 1073741824L, F(import_max_body_bytes),
     false, "body limit of POST /api/v1/tasks/import (10 000 tasks)"},
    {"TASKBUS_TRUST_PROXY", "0", K_BOOL, 0, 1, F(trust_proxy), false,
     "1: client IP is the last X-Forwarded-For hop"},
    {"DATABASE_URL", "postgresql://taskbus:taskbus@127.0.0.1:15432/taskbus", K_STR, 1, 4096,
     F(database_url), false, "primary Postgres (may hold a password; never logged)"},
    {"DATABASE_READ_URL", NULL, K_STR, 1, 4096, F(database_read_url), false,
     "read replica for reads; unset means DATABASE_URL (may hold a password)"},
    {"TASKBUS_PG_POOL_SIZE", "8", K_INT, 1, 512, F(pg_pool_size), false, "connections per pool"},
    {"TASKBUS_PG_STATEMENT_TIMEOUT_MS", "5000", K_INT, 1, 3600000, F(pg_statement_timeout_ms),
     false, "statement_timeout of every connection"},
    {"REDIS_URL", "redis://127.0.0.1:16379/0", K_STR, 1, 4096, F(redis_url), false,
     "Redis (may hold a password; never logged)"},
    {"TASKBUS_REDIS_POOL_SIZE", "64", K_INT, 1, 512, F(redis_pool_size), false,
     "connections (the API holds one per request in flight at most)"},
    {"TASKBUS_REDIS_TIMEOUT_MS", "250", K_INT, 1, 60000, F(redis_timeout_ms), false,
     "connect, read and write timeout"},
    {"TASKBUS_NEAR_CACHE_LEASE_MS", "2000", K_INT, 200, 60000, F(near_cache_lease_ms), false,
     "near-cache lease length; the same on every API instance and writer (a stalled API "
     "delays reports of applied writes by at most this; Redis down, by about 1.6x it)"},
    {"TASKBUS_NEAR_CACHE_MIB", "16", K_INT, 0, 4096, F(near_cache_mib), false,
     "memory for the API's in-process cache of tasks, pages and sessions (0: off)"},
    {"KAFKA_BROKERS", "127.0.0.1:19092", K_STR, 1, 4096, F(kafka_brokers), false,
     "bootstrap servers"},
    {"TASKBUS_KAFKA_PARTITIONS", "6", K_INT, 1, 10000, F(kafka_partitions), false,
     "partitions of created topics"},
    {"TASKBUS_KAFKA_REPLICATION", "1", K_INT, 1, 32, F(kafka_replication), false,
     "replication factor of created topics"},
    {"TASKBUS_KAFKA_MIN_INSYNC_REPLICAS", "1", K_INT, 1, 32, F(kafka_min_insync_replicas), false,
     "min.insync.replicas of every topic (set by taskbus-admin topics): replicas that must "
     "have a write before it counts (acks=all); at most TASKBUS_KAFKA_REPLICATION"},
    {"TASKBUS_EVENTS_RETENTION", "forever", K_DURATION, -1, 0, F(events_retention_ms), false,
     "how long task-events, task-events.v2, user-events and project-events keep records (forever, "
     "or e.g. 365d, "
     "36h; units "
     "ms, s, m, h, d); a rebuild of analytics or activity needs the whole stream"},
    {"TASKBUS_COMMANDS_RETENTION", "7d", K_DURATION, -1, 0, F(commands_retention_ms), false,
     "how long task-commands, notifications and reports keep records"},
    {"TASKBUS_DLQ_RETENTION", "30d", K_DURATION, -1, 0, F(dlq_retention_ms), false,
     "how long the dead-letter topics (task-commands.dlq, notifications.dlq) keep records"},
    {"TASKBUS_STATE_TOMBSTONE_RETENTION", "1d", K_DURATION, 1, 0, F(state_tombstone_retention_ms),
     false,
     "task-state (compacted, kept forever) keeps a deleted task's tombstone this long "
     "(delete.retention.ms): a bootstrapping reader slower than this may miss a delete"},
    {"TASKBUS_KAFKA_PRODUCE_TIMEOUT_MS", "5000", K_INT, 1000, 60000, F(kafka_produce_timeout_ms),
     false,
     "the API's bound on Kafka taking a write (message.timeout.ms): past it the write is 503 "
     "and is never applied later"},
    {"TASKBUS_SSE_MAX_PER_USER", "5", K_INT, 1, 10000, F(sse_max_per_user), false,
     "open event streams (GET /api/v1/events) per user per API instance; 429 beyond"},
    {"TASKBUS_SSE_MAX_PER_INSTANCE", "500", K_INT, 1, 100000, F(sse_max_per_instance), false,
     "open event streams per API instance; 429 beyond"},
    {"TASKBUS_JWT_SECRET", NULL, K_STR, 32, 4096, F(jwt_secret), true,
     "HS256 key, at least 32 bytes; unset: random per process, with a warning"},
    {"TASKBUS_JWT_ISSUER", "taskbus", K_STR, 1, 256, F(jwt_issuer), false, "iss"},
    {"TASKBUS_JWT_AUDIENCE", "taskbus-api", K_STR, 1, 256, F(jwt_audience), false, "aud"},
    {"TASKBUS_ACCESS_TTL_SECONDS", "900", K_INT, 1, 86400, F(access_ttl_s), false,
     "access token lifetime"},
    {"TASKBUS_REFRESH_TTL_SECONDS", "604800", K_INT, 1, 31536000, F(refresh_ttl_s), false,
     "refresh token lifetime"},
    {"TASKBUS_ARGON2_OPSLIMIT", "2", K_INT, 1, 64, F(argon2_opslimit), false, "argon2id passes"},
    {"TASKBUS_ARGON2_MEMLIMIT_KIB", "19456", K_INT, 8, 4194304, F(argon2_memlimit_kib), false,
     "argon2id memory (KiB)"},
    {"TASKBUS_ARGON2_CONCURRENCY", "2", K_INT, 1, 512, F(argon2_concurrency), false,
     "hashes at once per process"},
    {"TASKBUS_RATELIMIT_IP", "1200/60", K_RATE, 0, 0, F(ratelimit_ip), false,
     "requests per IP per period (COUNT/PERIOD, period in s or with s/m/h)"},
    {"TASKBUS_RATELIMIT_USER", "600/60", K_RATE, 0, 0, F(ratelimit_user), false,
     "requests per user"},
    {"TASKBUS_RATELIMIT_AUTH", "10/60", K_RATE, 0, 0, F(ratelimit_auth), false,
     "register/login/refresh, password reset and address-change confirmation per IP"},
    {"TASKBUS_RATELIMIT_LOGIN_ACCOUNT", "10/300", K_RATE, 0, 0, F(ratelimit_login_account), false,
     "login attempts per e-mail"},
    {"TASKBUS_RATELIMIT_MAIL_ADDRESS", "5/3600", K_RATE, 0, 0, F(ratelimit_mail_address), false,
     "requests that mail an address (password resets, address changes), per address, known or not"},
    {"TASKBUS_RATELIMIT_SYNC_MS", "50", K_INT, 5, 10000, F(ratelimit_sync_ms), false,
     "how often each API instance reconciles its local per-IP and per-user buckets with Redis"},
    {"TASKBUS_RATELIMIT_LOCAL_BUCKETS", "65536", K_INT, 64, 10000000, F(ratelimit_local_buckets),
     false,
     "local rate-limit buckets one API instance holds at most (least recently used evicted)"},
    {"TASKBUS_IMPORT_MAX_RATE", "20000", K_INT, 1, 1000000, F(import_max_rate), false,
     "ceiling of the tasks per second one importer produces, all its imports together"},
    {"TASKBUS_IMPORT_MIN_RATE", "100", K_INT, 1, 1000000, F(import_min_rate), false,
     "floor of that rate, however far the writer falls behind"},
    {"TASKBUS_IMPORT_MAX_DELAY_MS", "20", K_INT, 1, 600000, F(import_max_delay_ms), false,
     "the importer slows down when its oldest unapplied command waits this much longer than "
     "the writer's lowest apply latency of the last 10 minutes (the delay imports may add)"},
    {"TASKBUS_IMPORT_MAX_LAG", "2000", K_INT, 1, 10000000, F(import_max_lag), false,
     "the importer slows down when the writer's lag exceeds this many commands; also the most "
     "import commands one importer has in flight"},
    {"TASKBUS_IMPORT_TOPIC", TASK_COMMANDS_TOPIC, K_STR, 1, 249, F(import_topic), false,
     "topic the importer produces task commands to"},
    {"TASKBUS_WRITER_TOPIC", TASK_COMMANDS_TOPIC, K_STR, 1, 249, F(writer_topic), false,
     "topic the writer consumes task commands from (dead letters: <topic>.dlq)"},
    {"TASKBUS_WRITER_GROUP", WRITER_GROUP, K_STR, 1, 249, F(writer_group), false,
     "consumer group of the writers"},
    {"TASKBUS_PUBLIC_URL", "http://127.0.0.1:8080", K_STR, 1, 1024, F(public_url), false,
     "base URL of links in e-mails (address verification)"},
    {"TASKBUS_SMTP_URL", "smtp://127.0.0.1:12525", K_STR, 1, 1024, F(smtp_url), false,
     "SMTP server for e-mail (may hold a password; never logged)"},
    {"TASKBUS_SMTP_FROM", "taskbus <no-reply@taskbus.local>", K_STR, 3, 320, F(smtp_from), false,
     "sender of e-mail"},
    {"TASKBUS_NOTIFY_MAX_ATTEMPTS", "5", K_INT, 1, 100, F(notify_max_attempts), false,
     "SMTP attempts before a notification goes to notifications.dlq"},
    {"TASKBUS_NOTIFY_BACKOFF_MS", "500", K_INT, 1, 600000, F(notify_backoff_ms), false,
     "first SMTP retry delay (doubles each attempt, with jitter)"},
    {"TASKBUS_CORS_ORIGINS", NULL, K_STR, 1, 16384, F(cors_origins), false,
     "comma list of browser origins (https://host[:port]) the API answers with CORS headers"},
    {"TASKBUS_WEBHOOK_ALLOW", NULL, K_STR, 1, 4096, F(webhook_allow), false,
     "comma list of hosts or CIDRs webhooks may reach despite the SSRF guard"},
    {"TASKBUS_WEBHOOK_TIMEOUT_MS", "5000", K_INT, 100, 60000, F(webhook_timeout_ms), false,
     "timeout of one webhook delivery attempt"},
    {"TASKBUS_WEBHOOK_MAX_ATTEMPTS", "8", K_INT, 1, 100, F(webhook_max_attempts), false,
     "attempts of one delivery before it is given up"},
    {"TASKBUS_WEBHOOK_DISABLE_AFTER_SECONDS", "86400", K_INT, 1, 31536000,
     F(webhook_disable_after_s), false,
     "a webhook failing continuously this long is disabled and its owner e-mailed"},
    {"TASKBUS_WEBHOOK_SECRET_GRACE_SECONDS", "86400", K_INT, 0, 31536000, F(webhook_secret_grace_s),
     false, "after a secret rotation, deliveries are signed with the old secret too for this long"},
    {"TASKBUS_REMINDER_LEAD_SECONDS", "3600", K_INT, 1, 31536000, F(reminder_lead_s), false,
     "due-soon reminders go out this long before a task is due"},
    {"TASKBUS_SCHEDULER_INTERVAL_MS", "1000", K_INT, 10, 3600000, F(scheduler_interval_ms), false,
     "how often the scheduler looks for due reminders"},
    {"TASKBUS_LAG_INTERVAL_SECONDS", "5", K_INT, 1, 3600, F(lag_interval_s), false,
     "how often the scheduler measures every consumer group's lag, the outbox backlog and the "
     "dead letters pending (taskbus_consumer_lag, taskbus_outbox_*, taskbus_dlq_pending)"},
    {"TASKBUS_REPORTS_DIR", "/tmp/taskbus-reports", K_STR, 1, 4096, F(reports_dir), false,
     "where the reporter writes report files (shared with the API)"},
    {"TASKBUS_REPORT_RETENTION_SECONDS", "604800", K_INT, 1, 315360000, F(report_retention_s),
     false,
     "a finished report's file is removed this long after it finished (its download is then "
     "410); its row one more period later"},
    {"TASKBUS_ANALYTICS_SEEN_RETENTION_SECONDS", "2592000", K_INT, 1, 315360000,
     F(analytics_seen_retention_s), false,
     "the analytics consumer's de-duplication rows are kept this long; must exceed the "
     "task-events topic's retention.ms + segment.ms (an older duplicate would count twice)"},
    {"TASKBUS_RETENTION_INTERVAL_SECONDS", "3600", K_INT, 1, 86400, F(retention_interval_s), false,
     "how often the reporter prunes expired reports and the scheduler old analytics "
     "de-duplication rows and expired project invitations (also once at start)"},
    {"TASKBUS_METRICS_HOST", "127.0.0.1", K_STR, 1, 255, F(metrics_host), false,
     "address every daemon's /health, /ready and /metrics listener binds"},
    {"TASKBUS_METRICS_PORT", "9400", K_INT, 0, 65535, F(metrics_port), false,
     "base port of those listeners: writer +1, relay +2, importer +3, notifier +4, webhooks "
     "+5, scheduler +6, reporter +7, analytics +8, activity +9; TASKBUS_<DAEMON>_METRICS_PORT "
     "(e.g. TASKBUS_WRITER_METRICS_PORT) overrides one daemon's; 0: no listener"},
    {"TASKBUS_SCHEMAS_DIR", TASKBUS_SOURCE_DIR "/schemas", K_STR, 1, 4096, F(schemas_dir), false,
     "migrations, OpenAPI, event schemas"},
    {"TASKBUS_WEB_DIR", TASKBUS_SOURCE_DIR "/web", K_STR, 1, 4096, F(web_dir), false,
     "the browser's files: app/ (the web client at /app/), docs/ (the API reference at "
     "/docs/) and node_modules/swagger-ui-dist (vendored by compose/local)"},
    {"TASKBUS_LOG_LEVEL", "info", K_LEVEL, 1, 16, F(log_level), false, "debug, info, warn, error"},
};

#define NVARS (sizeof VARS / sizeof VARS[0])

static const char *env_lookup(const char *name, void *ctx) {
    (void)ctx;
    return getenv(name);
}

/* Strict decimal: optional '-', digits only, no spaces, no trailing junk. */
static int parse_long(const char *text, long *out) {
    if (text[0] != '-' && !isdigit((unsigned char)text[0]))
        return -1;
    errno = 0;
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

int config_parse_rate(const char *text, rate_limit_spec *out) {
    if (text == NULL || out == NULL)
        return -1;
    const char *slash = strchr(text, '/');
    if (slash == NULL || slash == text || slash - text > 16)
        return -1;
    char count_text[17];
    memcpy(count_text, text, (size_t)(slash - text));
    count_text[slash - text] = '\0';

    char period_text[24];
    size_t plen = strlen(slash + 1);
    if (plen == 0 || plen >= sizeof period_text)
        return -1;
    memcpy(period_text, slash + 1, plen + 1);
    long unit = 1;
    char last = period_text[plen - 1];
    if (last == 's' || last == 'm' || last == 'h') {
        unit = last == 'h' ? 3600 : last == 'm' ? 60 : 1;
        period_text[--plen] = '\0';
    }
    long count, period;
    if (plen == 0 || parse_long(count_text, &count) != 0 || parse_long(period_text, &period) != 0)
        return -1;
    if (count < 1 || count > RATE_MAX_COUNT || period < 1 || period > RATE_MAX_PERIOD_S / unit)
        return -1;
    out->count = (int)count;
    out->period_s = (int)(period * unit);
    return 0;
}

static const struct {
    const char *suffix;
    int64_t ms;
} DURATION_UNITS[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
};
#define NUNITS (sizeof DURATION_UNITS / sizeof DURATION_UNITS[0])

int config_parse_duration_ms(const char *text, int64_t *out_ms) {
    if (text == NULL || out_ms == NULL)
        return -1;
    if (strcmp(text, "forever") == 0) {
        *out_ms = CONFIG_DURATION_FOREVER;
        return 0;
    }
    int64_t n = 0;
    size_t i = 0;
    for (; isdigit((unsigned char)text[i]); i++) {
        int digit = text[i] - '0';
        if (n > (INT64_MAX - digit) / 10)
            return -1;
        n = n * 10 + digit;
    }
    if (i == 0 || n == 0)
        return -1;
    for (size_t u = 0; u < NUNITS; u++) {
        if (strcmp(text + i, DURATION_UNITS[u].suffix) != 0)
            continue;
        if (n > INT64_MAX / DURATION_UNITS[u].ms)
            return -1;
        *out_ms = n * DURATION_UNITS[u].ms;
        return 0;
    }
    return -1;
}

void config_format_duration(int64_t ms, char *out, size_t outlen) {
    if (out == NULL || outlen == 0)
        return;
    if (ms < 0) {
        snprintf(out, outlen, "forever");
        return;
    }
    for (size_t u = NUNITS; u-- > 1;) {
        if (ms != 0 && ms % DURATION_UNITS[u].ms == 0) {
            snprintf(out, outlen, "%lld%s", (long long)(ms / DURATION_UNITS[u].ms),
                     DURATION_UNITS[u].suffix);
            return;
        }
    }
    snprintf(out, outlen, "%lldms", (long long)ms);
}

static int parse_bool(const char *text, bool *out) {
    if (strcmp(text, "1") == 0 || strcasecmp(text, "true") == 0)
        *out = true;
    else if (strcmp(text, "0") == 0 || strcasecmp(text, "false") == 0)
        *out = false;
    else
        return -1;
    return 0;
}

static int set_string(const var_def *v, const char *text, void *field, char *err, size_t errlen) {
    size_t len = strlen(text);
    if ((long)len < v->min || (long)len > v->max) {
        if (v->secret)
            errbuf_setf(err, errlen, "%s: must be %ld to %ld bytes long", v->name, v->min, v->max);
        else
            errbuf_setf(err, errlen, "%s: \"%.64s\" must be %ld to %ld characters long", v->name,
                        text, v->min, v->max);
        return -1;
    }
    char *copy = strdup(text);
    if (copy == NULL) {
        errbuf_setf(err, errlen, "%s: out of memory", v->name);
        return -1;
    }
    *(char **)field = copy;
    return 0;
}

static int set_number(const var_def *v, const char *text, void *field, char *err, size_t errlen) {
    long n;
    if (parse_long(text, &n) != 0) {
        errbuf_setf(err, errlen, "%s: \"%.64s\" is not an integer", v->name, text);
        return -1;
    }
    if (n < v->min || n > v->max) {
        errbuf_setf(err, errlen, "%s: %ld is out of range %ld..%ld", v->name, n, v->min, v->max);
        return -1;
    }
    if (v->kind == K_INT)
        *(int *)field = (int)n;
    else
        *(long *)field = n;
    return 0;
}

static int set_other(const var_def *v, const char *text, void *field, char *err, size_t errlen) {
    log_level level;
    switch (v->kind) {
    case K_BOOL:
        if (parse_bool(text, (bool *)field) == 0)
            return 0;
        errbuf_setf(err, errlen, "%s: \"%.64s\" is not a boolean (0, 1, true, false)", v->name,
                    text);
        return -1;
    case K_RATE:
        if (config_parse_rate(text, (rate_limit_spec *)field) == 0)
            return 0;
        errbuf_setf(err, errlen, "%s: \"%.64s\" is not COUNT/PERIOD (e.g. 600/60, 10/5m, 100/1h)",
                    v->name, text);
        return -1;
    case K_DURATION:
        if (config_parse_duration_ms(text, (int64_t *)field) != 0) {
            errbuf_setf(err, errlen,
                        "%s: \"%.64s\" is not a duration (forever, or a positive integer with a "
                        "unit ms, s, m, h or d, e.g. 7d, 36h)",
                        v->name, text);
            return -1;
        }
        if (v->min > 0 && *(int64_t *)field == CONFIG_DURATION_FOREVER) {
            errbuf_setf(err, errlen, "%s: must be finite (a positive integer with a unit)",
                        v->name);
            return -1;
        }
        return 0;
    case K_LEVEL:
        if (log_level_parse(text, &level) != 0) {
            errbuf_setf(err, errlen, "%s: \"%.64s\" is not one of debug, info, warn, error",
                        v->name, text);
            return -1;
        }
        /* Stored in canonical form so every reader can strcmp it. */
        static const char *const names[] = {"debug", "info", "warn", "error"};
        return set_string(v, names[level], field, err, errlen);
    default:
        errbuf_setf(err, errlen, "%s: unsupported kind", v->name);
        return -1;
    }
}

static int set_var(const var_def *v, const char *text, taskbus_config *cfg, char *err,
                   size_t errlen) {
    void *field = (char *)cfg + v->offset;
    if (v->kind == K_STR)
        return set_string(v, text, field, err, errlen);
    if (v->kind == K_INT || v->kind == K_LONG)
        return set_number(v, text, field, err, errlen);
    return set_other(v, text, field, err, errlen);
}

/* Rules between variables, after each one parsed alone. */
static int check_together(taskbus_config *cfg, char *err, size_t errlen) {
    if (cfg->kafka_min_insync_replicas > cfg->kafka_replication) {
        errbuf_setf(err, errlen,
                    "TASKBUS_KAFKA_MIN_INSYNC_REPLICAS: %d is more than TASKBUS_KAFKA_REPLICATION "
                    "(%d): no write could ever be acknowledged",
                    cfg->kafka_min_insync_replicas, cfg->kafka_replication);
        config_free(cfg);
        return -1;
    }
    return 0;
}

int config_load_from(taskbus_config *cfg, config_lookup_fn lookup, void *ctx, char *err,
                     size_t errlen) {
    char scratch[8];
    if (err == NULL || errlen == 0) {
        err = scratch;
        errlen = sizeof scratch;
    }
    err[0] = '\0';
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NVARS; i++) {
        const var_def *v = &VARS[i];
        const char *text = lookup(v->name, ctx);
        if (text == NULL || text[0] == '\0')
            text = v->def;
        if (text == NULL)
            continue; /* optional and unset: the field stays NULL */
        if (set_var(v, text, cfg, err, errlen) != 0) {
            config_free(cfg);
            return -1;
        }
    }
    return check_together(cfg, err, errlen);
}

int config_load(taskbus_config *cfg, char *err, size_t errlen) {
    return config_load_from(cfg, env_lookup, NULL, err, errlen);
}

void config_free(taskbus_config *cfg) {
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < NVARS; i++) {
        if (VARS[i].kind != K_STR && VARS[i].kind != K_LEVEL)
            continue;
        char **field = (char **)((char *)cfg + VARS[i].offset);
        free(*field);
        *field = NULL;
    }
}

void config_print_help(FILE *out, const char *program, const char *summary) {
    fprintf(out, "Usage: %s [--help | --version]\n", program != NULL ? program : "taskbus");
    if (summary != NULL)
        fprintf(out, "\n%s\n", summary);
    fputs("\nConfiguration is read from these environment variables (empty means unset):\n\n", out);
    for (size_t i = 0; i < NVARS; i++) {
        const var_def *v = &VARS[i];
        fprintf(out, "  %-34s default: %s%s\n", v->name, v->def != NULL ? v->def : "(unset)",
                v->secret ? "  [secret: never printed or logged]" : "");
        fprintf(out, "  %-34s %s\n", "", v->meaning);
    }
}
