/*
 * read_replica.c: exact reads from the read replica, else the primary (read_replica.h).
 *
 * Rules: the back-off deadline is the only mutable state, an atomic in the process's one
 * read_replica (no lock: a lost update only makes one more request try or skip the
 * replica). The replay position is asked with its own prepared statement on the replica
 * connection that then runs the read, right before it: replay only moves forwards while
 * that server runs, so the read's snapshot holds at least what was checked.
 * Every read that reaches this file is counted once, by the pool that served it and why.
 */
#include "api/read_replica.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "api/near_cache.h"
#include "shared/errbuf.h"
#include "shared/log.h"
#include "shared/metrics.h"
#include "shared/redis_keys.h"
#include "shared/time_util.h"

#define READS_METRIC "taskbus_db_reads_total"
#define READS_HELP                                                                                 \
    "Postgres reads that may use the read replica, by the pool that served them and why"

struct read_replica {
    /* Monotonic ns before which the replica is not tried; 0 when not backing off. */
    _Atomic int64_t down_until_ns;
};

static const pg_stmt REPLAY_LSN = {"read_replica_replay_lsn",
                                   "SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::text", 0};

/* Every reason label, registered at 0 so a rate sees the first event. */
static const char *const REPLICA_REASONS[] = {"caught_up", "lag_allowed", NULL};
static const char *const PRIMARY_REASONS[] = {"no_replica",     "lsn_missing",
                                              "lsn_unknown",    "replica_backoff",
                                              "replica_busy",   "replica_unreachable",
                                              "replica_behind", "replica_not_standby",
                                              "replica_failed", NULL};

static void count_read(const char *pool, const char *reason, double n) {
    char labels[96];
    snprintf(labels, sizeof labels, "pool=\"%s\",reason=\"%s\"", pool, reason);
    metrics_counter_add(READS_METRIC, READS_HELP, labels, n);
}

read_replica *read_replica_create(bool configured) {
    read_replica *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    atomic_init(&r->down_until_ns, 0);
    for (const char *const *p = PRIMARY_REASONS; *p != NULL; p++)
        count_read("primary", *p, 0);
    if (configured)
        for (const char *const *p = REPLICA_REASONS; *p != NULL; p++)
            count_read("replica", *p, 0);
    return r;
}

void read_replica_destroy(read_replica *r) {
    free(r);
}

bool read_replica_configured(const api_app *app) {
    return app->replica != NULL && app->pg_read != NULL && app->pg_read != app->pg;
}

/* ------------------------------------------------------------------ pure parts */

bool read_lsn_parse(const char *text, size_t len, int64_t *out) {
    if (text == NULL || len == 0 || len > 18)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return false;
        v = v * 10 + (text[i] - '0');
    }
    *out = v;
    return true;
}

read_lsn read_lsn_from_reply(const redisReply *reply) {
    read_lsn need = {.state = READ_LSN_UNKNOWN, .lsn = 0};
    if (reply == NULL)
        return need;
    if (reply->type == REDIS_REPLY_NIL) {
        need.state = READ_LSN_MISSING;
    } else if (reply->type == REDIS_REPLY_STRING &&
               read_lsn_parse(reply->str, reply->len, &need.lsn)) {
        need.state = READ_LSN_KNOWN;
    } else if (reply->type == REDIS_REPLY_INTEGER && reply->integer >= 0) {
        need.state = READ_LSN_KNOWN;
        need.lsn = reply->integer;
    }
    return need;
}

const char *read_replica_precheck(bool configured, read_lsn need, bool backing_off) {
    if (!configured)
        return "no_replica";
    if (need.state == READ_LSN_MISSING)
        return "lsn_missing";
    if (need.state == READ_LSN_UNKNOWN)
        return "lsn_unknown";
    if (backing_off)
        return "replica_backoff";
    return NULL;
}

const char *read_replica_verdict(read_lsn need, bool replay_known, int64_t replay_lsn) {
    if (need.state == READ_LSN_ANY)
        return NULL;
    if (!replay_known)
        return "replica_not_standby";
    if (need.state != READ_LSN_KNOWN || replay_lsn < need.lsn)
        return "replica_behind";
    return NULL;
}

/* ------------------------------------------------------------------ reading */

read_lsn read_lsn_fetch(const api_app *app, const char *user_id) {
    read_lsn need = {.state = READ_LSN_UNKNOWN, .lsn = 0};
    if (!read_replica_configured(app) || !near_cache_lease_valid(app->near_cache))
        return need;
    char key[REDIS_KEY_MAX];
    if (redis_key_commit_lsn(key, user_id)[0] == '\0')
        return need;
    redisReply *reply = redis_pool_command(app->redis, "GET %s", key);
    need = read_lsn_from_reply(reply);
    if (reply != NULL)
        freeReplyObject(reply);
    return need;
}

static bool backing_off(const read_replica *r) {
    int64_t until = atomic_load(&r->down_until_ns);
    return until != 0 && time_monotonic_ns() < until;
}

static void back_off(read_replica *r, const char *why) {
    int64_t was = atomic_exchange(&r->down_until_ns,
                                  time_monotonic_ns() + (int64_t)READ_REPLICA_BACKOFF_MS * 1000000);
    if (was == 0)
        LOG_WARNF("read replica: %s; reading the primary for %d ms at a time until it answers", why,
                  READ_REPLICA_BACKOFF_MS);
}

static void replica_answered(read_replica *r) {
    if (atomic_exchange(&r->down_until_ns, 0) != 0)
        LOG_INFOF("read replica: answering again");
}

/* The replica's replay position on conn: 1 known (*lsn), 0 NULL (not in recovery), -1 the
 * statement failed (*conn_lost when the connection did). */
static int replay_position(pg_conn *conn, int64_t *lsn, bool *conn_lost) {
    *conn_lost = false;
    PGresult *res = pg_exec_stmt(conn, &REPLAY_LSN, NULL);
    if (res == NULL) {
        *conn_lost = true;
        return -1;
    }
    int rc = -1;
    if (pg_result_ok(res) && PQntuples(res) == 1 && PQnfields(res) == 1) {
        if (PQgetisnull(res, 0, 0))
            rc = 0;
        else if (read_lsn_parse(PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0), lsn))
            rc = 1;
    }
    if (rc < 0)
        LOG_WARNF("read replica: replay position unreadable: %s", PQresultErrorMessage(res));
    PQclear(res);
    return rc;
}

/* pg_pool_acquire says "no free connection" when every slot is busy; anything else is the
 * server (pg_pool.c's messages). */
static bool pool_was_busy(const char *err) {
    return strncmp(err, "pg_pool: no free connection", 27) == 0;
}

/* Tries the read on the replica. 0 served there; else *reason says why the primary must. */
static int try_replica(const api_app *app, read_lsn need, const char *what, read_fn fn, void *arg,
                       const char **reason) {
    char err[256];
    pg_conn *conn = pg_pool_acquire(app->pg_read, READ_REPLICA_ACQUIRE_MS, err, sizeof err);
    if (conn == NULL) {
        if (pool_was_busy(err)) {
            *reason = "replica_busy";
        } else {
            *reason = "replica_unreachable";
            back_off(app->replica, err);
        }
        return -1;
    }
    int64_t replay = 0;
    bool lost = false;
    int pos = need.state == READ_LSN_ANY ? 1 : replay_position(conn, &replay, &lost);
    if (pos < 0) {
        pg_pool_release(app->pg_read, conn);
        *reason = lost ? "replica_unreachable" : "replica_failed";
        if (lost)
            back_off(app->replica, "the connection failed");
        return -1;
    }
    *reason = read_replica_verdict(need, pos == 1, replay);
    if (*reason != NULL) {
        pg_pool_release(app->pg_read, conn);
        replica_answered(app->replica);
        return -1;
    }
    int rc = fn(conn, arg);
    lost = PQstatus(pg_conn_raw(conn)) != CONNECTION_OK;
    pg_pool_release(app->pg_read, conn);
    if (rc == 0) {
        replica_answered(app->replica);
        return 0;
    }
    LOG_WARNF("read replica: %s failed there; reading the primary", what);
    *reason = lost ? "replica_unreachable" : "replica_failed";
    if (lost)
        back_off(app->replica, "the connection failed during a read");
    return -1;
}

int read_exact(const api_app *app, read_lsn need, const char *what, read_fn fn, void *arg,
               char *err, size_t errlen) {
    bool configured = read_replica_configured(app);
    const char *reason =
        read_replica_precheck(configured, need, configured && backing_off(app->replica));
    if (reason == NULL) {
        if (try_replica(app, need, what, fn, arg, &reason) == 0) {
            count_read("replica", need.state == READ_LSN_ANY ? "lag_allowed" : "caught_up", 1);
            return 0;
        }
    }
    count_read("primary", reason, 1);
    pg_conn *conn = pg_pool_acquire(app->pg, API_PG_ACQUIRE_MS, err, errlen);
    if (conn == NULL)
        return -1;
    int rc = fn(conn, arg);
    pg_pool_release(app->pg, conn);
    if (rc != 0)
        errbuf_setf(err, errlen, "%s failed on the primary", what);
    return rc;
}
