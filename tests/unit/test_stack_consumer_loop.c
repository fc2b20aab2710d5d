/*
 * test_stack_consumer_loop.c: shared/kafka_consumer.c against real Kafka and Postgres.
 *
 * Needs KAFKA_BROKERS and DATABASE_URL; without them the test FAILS rather than skips.
 * Applies the repository's migrations (idempotent), then creates a unique 3-partition
 * topic, produces N keyed messages and consumes them with loops of one group whose handler
 * inserts each record into a table inside the batch transaction:
 *   1. one loop whose first batch fails once (handler returns -1 after inserting) and
 *      whose first after-commit step fails once; it is stopped half-way;
 *   2. a second loop resumes from the offsets in Postgres; a third joins while records
 *      remain, forcing an eager rebalance between two running loops;
 * and finally checks every message is in the table exactly once, each after-commit
 * record was seen exactly once, and the request_id header reached the handler.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shared/kafka_admin.h"
#include "shared/kafka_consumer.h"
#include "shared/kafka_producer.h"
#include "shared/migrate.h"
#include "shared/pg_pool.h"
#include "shared/time_util.h"
#include "shared/uuid7.h"

#define N_MESSAGES 2000
#define WAVE1 1500 /* produced up front; the rest once two loops share the group */
#define PARTITIONS 3
#define BATCH_MAX 25
#define BATCH_DELAY_MS 150 /* slows loops so the stop and the rebalance land mid-stream */

static const char *g_brokers;
static const char *g_db;
static char g_run[UUID_STR_LEN];
static char g_topic[128];
static char g_group[128];

/* Shared by every loop of the test; counters are atomics, the rest is read-only. */
typedef struct sink {
    atomic_int fail_batch_once;
    atomic_int after_fail_once;
    atomic_int failures_injected;
    atomic_int after_failures_injected;
    atomic_long after_records;
    atomic_int missing_request_ids;
} sink;

static sink g_sink;

typedef struct instance {
    const char *name;
    pg_pool *pool;
    kafka_consumer_loop *loop;
    volatile sig_atomic_t stop;
    pthread_t thread;
    int rc;
} instance;

static const pg_stmt STMT_INSERT = {
    .name = "test_consumer_insert",
    .sql = "INSERT INTO tb_consumer_loop_test(run, loop, topic, part, off, key, value, "
           "request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    .nparams = 8,
};

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static int on_batch(void *ctx, pg_conn *conn, const kafka_record *recs, size_t n) {
    instance *inst = ctx;
    for (size_t i = 0; i < n; i++) {
        char part[16], off[32], key[64], value[64];
        snprintf(part, sizeof part, "%d", (int)recs[i].partition);
        snprintf(off, sizeof off, "%lld", (long long)recs[i].offset);
        snprintf(key, sizeof key, "%.*s", (int)recs[i].key_len, recs[i].key);
        snprintf(value, sizeof value, "%.*s", (int)recs[i].value_len, recs[i].value);
        if (recs[i].request_id == NULL) {
            atomic_fetch_add(&g_sink.missing_request_ids, 1);
        }
        const char *vals[8] = {g_run, inst->name, recs[i].topic, part,
                               off,   key,        value,         recs[i].request_id};
        PGresult *res = pg_exec_stmt(conn, &STMT_INSERT, vals);
        bool ok = pg_result_ok(res);
        PQclear(res);
        if (!ok) {
            return -1;
        }
    }
    sleep_ms(BATCH_DELAY_MS);
    /* The rows are in; failing now must roll them back and replay the same batch. */
    int expected = 1;
    if (atomic_compare_exchange_strong(&g_sink.fail_batch_once, &expected, 0)) {
        atomic_fetch_add(&g_sink.failures_injected, 1);
        return -1;
    }
    return 0;
}

static int after_commit(void *ctx, const kafka_record *recs, size_t n) {
    (void)ctx;
    (void)recs;
    int expected = 1;
    if (atomic_compare_exchange_strong(&g_sink.after_fail_once, &expected, 0)) {
        atomic_fetch_add(&g_sink.after_failures_injected, 1);
        return -1;
    }
    atomic_fetch_add(&g_sink.after_records, (long)n);
    return 0;
}

static void *run_instance(void *arg) {
    instance *inst = arg;
    inst->rc = kafka_consumer_loop_run(inst->loop, &inst->stop);
    return NULL;
}

static void start_instance(instance *inst, const char *name) {
    memset(inst, 0, sizeof *inst);
    inst->name = name;
    char err[512] = "";
    inst->pool = pg_pool_create(g_db, 2, 10000, err, sizeof err);
    assert_non_null(inst->pool);
    const char *topics[] = {g_topic};
    kafka_consumer_options o = {.brokers = g_brokers,
                                .group_id = g_group,
                                .topics = topics,
                                .ntopics = 1,
                                .batch_max = BATCH_MAX,
                                .batch_wait_ms = 50,
                                .pg = inst->pool,
                                .on_batch = on_batch,
                                .after_commit = after_commit,
                                .ctx = inst};
    inst->loop = kafka_consumer_loop_create(&o, err, sizeof err);
    if (inst->loop == NULL) {
        fail_msg("loop create: %s", err);
    }
    assert_int_equal(pthread_create(&inst->thread, NULL, run_instance, inst), 0);
}

static void stop_instance(instance *inst) {
    inst->stop = 1;
    pthread_join(inst->thread, NULL);
    assert_int_equal(inst->rc, 0);
    kafka_consumer_loop_destroy(inst->loop);
    pg_pool_destroy(inst->pool);
}

/* One number from the test table for this run. */
static long query_long(const char *sql) {
    PGconn *c = PQconnectdb(g_db);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    const char *vals[1] = {g_run};
    PGresult *res = PQexecParams(c, sql, 1, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    }
    long v = atol(PQgetvalue(res, 0, 0));
    PQclear(res);
    PQfinish(c);
    return v;
}

static long rows_applied(void) {
    return query_long("SELECT count(*) FROM tb_consumer_loop_test WHERE run = $1");
}

/* Waits until at least want rows are committed; returns the count seen. */
static long wait_rows(long want, int timeout_s) {
    int64_t deadline = time_monotonic_ns() + (int64_t)timeout_s * 1000000000LL;
    long n = 0;
    while ((n = rows_applied()) < want && time_monotonic_ns() < deadline) {
        sleep_ms(20);
    }
    return n;
}

/* Waits until the group is Stable with `members` members (the rebalance is over). */
static void wait_group_stable(int members) {
    char why[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", g_brokers, why, sizeof why),
                     RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    assert_non_null(rk);
    bool stable = false;
    int64_t deadline = time_monotonic_ns() + 60LL * 1000000000LL;
    while (!stable && time_monotonic_ns() < deadline) {
        const struct rd_kafka_group_list *list = NULL;
        if (rd_kafka_list_groups(rk, g_group, &list, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            stable = list->group_cnt == 1 && list->groups[0].member_cnt == members &&
                     strcmp(list->groups[0].state, "Stable") == 0;
            rd_kafka_group_list_destroy(list);
        }
        if (!stable) {
            sleep_ms(100);
        }
    }
    rd_kafka_destroy(rk);
    assert_true(stable);
}

static void prepare_database(void) {
    char err[512] = "";
    pg_pool *pool = pg_pool_create(g_db, 1, 10000, err, sizeof err);
    assert_non_null(pool);
    pg_conn *c = pg_pool_acquire(pool, 5000, err, sizeof err);
    if (c == NULL) {
        fail_msg("postgres: %s", err);
    }
    if (migrate_run(c, TASKBUS_SOURCE_DIR "/schemas/migrations", err, sizeof err) < 0) {
        fail_msg("migrations: %s", err);
    }
    /* No unique key on purpose: a duplicate must show up as a row, not as an error. */
    assert_int_equal(pg_run(c,
                            "CREATE TABLE IF NOT EXISTS tb_consumer_loop_test (run text, loop "
                            "text, topic text, part int, off bigint, key text, value text, "
                            "request_id text)",
                            err, sizeof err),
                     0);
    pg_pool_release(pool, c);
    pg_pool_destroy(pool);
}

static void create_topic(void) {
    const char *topics[] = {g_topic, NULL};
    char err[512] = "";
    if (kafka_admin_create_topics(g_brokers, topics, PARTITIONS, 1, 20000, err, sizeof err) != 0) {
        fail_msg("create topic: %s", err);
    }
}

/* Messages first..last-1: key user-(i%50), value msg-i, header request_id req-i. */
static void produce_messages(int first, int last) {
    char err[512] = "";
    kafka_producer *p = kafka_producer_create(g_brokers, "test-consumer-loop",
                                              KAFKA_MESSAGE_TIMEOUT_DEFAULT_MS, err, sizeof err);
    assert_non_null(p);
    kafka_delivery_group *g = kafka_delivery_group_new();
    for (int i = first; i < last; i++) {
        char key[32], value[32], rid[32];
        snprintf(key, sizeof key, "user-%d", i % 50);
        snprintf(value, sizeof value, "msg-%d", i);
        snprintf(rid, sizeof rid, "req-%d", i);
        const kafka_header h[] = {{"request_id", rid}};
        kafka_message m = {.topic = g_topic,
                           .key = key,
                           .key_len = strlen(key),
                           .value = value,
                           .value_len = strlen(value),
                           .headers = h,
                           .nheaders = 1};
        assert_int_equal(kafka_producer_enqueue(p, g, &m, err, sizeof err), 0);
    }
    if (kafka_delivery_group_wait(g, 30000, err, sizeof err) != 0) {
        fail_msg("produce: %s", err);
    }
    kafka_delivery_group_release(g);
    kafka_producer_destroy(p, 5000);
}

static int setup(void **state) {
    (void)state;
    g_brokers = getenv("KAFKA_BROKERS");
    g_db = getenv("DATABASE_URL");
    if (g_brokers == NULL || g_brokers[0] == '\0' || g_db == NULL || g_db[0] == '\0') {
        fprintf(stderr, "test_stack_consumer_loop: KAFKA_BROKERS and DATABASE_URL must be set\n");
        return -1;
    }
    uuid7_generate(g_run);
    snprintf(g_topic, sizeof g_topic, "tb-test-consumer-%s", g_run);
    snprintf(g_group, sizeof g_group, "tb-test-group-%s", g_run);
    return 0;
}

static void each_record_applied_exactly_once(void **state) {
    (void)state;
    prepare_database();
    create_topic();
    produce_messages(0, WAVE1);
    atomic_store(&g_sink.fail_batch_once, 1);
    atomic_store(&g_sink.after_fail_once, 1);

    /* 1: one loop, stopped half-way. */
    instance a;
    start_instance(&a, "a");
    long seen = wait_rows(WAVE1 / 2, 120);
    stop_instance(&a);
    long after_a = rows_applied();
    assert_true(seen >= WAVE1 / 2);
    assert_true(after_a < WAVE1); /* really half-way, or the rest proves little */
    assert_int_equal(atomic_load(&g_sink.failures_injected), 1);
    assert_int_equal(atomic_load(&g_sink.after_failures_injected), 1);

    /* 2: a second loop resumes; a third joins while records remain. */
    instance b, c;
    start_instance(&b, "b");
    wait_rows(after_a + BATCH_MAX, 60);
    start_instance(&c, "c");
    /* Once the group settles, new keys land on every partition, so both loops get work. */
    wait_group_stable(2);
    produce_messages(WAVE1, N_MESSAGES);
    long total = wait_rows(N_MESSAGES, 180);
    assert_int_equal(total, N_MESSAGES);
    sleep_ms(2000); /* anything replayed twice would land now */
    stop_instance(&b);
    stop_instance(&c);

    assert_int_equal(rows_applied(), N_MESSAGES);
    assert_int_equal(
        query_long("SELECT count(DISTINCT value) FROM tb_consumer_loop_test WHERE run = $1"),
        N_MESSAGES);
    assert_int_equal(query_long("SELECT count(DISTINCT (part, off)) FROM tb_consumer_loop_test "
                                "WHERE run = $1"),
                     N_MESSAGES);
    /* The rebalance handed partitions to the third loop. */
    assert_true(query_long("SELECT count(*) FROM tb_consumer_loop_test WHERE run = $1 AND "
                           "loop = 'c'") > 0);
    assert_int_equal(query_long("SELECT count(*) FROM tb_consumer_loop_test WHERE run = $1 AND "
                                "request_id <> 'req-' || substr(value, 5)"),
                     0);
    assert_int_equal(atomic_load(&g_sink.missing_request_ids), 0);
    assert_int_equal(atomic_load(&g_sink.after_records), N_MESSAGES);

    /* Stored next offsets add up to the messages consumed. */
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(sum(next_offset), 0) FROM kafka_consumer_offsets "
             "WHERE group_id = 'tb-test-group-' || $1 AND topic = '%s'",
             g_topic);
    assert_int_equal(query_long(sql), N_MESSAGES);
    query_long("WITH d AS (DELETE FROM tb_consumer_loop_test WHERE run = $1 RETURNING 1) "
               "SELECT count(*) FROM d");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_record_applied_exactly_once),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
