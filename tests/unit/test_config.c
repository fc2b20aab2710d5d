/*
 * test_config.c: the environment table (shared/config.c), driven through
 * config_load_from with an injected lookup so the real environment does not matter.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/config.h"

/* NULL-terminated name/value pairs. */
typedef struct {
    const char *const *pairs;
} fake_env;

static const char *fake_lookup(const char *name, void *ctx) {
    const fake_env *env = ctx;
    for (const char *const *p = env->pairs; p[0] != NULL; p += 2) {
        if (strcmp(p[0], name) == 0)
            return p[1];
    }
    return NULL;
}

/* Loads with the given pairs; returns the rc, the error text in err. */
static int load(taskbus_config *cfg, const char *const *pairs, char *err, size_t errlen) {
    fake_env env = {pairs};
    return config_load_from(cfg, fake_lookup, &env, err, errlen);
}

/* Expects a successful load, showing the error otherwise. */
static void load_ok(taskbus_config *cfg, const char *const *pairs) {
    char err[256] = "";
    if (load(cfg, pairs, err, sizeof err) != 0)
        fail_msg("config_load_from failed: %s", err);
}

/* Expects a load error that names var. */
static void expect_error(const char *var, const char *value) {
    const char *pairs[] = {var, value, NULL};
    taskbus_config cfg;
    char err[256] = "";
    assert_int_equal(load(&cfg, pairs, err, sizeof err), -1);
    if (strstr(err, var) == NULL)
        fail_msg("error for %s=%s does not name it: %s", var, value, err);
    assert_null(cfg.http_host); /* partial strings were freed */
}

static void test_defaults(void **state) {
    (void)state;
    const char *none[] = {NULL};
    taskbus_config cfg;
    load_ok(&cfg, none);
    assert_string_equal(cfg.http_host, "127.0.0.1");
    assert_int_equal(cfg.http_port, 8080);
    assert_int_equal(cfg.http_connection_limit, 2000);
    assert_int_equal(cfg.http_idle_timeout_s, 30);
    assert_int_equal(cfg.http_thread_stack_kib, 256);
    assert_int_equal(cfg.max_body_bytes, 1048576);
    assert_false(cfg.trust_proxy);
    assert_string_equal(cfg.database_url, "postgresql://taskbus:taskbus@127.0.0.1:15432/taskbus");
    assert_null(cfg.database_read_url);
    assert_int_equal(cfg.pg_pool_size, 8);
    assert_int_equal(cfg.pg_statement_timeout_ms, 5000);
    assert_string_equal(cfg.redis_url, "redis://127.0.0.1:16379/0");
    assert_int_equal(cfg.redis_pool_size, 64);
    assert_int_equal(cfg.redis_timeout_ms, 250);
    assert_string_equal(cfg.kafka_brokers, "127.0.0.1:19092");
    assert_int_equal(cfg.kafka_partitions, 6);
    assert_int_equal(cfg.kafka_replication, 1);
    assert_null(cfg.jwt_secret);
    assert_string_equal(cfg.jwt_issuer, "taskbus");
    assert_string_equal(cfg.jwt_audience, "taskbus-api");
    assert_int_equal(cfg.access_ttl_s, 900);
    assert_int_equal(cfg.refresh_ttl_s, 604800);
    assert_int_equal(cfg.argon2_opslimit, 2);
    assert_int_equal(cfg.argon2_memlimit_kib, 19456);
    assert_int_equal(cfg.argon2_concurrency, 2);
    assert_int_equal(cfg.ratelimit_ip.count, 1200);
    assert_int_equal(cfg.ratelimit_ip.period_s, 60);
    assert_int_equal(cfg.ratelimit_user.count, 600);
    assert_int_equal(cfg.ratelimit_user.period_s, 60);
    assert_int_equal(cfg.ratelimit_auth.count, 10);
    assert_int_equal(cfg.ratelimit_auth.period_s, 60);
    assert_int_equal(cfg.ratelimit_login_account.count, 10);
    assert_int_equal(cfg.ratelimit_login_account.period_s, 300);
    assert_int_equal(cfg.ratelimit_mail_address.count, 5);
    assert_int_equal(cfg.ratelimit_mail_address.period_s, 3600);
    assert_int_equal(cfg.ratelimit_sync_ms, 50);
    assert_int_equal(cfg.ratelimit_local_buckets, 65536);
    assert_string_equal(cfg.schemas_dir, TASKBUS_SOURCE_DIR "/schemas");
    assert_string_equal(cfg.log_level, "info");
    config_free(&cfg);
    assert_null(cfg.http_host);
    config_free(&cfg); /* twice is harmless */
}

static void test_overrides(void **state) {
    (void)state;
    const char *secret = "0123456789abcdef0123456789abcdef";
    const char *pairs[] = {"TASKBUS_HTTP_HOST",
                           "0.0.0.0",
                           "TASKBUS_HTTP_PORT",
                           "18080",
                           "TASKBUS_MAX_BODY_BYTES",
                           "2048",
                           "TASKBUS_TRUST_PROXY",
                           "1",
                           "DATABASE_READ_URL",
                           "postgresql://r@replica/taskbus",
                           "TASKBUS_PG_POOL_SIZE",
                           "512",
                           "REDIS_URL",
                           "redis://127.0.0.1:46379/3",
                           "KAFKA_BROKERS",
                           "a:1,b:2",
                           "TASKBUS_JWT_SECRET",
                           secret,
                           "TASKBUS_ACCESS_TTL_SECONDS",
                           "2",
                           "TASKBUS_RATELIMIT_AUTH",
                           "20/60",
                           "TASKBUS_RATELIMIT_IP",
                           "100/1h",
                           "TASKBUS_SCHEMAS_DIR",
                           "/srv/schemas",
                           "TASKBUS_LOG_LEVEL",
                           "DEBUG",
                           "TASKBUS_REDIS_POOL_SIZE",
                           "", /* empty means default */
                           NULL};
    taskbus_config cfg;
    load_ok(&cfg, pairs);
    assert_string_equal(cfg.http_host, "0.0.0.0");
    assert_int_equal(cfg.http_port, 18080);
    assert_int_equal(cfg.max_body_bytes, 2048);
    assert_true(cfg.trust_proxy);
    assert_string_equal(cfg.database_read_url, "postgresql://r@replica/taskbus");
    assert_int_equal(cfg.pg_pool_size, 512);
    assert_string_equal(cfg.redis_url, "redis://127.0.0.1:46379/3");
    assert_string_equal(cfg.kafka_brokers, "a:1,b:2");
    assert_string_equal(cfg.jwt_secret, secret);
    assert_int_equal(cfg.access_ttl_s, 2);
    assert_int_equal(cfg.ratelimit_auth.count, 20);
    assert_int_equal(cfg.ratelimit_ip.count, 100);
    assert_int_equal(cfg.ratelimit_ip.period_s, 3600);
    assert_string_equal(cfg.schemas_dir, "/srv/schemas");
    assert_string_equal(cfg.log_level, "debug");
    assert_int_equal(cfg.redis_pool_size, 64);
    assert_int_equal(cfg.http_connection_limit, 2000); /* untouched ones keep defaults */
    config_free(&cfg);
}

static void test_booleans(void **state) {
    (void)state;
    static const struct {
        const char *text;
        int ok, value;
    } cases[] = {{"0", 1, 0},    {"1", 1, 1},   {"true", 1, 1}, {"false", 1, 0},
                 {"TRUE", 1, 1}, {"yes", 0, 0}, {"2", 0, 0},    {"01", 0, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *pairs[] = {"TASKBUS_TRUST_PROXY", cases[i].text, NULL};
        taskbus_config cfg;
        char err[256] = "";
        int rc = load(&cfg, pairs, err, sizeof err);
        if (cases[i].ok) {
            assert_int_equal(rc, 0);
            assert_int_equal(cfg.trust_proxy, cases[i].value);
            config_free(&cfg);
        } else {
            assert_int_equal(rc, -1);
            assert_non_null(strstr(err, "TASKBUS_TRUST_PROXY"));
        }
    }
}

static void test_bad_integers(void **state) {
    (void)state;
    expect_error("TASKBUS_HTTP_PORT", "abc");
    expect_error("TASKBUS_HTTP_PORT", "80x");
    expect_error("TASKBUS_HTTP_PORT", " 80");
    expect_error("TASKBUS_HTTP_PORT", "8.5");
    expect_error("TASKBUS_HTTP_PORT", "99999999999999999999999");
    expect_error("TASKBUS_PG_POOL_SIZE", "0x10");
    expect_error("TASKBUS_MAX_BODY_BYTES", "1MiB");
}

static void test_out_of_range(void **state) {
    (void)state;
    expect_error("TASKBUS_HTTP_PORT", "0");
    expect_error("TASKBUS_HTTP_PORT", "65536");
    expect_error("TASKBUS_HTTP_PORT", "-1");
    expect_error("TASKBUS_PG_POOL_SIZE", "0");
    expect_error("TASKBUS_PG_POOL_SIZE", "513");
    expect_error("TASKBUS_REDIS_POOL_SIZE", "1000");
    expect_error("TASKBUS_ACCESS_TTL_SECONDS", "0");
    expect_error("TASKBUS_REFRESH_TTL_SECONDS", "-5");
    expect_error("TASKBUS_REDIS_TIMEOUT_MS", "0");
    expect_error("TASKBUS_MAX_BODY_BYTES", "0");
    expect_error("TASKBUS_KAFKA_PARTITIONS", "0");

    const char *edge[] = {"TASKBUS_HTTP_PORT", "65535", "TASKBUS_PG_POOL_SIZE", "1", NULL};
    taskbus_config cfg;
    load_ok(&cfg, edge);
    assert_int_equal(cfg.http_port, 65535);
    assert_int_equal(cfg.pg_pool_size, 1);
    config_free(&cfg);
}

static void test_strings_and_secret(void **state) {
    (void)state;
    const char *short_secret = "too-short-secret";
    const char *pairs[] = {"TASKBUS_JWT_SECRET", short_secret, NULL};
    taskbus_config cfg;
    char err[256] = "";
    assert_int_equal(load(&cfg, pairs, err, sizeof err), -1);
    assert_non_null(strstr(err, "TASKBUS_JWT_SECRET"));
    if (strstr(err, short_secret) != NULL)
        fail_msg("the error leaks the secret: %s", err);

    expect_error("TASKBUS_LOG_LEVEL", "verbose");
    expect_error("TASKBUS_RATELIMIT_USER", "600");
    expect_error("TASKBUS_RATELIMIT_LOGIN_ACCOUNT", "10/5d");
}

static void test_parse_rate(void **state) {
    (void)state;
    rate_limit_spec s;
    assert_int_equal(config_parse_rate("600/60", &s), 0);
    assert_int_equal(s.count, 600);
    assert_int_equal(s.period_s, 60);
    assert_int_equal(config_parse_rate("10/5m", &s), 0);
    assert_int_equal(s.count, 10);
    assert_int_equal(s.period_s, 300);
    assert_int_equal(config_parse_rate("100/1h", &s), 0);
    assert_int_equal(s.period_s, 3600);
    assert_int_equal(config_parse_rate("7/30s", &s), 0);
    assert_int_equal(s.period_s, 30);
    assert_int_equal(config_parse_rate("1000000/1", &s), 0);
    assert_int_equal(s.count, 1000000);

    static const char *const bad[] = {"",
                                      "600",
                                      "/60",
                                      "600/",
                                      "0/60",
                                      "10/0",
                                      "-1/60",
                                      "10/-5",
                                      "a/60",
                                      "10/b",
                                      "10/5d",
                                      "10/m",
                                      "10/60 ",
                                      " 10/60",
                                      "10//60",
                                      "10/5mm",
                                      "1/1/1",
                                      "99999999999999999999/60",
                                      "10/99999999999h"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s.count = 42;
        if (config_parse_rate(bad[i], &s) == 0)
            fail_msg("\"%s\" parsed as a rate", bad[i]);
        assert_int_equal(s.count, 42); /* untouched on error */
    }
    assert_int_equal(config_parse_rate(NULL, &s), -1);
}

static void test_help(void **state) {
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    config_print_help(out, "taskbus-api", "The HTTP API.");
    assert_int_equal(fclose(out), 0);
    static const char *const names[] = {"TASKBUS_HTTP_HOST",
                                        "TASKBUS_HTTP_PORT",
                                        "DATABASE_URL",
                                        "DATABASE_READ_URL",
                                        "REDIS_URL",
                                        "KAFKA_BROKERS",
                                        "TASKBUS_JWT_SECRET",
                                        "TASKBUS_RATELIMIT_LOGIN_ACCOUNT",
                                        "TASKBUS_SCHEMAS_DIR",
                                        "TASKBUS_LOG_LEVEL",
                                        "TASKBUS_ARGON2_CONCURRENCY",
                                        "TASKBUS_EVENTS_RETENTION",
                                        "TASKBUS_COMMANDS_RETENTION",
                                        "TASKBUS_DLQ_RETENTION",
                                        "TASKBUS_STATE_TOMBSTONE_RETENTION",
                                        "TASKBUS_KAFKA_MIN_INSYNC_REPLICAS"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        assert_non_null(strstr(buf, names[i]));
    assert_non_null(strstr(buf, "taskbus-api"));
    assert_non_null(strstr(buf, "1200/60"));
    assert_non_null(strstr(buf, "secret"));
    free(buf);
}

static void test_parse_duration(void **state) {
    (void)state;
    int64_t ms = 0;
    static const struct {
        const char *text;
        int64_t ms;
    } good[] = {
        {"forever", CONFIG_DURATION_FOREVER},
        {"1ms", 1},
        {"500ms", 500},
        {"90s", 90000},
        {"15m", 900000},
        {"36h", 129600000},
        {"7d", 604800000},
        {"30d", 2592000000LL},
        {"0007d", 604800000},
        {"106751991167d", 106751991167LL * 86400000LL}, /* the largest whole-day value */
        {"9223372036854775807ms", INT64_MAX},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        ms = 0;
        if (config_parse_duration_ms(good[i].text, &ms) != 0 || ms != good[i].ms)
            fail_msg("\"%s\" gave %lld", good[i].text, (long long)ms);
    }
    static const char *const bad[] = {
        "",
        "7",
        "d",
        "0d",
        "-1d",
        "+1d",
        "1.5d",
        "7 d",
        " 7d",
        "7d ",
        "7D",
        "7w",
        "7dd",
        "1msx",
        "Forever",
        "never",
        "-1",
        "0ms",
        "106751991168d",         /* days overflow int64 ms */
        "9223372036854775808ms", /* the integer overflows */
        "99999999999999999999999d",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ms = 42;
        if (config_parse_duration_ms(bad[i], &ms) != -1 || ms != 42)
            fail_msg("\"%s\" was accepted (%lld)", bad[i], (long long)ms);
    }
    assert_int_equal(config_parse_duration_ms(NULL, &ms), -1);
    assert_int_equal(config_parse_duration_ms("7d", NULL), -1);

    char out[32];
    static const struct {
        int64_t ms;
        const char *text;
    } fmt[] = {{-1, "forever"}, {604800000, "7d"}, {5400000, "90m"},  {1500, "1500ms"},
               {0, "0ms"},      {90000, "90s"},    {129600000, "36h"}};
    for (size_t i = 0; i < sizeof fmt / sizeof fmt[0]; i++) {
        config_format_duration(fmt[i].ms, out, sizeof out);
        assert_string_equal(out, fmt[i].text);
    }
}

static void test_retention_variables(void **state) {
    (void)state;
    const char *none[] = {NULL};
    taskbus_config cfg;
    load_ok(&cfg, none);
    assert_true(cfg.events_retention_ms == CONFIG_DURATION_FOREVER);
    assert_true(cfg.commands_retention_ms == 7LL * 86400000);
    assert_true(cfg.dlq_retention_ms == 30LL * 86400000);
    assert_true(cfg.state_tombstone_retention_ms == 86400000);
    assert_int_equal(cfg.kafka_min_insync_replicas, 1);
    config_free(&cfg);

    const char *set[] = {"TASKBUS_EVENTS_RETENTION",
                         "365d",
                         "TASKBUS_COMMANDS_RETENTION",
                         "forever",
                         "TASKBUS_DLQ_RETENTION",
                         "36h",
                         "TASKBUS_STATE_TOMBSTONE_RETENTION",
                         "90m",
                         "TASKBUS_KAFKA_REPLICATION",
                         "3",
                         "TASKBUS_KAFKA_MIN_INSYNC_REPLICAS",
                         "2",
                         NULL};
    load_ok(&cfg, set);
    assert_true(cfg.events_retention_ms == 365LL * 86400000);
    assert_true(cfg.commands_retention_ms == CONFIG_DURATION_FOREVER);
    assert_true(cfg.dlq_retention_ms == 36LL * 3600000);
    assert_true(cfg.state_tombstone_retention_ms == 90LL * 60000);
    assert_int_equal(cfg.kafka_min_insync_replicas, 2);
    config_free(&cfg);

    expect_error("TASKBUS_EVENTS_RETENTION", "7");
    expect_error("TASKBUS_EVENTS_RETENTION", "1y");
    expect_error("TASKBUS_COMMANDS_RETENTION", "-1");
    expect_error("TASKBUS_DLQ_RETENTION", "0d");
    expect_error("TASKBUS_STATE_TOMBSTONE_RETENTION", "forever"); /* delete.retention.ms >= 0 */
    expect_error("TASKBUS_KAFKA_MIN_INSYNC_REPLICAS", "0");

    /* The message says what a duration is. */
    const char *bad[] = {"TASKBUS_EVENTS_RETENTION", "7 days", NULL};
    char err[256] = "";
    assert_int_equal(load(&cfg, bad, err, sizeof err), -1);
    assert_non_null(strstr(err, "7 days"));
    assert_non_null(strstr(err, "forever"));

    /* min.insync.replicas above the replication factor: no write could be acknowledged. */
    const char *isr[] = {"TASKBUS_KAFKA_MIN_INSYNC_REPLICAS", "2", NULL};
    err[0] = '\0';
    assert_int_equal(load(&cfg, isr, err, sizeof err), -1);
    assert_non_null(strstr(err, "TASKBUS_KAFKA_MIN_INSYNC_REPLICAS"));
    assert_non_null(strstr(err, "TASKBUS_KAFKA_REPLICATION"));
    assert_null(cfg.http_host);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),       cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_booleans),       cmocka_unit_test(test_bad_integers),
        cmocka_unit_test(test_out_of_range),   cmocka_unit_test(test_strings_and_secret),
        cmocka_unit_test(test_parse_rate),     cmocka_unit_test(test_help),
        cmocka_unit_test(test_parse_duration), cmocka_unit_test(test_retention_variables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
