/*
 * kafka_consumer.c: the consumer loop with offsets stored in Postgres.
 *
 * Owns: one rd_kafka_t consumer (eager "range" assignor, no auto commit, no offset store),
 * the in-memory batch, and the kafka_consumer_offsets rows of its group.
 * Rules:
 * - The rebalance callback runs on the loop's own thread (inside rd_kafka_consumer_poll or
 *   rd_kafka_consumer_close), so the batch buffer and the assignment copy need no lock.
 * - On assign, next offsets are read from Postgres and written into the assignment list
 *   before rd_kafka_assign (no rd_kafka_seek_partitions: unreliable in 2.0.x). A partition
 *   without a row starts at offset 0 when the group has a row for ANY partition of that
 *   topic (it has consumed the topic before, so records it never saw must still be there,
 *   else a gap refuses like on the other partitions), and for a whole_stream group. Only a
 *   group with no row at all for the topic, not whole_stream, starts at whatever the
 *   partition still holds (RD_KAFKA_OFFSET_BEGINNING): a new group; it first stores the log
 *   start of every partition of the topic (seed_topic: once per topic in the group's life,
 *   a bounded metadata + ListOffsets round trip), so a partition that yields no record is
 *   never mistaken later for one that lost records. If Postgres (or, seeding, Kafka) cannot
 *   answer, the callback retries; on shutdown it assigns start_offset() without reading
 *   Postgres: the loop polls no record after a stop, so nothing is fetched from there.
 * - Retention gaps (docs/decisions.md "Issue 12"): auto.offset.reset=error, so an offset
 *   the broker no longer holds (a stored one below the log start, or a whole_stream
 *   group's 0 after retention deleted segments) comes back from the poll as
 *   RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET instead of a silent jump. The loop logs one ERROR
 *   line (group, topic, partition, wanted offset, log start from the watermarks) and
 *   stops with -1 without applying its buffered batch: the daemon exits 1
 *   (kafka_consumer_loop_refused then says so). librdkafka 2.0.2 also reports a permanent
 *   ListOffsets error on a logical start (BEGINNING) as __AUTO_OFFSET_RESET with a negative
 *   offset: that gets its own ERROR line (the start offset could not be resolved; no gap
 *   is claimed) and stops the loop with -1 the same way (exit 1, the restart retries). The
 *   refusal is raised from the poll, never from the rebalance callback (whose only broker
 *   round trip is seed_topic, and which has no refusal path).
 * - On revoke, buffered records of the revoked partitions are dropped at once, so a
 *   partition assigned again never yields the same record twice in one batch.
 * - One transaction per batch: lock the offset rows with SELECT ... FOR UPDATE (sorted, so
 *   two members never deadlock; missing rows are inserted and the lock taken again), drop every
 * record below the stored next offset (replays, a zombie's leftovers), run on_batch, raise the next
 * offsets (GREATEST, so a late zombie never moves them back) and commit. On failure: roll back and
 * retry the SAME records from memory after a back-off (Kafka is not asked again).
 * - after_commit is retried until it returns 0; the loop only moves on afterwards.
 * - Metrics (shared/metric_families.h): one update per batch, never per record: records
 *   and batch attempts by result and the batch's duration, labelled by group (the label
 *   text is built once at creation).
 * - While a batch is retried the loop does not poll Kafka; if that outlasts
 *   max.poll.interval.ms the member is dropped from the group, and the row locks plus the
 *   drop rule still keep each record's effects committed exactly once.
 */
#include "shared/kafka_consumer.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shared/daemon_heartbeat.h"
#include "shared/errbuf.h"
#include "shared/kafka_conf.h"
#include "shared/log.h"
#include "shared/log_ids.h"
#include "shared/trace_context.h"
#include "shared/strbuf.h"
#include "shared/metric_families.h"
#include "shared/time_util.h"

#define PG_ACQUIRE_TIMEOUT_MS 5000
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
#define REQUEST_ID_MAX 128
#define KAFKA_GAP_WATERMARK_TIMEOUT_MS 5000
#define KAFKA_SEED_TIMEOUT_MS 5000

struct kafka_consumer_loop {
    rd_kafka_t *rk;
    char *group_id;
    log_ids batch_ids; /* the ids of the batch being logged (log_batch_ids), reused */
    char **topics;
    size_t ntopics;
    /* The caller's options, its strings cleared (brokers is needed only at creation;
     * group_id and topics are the copies above). */
    kafka_consumer_options opt;
    volatile sig_atomic_t *stop; /* set while kafka_consumer_loop_run runs */
    bool fatal;
    bool refused; /* fatal because the broker no longer holds an offset the group needs */
    rd_kafka_topic_partition_list_t *assigned; /* current assignment (loop thread only) */
    rd_kafka_message_t **msgs;                 /* the batch being gathered or applied */
    size_t nmsgs;
    metric_consumer_labels labels; /* the group's label texts, built once */
};

/* Per partition of a batch: the stored next offset and what the batch moves it to. */
typedef struct part_state {
    const char *topic;
    int32_t partition;
    int64_t stored;
    int64_t next;
    bool applied;
} part_state;

static const pg_stmt STMT_LOAD_OFFSETS = {
    .name = "kc_load_offsets",
    .sql = "SELECT topic, partition, next_offset FROM kafka_consumer_offsets"
           " WHERE group_id = $1 AND topic = ANY($2::text[])",
    .nparams = 2,
};
static const pg_stmt STMT_INSERT_OFFSETS = {
    .name = "kc_insert_offsets",
    .sql = "INSERT INTO kafka_consumer_offsets(group_id, topic, partition, next_offset)"
           " SELECT $1, u.t, u.p, 0 FROM unnest($2::text[], $3::int[]) AS u(t, p)"
           " ORDER BY u.t, u.p ON CONFLICT DO NOTHING",
    .nparams = 3,
};
static const pg_stmt STMT_SEED_OFFSETS = {
    .name = "kc_seed_offsets",
    .sql = "INSERT INTO kafka_consumer_offsets(group_id, topic, partition, next_offset)"
           " SELECT $1, u.t, u.p, u.n FROM unnest($2::text[], $3::int[], $4::bigint[])"
           " AS u(t, p, n) ORDER BY u.t, u.p ON CONFLICT DO NOTHING",
    .nparams = 4,
};
static const pg_stmt STMT_LOCK_OFFSETS = {
    .name = "kc_lock_offsets",
    .sql = "SELECT o.topic, o.partition, o.next_offset FROM kafka_consumer_offsets o"
           " JOIN unnest($2::text[], $3::int[]) AS u(t, p) ON o.topic = u.t AND o.partition = u.p"
           " WHERE o.group_id = $1 ORDER BY o.topic, o.partition FOR UPDATE OF o",
    .nparams = 3,
};
static const pg_stmt STMT_STORE_OFFSETS = {
    .name = "kc_store_offsets",
    .sql = "UPDATE kafka_consumer_offsets o"
           " SET next_offset = GREATEST(o.next_offset, u.n), updated_at = now()"
           " FROM unnest($2::text[], $3::int[], $4::bigint[]) AS u(t, p, n)"
           " WHERE o.group_id = $1 AND o.topic = u.t AND o.partition = u.p",
    .nparams = 4,
};

static bool stop_requested(const kafka_consumer_loop *loop) {
    return loop->stop == NULL || *loop->stop != 0;
}

/* Sleeps ms in short steps; false when a stop was requested meanwhile. */
static bool backoff_sleep(const kafka_consumer_loop *loop, int ms) {
    while (ms > 0) {
        if (stop_requested(loop)) {
            return false;
        }
        daemon_heartbeat_touch(); /* a back-off is not a stall */
        int step = ms < 100 ? ms : 100;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
    return !stop_requested(loop);
}

static int next_backoff(int ms) {
    return ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ms * 2;
}

/* ---- Postgres array literals ---- */

/* One quoted element of a text[] literal. */
static void sb_quoted(strbuf *b, const char *s) {
    strbuf_puts(b, "\"");
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            strbuf_append(b, "\\", 1);
        }
        strbuf_append(b, p, 1);
    }
    strbuf_puts(b, "\"");
}

/* ---- assignment ---- */

/* Where a partition starts when the group has no row at all for its topic: 0 for a
 * whole_stream group (the broker refuses it when the log no longer starts there), else the
 * first offset the partition still holds. */
static int64_t start_offset(const kafka_consumer_loop *loop) {
    return loop->opt.whole_stream ? 0 : RD_KAFKA_OFFSET_BEGINNING;
}

static int part_arrays(const part_state *parts, size_t np, bool only_applied, strbuf *t, strbuf *p,
                       strbuf *n);
static int exec_ok(pg_conn *conn, const pg_stmt *stmt, const char *const *vals, PGresult **out,
                   const char *group);

/* A group new to topic (no row for any partition of it; not whole_stream): stores the
 * first offset every partition of the topic still holds as the group's next offset, so
 * later assignments find a row for each partition, even one that never yields a record
 * (else the rule "no row but the group knows the topic: offset 0" would refuse such a
 * partition once retention moved its log start). Once in a group's life per topic, from
 * the rebalance callback: one metadata and one ListOffsets request (bounded). The
 * assignment itself keeps RD_KAFKA_OFFSET_BEGINNING, so retention deleting more in
 * between cannot raise a refusal; the rows only ever lie at or below what is fetched.
 * 0, or -1 (logged; the caller retries). */
static int seed_topic(kafka_consumer_loop *loop, pg_conn *conn, const char *topic) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(loop->rk, topic, NULL);
    if (rkt == NULL) {
        LOG_ERRORF("consumer %s: %s: %s", loop->group_id, topic,
                   rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(loop->rk, 0, rkt, &md, KAFKA_SEED_TIMEOUT_MS);
    rd_kafka_topic_destroy(rkt);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR && (md->topic_cnt != 1 || md->topics[0].err != 0)) {
        e = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
    }
    int n = e == RD_KAFKA_RESP_ERR_NO_ERROR ? md->topics[0].partition_cnt : 0;
    if (md != NULL) {
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_partition_list_t *list = NULL;
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR && n > 0) {
        list = rd_kafka_topic_partition_list_new(n);
        for (int i = 0; i < n; i++) {
            /* BEGINNING as the request's timestamp: each partition's log start. */
            rd_kafka_topic_partition_list_add(list, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
        }
        e = rd_kafka_offsets_for_times(loop->rk, list, KAFKA_SEED_TIMEOUT_MS);
    }
    part_state *ps = n > 0 ? calloc((size_t)n, sizeof *ps) : NULL;
    for (int i = 0; e == RD_KAFKA_RESP_ERR_NO_ERROR && list != NULL && i < list->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &list->elems[i];
        if (tp->err != RD_KAFKA_RESP_ERR_NO_ERROR || tp->offset < 0) {
            e = tp->err != RD_KAFKA_RESP_ERR_NO_ERROR ? tp->err : RD_KAFKA_RESP_ERR__NO_OFFSET;
        } else if (ps != NULL) {
            ps[i] = (part_state){.topic = topic, .partition = tp->partition, .next = tp->offset};
        }
    }
    if (list != NULL) {
        rd_kafka_topic_partition_list_destroy(list);
    }
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR || n <= 0 || ps == NULL) {
        LOG_ERRORF("consumer %s: cannot read where topic %s starts: %s", loop->group_id, topic,
                   e != RD_KAFKA_RESP_ERR_NO_ERROR ? rd_kafka_err2str(e)
                   : n <= 0                        ? "no partitions"
                                                   : "out of memory");
        free(ps);
        return -1;
    }
    strbuf t = {0}, p = {0}, o = {0};
    int rc = part_arrays(ps, (size_t)n, false, &t, &p, &o);
    if (rc == 0) {
        const char *vals[4] = {loop->group_id, t.data, p.data, o.data};
        rc = exec_ok(conn, &STMT_SEED_OFFSETS, vals, NULL, loop->group_id);
    }
    if (rc == 0) {
        LOG_INFOF("consumer %s: new to topic %s: stored the log start of its %d partition(s)",
                  loop->group_id, topic, n);
    }
    free(t.data);
    free(p.data);
    free(o.data);
    free(ps);
    return rc;
}

/* True when parts holds a partition of topic. */
static bool assigns_topic(const rd_kafka_topic_partition_list_t *parts, const char *topic) {
    for (int i = 0; i < parts->cnt; i++) {
        if (strcmp(parts->elems[i].topic, topic) == 0) {
            return true;
        }
    }
    return false;
}

/* True when res (topic, partition, next_offset rows) has a row of topic. */
static bool topic_has_rows(const PGresult *res, const char *topic) {
    for (int r = 0; r < PQntuples(res); r++) {
        if (strcmp(PQgetvalue(res, r, 0), topic) == 0) {
            return true;
        }
    }
    return false;
}

/* Writes the stored next offsets of parts into its offset fields. 0, or -1. */
static int load_offsets(kafka_consumer_loop *loop, rd_kafka_topic_partition_list_t *parts) {
    strbuf topics = {0};
    strbuf_puts(&topics, "{");
    for (size_t i = 0; i < loop->ntopics; i++) {
        if (i > 0) {
            strbuf_puts(&topics, ",");
        }
        sb_quoted(&topics, loop->topics[i]);
    }
    strbuf_puts(&topics, "}");
    if (topics.failed) {
        free(topics.data);
        return -1;
    }
    char err[256];
    pg_conn *conn = pg_pool_acquire(loop->opt.pg, PG_ACQUIRE_TIMEOUT_MS, err, sizeof err);
    if (conn == NULL) {
        LOG_ERRORF("consumer %s: cannot load offsets: %s", loop->group_id, err);
        free(topics.data);
        return -1;
    }
    const char *vals[2] = {loop->group_id, topics.data};
    PGresult *res = pg_exec_stmt(conn, &STMT_LOAD_OFFSETS, vals);
    int rc = pg_result_ok(res) ? 0 : -1;
    if (rc != 0) {
        LOG_ERRORF("consumer %s: loading offsets failed: %s", loop->group_id,
                   res != NULL ? PQresultErrorMessage(res) : "connection failed");
    }
    for (int i = 0; i < parts->cnt; i++) {
        parts->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
    }
    for (int r = 0; rc == 0 && r < PQntuples(res); r++) {
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(
            parts, PQgetvalue(res, r, 0), (int32_t)atoi(PQgetvalue(res, r, 1)));
        if (tp != NULL) {
            tp->offset = strtoll(PQgetvalue(res, r, 2), NULL, 10);
        }
    }
    /* No row for the partition: 0 when the group has rows for other partitions of the
     * topic (a partition whose first records came while the group was away must still
     * hold them, else it refuses), else start_offset (a group new to the topic). */
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        if (tp->offset == RD_KAFKA_OFFSET_INVALID) {
            tp->offset = rc == 0 && topic_has_rows(res, tp->topic) ? 0 : start_offset(loop);
        }
    }
    for (size_t t = 0; rc == 0 && !loop->opt.whole_stream && t < loop->ntopics; t++) {
        if (!topic_has_rows(res, loop->topics[t]) && assigns_topic(parts, loop->topics[t])) {
            rc = seed_topic(loop, conn, loop->topics[t]);
        }
    }
    PQclear(res);
    pg_pool_release(loop->opt.pg, conn);
    free(topics.data);
    return rc;
}

/* Drops buffered records that belong to any partition of parts. */
static void drop_buffered(kafka_consumer_loop *loop, const rd_kafka_topic_partition_list_t *parts) {
    size_t kept = 0;
    for (size_t i = 0; i < loop->nmsgs; i++) {
        rd_kafka_message_t *m = loop->msgs[i];
        if (rd_kafka_topic_partition_list_find(parts, rd_kafka_topic_name(m->rkt), m->partition) !=
            NULL) {
            rd_kafka_message_destroy(m);
        } else {
            loop->msgs[kept++] = m;
        }
    }
    if (kept != loop->nmsgs) {
        LOG_INFOF("consumer %s: dropped %zu buffered record(s) of revoked partitions",
                  loop->group_id, loop->nmsgs - kept);
    }
    loop->nmsgs = kept;
}

static void on_assign(kafka_consumer_loop *loop, rd_kafka_t *rk,
                      rd_kafka_topic_partition_list_t *parts) {
    int backoff = BACKOFF_FIRST_MS;
    while (load_offsets(loop, parts) != 0) {
        if (!backoff_sleep(loop, backoff)) {
            /* Shutting down without the stored offsets: fill_batch polls nothing once a
             * stop is requested, so no record is fetched from these; they only make the
             * assignment valid until rd_kafka_consumer_close revokes it. */
            for (int i = 0; i < parts->cnt; i++) {
                parts->elems[i].offset = start_offset(loop);
            }
            break;
        }
        backoff = next_backoff(backoff);
    }
    rd_kafka_resp_err_t e = rd_kafka_assign(rk, parts);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        LOG_ERRORF("consumer %s: assign failed: %s", loop->group_id, rd_kafka_err2str(e));
    }
    if (loop->assigned != NULL) {
        rd_kafka_topic_partition_list_destroy(loop->assigned);
    }
    loop->assigned = rd_kafka_topic_partition_list_copy(parts);
    LOG_INFOF("consumer %s: assigned %d partition(s)", loop->group_id, parts->cnt);
}

static void on_revoke(kafka_consumer_loop *loop, rd_kafka_t *rk,
                      rd_kafka_topic_partition_list_t *parts) {
    drop_buffered(loop, parts);
    rd_kafka_resp_err_t e = rd_kafka_assign(rk, NULL);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        LOG_ERRORF("consumer %s: unassign failed: %s", loop->group_id, rd_kafka_err2str(e));
    }
    if (loop->assigned != NULL) {
        rd_kafka_topic_partition_list_destroy(loop->assigned);
        loop->assigned = NULL;
    }
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
    kafka_consumer_loop *loop = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        on_assign(loop, rk, parts);
    } else {
        if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
            LOG_ERRORF("consumer %s: rebalance error: %s", loop->group_id, rd_kafka_err2str(err));
        }
        on_revoke(loop, rk, parts);
    }
}

static bool is_assigned(const kafka_consumer_loop *loop, const rd_kafka_message_t *m) {
    return loop->assigned != NULL &&
           rd_kafka_topic_partition_list_find(loop->assigned, rd_kafka_topic_name(m->rkt),
                                              m->partition) != NULL;
}

/* ---- creation ---- */

static int copy_options(kafka_consumer_loop *loop, const kafka_consumer_options *o) {
    loop->group_id = strdup(o->group_id);
    loop->topics = calloc(o->ntopics, sizeof *loop->topics);
    loop->msgs = calloc((size_t)o->batch_max, sizeof *loop->msgs);
    if (loop->group_id == NULL || loop->topics == NULL || loop->msgs == NULL) {
        return -1;
    }
    if (metric_consumer_labels_init(&loop->labels, o->group_id) != 0) {
        return -1;
    }
    metric_consumer_register(&loop->labels);
    loop->ntopics = o->ntopics;
    for (size_t i = 0; i < o->ntopics; i++) {
        if ((loop->topics[i] = strdup(o->topics[i])) == NULL) {
            return -1;
        }
    }
    loop->opt = *o;
    loop->opt.brokers = NULL;
    loop->opt.group_id = NULL;
    loop->opt.topics = NULL;
    return 0;
}

static rd_kafka_conf_t *make_conf(kafka_consumer_loop *loop, const char *brokers, char *err,
                                  size_t errlen) {
    const char *const kv[][2] = {
        {"group.id", loop->group_id},
        {"client.id", loop->group_id},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"partition.assignment.strategy", "range"},
        /* Never a silent jump over records the broker no longer holds: see the top. */
        {"auto.offset.reset", "error"},
        {"enable.partition.eof", "false"},
        /* A killed member's partitions move after the session times out: 10 s, not
         * librdkafka's 45 s, so a crashed worker stalls its partitions briefly. */
        {"session.timeout.ms", "10000"},
        {"heartbeat.interval.ms", "2000"},
        {NULL, NULL},
    };
    rd_kafka_conf_t *conf = kafka_conf_new(brokers, kv, KAFKA_LOG_CONSUMER, err, errlen);
    if (conf == NULL) {
        return NULL;
    }
    char wait[16];
    snprintf(wait, sizeof wait, "%d", loop->opt.fetch_wait_ms);
    const char *const bulk[][2] = {
        {"fetch.wait.max.ms", wait}, {"fetch.min.bytes", KAFKA_BULK_FETCH_BYTES}, {NULL, NULL}};
    if (loop->opt.fetch_wait_ms > 0 && kafka_conf_set_all(conf, bulk, err, errlen) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, loop);
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    return conf;
}

static int subscribe(kafka_consumer_loop *loop, char *err, size_t errlen) {
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)loop->ntopics);
    if (list == NULL) {
        errbuf_setf(err, errlen, "kafka consumer: out of memory");
        return -1;
    }
    for (size_t i = 0; i < loop->ntopics; i++) {
        rd_kafka_topic_partition_list_add(list, loop->topics[i], RD_KAFKA_PARTITION_UA);
    }
    rd_kafka_resp_err_t e = rd_kafka_subscribe(loop->rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        errbuf_setf(err, errlen, "kafka subscribe: %s", rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

static void free_loop(kafka_consumer_loop *loop) {
    for (size_t i = 0; loop->topics != NULL && i < loop->ntopics; i++) {
        free(loop->topics[i]);
    }
    free(loop->topics);
    free(loop->msgs);
    free(loop->group_id);
    free(loop);
}

kafka_consumer_loop *kafka_consumer_loop_create(const kafka_consumer_options *opts, char *err,
                                                size_t errlen) {
    if (opts == NULL || opts->brokers == NULL || opts->group_id == NULL || opts->topics == NULL ||
        opts->ntopics == 0 || opts->batch_max < 1 || opts->batch_wait_ms < 0 || opts->pg == NULL ||
        opts->on_batch == NULL) {
        errbuf_setf(err, errlen, "kafka_consumer_loop_create: bad options");
        return NULL;
    }
    kafka_consumer_loop *loop = calloc(1, sizeof *loop);
    if (loop == NULL || copy_options(loop, opts) != 0) {
        errbuf_setf(err, errlen, "kafka consumer: out of memory");
        if (loop != NULL) {
            free_loop(loop);
        }
        return NULL;
    }
    rd_kafka_conf_t *conf = make_conf(loop, opts->brokers, err, errlen);
    loop->rk = conf != NULL
                   ? kafka_conf_open(RD_KAFKA_CONSUMER, conf, "kafka consumer", err, errlen)
                   : NULL;
    if (loop->rk == NULL) {
        free_loop(loop);
        return NULL;
    }
    rd_kafka_poll_set_consumer(loop->rk);
    if (subscribe(loop, err, errlen) != 0) {
        rd_kafka_destroy(loop->rk);
        free_loop(loop);
        return NULL;
    }
    return loop;
}

/* ---- gathering a batch ---- */

/* The refusal line of a retention gap: the broker no longer holds the offset the group
 * wanted. One ERROR line; the watermarks are asked for with a bounded wait (an error
 * path, once per process, never per record). A negative offset is no gap: librdkafka could
 * not resolve a logical start (BEGINNING) because ListOffsets failed for good (e.g. the
 * leader does not know a just-created partition yet); said as it is, still fatal. */
static void log_retention_gap(kafka_consumer_loop *loop, const rd_kafka_message_t *m) {
    const char *topic = m->rkt != NULL ? rd_kafka_topic_name(m->rkt) : "?";
    if (m->offset < 0) {
        LOG_ERRORF("consumer %s: could not resolve the start offset (%s) of topic %s partition "
                   "%d: %s; stopping, exit 1 (a restart asks again)",
                   loop->group_id,
                   m->offset == RD_KAFKA_OFFSET_BEGINNING ? "BEGINNING"
                   : m->offset == RD_KAFKA_OFFSET_END     ? "END"
                                                          : "logical",
                   topic, (int)m->partition, rd_kafka_message_errstr(m));
        return;
    }
    loop->refused = true;
    int64_t lo = -1;
    int64_t hi = -1;
    rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(loop->rk, topic, m->partition, &lo,
                                                             &hi, KAFKA_GAP_WATERMARK_TIMEOUT_MS);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        LOG_ERRORF("consumer %s: retention gap: topic %s partition %d: wanted offset %lld is no "
                   "longer held (log start unknown: %s); refusing to skip records, stopping "
                   "(docs/runbook.md \"retention gap\")",
                   loop->group_id, topic, (int)m->partition, (long long)m->offset,
                   rd_kafka_err2str(e));
        return;
    }
    if (m->offset > hi) { /* not a gap: the topic was recreated under stored offsets */
        LOG_ERRORF("consumer %s: offset out of range: topic %s partition %d: wanted offset %lld, "
                   "log start offset %lld, end %lld (was the topic recreated?); refusing to "
                   "jump, stopping (docs/runbook.md \"retention gap\")",
                   loop->group_id, topic, (int)m->partition, (long long)m->offset, (long long)lo,
                   (long long)hi);
        return;
    }
    LOG_ERRORF("consumer %s: retention gap: topic %s partition %d: wanted offset %lld, log start "
               "offset %lld: %lld record(s) no longer held; refusing to skip them, stopping "
               "(docs/runbook.md \"retention gap\")",
               loop->group_id, topic, (int)m->partition, (long long)m->offset, (long long)lo,
               (long long)(lo - m->offset));
}

/* Handles a consumer error event; false when it is fatal. */
static bool handle_poll_error(kafka_consumer_loop *loop, const rd_kafka_message_t *m) {
    if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) {
        log_retention_gap(loop, m);
        return false;
    }
    if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_fatal_error(loop->rk, why, sizeof why);
        LOG_ERRORF("consumer %s: fatal kafka error: %s", loop->group_id, why);
        return false;
    }
    if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        LOG_WARNF("consumer %s: %s", loop->group_id, rd_kafka_message_errstr(m));
    }
    return true;
}

/* Polls until batch_max records are buffered or batch_wait_ms has passed since the
 * first one arrived, or a stop is requested; returns empty after one quiet poll (100 ms),
 * so on_idle runs about ten times a second while nothing comes. */
static void fill_batch(kafka_consumer_loop *loop) {
    int64_t deadline = 0;
    while ((int)loop->nmsgs < loop->opt.batch_max && !stop_requested(loop) && !loop->fatal) {
        int wait = 100;
        if (loop->nmsgs > 0) {
            int64_t left_ms = (deadline - time_monotonic_ns()) / 1000000;
            if (left_ms <= 0) {
                break;
            }
            wait = left_ms < wait ? (int)left_ms : wait;
        }
        size_t before = loop->nmsgs;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(loop->rk, wait);
        if (m == NULL) {
            if (loop->nmsgs == 0) {
                break; /* idle: the loop's on_idle hook gets its turn */
            }
            continue;
        }
        if (m->err) {
            loop->fatal = !handle_poll_error(loop, m);
            rd_kafka_message_destroy(m);
            continue;
        }
        if (!is_assigned(loop, m)) {
            rd_kafka_message_destroy(m);
            continue;
        }
        loop->msgs[loop->nmsgs++] = m;
        /* A revoke inside the poll may have emptied the buffer: the clock restarts. */
        if (before == 0 || loop->nmsgs == 1) {
            deadline = time_monotonic_ns() + (int64_t)loop->opt.batch_wait_ms * 1000000;
        }
    }
}

static char *header_request_id(const rd_kafka_message_t *m) {
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return NULL;
    }
    const void *val = NULL;
    size_t size = 0;
    if (rd_kafka_header_get_last(hdrs, "request_id", &val, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        val == NULL) {
        return NULL;
    }
    return strndup(val, size > REQUEST_ID_MAX ? REQUEST_ID_MAX : size);
}

/* The traceparent header into out, in its version 00 form, when there is a valid one of
 * TRACEPARENT_LEN bytes; else false. */
static bool header_traceparent(const rd_kafka_message_t *m, char out[TRACEPARENT_LEN + 1]) {
    rd_kafka_headers_t *hdrs = NULL;
    trace_context tc;
    const void *val = NULL;
    size_t size = 0;
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(hdrs, "traceparent", &val, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        val == NULL || size != TRACEPARENT_LEN || !trace_context_parse(val, size, &tc)) {
        return false;
    }
    trace_context_format(&tc, out); /* version 00 whatever came: what events promise */
    return true;
}

void kafka_record_log_context(const kafka_record *record) {
    log_set_context(record != NULL ? record->request_id : NULL,
                    record != NULL ? record->traceparent : NULL);
}

/* The batch line(s): group, records, and their ids (log_ids.h), built in the loop's own
 * lists (kept between batches: no allocation once grown), and only when the level is on. */
static void log_batch_ids(kafka_consumer_loop *loop, log_level level, const char *msg,
                          const kafka_record *recs, size_t n) {
    if (!log_enabled(level)) {
        return;
    }
    log_ids_reset(&loop->batch_ids);
    for (size_t i = 0; i < n; i++) {
        log_ids_add(&loop->batch_ids, recs[i].request_id, recs[i].traceparent);
    }
    char group[256];
    log_ids_plain(loop->group_id, group, sizeof group);
    char head[LOG_IDS_HEAD_MAX];
    snprintf(head, sizeof head, "\"group\":\"%s\",\"records\":%zu", group, n);
    log_ids_write(&loop->batch_ids, level, msg, head);
}

static void fill_record(kafka_record *r, const rd_kafka_message_t *m, char *request_id,
                        const char *traceparent) {
    r->topic = rd_kafka_topic_name(m->rkt);
    r->partition = m->partition;
    r->offset = m->offset;
    r->key = m->key;
    r->key_len = m->key_len;
    r->value = m->payload;
    r->value_len = m->len;
    r->request_id = request_id;
    r->traceparent = traceparent;
}

/* ---- applying a batch ---- */

static int cmp_parts(const void *a, const void *b) {
    const part_state *x = a;
    const part_state *y = b;
    int c = strcmp(x->topic, y->topic);
    return c != 0 ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

static part_state *find_part(part_state *parts, size_t n, const char *topic, int32_t p) {
    for (size_t i = 0; i < n; i++) {
        if (parts[i].partition == p && strcmp(parts[i].topic, topic) == 0) {
            return &parts[i];
        }
    }
    return NULL;
}

/* The distinct partitions of the records, sorted. */
static size_t collect_parts(const kafka_record *recs, size_t n, part_state *out) {
    size_t np = 0;
    for (size_t i = 0; i < n; i++) {
        if (find_part(out, np, recs[i].topic, recs[i].partition) == NULL) {
            out[np++] = (part_state){.topic = recs[i].topic, .partition = recs[i].partition};
        }
    }
    qsort(out, np, sizeof *out, cmp_parts);
    return np;
}

/* "{t1,t2}" and "{p1,p2}" (and "{n1,n2}" when with_next) for parts[want]. */
static int part_arrays(const part_state *parts, size_t np, bool only_applied, strbuf *t, strbuf *p,
                       strbuf *n) {
    strbuf_puts(t, "{");
    strbuf_puts(p, "{");
    strbuf_puts(n, "{");
    bool first = true;
    for (size_t i = 0; i < np; i++) {
        if (only_applied && !parts[i].applied) {
            continue;
        }
        char num[32];
        if (!first) {
            strbuf_puts(t, ",");
            strbuf_puts(p, ",");
            strbuf_puts(n, ",");
        }
        first = false;
        sb_quoted(t, parts[i].topic);
        snprintf(num, sizeof num, "%d", (int)parts[i].partition);
        strbuf_puts(p, num);
        snprintf(num, sizeof num, "%lld", (long long)parts[i].next);
        strbuf_puts(n, num);
    }
    strbuf_puts(t, "}");
    strbuf_puts(p, "}");
    strbuf_puts(n, "}");
    return (t->failed || p->failed || n->failed) ? -1 : 0;
}

static int exec_ok(pg_conn *conn, const pg_stmt *stmt, const char *const *vals, PGresult **out,
                   const char *group) {
    PGresult *res = pg_exec_stmt(conn, stmt, vals);
    if (!pg_result_ok(res)) {
        LOG_ERRORF("consumer %s: %s failed: %s", group, stmt->name,
                   res != NULL ? PQresultErrorMessage(res) : "connection failed");
        PQclear(res);
        return -1;
    }
    if (out != NULL) {
        *out = res;
    } else {
        PQclear(res);
    }
    return 0;
}

/* Inserts missing offset rows, locks them and reads the stored next offsets. */
static int lock_offsets(kafka_consumer_loop *loop, pg_conn *conn, part_state *parts, size_t np) {
    strbuf t = {0}, p = {0}, n = {0};
    int rc = part_arrays(parts, np, false, &t, &p, &n);
    const char *vals[3] = {loop->group_id, t.data, p.data};
    PGresult *res = NULL;
    if (rc == 0) {
        rc = exec_ok(conn, &STMT_LOCK_OFFSETS, vals, &res, loop->group_id);
    }
    /* A partition's row exists after its first batch; only then is the insert needed (one
     * round trip saved on every other batch). Two members that briefly own the same new
     * partitions (a rebalance) may deadlock here: Postgres aborts one (40P01), whose batch
     * is retried like any failed batch, and the locks keep each record applied once. */
    if (rc == 0 && (size_t)PQntuples(res) < np) {
        PQclear(res);
        res = NULL;
        rc = exec_ok(conn, &STMT_INSERT_OFFSETS, vals, NULL, loop->group_id);
        if (rc == 0) {
            rc = exec_ok(conn, &STMT_LOCK_OFFSETS, vals, &res, loop->group_id);
        }
    }
    for (int r = 0; rc == 0 && r < PQntuples(res); r++) {
        part_state *ps =
            find_part(parts, np, PQgetvalue(res, r, 0), (int32_t)atoi(PQgetvalue(res, r, 1)));
        if (ps != NULL) {
            ps->stored = strtoll(PQgetvalue(res, r, 2), NULL, 10);
            ps->next = ps->stored;
        }
    }
    PQclear(res);
    free(t.data);
    free(p.data);
    free(n.data);
    return rc;
}

static int store_offsets(kafka_consumer_loop *loop, pg_conn *conn, const part_state *parts,
                         size_t np) {
    strbuf t = {0}, p = {0}, n = {0};
    int rc = part_arrays(parts, np, true, &t, &p, &n);
    const char *vals[4] = {loop->group_id, t.data, p.data, n.data};
    if (rc == 0) {
        rc = exec_ok(conn, &STMT_STORE_OFFSETS, vals, NULL, loop->group_id);
    }
    free(t.data);
    free(p.data);
    free(n.data);
    return rc;
}

/* Keeps the records at or above each partition's next offset, in order; returns how many. */
static size_t filter_records(const kafka_record *recs, size_t n, part_state *parts, size_t np,
                             kafka_record *kept) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        part_state *ps = find_part(parts, np, recs[i].topic, recs[i].partition);
        if (ps == NULL || recs[i].offset < ps->next) {
            continue;
        }
        ps->next = recs[i].offset + 1;
        ps->applied = true;
        kept[k++] = recs[i];
    }
    return k;
}

/* One attempt at the batch transaction. 0 with *napplied set, or -1 (rolled back). */
static int apply_once(kafka_consumer_loop *loop, const kafka_record *recs, size_t n,
                      kafka_record *kept, size_t *napplied) {
    char err[256];
    pg_conn *conn = pg_pool_acquire(loop->opt.pg, PG_ACQUIRE_TIMEOUT_MS, err, sizeof err);
    if (conn == NULL) {
        LOG_ERRORF("consumer %s: %s", loop->group_id, err);
        return -1;
    }
    part_state *parts = calloc(n, sizeof *parts);
    size_t np = parts != NULL ? collect_parts(recs, n, parts) : 0;
    int rc = parts == NULL ? -1
             : loop->opt.lazy_commit
                 ? pg_run(conn, "BEGIN; SET LOCAL synchronous_commit = off", err, sizeof err)
                 : pg_begin(conn, err, sizeof err);
    if (rc == 0) {
        rc = lock_offsets(loop, conn, parts, np);
    }
    size_t k = rc == 0 ? filter_records(recs, n, parts, np, kept) : 0;
    if (rc == 0 && k > 0) {
        rc = loop->opt.on_batch(loop->opt.ctx, conn, kept, k) == 0 ? 0 : -1;
        if (rc != 0) {
            log_batch_ids(loop, LOG_WARN, "consumer: handler failed a batch", kept, k);
        }
        if (rc == 0) {
            rc = store_offsets(loop, conn, parts, np);
        }
        if (rc == 0 && pg_commit(conn, err, sizeof err) != 0) {
            LOG_ERRORF("consumer %s: %s", loop->group_id, err);
            rc = -1;
        }
    }
    /* Nothing left to apply, or a failure: either way nothing must commit. */
    pg_rollback(conn);
    pg_pool_release(loop->opt.pg, conn);
    free(parts);
    if (rc == 0 && k < n) {
        LOG_INFOF("consumer %s: skipped %zu already applied record(s)", loop->group_id, n - k);
    }
    *napplied = k;
    return rc;
}

static void run_after_commit(kafka_consumer_loop *loop, const kafka_record *recs, size_t n) {
    int backoff = BACKOFF_FIRST_MS;
    while (loop->opt.after_commit != NULL && n > 0 &&
           loop->opt.after_commit(loop->opt.ctx, recs, n) != 0) {
        LOG_WARNF("consumer %s: after-commit step failed; retrying in %d ms", loop->group_id,
                  backoff);
        if (!backoff_sleep(loop, backoff)) {
            LOG_ERRORF("consumer %s: stopping with an after-commit step not done", loop->group_id);
            return;
        }
        backoff = next_backoff(backoff);
    }
}

/* Applies the buffered batch, retrying from memory until it commits or a stop. */
static void process_batch(kafka_consumer_loop *loop) {
    size_t n = loop->nmsgs;
    kafka_record *recs = calloc(n, sizeof *recs);
    kafka_record *kept = calloc(n, sizeof *kept);
    char **rids = calloc(n, sizeof *rids);
    char(*tps)[TRACEPARENT_LEN + 1] = calloc(n, sizeof *tps);
    if (recs == NULL || kept == NULL || rids == NULL || tps == NULL) {
        LOG_ERRORF("consumer %s: out of memory for a batch; it will be read again", loop->group_id);
        loop->fatal = true;
    }
    for (size_t i = 0; !loop->fatal && i < n; i++) {
        rids[i] = header_request_id(loop->msgs[i]);
        fill_record(&recs[i], loop->msgs[i], rids[i],
                    header_traceparent(loop->msgs[i], tps[i]) ? tps[i] : NULL);
    }
    int64_t started = time_monotonic_ns();
    int backoff = BACKOFF_FIRST_MS;
    size_t napplied = 0;
    bool done = false;
    while (!loop->fatal && !done) {
        done = apply_once(loop, recs, n, kept, &napplied) == 0;
        if (!done) {
            metric_consumer_batch_failed(&loop->labels, n);
            if (!backoff_sleep(loop, backoff)) {
                LOG_WARNF("consumer %s: stopping with a batch not applied (it will be read "
                          "again)",
                          loop->group_id);
                break;
            }
            backoff = next_backoff(backoff);
        }
    }
    if (done) {
        if (napplied > 0) {
            log_batch_ids(loop, LOG_INFO, "consumer: batch applied", kept, napplied);
        }
        run_after_commit(loop, kept, napplied);
        /* One registry update per batch (never per record): the counts and the time. */
        metric_consumer_batch_done(&loop->labels, napplied, n - napplied,
                                   (double)(time_monotonic_ns() - started) / 1e9);
    }
    for (size_t i = 0; i < n; i++) {
        if (rids != NULL) {
            free(rids[i]);
        }
        rd_kafka_message_destroy(loop->msgs[i]);
    }
    loop->nmsgs = 0;
    free(recs);
    free(kept);
    free(rids);
    free(tps);
}

int kafka_consumer_loop_run(kafka_consumer_loop *loop, volatile sig_atomic_t *stop) {
    if (loop == NULL || stop == NULL) {
        return -1;
    }
    loop->stop = stop;
    while (!loop->fatal) {
        daemon_heartbeat_touch(); /* GET /health: the loop turns */
        fill_batch(loop);
        if (loop->nmsgs > 0) {
            process_batch(loop);
        }
        if (loop->opt.on_idle != NULL) {
            loop->opt.on_idle(loop->opt.ctx);
        }
        if (*stop) {
            break;
        }
    }
    loop->stop = NULL;
    return loop->fatal ? -1 : 0;
}

bool kafka_consumer_loop_refused(const kafka_consumer_loop *loop) {
    return loop != NULL && loop->refused;
}

void kafka_consumer_loop_destroy(kafka_consumer_loop *loop) {
    if (loop == NULL) {
        return;
    }
    rd_kafka_resp_err_t e = rd_kafka_consumer_close(loop->rk);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        LOG_WARNF("consumer %s: close: %s", loop->group_id, rd_kafka_err2str(e));
    }
    log_ids_free(&loop->batch_ids);
    for (size_t i = 0; i < loop->nmsgs; i++) {
        rd_kafka_message_destroy(loop->msgs[i]);
    }
    loop->nmsgs = 0;
    if (loop->assigned != NULL) {
        rd_kafka_topic_partition_list_destroy(loop->assigned);
    }
    rd_kafka_destroy(loop->rk);
    free_loop(loop);
}
