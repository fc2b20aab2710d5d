/*
 * test_stack_consumer_gap.c: retention gaps in shared/kafka_consumer.c against real Kafka
 * and Postgres (issue 12: a rebuild never silently produces less).
 *
 * Needs KAFKA_BROKERS and DATABASE_URL; without them the test FAILS rather than skips.
 * Applies the migrations (idempotent), creates a 1-partition topic of its own, produces
 * RECORDS records and deletes the first DELETED ones (DeleteRecords: the log start offset
 * becomes DELETED, as retention would make it), then runs loops on groups of their own:
 *   1. whole_stream, no stored offsets: the loop refuses (run returns -1 and
 *      kafka_consumer_loop_refused says it was the refusal) and applies nothing;
 *   2. not whole_stream, stored next offset below the log start: refuses the same way
 *      (auto.offset.reset=error: never a silent jump), nothing applied;
 *   3. whole_stream, stored next offset = the log start: consumes exactly the records
 *      still held, and stops cleanly;
 *   4. not whole_stream, no stored offsets: starts at what the partition still holds
 *      (the writer's, notifier's ... behaviour) and consumes exactly those records;
 *   5. not whole_stream, a 2-partition topic of its own: a stored row for partition 0
 *      only, records deleted on partition 1: partition 1 starts at 0 (the group knows
 *      the topic), so the loop refuses instead of skipping partition 1's deleted records;
 *   6. not whole_stream, a new group on that topic once partition 1 holds nothing (every
 *      record deleted: log start = end = RECORDS): it consumes partition 0, and its first
 *      assignment stored the log start of both partitions, so a second run of the same
 *      group does not refuse partition 1: a record produced there afterwards arrives.
 * Every wait has a deadline; a loop that neither refuses nor finishes fails the test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shared/kafka_consumer.h"
#include "shared/kafka_producer.h"
#include "shared/migrate.h"
#include "shared/pg_pool.h"
#include "shared/time_util.h"
#include "shared/uuid7.h"

#define RECORDS 40
#define DELETED 15
#define DEADLINE_S 90

static const char *g_brokers;
static const char *g_db;
static char g_run[UUID_STR_LEN];
static char g_topic[128];
static char g_topic2[160]; /* 2 partitions: case 5 */

/* One loop on its own thread; the counters are written by the loop's thread only while
 * it runs and read after done (atomics all the same: the test polls them). */
typedef struct instance {
    char group[160];
    pg_pool *pool;
    kafka_consumer_loop *loop;
    volatile sig_atomic_t stop;
    pthread_t thread;
    atomic_int done;
    int rc;
    atomic_long applied;
    atomic_llong min_offset;
    atomic_llong max_offset;
} instance;

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static int on_batch(void *ctx, pg_conn *conn, const kafka_record *recs, size_t n) {
    (void)conn;
    instance *inst = ctx;
    for (size_t i = 0; i < n; i++) {
        long long off = (long long)recs[i].offset;
        if (off < atomic_load(&inst->min_offset)) {
            atomic_store(&inst->min_offset, off);
        }
        if (off > atomic_load(&inst->max_offset)) {
            atomic_store(&inst->max_offset, off);
        }
    }
    atomic_fetch_add(&inst->applied, (long)n);
    return 0;
}

static void *run_instance(void *arg) {
    instance *inst = arg;
    inst->rc = kafka_consumer_loop_run(inst->loop, &inst->stop);
    atomic_store(&inst->done, 1);
    return NULL;
}

static void start_instance_on(instance *inst, const char *name, const char *topic,
                              bool whole_stream) {
    memset(inst, 0, sizeof *inst);
    atomic_init(&inst->min_offset, INT64_MAX);
    atomic_init(&inst->max_offset, -1);
    snprintf(inst->group, sizeof inst->group, "tb-test-gap-%s-%s", name, g_run);
    char err[512] = "";
    inst->pool = pg_pool_create(g_db, 2, 10000, err, sizeof err);
    assert_non_null(inst->pool);
    const char *topics[] = {topic};
    kafka_consumer_options o = {.brokers = g_brokers,
                                .group_id = inst->group,
                                .topics = topics,
                                .ntopics = 1,
                                .batch_max = 10,
                                .batch_wait_ms = 20,
                                .pg = inst->pool,
                                .on_batch = on_batch,
                                .ctx = inst,
                                .whole_stream = whole_stream};
    inst->loop = kafka_consumer_loop_create(&o, err, sizeof err);
    if (inst->loop == NULL) {
        fail_msg("loop create: %s", err);
    }
    assert_int_equal(pthread_create(&inst->thread, NULL, run_instance, inst), 0);
}

static void start_instance(instance *inst, const char *name, bool whole_stream) {
    start_instance_on(inst, name, g_topic, whole_stream);
}

/* Stops the loop (if it still runs), joins it, frees it; returns its run's result and
 * sets *refused to whether it stopped by refusing a gap. */
static int finish_instance(instance *inst, bool *refused) {
    inst->stop = 1;
    pthread_join(inst->thread, NULL);
    *refused = kafka_consumer_loop_refused(inst->loop);
    kafka_consumer_loop_destroy(inst->loop);
    pg_pool_destroy(inst->pool);
    return inst->rc;
}

/* True when the loop stopped by itself before the deadline. */
static bool wait_done(instance *inst) {
    int64_t deadline = time_monotonic_ns() + (int64_t)DEADLINE_S * 1000000000LL;
    while (!atomic_load(&inst->done) && time_monotonic_ns() < deadline) {
        sleep_ms(20);
    }
    return atomic_load(&inst->done) != 0;
}

/* True when the loop applied at least want records before the deadline. */
static bool wait_applied(instance *inst, long want) {
    int64_t deadline = time_monotonic_ns() + (int64_t)DEADLINE_S * 1000000000LL;
    while (atomic_load(&inst->applied) < want && !atomic_load(&inst->done) &&
           time_monotonic_ns() < deadline) {
        sleep_ms(20);
    }
    return atomic_load(&inst->applied) >= want;
}

static void run_sql(const char *sql, const char *const *vals, int nvals) {
    PGconn *c = PQconnectdb(g_db);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *res = PQexecParams(c, sql, nvals, NULL, vals, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    }
    PQclear(res);
    PQfinish(c);
}

static void store_offset_of(const char *group, const char *topic, long long next) {
    char num[32];
    snprintf(num, sizeof num, "%lld", next);
    const char *vals[3] = {group, topic, num};
    run_sql("INSERT INTO kafka_consumer_offsets(group_id, topic, partition, next_offset) "
            "VALUES ($1, $2, 0, $3)",
            vals, 3);
}

static void store_offset(const char *group, long long next) {
    store_offset_of(group, g_topic, next);
}

static void forget_offsets(const instance *inst) {
    const char *vals[1] = {inst->group};
    run_sql("DELETE FROM kafka_consumer_offsets WHERE group_id = $1", vals, 1);
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
    pg_pool_release(pool, c);
    pg_pool_destroy(pool);
}

static rd_kafka_t *admin_client(void) {
    char why[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", g_brokers, why, sizeof why),
                     RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (rk == NULL) {
        fail_msg("kafka client: %s", why);
    }
    return rk;
}

/* Waits for one admin result event on q; fails the test on a request error. */
static rd_kafka_event_t *admin_result(rd_kafka_queue_t *q, const char *what) {
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    if (ev == NULL) {
        fail_msg("%s: no answer within 30 s", what);
    }
    if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fail_msg("%s: %s", what, rd_kafka_event_error_string(ev));
    }
    return ev;
}

static void create_topic(rd_kafka_t *rk, const char *topic, int partitions) {
    char why[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, why, sizeof why);
    assert_non_null(nt);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = admin_result(q, "CreateTopics");
    size_t n = 0;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    assert_int_equal(n, 1);
    if (rd_kafka_topic_result_error(res[0]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fail_msg("create %s: %s", topic, rd_kafka_topic_result_error_string(res[0]));
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
}

/* Deletes the records of a partition below `before` (what retention does to old
 * segments). */
static void delete_records(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t before) {
    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(offsets, topic, partition)->offset = before;
    rd_kafka_DeleteRecords_t *del = rd_kafka_DeleteRecords_new(offsets);
    rd_kafka_topic_partition_list_destroy(offsets);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteRecords(rk, &del, 1, NULL, q);
    rd_kafka_event_t *ev = admin_result(q, "DeleteRecords");
    const rd_kafka_topic_partition_list_t *done =
        rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(ev));
    assert_non_null(done);
    assert_int_equal(done->cnt, 1);
    if (done->elems[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fail_msg("DeleteRecords: %s", rd_kafka_err2str(done->elems[0].err));
    }
    assert_int_equal(done->elems[0].offset, before); /* the new low watermark */
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteRecords_destroy(del);
}

static void produce_records(void) {
    char err[512] = "";
    kafka_producer *p = kafka_producer_create(g_brokers, "test-consumer-gap",
                                              KAFKA_MESSAGE_TIMEOUT_DEFAULT_MS, err, sizeof err);
    assert_non_null(p);
    kafka_delivery_group *g = kafka_delivery_group_new();
    for (int i = 0; i < RECORDS; i++) {
        char value[32];
        snprintf(value, sizeof value, "rec-%d", i);
        kafka_message m = {
            .topic = g_topic, .key = "k", .key_len = 1, .value = value, .value_len = strlen(value)};
        assert_int_equal(kafka_producer_enqueue(p, g, &m, err, sizeof err), 0);
    }
    if (kafka_delivery_group_wait(g, 30000, err, sizeof err) != 0) {
        fail_msg("produce: %s", err);
    }
    kafka_delivery_group_release(g);
    kafka_producer_destroy(p, 5000);
}

/* One record onto a partition of the 2-partition topic (rk is a producer). */
static void produce_one(rd_kafka_t *rk, int32_t part) {
    const char *value = "late";
    rd_kafka_resp_err_t e =
        rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(g_topic2), RD_KAFKA_V_PARTITION(part),
                          RD_KAFKA_V_VALUE((void *)value, strlen(value)),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fail_msg("produce to %s: %s", g_topic2, rd_kafka_err2str(e));
    }
    assert_int_equal(rd_kafka_flush(rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

static long long stored_offset(const char *group, const char *topic, int partition) {
    PGconn *c = PQconnectdb(g_db);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    char part[16];
    snprintf(part, sizeof part, "%d", partition);
    const char *vals[3] = {group, topic, part};
    PGresult *res = PQexecParams(c,
                                 "SELECT next_offset FROM kafka_consumer_offsets WHERE group_id = "
                                 "$1 AND topic = $2 AND partition = $3::int",
                                 3, NULL, vals, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    long long v = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : -1;
    PQclear(res);
    PQfinish(c);
    return v;
}

/* RECORDS records onto each partition of the 2-partition topic (rk is a producer). */
static void produce_to_partitions(rd_kafka_t *rk) {
    for (int32_t part = 0; part < 2; part++) {
        for (int i = 0; i < RECORDS; i++) {
            char value[32];
            snprintf(value, sizeof value, "p%d-rec-%d", (int)part, i);
            rd_kafka_resp_err_t e =
                rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(g_topic2), RD_KAFKA_V_PARTITION(part),
                                  RD_KAFKA_V_VALUE(value, strlen(value)),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
                fail_msg("produce to %s: %s", g_topic2, rd_kafka_err2str(e));
            }
        }
    }
    assert_int_equal(rd_kafka_flush(rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    for (int32_t part = 0; part < 2; part++) {
        int64_t lo = -1, hi = -1;
        assert_int_equal(rd_kafka_query_watermark_offsets(rk, g_topic2, part, &lo, &hi, 10000),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        assert_int_equal(hi, RECORDS); /* every record was delivered */
    }
}

static int setup(void **state) {
    (void)state;
    g_brokers = getenv("KAFKA_BROKERS");
    g_db = getenv("DATABASE_URL");
    if (g_brokers == NULL || g_brokers[0] == '\0' || g_db == NULL || g_db[0] == '\0') {
        fprintf(stderr, "test_stack_consumer_gap: KAFKA_BROKERS and DATABASE_URL must be set\n");
        return -1;
    }
    uuid7_generate(g_run);
    snprintf(g_topic, sizeof g_topic, "tb-test-gap-%s", g_run);
    snprintf(g_topic2, sizeof g_topic2, "tb-test-gap2-%s", g_run);
    prepare_database();
    rd_kafka_t *rk = admin_client();
    create_topic(rk, g_topic, 1);
    produce_records();
    delete_records(rk, g_topic, 0, DELETED);
    create_topic(rk, g_topic2, 2);
    produce_to_partitions(rk);
    delete_records(rk, g_topic2, 1, DELETED);
    int64_t lo = -1, hi = -1;
    assert_int_equal(rd_kafka_query_watermark_offsets(rk, g_topic, 0, &lo, &hi, 10000),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(lo, DELETED);
    assert_int_equal(hi, RECORDS);
    rd_kafka_destroy(rk);
    return 0;
}

static void whole_stream_without_offsets_refuses(void **state) {
    (void)state;
    instance inst;
    start_instance(&inst, "whole", true);
    bool stopped = wait_done(&inst);
    long applied = atomic_load(&inst.applied);
    bool refused = false;
    int rc = finish_instance(&inst, &refused);
    forget_offsets(&inst);
    assert_true(stopped); /* it stopped by itself: the refusal */
    assert_int_equal(rc, -1);
    assert_true(refused);         /* the gap, not any other fatal error */
    assert_int_equal(applied, 0); /* never a partial rebuild */
}

static void stored_offset_below_log_start_refuses(void **state) {
    (void)state;
    instance inst;
    char group[160];
    snprintf(group, sizeof group, "tb-test-gap-below-%s", g_run);
    store_offset(group, DELETED - 5);
    start_instance(&inst, "below", false); /* any group, whole_stream or not */
    bool stopped = wait_done(&inst);
    long applied = atomic_load(&inst.applied);
    bool refused = false;
    int rc = finish_instance(&inst, &refused);
    forget_offsets(&inst);
    assert_true(stopped);
    assert_int_equal(rc, -1);
    assert_true(refused);
    assert_int_equal(applied, 0); /* no silent jump to the log start */
}

static void stored_offset_at_log_start_consumes(void **state) {
    (void)state;
    instance inst;
    char group[160];
    snprintf(group, sizeof group, "tb-test-gap-at-%s", g_run);
    store_offset(group, DELETED);
    start_instance(&inst, "at", true);
    bool got = wait_applied(&inst, RECORDS - DELETED);
    bool refused = true;
    int rc = finish_instance(&inst, &refused);
    forget_offsets(&inst);
    assert_true(got);
    assert_int_equal(rc, 0);
    assert_false(refused); /* still running when stopped: no refusal */
    assert_int_equal(atomic_load(&inst.applied), RECORDS - DELETED);
    assert_int_equal(atomic_load(&inst.min_offset), DELETED);
    assert_int_equal(atomic_load(&inst.max_offset), RECORDS - 1);
}

static void other_groups_start_at_what_is_held(void **state) {
    (void)state;
    instance inst;
    start_instance(&inst, "held", false);
    bool got = wait_applied(&inst, RECORDS - DELETED);
    bool refused = true;
    int rc = finish_instance(&inst, &refused);
    forget_offsets(&inst);
    assert_true(got);
    assert_int_equal(rc, 0);
    assert_false(refused);
    assert_int_equal(atomic_load(&inst.applied), RECORDS - DELETED);
    assert_int_equal(atomic_load(&inst.min_offset), DELETED);
}

static void partition_without_row_refuses_when_topic_known(void **state) {
    (void)state;
    instance inst;
    char group[160];
    snprintf(group, sizeof group, "tb-test-gap-known-%s", g_run);
    store_offset_of(group, g_topic2, RECORDS); /* partition 0: read to its end */
    start_instance_on(&inst, "known", g_topic2, false);
    bool stopped = wait_done(&inst);
    long applied = atomic_load(&inst.applied);
    bool refused = false;
    int rc = finish_instance(&inst, &refused);
    forget_offsets(&inst);
    assert_true(stopped);
    assert_int_equal(rc, -1);
    assert_true(refused);         /* partition 1 started at 0, below its log start */
    assert_int_equal(applied, 0); /* not partition 1's records from its log start */
}

static void new_group_stores_where_each_partition_starts(void **state) {
    (void)state;
    rd_kafka_t *rk = admin_client();
    delete_records(rk, g_topic2, 1, RECORDS); /* partition 1 now holds nothing */
    instance inst;
    start_instance_on(&inst, "fresh", g_topic2, false);
    bool got = wait_applied(&inst, RECORDS); /* partition 0, all of it */
    bool refused = true;
    int rc = finish_instance(&inst, &refused);
    assert_true(got);
    assert_int_equal(rc, 0);
    assert_false(refused);
    /* The first assignment stored partition 1's log start although no record came. */
    assert_int_equal(stored_offset(inst.group, g_topic2, 1), RECORDS);
    instance again;
    start_instance_on(&again, "fresh", g_topic2, false); /* the same group again */
    produce_one(rk, 1);
    bool late = wait_applied(&again, 1);
    int rc2 = finish_instance(&again, &refused);
    forget_offsets(&again);
    rd_kafka_destroy(rk);
    assert_true(late); /* partition 1 read from its log start, not refused at 0 */
    assert_int_equal(rc2, 0);
    assert_false(refused);
    assert_int_equal(atomic_load(&again.applied), 1);
    assert_int_equal(atomic_load(&again.min_offset), RECORDS);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(whole_stream_without_offsets_refuses),
        cmocka_unit_test(stored_offset_below_log_start_refuses),
        cmocka_unit_test(stored_offset_at_log_start_consumes),
        cmocka_unit_test(other_groups_start_at_what_is_held),
        cmocka_unit_test(partition_without_row_refuses_when_topic_known),
        cmocka_unit_test(new_group_stores_where_each_partition_starts),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
