/*
 * test_daemon_port.c: which port a daemon's /health, /ready, /metrics listener takes
 * (shared/daemon_port.c) and the heartbeat /health reads (shared/daemon_heartbeat.c).
 *
 * The environment is a table the test passes as the lookup, so nothing here reads or
 * changes the process's real environment.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "shared/daemon_heartbeat.h"
#include "shared/daemon_port.h"

typedef struct fake_env {
    const char *name;
    const char *value;
} fake_env;

static const char *lookup(const char *name, void *ctx) {
    for (const fake_env *e = ctx; e->name != NULL; e++) {
        if (strcmp(e->name, name) == 0)
            return e->value;
    }
    return NULL;
}

static int resolve(const char *service, int offset, int base, fake_env *envs, int *port) {
    char err[256];
    return daemon_port_resolve(service, offset, base, lookup, envs, port, err, sizeof err);
}

static void test_base_plus_offset(void **state) {
    (void)state;
    fake_env none[] = {{NULL, NULL}};
    int port = -1;
    assert_int_equal(resolve("writer", DAEMON_PORT_WRITER, 9400, none, &port), 0);
    assert_int_equal(port, 9401);
    assert_int_equal(resolve("activity", DAEMON_PORT_ACTIVITY, 19400, none, &port), 0);
    assert_int_equal(port, 19409);
}

static void test_override_wins(void **state) {
    (void)state;
    fake_env envs[] = {{"TASKBUS_WRITER_METRICS_PORT", "7001"},
                       {"TASKBUS_RELAY_METRICS_PORT", "0"},
                       {"TASKBUS_IMPORTER_METRICS_PORT", ""},
                       {NULL, NULL}};
    int port = -1;
    assert_int_equal(resolve("writer", DAEMON_PORT_WRITER, 9400, envs, &port), 0);
    assert_int_equal(port, 7001);
    assert_int_equal(resolve("relay", DAEMON_PORT_RELAY, 9400, envs, &port), 0);
    assert_int_equal(port, 0); /* 0: no listener for this one */
    assert_int_equal(resolve("importer", DAEMON_PORT_IMPORTER, 9400, envs, &port), 0);
    assert_int_equal(port, 9403); /* empty means unset */
    /* An override also applies when the base is 0 (listeners off by default). */
    assert_int_equal(resolve("writer", DAEMON_PORT_WRITER, 0, envs, &port), 0);
    assert_int_equal(port, 7001);
}

static void test_base_zero_disables(void **state) {
    (void)state;
    fake_env none[] = {{NULL, NULL}};
    int port = -1;
    assert_int_equal(resolve("scheduler", DAEMON_PORT_SCHEDULER, 0, none, &port), 0);
    assert_int_equal(port, 0);
}

static void test_bad_values(void **state) {
    (void)state;
    const char *bad[] = {"abc", "-1", "65536", "80x", " 80", "+80", "99999999999999999999"};
    int port = -1;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fake_env envs[] = {{"TASKBUS_NOTIFIER_METRICS_PORT", bad[i]}, {NULL, NULL}};
        char err[256] = "";
        assert_int_equal(daemon_port_resolve("notifier", DAEMON_PORT_NOTIFIER, 9400, lookup, envs,
                                             &port, err, sizeof err),
                         -1);
        assert_non_null(strstr(err, "TASKBUS_NOTIFIER_METRICS_PORT"));
    }
    fake_env none[] = {{NULL, NULL}};
    char err[256] = "";
    assert_int_equal(daemon_port_resolve("activity", DAEMON_PORT_ACTIVITY, 65530, lookup, none,
                                         &port, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "TASKBUS_ACTIVITY_METRICS_PORT"));
}

static void *touch_from_other_thread(void *arg) {
    (void)arg;
    daemon_heartbeat_touch();
    return NULL;
}

static void test_heartbeat(void **state) {
    (void)state;
    daemon_heartbeat_bind();
    assert_true(daemon_heartbeat_age_ms() < 1000);
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 30 * 1000000L};
    nanosleep(&ts, NULL);
    int64_t before = daemon_heartbeat_age_ms();
    assert_true(before >= 30);
    /* Another thread's touch does not count: only the bound loop's does. */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, touch_from_other_thread, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(daemon_heartbeat_age_ms() >= before);
    daemon_heartbeat_touch();
    assert_true(daemon_heartbeat_age_ms() < before);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base_plus_offset),   cmocka_unit_test(test_override_wins),
        cmocka_unit_test(test_base_zero_disables), cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_heartbeat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
