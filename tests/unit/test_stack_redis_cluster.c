/*
 * test_stack_redis_cluster.c: the cluster client (shared/redis_cluster.c through
 * shared/redis_pool.c, and the rate-limit reconciler's per-node pipelines) against the
 * real 3-master Redis Cluster tests/run starts beside the stack.
 *
 * Needs TASKBUS_TEST_REDIS_CLUSTER_URL (redis://127.0.0.1:P,127.0.0.1:P+1,127.0.0.1:P+2)
 * and TASKBUS_TEST_REDIS_CLUSTER_DIR (each node's config and pid file in node-<port>/);
 * without them the test FAILS rather than skips. Keys are fresh ("{t:<uuid>}:...").
 * Slot migrations are driven by hand (CLUSTER SETSLOT IMPORTING/MIGRATING, MIGRATE,
 * SETSLOT NODE on every node), so MOVED and ASK are deterministic. The killed-master
 * test runs last and restarts the node; every wait polls a condition under a deadline.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/rate_limit_local.h"
#include "api/rate_limit_sync.h"
#include "shared/gcra.h"
#include "shared/redis_cluster.h"
#include "shared/redis_pool.h"
#include "shared/time_util.h"
#include "shared/uuid7.h"

#define NODES 3

static const char *g_url;
static const char *g_dir;
static int g_port[NODES];
static redis_pool *g_pool;

static int64_t now_ms(void) {
    return time_monotonic_ns() / 1000000;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* A raw context to one node (no routing). */
static redisContext *node(int port) {
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    assert_non_null(c);
    if (c->err)
        fail_msg("connect to %d: %s", port, c->errstr);
    redisSetTimeout(c, tv);
    return c;
}

/* The reply of one command on one node; fails the test on a lost connection. */
static redisReply *on_node(int port, const char *fmt, ...) {
    redisContext *c = node(port);
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (r == NULL)
        fail_msg("command on %d: %s", port, c->errstr);
    redisFree(c);
    return r;
}

static void ok_on_node(int port, const char *fmt, const char *a, const char *b) {
    redisReply *r = on_node(port, fmt, a, b);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("on %d: %s", port, r->str);
    freeReplyObject(r);
}

/* The port of the master that owns slot, as node `ask` sees it (-1: none). */
static int owner(int ask, int slot) {
    redisReply *r = on_node(ask, "CLUSTER SLOTS");
    int port = -1;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        redisReply *e = r->element[i];
        if (e->element[0]->integer <= slot && slot <= e->element[1]->integer)
            port = (int)e->element[2]->element[1]->integer;
    }
    freeReplyObject(r);
    return port;
}

static void node_id(int port, char out[64]) {
    redisReply *r = on_node(port, "CLUSTER MYID");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    snprintf(out, 64, "%s", r->str);
    freeReplyObject(r);
}

/* A fresh key "{t:<uuid>}:<suffix>" whose slot the master on port owns. */
static void key_on(int port, const char *suffix, char *out, size_t outlen) {
    for (int i = 0; i < 10000; i++) {
        char id[UUID_STR_LEN];
        uuid7_generate(id);
        snprintf(out, outlen, "{t:%s}:%s", id, suffix);
        if (owner(g_port[0], redis_cluster_key_slot(out, strlen(out))) == port)
            return;
    }
    fail_msg("no key found for the master on %d", port);
}

static char *pool_get(const char *key) {
    redisReply *r = redis_pool_command(g_pool, "GET %s", key);
    if (r == NULL)
        return NULL;
    char *v = r->type == REDIS_REPLY_STRING ? strdup(r->str) : strdup("(not a string)");
    freeReplyObject(r);
    return v;
}

static void pool_set(const char *key, const char *value) {
    redisReply *r = redis_pool_command(g_pool, "SET %s %s", key, value);
    assert_non_null(r);
    if (r->type != REDIS_REPLY_STATUS)
        fail_msg("SET %s: %s", key, r->type == REDIS_REPLY_ERROR ? r->str : "?");
    freeReplyObject(r);
}

static void assert_pool_get(const char *key, const char *want) {
    char *v = pool_get(key);
    assert_non_null(v);
    assert_string_equal(v, want);
    free(v);
}

/* Starts moving slot from one master to another (IMPORTING, then MIGRATING). */
static void migration_begin(int slot, int from, int to) {
    char from_id[64], to_id[64], s[16];
    node_id(from, from_id);
    node_id(to, to_id);
    snprintf(s, sizeof s, "%d", slot);
    ok_on_node(to, "CLUSTER SETSLOT %s IMPORTING %s", s, from_id);
    ok_on_node(from, "CLUSTER SETSLOT %s MIGRATING %s", s, to_id);
}

static void migrate_key(const char *key, int from, int to) {
    redisReply *r = on_node(from, "MIGRATE 127.0.0.1 %d %s 0 5000", to, key);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("MIGRATE %s: %s", key, r->str);
    freeReplyObject(r);
}

/* Moves every key left in slot, then gives the slot to `to` on every node. */
static void migration_end(int slot, int from, int to) {
    for (;;) {
        redisReply *r = on_node(from, "CLUSTER GETKEYSINSLOT %d 100", slot);
        assert_int_equal(r->type, REDIS_REPLY_ARRAY);
        size_t n = r->elements;
        for (size_t i = 0; i < n; i++)
            migrate_key(r->element[i]->str, from, to);
        freeReplyObject(r);
        if (n == 0)
            break;
    }
    char to_id[64], s[16];
    node_id(to, to_id);
    snprintf(s, sizeof s, "%d", slot);
    ok_on_node(to, "CLUSTER SETSLOT %s NODE %s", s, to_id);
    ok_on_node(from, "CLUSTER SETSLOT %s NODE %s", s, to_id);
    for (int i = 0; i < NODES; i++)
        if (g_port[i] != from && g_port[i] != to)
            ok_on_node(g_port[i], "CLUSTER SETSLOT %s NODE %s", s, to_id);
}

static int pool_key_port(const char *key) {
    char host[256];
    int port = -1;
    assert_int_equal(redis_pool_key_address(g_pool, key, host, sizeof host, &port), 0);
    return port;
}

static int setup(void **state) {
    (void)state;
    g_url = getenv("TASKBUS_TEST_REDIS_CLUSTER_URL");
    g_dir = getenv("TASKBUS_TEST_REDIS_CLUSTER_DIR");
    if (g_url == NULL || g_url[0] == '\0' || g_dir == NULL || g_dir[0] == '\0') {
        fprintf(stderr, "test_stack_redis_cluster: TASKBUS_TEST_REDIS_CLUSTER_URL and _DIR are "
                        "not set; tests/run starts the cluster and sets them\n");
        return -1;
    }
    redis_url u;
    char err[256] = "";
    if (redis_url_parse(g_url, &u, err, sizeof err) != 0 || u.nseeds != NODES) {
        fprintf(stderr, "TASKBUS_TEST_REDIS_CLUSTER_URL: %s\n", err[0] ? err : "not 3 seeds");
        return -1;
    }
    for (int i = 0; i < NODES; i++)
        g_port[i] = u.seeds[i].port;
    g_pool = redis_pool_create(g_url, 4, 2000, err, sizeof err);
    if (g_pool == NULL || !redis_pool_ping(g_pool, err, sizeof err)) {
        fprintf(stderr, "Redis Cluster at %s: %s\n", g_url, err);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    redis_pool_destroy(g_pool);
    return 0;
}

/* Keys of every master: written through the pool, each lands on the master that owns its
 * slot (read back there directly, without any redirect). */
static void test_routes_keys_to_every_master(void **state) {
    (void)state;
    assert_true(redis_pool_is_cluster(g_pool));
    for (int i = 0; i < NODES; i++) {
        char key[96];
        key_on(g_port[i], "route", key, sizeof key);
        pool_set(key, "here");
        assert_int_equal(pool_key_port(key), g_port[i]);
        redisReply *r = on_node(g_port[i], "GET %s", key);
        assert_int_equal(r->type, REDIS_REPLY_STRING);
        assert_string_equal(r->str, "here");
        freeReplyObject(r);
        assert_pool_get(key, "here");
        /* argv form and a script, on the same key. */
        const char *argv[] = {"APPEND", key, "!"};
        r = redis_pool_command_argv(g_pool, 3, argv, NULL);
        assert_non_null(r);
        assert_int_equal(r->type, REDIS_REPLY_INTEGER);
        freeReplyObject(r);
        const char *wait[] = {"WAIT", "0", "100"};
        r = redis_pool_command_on_key(g_pool, key, 3, wait, NULL);
        assert_non_null(r);
        assert_int_equal(r->type, REDIS_REPLY_INTEGER); /* no replicas: 0 */
        freeReplyObject(r);
        assert_pool_get(key, "here!");
    }
}

/* A slot moved to another master: the pool's map is stale, the old owner answers MOVED,
 * the pool follows it and learns the new owner. */
static void test_follows_moved_after_migration(void **state) {
    (void)state;
    char key[96];
    key_on(g_port[0], "moved", key, sizeof key);
    pool_set(key, "v1");
    assert_int_equal(pool_key_port(key), g_port[0]);
    int slot = redis_cluster_key_slot(key, strlen(key));
    migration_begin(slot, g_port[0], g_port[1]);
    migration_end(slot, g_port[0], g_port[1]);
    assert_int_equal(owner(g_port[2], slot), g_port[1]);
    assert_pool_get(key, "v1");
    assert_int_equal(pool_key_port(key), g_port[1]);
    pool_set(key, "v2");
    redisReply *r = on_node(g_port[1], "GET %s", key);
    assert_string_equal(r->str, "v2");
    freeReplyObject(r);
}

/* During a migration the old owner answers ASK for a key already moved: the pool sends
 * ASKING + the command to the new owner, and keeps its map (the slot is still the old
 * owner's) until the migration ends, when MOVED moves it. */
static void test_follows_ask_during_migration(void **state) {
    (void)state;
    char moved[96], stays[96];
    key_on(g_port[1], "ask", moved, sizeof moved);
    /* Same tag, same slot. */
    snprintf(stays, sizeof stays, "%.*s:stays", (int)(strchr(moved, '}') - moved + 1), moved);
    pool_set(moved, "gone");
    pool_set(stays, "home");
    int slot = redis_cluster_key_slot(moved, strlen(moved));
    migration_begin(slot, g_port[1], g_port[2]);
    migrate_key(moved, g_port[1], g_port[2]);
    assert_pool_get(moved, "gone");                    /* ASK -> ASKING on the new owner */
    assert_pool_get(stays, "home");                    /* still on the old owner */
    assert_int_equal(pool_key_port(moved), g_port[1]); /* ASK does not change the map */
    migration_end(slot, g_port[1], g_port[2]);
    assert_pool_get(stays, "home"); /* MOVED now */
    assert_int_equal(pool_key_port(stays), g_port[2]);
}

/* Scripts (EVALSHA, loaded on each node at its first NOSCRIPT) on many users' keys. */
static void test_scripts_on_every_master(void **state) {
    (void)state;
    rate_limit_spec spec = {3, 3600};
    for (int i = 0; i < 60; i++) {
        char id[UUID_STR_LEN], key[96];
        uuid7_generate(id);
        snprintf(key, sizeof key, "rl:{t:%s}:all", id);
        ratelimit_result r;
        for (int k = 0; k < 3; k++) {
            assert_int_equal(ratelimit_take(g_pool, key, spec, &r), 0);
            assert_true(r.allowed);
        }
        assert_int_equal(ratelimit_take(g_pool, key, spec, &r), 0);
        assert_false(r.allowed);
    }
}

static int64_t shared_debt_us(const char *key) {
    redisReply *t = redis_pool_command(g_pool, "TIME");
    redisReply *v = redis_pool_command(g_pool, "GET %s", key);
    assert_non_null(t);
    assert_non_null(v);
    int64_t now = atoll(t->element[0]->str) * 1000000 + atoll(t->element[1]->str);
    int64_t debt = v->type == REDIS_REPLY_STRING ? atoll(v->str) - now : -1;
    freeReplyObject(t);
    freeReplyObject(v);
    return debt;
}

static bool take1(local_limits *ll, const char *key, rate_limit_spec spec) {
    local_limit_take t = {.key = key, .spec = spec};
    return local_limits_take(ll, &t, 1, time_monotonic_ns() / 1000);
}

/* The reconciler pipelines each chunk per node: every user's bucket reaches the node that
 * owns it; a bucket whose slot moved meets MOVED, is kept (the script did not run) and
 * reaches the new owner at the next round, counted once. */
static void test_rate_limit_pipeline_per_node(void **state) {
    (void)state;
    enum { KEYS = LIMIT_SYNC_CHUNK + 200 };
    static char keys[KEYS][96];
    rate_limit_spec spec = {10, 3600}; /* 360 s each */
    local_limits *ll = local_limits_create(65536, true);
    char err[256] = "";
    limit_sync_params p = {.limits = ll, .redis_url = g_url, .timeout_ms = 1000, .interval_ms = 0};
    limit_sync *s = limit_sync_start(&p, err, sizeof err);
    if (s == NULL)
        fail_msg("limit_sync_start: %s", err);
    int per_node[NODES] = {0};
    for (int i = 0; i < KEYS; i++) {
        char id[UUID_STR_LEN];
        uuid7_generate(id);
        snprintf(keys[i], sizeof keys[i], "rl:{t:%s}:all", id);
        int port = owner(g_port[0], redis_cluster_key_slot(keys[i], strlen(keys[i])));
        for (int n = 0; n < NODES; n++)
            per_node[n] += port == g_port[n];
        assert_true(take1(ll, keys[i], spec));
    }
    for (int n = 0; n < NODES; n++)
        assert_true(per_node[n] > 0);
    assert_int_equal(limit_sync_round(s), 0);
    for (int i = 0; i < KEYS; i++) {
        int64_t debt = shared_debt_us(keys[i]);
        assert_true(debt > 350LL * 1000000 && debt <= 360LL * 1000000);
    }
    /* Move the first key's slot away; its next push meets MOVED. */
    int slot = redis_cluster_key_slot(keys[0], strlen(keys[0]));
    int from = owner(g_port[0], slot);
    int to = from == g_port[0] ? g_port[1] : g_port[0];
    migration_begin(slot, from, to);
    migration_end(slot, from, to);
    assert_true(take1(ll, keys[0], spec));
    int64_t deadline = now_ms() + 10000;
    while (limit_sync_round(s) != 0) {
        if (now_ms() > deadline)
            fail_msg("the reconciler did not reach the slot's new owner within 10 s");
        sleep_ms(10);
    }
    int64_t debt = shared_debt_us(keys[0]);
    assert_true(debt > 710LL * 1000000 && debt <= 720LL * 1000000); /* two, never three */
    limit_sync_stop(s);
    local_limits_destroy(ll);
}

static pid_t node_pid(int port) {
    char path[512];
    snprintf(path, sizeof path, "%s/node-%d/redis.pid", g_dir, port);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long pid = 0;
    assert_int_equal(fscanf(f, "%ld", &pid), 1);
    fclose(f);
    return (pid_t)pid;
}

static bool all_nodes_ok(void) {
    for (int i = 0; i < NODES; i++) {
        redisContext *c = redisConnect("127.0.0.1", g_port[i]);
        if (c == NULL || c->err) {
            if (c != NULL)
                redisFree(c);
            return false;
        }
        redisReply *r = redisCommand(c, "CLUSTER INFO");
        bool ok = r != NULL && r->type == REDIS_REPLY_STRING &&
                  strstr(r->str, "cluster_state:ok") != NULL &&
                  strstr(r->str, "cluster_slots_fail:0") != NULL &&
                  strstr(r->str, "cluster_slots_pfail:0") != NULL;
        if (r != NULL)
            freeReplyObject(r);
        redisFree(c);
        if (!ok)
            return false;
    }
    return true;
}

/* A master killed (no replica to take over): its keys give NULL (the callers degrade),
 * the other masters' keys keep working; restarted, it serves again. Runs last. */
static void test_killed_master_degrades_then_recovers(void **state) {
    (void)state;
    char dead[96], alive[96];
    key_on(g_port[2], "dead", dead, sizeof dead);
    key_on(g_port[0], "alive", alive, sizeof alive);
    pool_set(dead, "1");
    pool_set(alive, "1");
    pid_t pid = node_pid(g_port[2]);
    assert_int_equal(kill(pid, SIGKILL), 0);
    int64_t deadline = now_ms() + 10000;
    while (kill(pid, 0) == 0) { /* until the process is gone */
        if (now_ms() > deadline)
            fail_msg("the killed node did not exit within 10 s");
        sleep_ms(10);
    }
    redisReply *r = redis_pool_command(g_pool, "SET %s 2", dead);
    assert_null(r);
    assert_pool_get(alive, "1");
    pool_set(alive, "2");
    assert_pool_get(alive, "2");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "redis-server '%s/node-%d/redis.conf'", g_dir, g_port[2]);
    assert_int_equal(system(cmd), 0);
    deadline = now_ms() + 60000;
    for (;;) {
        r = redis_pool_command(g_pool, "SET %s 3", dead);
        bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
        if (r != NULL)
            freeReplyObject(r);
        if (ok && all_nodes_ok())
            break;
        if (now_ms() > deadline)
            fail_msg("the restarted master did not serve its keys within 60 s");
        sleep_ms(50);
    }
    assert_pool_get(dead, "3");
    assert_pool_get(alive, "2");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes_keys_to_every_master),
        cmocka_unit_test(test_follows_moved_after_migration),
        cmocka_unit_test(test_follows_ask_during_migration),
        cmocka_unit_test(test_scripts_on_every_master),
        cmocka_unit_test(test_rate_limit_pipeline_per_node),
        cmocka_unit_test(test_killed_master_degrades_then_recovers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
