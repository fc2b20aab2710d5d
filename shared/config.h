/*
 * config.h: the one table of environment variables every taskbus binary reads.
 *
 * Owns: parsing TASKBUS_*, DATABASE_URL, DATABASE_READ_URL, REDIS_URL and KAFKA_BROKERS
 * into a taskbus_config, with a sane local default for each, range checks, and --help.
 * Rules: config_load never exits; it reports the first bad variable in err. Strings in
 * the struct are owned by it and freed by config_free. Secrets are never printed.
 */
#ifndef TASKBUS_SHARED_CONFIG_H
#define TASKBUS_SHARED_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A retention duration's value for "forever" (Kafka's retention.ms=-1). */
#define CONFIG_DURATION_FOREVER ((int64_t)-1)

typedef struct rate_limit_spec {
    int count;    /* requests allowed ... */
    int period_s; /* ... per this many seconds */
} rate_limit_spec;

typedef struct taskbus_config {
    char *http_host;
    int http_port;
    int http_connection_limit;
    int http_idle_timeout_s;
    int http_thread_stack_kib;
    int http_connection_memory_kib; /* libmicrohttpd memory pool per connection */
    long max_body_bytes;
    long import_max_body_bytes; /* POST /api/v1/tasks/import only */
    bool trust_proxy;

    char *database_url;
    char *database_read_url; /* NULL when unset: reads use database_url */
    int pg_pool_size;
    int pg_statement_timeout_ms;
    char *redis_url;
    int redis_pool_size;
    int redis_timeout_ms;
    int near_cache_lease_ms; /* near-cache lease (API) and release delay (writer) */
    int near_cache_mib;      /* the API's near-cache budget */
    char *kafka_brokers;
    int kafka_partitions;
    int kafka_replication;
    int kafka_produce_timeout_ms;  /* the API's bound on a produce (message.timeout.ms) */
    int kafka_min_insync_replicas; /* every topic's min.insync.replicas (<= replication) */
    /* issue 12: retention per topic class (shared/topic_policy.h), in ms;
     * CONFIG_DURATION_FOREVER (-1) is forever. */
    int64_t events_retention_ms;          /* task-events(.v2), user-, project-events */
    int64_t commands_retention_ms;        /* task-commands, notifications, reports */
    int64_t dlq_retention_ms;             /* the dead-letter topics */
    int64_t state_tombstone_retention_ms; /* task-state: delete.retention.ms (never forever) */
    int sse_max_per_user;                 /* open event streams per user per instance */
    int sse_max_per_instance;             /* open event streams per instance */

    char *jwt_secret; /* NULL when unset */
    char *jwt_issuer;
    char *jwt_audience;
    int access_ttl_s;
    int refresh_ttl_s;
    int argon2_opslimit;
    int argon2_memlimit_kib;
    int argon2_concurrency;

    rate_limit_spec ratelimit_ip;
    rate_limit_spec ratelimit_user;
    rate_limit_spec ratelimit_auth;
    rate_limit_spec ratelimit_login_account;
    rate_limit_spec ratelimit_mail_address;
    int ratelimit_sync_ms;       /* reconcile interval of the local buckets with Redis */
    int ratelimit_local_buckets; /* local buckets one API instance holds at most */

    int import_max_rate;     /* taskbus-importer: ceiling of its rate (items/s) */
    int import_min_rate;     /* floor of that rate */
    int import_max_delay_ms; /* its oldest unapplied command later than this: slow down */
    int import_max_lag;      /* writer lag above: slow down; also the in-flight window */
    char *import_topic;      /* where the importer produces commands */
    char *writer_topic;      /* what the writer consumes */
    char *writer_group;      /* the writer's consumer group */

    /* issue 4: notifications, webhooks, reminders, reports, consumers */
    char *public_url;            /* base of links in e-mails (verification) */
    char *smtp_url;              /* smtp://host:port */
    char *smtp_from;             /* envelope and From: address */
    int notify_max_attempts;     /* SMTP attempts before notifications.dlq */
    int notify_backoff_ms;       /* first retry delay; doubles, with jitter */
    char *webhook_allow;         /* comma list of hosts/CIDRs exempt from the SSRF guard */
    char *cors_origins;          /* comma list of browser origins the API answers (api/cors.h) */
    int webhook_timeout_ms;      /* per delivery attempt */
    int webhook_max_attempts;    /* attempts per delivery before it is given up */
    int webhook_disable_after_s; /* failing continuously this long disables a webhook */
    int webhook_secret_grace_s;  /* the replaced secret still signs this long after a rotation */
    int reminder_lead_s;         /* due-soon reminders go out this long before due_at */
    int scheduler_interval_ms;
    int lag_interval_s;             /* the scheduler's observer: lag, outbox, dead letters */
    char *reports_dir;              /* where report files are written */
    int report_retention_s;         /* a finished report's file is removed this long after */
    int analytics_seen_retention_s; /* analytics_seen_events rows are kept this long */
    int retention_interval_s;       /* how often the reporter and the scheduler prune */

    char *metrics_host; /* where a daemon's /health, /ready, /metrics listener binds */
    int metrics_port;   /* base port of those listeners (+ the daemon's offset); 0: none */

    char *schemas_dir; /* migrations are schemas_dir/migrations */
    char *web_dir;     /* the browser's files (api/web_files.h) */
    char *log_level;
} taskbus_config;

/* Looks a variable up; returns NULL when unset. Tests pass their own. */
typedef const char *(*config_lookup_fn)(const char *name, void *ctx);

/* Fills cfg from getenv. Returns 0, or -1 with a message naming the variable in err. */
int config_load(taskbus_config *cfg, char *err, size_t errlen);
int config_load_from(taskbus_config *cfg, config_lookup_fn lookup, void *ctx, char *err,
                     size_t errlen);
void config_free(taskbus_config *cfg);

/* Prints every variable with its default and meaning (for --help). */
void config_print_help(FILE *out, const char *program, const char *summary);

/* Parses "COUNT/PERIOD" where PERIOD is seconds with an optional s, m or h suffix. */
int config_parse_rate(const char *text, rate_limit_spec *out);

/* Parses a duration: "forever" (*out_ms = CONFIG_DURATION_FOREVER), or a positive decimal
 * integer directly followed by a unit ms, s, m, h or d ("7d", "36h", "500ms"). No spaces,
 * no sign, no bare number. 0, or -1 when the text is not one or the result overflows
 * int64_t milliseconds (*out_ms untouched). */
int config_parse_duration_ms(const char *text, int64_t *out_ms);

/* Writes ms back in the shortest exact form of config_parse_duration_ms's syntax
 * ("forever", "7d", "90m", "1500ms"). */
void config_format_duration(int64_t ms, char *out, size_t outlen);

#endif
