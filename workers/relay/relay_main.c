/*
 * relay_main.c: the taskbus-relay process (outbox to Kafka).
 *
 * Owns: the relay's row of the daemon skeleton (shared/daemon.h: the command line,
 * configuration, logging, signals, migrations and the /health, /ready, /metrics listener
 * on TASKBUS_METRICS_PORT + 2 are the skeleton's; /ready checks Postgres and Kafka):
 * start (one Postgres connection, the producer) and the publish loop. Rules:
 * - One pooled connection carries the leadership lock, LISTEN outbox and the batches, so
 *   losing it loses the lock too: the loop then stops publishing and competes again.
 * - A standby retries the lock every second.
 * - A leader publishes while rows are due, one batch in flight while the next is read
 *   (relay_outbox.h), then sleeps until a NOTIFY or for 1 s once nothing is in flight.
 * - A Kafka failure leaves what was in flight unpublished and backs off (1 s doubling to
 *   10 s); losing the connection forgets the batch in flight (it is sent again).
 * - Handoff fence (relay_leader.h, docs/decisions.md "The relay's handoff fence"): a relay
 *   that takes the lock publishes nothing before it knows no earlier leader can still
 *   deliver records: the last leader stopped cleanly (relay_handoff), or it was this process
 *   and its producer is drained; otherwise it waits FENCE_MS first (the old leader may
 *   still enqueue up to DELIVERY_TIMEOUT_MS after its last Postgres round trip, and
 *   librdkafka may deliver that for message.timeout.ms more; plus a margin). "Drained" and
 *   "stopped cleanly" are trusted only when no delivery report failed within FENCE_MS (a
 *   failed report may be "possibly persisted": its bytes can still land). A leader that
 *   loses its connection drains its producer before it lets the connection (and with it,
 *   if the session still lives, the lock) go. A handoff row that cannot be read, or a take
 *   that fails, backs off STANDBY_RETRY_MS (never a busy loop).
 * - SIGTERM/SIGINT end the loop between passes. Then, within STOP_BUDGET_MS: the batch in
 *   flight is waited for and its rows deleted, the producer is flushed, and only when
 *   nothing is left queued is the clean stop recorded; then the lock is given up; exit 0.
 *   Worst case with Kafka slow but up (docs/decisions.md "The relay's stop fits its grace"):
 *   Kafka waits of one pass (one DELIVERY_TIMEOUT_MS deadline) + STOP_BUDGET_MS + stop()'s
 *   destroy (FLUSH_MS, and FLUSH_MS again after a purge) = 20 s, plus the Postgres
 *   statements (milliseconds when Postgres is healthy; each bounded by
 *   TASKBUS_PG_STATEMENT_TIMEOUT_MS). Helm's terminationGracePeriodSeconds (30 s) covers it
 *   with Postgres healthy; compose/local's 20 s SIGKILL may cut the last second, which is
 *   safe (the row stays not clean, the rows stay in the outbox).
 * Exit codes: 0 stopped, 1 could not start (migrations, Kafka client), 2 bad configuration.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "shared/bus.h"
#include "shared/config.h"
#include "shared/daemon.h"
#include "shared/daemon_heartbeat.h"
#include "shared/daemon_signals.h"
#include "shared/kafka_producer.h"
#include "shared/log.h"
#include "shared/pg_pool.h"
#include "shared/time_util.h"
#include "shared/uuid7.h"
#include "workers/relay/relay_leader.h"
#include "workers/relay/relay_outbox.h"

#define PG_ACQUIRE_MS DAEMON_PG_ACQUIRE_MS
#define STANDBY_RETRY_MS DAEMON_RETRY_MS
#define IDLE_POLL_MS 1000
/* One pass's delivery waits together (relay_outbox.h). A healthy broker acknowledges in
 * milliseconds. */
#define DELIVERY_TIMEOUT_MS 10000
#define KAFKA_BACKOFF_MAX_MS 10000
/* After the loop saw the stop: finishing the batch in flight, the flush, the handoff row. */
#define STOP_BUDGET_MS 8000
/* How long records of a leader whose session died can still land: a pass that read its
 * rows before the session died enqueues them up to DELIVERY_TIMEOUT_MS later (after its
 * task-state group), the producer's last word on a message comes within message.timeout.ms
 * of its enqueue, and the margin covers a produce request already on the wire when that
 * expires (a heuristic: a broker does not expire queued produce requests). */
#define FENCE_MARGIN_MS 5000
#define FENCE_MS (DELIVERY_TIMEOUT_MS + KAFKA_MESSAGE_TIMEOUT_DEFAULT_MS + FENCE_MARGIN_MS)
/* What stop() still flushes after the lock was given up (normally nothing is left). */
#define FLUSH_MS 1000

typedef struct relay_state {
    pg_pool *pool;
    kafka_producer *producer;
    pg_conn *conn; /* held for as long as it works */
    bool leader;
    bool said_standby;
    int kafka_backoff_ms;
    relay_pipeline pipeline;     /* the batch in flight, on conn's leadership */
    char instance[UUID_STR_LEN]; /* this process, in relay_handoff */
} relay_state;

static int64_t now_ms(void) {
    return time_monotonic_ns() / 1000000;
}

/* Flushes the producer until it is drained, until deadline_ms (monotonic) or until a stop
 * is requested, touching the heartbeat. true when nothing is left without a report. */
static bool drain_producer(kafka_producer *producer, int64_t deadline_ms, bool until_stop) {
    for (;;) {
        daemon_heartbeat_touch();
        int64_t left = deadline_ms - now_ms();
        int slice = left > 1000 ? 1000 : left > 0 ? (int)left : 0;
        if (kafka_producer_flush(producer, slice) == 0) {
            return true;
        }
        if (left <= 0 || (until_stop && daemon_should_stop())) {
            return false;
        }
    }
}

/* true when a delivery report failed within FENCE_MS: such a message may still land, so a
 * drained producer proves nothing until the fence has passed since. */
static bool failure_recent(kafka_producer *producer) {
    int64_t last = kafka_producer_last_failure_ms(producer);
    return last != 0 && now_ms() - last < FENCE_MS;
}

/* Gives the connection back (reset on its next use when broken); leadership ends. */
static void drop_connection(relay_state *st) {
    relay_pipeline_drop(&st->pipeline);
    /* Whatever this leader still has queued is delivered or failed before the connection
     * goes: a session that still lives keeps the lock meanwhile, and a later lead by this
     * process knows it is drained (a stop request cuts this short; the fence covers it). */
    if (st->leader && !drain_producer(st->producer, now_ms() + FENCE_MS, true)) {
        LOG_WARNF("relay: giving the connection up with records still queued");
    }
    if (st->conn != NULL) {
        pg_pool_release(st->pool, st->conn);
        st->conn = NULL;
    }
    if (st->leader) {
        LOG_WARNF("relay: lost the publishing lock with its connection; competing again");
    }
    st->leader = false;
}

/* Just took the lock: waits out the handoff fence if needed, then records this relay as
 * the leader. true when it may publish now. */
static bool fence(relay_state *st) {
    char err[512];
    bool clean = false, was_self = false;
    if (relay_handoff_read(st->conn, st->instance, &clean, &was_self, err, sizeof err) != 0) {
        LOG_ERRORF("relay: %s", err);
        pg_conn_mark_broken(st->conn); /* the reset gives the lock up with the session */
        drop_connection(st);
        return false; /* the caller backs off */
    }
    bool drained_self =
        was_self && !failure_recent(st->producer) && kafka_producer_flush(st->producer, 0) == 0;
    if (clean || drained_self) {
        LOG_INFOF("relay: took the publishing lock; the last leader %s; publishing",
                  clean ? "stopped cleanly" : "was this relay, drained");
    } else {
        LOG_WARNF("relay: took the publishing lock; the last leader did not stop cleanly, so "
                  "records of it may still arrive: waiting %d ms before publishing",
                  FENCE_MS);
        if (daemon_sleep_ms(FENCE_MS)) {
            return false; /* stopping: the lock goes with resign, the row stays not clean */
        }
        LOG_INFOF("relay: fence over; publishing");
    }
    if (relay_handoff_take(st->conn, st->instance, err, sizeof err) != 0) {
        LOG_ERRORF("relay: %s", err);
        pg_conn_mark_broken(st->conn);
        drop_connection(st);
        return false;
    }
    st->leader = true;
    return true;
}

/* Connects and tries to lead. true when this relay may publish now. */
static bool ensure_leader(relay_state *st) {
    char err[512];
    if (st->conn == NULL) {
        st->conn = pg_pool_acquire(st->pool, PG_ACQUIRE_MS, err, sizeof err);
        if (st->conn == NULL) {
            LOG_ERRORF("relay: %s", err);
            daemon_sleep_ms(STANDBY_RETRY_MS);
            return false;
        }
    }
    if (st->leader) {
        return true;
    }
    int rc = relay_try_lead(st->conn, err, sizeof err);
    if (rc < 0) {
        LOG_ERRORF("relay: %s", err);
        drop_connection(st);
    } else if (rc == 0 && !st->said_standby) {
        LOG_INFOF("relay: another relay is publishing; standing by");
        st->said_standby = true;
    } else if (rc == 1) {
        st->said_standby = false;
        if (fence(st)) {
            return true;
        }
        /* stopping (the sleep returns at once), or the handoff row failed: back off */
    }
    daemon_sleep_ms(STANDBY_RETRY_MS);
    return false;
}

/* One batch and what follows it. */
static void publish_step(relay_state *st) {
    char err[512];
    int n = relay_publish_pass(st->conn, st->producer, &st->pipeline, RELAY_BATCH_MAX,
                               DELIVERY_TIMEOUT_MS, err, sizeof err);
    if (n == RELAY_ERR_POSTGRES) {
        LOG_ERRORF("relay: %s", err);
        pg_conn_mark_broken(st->conn);
        drop_connection(st);
        daemon_sleep_ms(STANDBY_RETRY_MS);
        return;
    }
    if (n == RELAY_ERR_KAFKA) {
        st->kafka_backoff_ms = st->kafka_backoff_ms == 0 ? 1000 : st->kafka_backoff_ms * 2;
        if (st->kafka_backoff_ms > KAFKA_BACKOFF_MAX_MS) {
            st->kafka_backoff_ms = KAFKA_BACKOFF_MAX_MS;
        }
        LOG_ERRORF("relay: %s; rows stay unpublished, retrying in %d ms", err,
                   st->kafka_backoff_ms);
        daemon_sleep_ms(st->kafka_backoff_ms);
        return;
    }
    st->kafka_backoff_ms = 0;
    if (n < RELAY_BATCH_MAX && !relay_pipeline_busy(&st->pipeline) &&
        relay_wait_wakeup(st->conn, IDLE_POLL_MS) != 0) {
        drop_connection(st);
    }
}

static int run_relay(void *vst) {
    relay_state *st = vst;
    while (!daemon_should_stop()) {
        daemon_heartbeat_touch();
        if (ensure_leader(st)) {
            publish_step(st);
        }
    }
    int64_t deadline = now_ms() + STOP_BUDGET_MS;
    if (st->conn != NULL && relay_pipeline_busy(&st->pipeline)) {
        char err[512];
        int64_t left = deadline - now_ms();
        int finish_ms =
            left < DELIVERY_TIMEOUT_MS ? (int)(left > 1 ? left : 1) : DELIVERY_TIMEOUT_MS;
        if (relay_pipeline_finish(st->conn, &st->pipeline, finish_ms, err, sizeof err) != 0) {
            LOG_WARNF("relay: stopping with the last batch not marked (%s); it is sent again", err);
        }
    }
    relay_pipeline_drop(&st->pipeline);
    if (st->conn != NULL) {
        if (st->leader) {
            /* Drained and recorded in the lock session, then the lock goes: the next
             * leader publishes at once. Otherwise the row stays not clean (fence). */
            char err[512];
            int marked;
            if (!drain_producer(st->producer, deadline, false)) {
                LOG_WARNF("relay: stopping with records still queued; the next leader waits "
                          "out the fence");
            } else if (failure_recent(st->producer)) {
                LOG_WARNF("relay: stopping drained, but a delivery report failed within the "
                          "last %d ms (its record may still land); the next leader waits out "
                          "the fence",
                          FENCE_MS);
            } else if ((marked = relay_handoff_mark_clean(st->conn, st->instance, err,
                                                          sizeof err)) != 0) {
                LOG_WARNF("relay: %s; %s; the next leader waits out the fence", err,
                          marked > 0 ? "not marked clean" : "the clean stop was not recorded");
            } else {
                LOG_INFOF("relay: producer drained; stopped cleanly");
            }
        }
        relay_resign(st->conn);
        pg_pool_release(st->pool, st->conn);
        st->conn = NULL;
    }
    return 0;
}

static int start(void *vst, const taskbus_config *cfg) {
    relay_state *st = vst;
    char err[512];
    st->pool = pg_pool_create(cfg->database_url, 1, cfg->pg_statement_timeout_ms, err, sizeof err);
    if (st->pool == NULL) {
        fprintf(stderr, "taskbus-relay: DATABASE_URL: %s\n", err);
        return 2;
    }
    uuid7_generate(st->instance);
    st->producer = kafka_producer_create(cfg->kafka_brokers, RELAY_CLIENT_ID,
                                         KAFKA_MESSAGE_TIMEOUT_DEFAULT_MS, err, sizeof err);
    if (st->producer == NULL) {
        LOG_ERRORF("relay: %s", err);
        return 1;
    }
    return 0;
}

static void stop(void *vst) {
    relay_state *st = vst;
    if (st->producer != NULL) {
        kafka_producer_destroy(st->producer, FLUSH_MS);
    }
    pg_pool_destroy(st->pool);
}

static const daemon_row RELAY = {
    .identity =
        {
            .program = "taskbus-relay",
            .service = "relay",
            .summary = "the outbox relay: publishes committed outbox rows to Kafka",
        },
    .port_offset = DAEMON_PORT_RELAY,
    .needs = DAEMON_NEEDS_POSTGRES | DAEMON_NEEDS_KAFKA,
    .start = start,
    .run = run_relay,
    .stop = stop,
};

int main(int argc, char **argv) {
    relay_state st = {0};
    return daemon_main(&RELAY, &st, argc, argv);
}
