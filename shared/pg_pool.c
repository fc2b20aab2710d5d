/*
 * pg_pool.c: a fixed pool of libpq connections.
 *
 * Owns: `size` slots, each holding at most one PGconn, handed to one thread at a time.
 * Rules:
 * - The mutex guards only the slots' in_use flags; connecting, resetting and health
 *   checks run outside it, by the thread that took the slot, so a slow connect never
 *   blocks other acquirers.
 * - statement_timeout travels in the startup packet (the "options" keyword), so it holds
 *   again after every PQreset and `RESET statement_timeout` returns to it.
 * - A slot is reset (PQreset) before reuse when it was released broken, when libpq says
 *   the connection is bad, when the server closed it (socket readable while idle), or when
 *   it has been idle long enough that a cheap round trip is worth doing and that fails.
 * - Prepared statement names are remembered per connection and forgotten on reset.
 */
#include "shared/pg_pool.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shared/errbuf.h"
#include "shared/log.h"
#include "shared/metrics.h"
#include "shared/time_util.h"

/* After this long unused, a connection gets a round trip before it is handed out. */
#define PG_IDLE_CHECK_NS (30LL * 1000000000LL)
#define PG_CONNECT_TIMEOUT_S "5"

struct pg_conn {
    pg_pool *pool;
    PGconn *conn;
    bool in_use;
    bool broken;
    int64_t last_used_ns;
    char **prepared; /* names of statements prepared on this connection */
    size_t nprepared;
    size_t capprepared;
};

struct pg_pool {
    char *conninfo;
    char options[64]; /* "-c statement_timeout=N" */
    int size;
    pthread_mutex_t mu; /* guards slots[].in_use */
    pthread_cond_t cv;  /* signalled when a slot is released */
    pg_conn *slots;
};

pg_pool *pg_pool_create(const char *conninfo, int size, int statement_timeout_ms, char *err,
                        size_t errlen) {
    if (conninfo == NULL || size < 1 || size > 1024 || statement_timeout_ms < 0) {
        errbuf_setf(err, errlen, "pg_pool: bad arguments");
        return NULL;
    }
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
    if (opts == NULL) {
        errbuf_setf_line(err, errlen, "pg_pool: malformed conninfo: %s",
                         perr != NULL ? perr : "out of memory");
        PQfreemem(perr);
        return NULL;
    }
    PQconninfoFree(opts);

    pg_pool *pool = calloc(1, sizeof *pool);
    if (pool == NULL) {
        errbuf_setf(err, errlen, "pg_pool: out of memory");
        return NULL;
    }
    pool->conninfo = strdup(conninfo);
    pool->slots = calloc((size_t)size, sizeof *pool->slots);
    if (pool->conninfo == NULL || pool->slots == NULL) {
        goto fail_mem;
    }
    pool->size = size;
    snprintf(pool->options, sizeof pool->options, "-c statement_timeout=%d", statement_timeout_ms);
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0) {
        goto fail_mem;
    }
    int rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (rc == 0) {
        rc = pthread_cond_init(&pool->cv, &ca);
    }
    pthread_condattr_destroy(&ca);
    if (rc != 0) {
        goto fail_mem;
    }
    if (pthread_mutex_init(&pool->mu, NULL) != 0) {
        pthread_cond_destroy(&pool->cv);
        goto fail_mem;
    }
    for (int i = 0; i < size; i++) {
        pool->slots[i].pool = pool;
    }
    return pool;

fail_mem:
    errbuf_setf(err, errlen, "pg_pool: out of memory");
    free(pool->slots);
    free(pool->conninfo);
    free(pool);
    return NULL;
}

static void forget_prepared(pg_conn *c) {
    for (size_t i = 0; i < c->nprepared; i++) {
        free(c->prepared[i]);
    }
    c->nprepared = 0;
}

void pg_pool_destroy(pg_pool *pool) {
    if (pool == NULL) {
        return;
    }
    for (int i = 0; i < pool->size; i++) {
        pg_conn *c = &pool->slots[i];
        if (c->conn != NULL) {
            PQfinish(c->conn);
        }
        forget_prepared(c);
        free(c->prepared);
    }
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->cv);
    free(pool->slots);
    free(pool->conninfo);
    free(pool);
}

/* Takes a free slot, preferring one that already holds a connection. NULL on timeout. */
static pg_conn *take_slot(pg_pool *pool, int timeout_ms) {
    struct timespec deadline = time_monotonic_deadline_ms(timeout_ms < 0 ? 0 : timeout_ms);
    pg_conn *got = NULL;
    bool waited = false;
    int64_t start = time_monotonic_ns();
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        pg_conn *empty = NULL;
        for (int i = 0; i < pool->size && got == NULL; i++) {
            pg_conn *c = &pool->slots[i];
            if (!c->in_use && c->conn != NULL) {
                got = c;
            } else if (!c->in_use && empty == NULL) {
                empty = c;
            }
        }
        if (got == NULL) {
            got = empty;
        }
        if (got != NULL) {
            got->in_use = true;
            break;
        }
        waited = true;
        int rc = pthread_cond_timedwait(&pool->cv, &pool->mu, &deadline);
        if (rc == ETIMEDOUT) {
            break;
        }
    }
    pthread_mutex_unlock(&pool->mu);
    if (waited) {
        metrics_histogram_observe("taskbus_pg_pool_wait_seconds",
                                  "Time spent waiting for a free Postgres connection", NULL,
                                  (double)(time_monotonic_ns() - start) / 1e9);
    }
    return got;
}

static void give_back_slot(pg_pool *pool, pg_conn *c) {
    pthread_mutex_lock(&pool->mu);
    c->in_use = false;
    pthread_cond_signal(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
}

/* Server notices (and the FATAL text of a dying session) go to the log, not raw stderr. */
static void on_notice(void *arg, const char *message) {
    (void)arg;
    char line[512];
    errbuf_setf_line(line, sizeof line, "postgres: %s", message);
    log_msgf(LOG_DEBUG, "%s", line);
}

static PGconn *connect_new(const pg_pool *pool) {
    /* Later keywords override earlier ones, so a connect_timeout in the URL wins over the
     * default while our statement_timeout option is always applied. */
    const char *keys[] = {"connect_timeout", "dbname", "options", NULL};
    const char *vals[] = {PG_CONNECT_TIMEOUT_S, pool->conninfo, pool->options, NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (conn != NULL) {
        /* The processor survives PQreset (it lives in the PGconn). */
        PQsetNoticeProcessor(conn, on_notice, NULL);
    }
    return conn;
}

static bool round_trip_ok(PGconn *conn) {
    PGresult *res = PQexec(conn, "");
    bool ok = res != NULL && PQresultStatus(res) == PGRES_EMPTY_QUERY;
    PQclear(res);
    return ok && PQstatus(conn) == CONNECTION_OK;
}

/* True when the idle connection looks alive without a round trip: nothing unexpected is
 * waiting on its socket (a server that shut down sends an error and closes). */
static bool socket_looks_alive(PGconn *conn) {
    int fd = PQsocket(conn);
    if (fd < 0) {
        return false;
    }
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int rc = poll(&pfd, 1, 0);
    if (rc == 0) {
        return true;
    }
    if (rc < 0) {
        return errno == EINTR;
    }
    /* Readable while idle: a NOTIFY, or a server saying goodbye (FATAL, then EOF, which
     * may not have arrived yet). Only a round trip tells them apart. */
    if (PQconsumeInput(conn) == 0 || PQstatus(conn) != CONNECTION_OK) {
        return false;
    }
    return round_trip_ok(conn);
}

/* Makes c->conn a healthy connection. 0, or -1 with err. */
static int ensure_healthy(pg_conn *c, char *err, size_t errlen) {
    bool need_reset = false;
    if (c->conn == NULL) {
        c->conn = connect_new(c->pool);
        if (c->conn == NULL) {
            errbuf_setf(err, errlen, "pg_pool: out of memory");
            return -1;
        }
        forget_prepared(c);
    } else if (c->broken || PQstatus(c->conn) != CONNECTION_OK || !socket_looks_alive(c->conn)) {
        need_reset = true;
    } else if (time_monotonic_ns() - c->last_used_ns > PG_IDLE_CHECK_NS &&
               !round_trip_ok(c->conn)) {
        need_reset = true;
    }
    if (need_reset) {
        LOG_WARNF("pg_pool: resetting a connection that failed its health check");
        forget_prepared(c);
        PQreset(c->conn);
    }
    c->broken = false;
    if (PQstatus(c->conn) != CONNECTION_OK) {
        errbuf_setf_line(err, errlen, "postgres unavailable: %s", PQerrorMessage(c->conn));
        /* Start from scratch next time: PQreset of a never-connected handle is fine too,
         * but a fresh connect also picks up DNS changes. */
        PQfinish(c->conn);
        c->conn = NULL;
        return -1;
    }
    return 0;
}

pg_conn *pg_pool_acquire(pg_pool *pool, int timeout_ms, char *err, size_t errlen) {
    pg_conn *c = take_slot(pool, timeout_ms);
    if (c == NULL) {
        errbuf_setf(err, errlen, "pg_pool: no free connection within %d ms", timeout_ms);
        return NULL;
    }
    if (ensure_healthy(c, err, errlen) != 0) {
        give_back_slot(pool, c);
        return NULL;
    }
    return c;
}

void pg_pool_release(pg_pool *pool, pg_conn *c) {
    if (c == NULL) {
        return;
    }
    if (c->conn != NULL && !c->broken) {
        PGTransactionStatusType ts = PQtransactionStatus(c->conn);
        if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
            PGresult *res = PQexec(c->conn, "ROLLBACK");
            if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
                c->broken = true;
            }
            PQclear(res);
        } else if (ts != PQTRANS_IDLE) {
            /* A query still running or an unknown state: only a reset makes it usable. */
            c->broken = true;
        }
    }
    c->last_used_ns = time_monotonic_ns();
    give_back_slot(pool, c);
}

void pg_conn_mark_broken(pg_conn *conn) {
    if (conn != NULL) {
        conn->broken = true;
    }
}

PGconn *pg_conn_raw(pg_conn *conn) {
    return conn != NULL ? conn->conn : NULL;
}

/* A NULL result or a dead connection means the connection, not the SQL, failed. */
static PGresult *checked(pg_conn *c, PGresult *res) {
    if (res == NULL || PQstatus(c->conn) != CONNECTION_OK) {
        c->broken = true;
        PQclear(res);
        return NULL;
    }
    return res;
}

static bool is_prepared(const pg_conn *c, const char *name) {
    for (size_t i = 0; i < c->nprepared; i++) {
        if (strcmp(c->prepared[i], name) == 0) {
            return true;
        }
    }
    return false;
}

static int remember_prepared(pg_conn *c, const char *name) {
    if (c->nprepared == c->capprepared) {
        size_t cap = c->capprepared ? c->capprepared * 2 : 16;
        char **grown = realloc(c->prepared, cap * sizeof *grown);
        if (grown == NULL) {
            return -1;
        }
        c->prepared = grown;
        c->capprepared = cap;
    }
    char *copy = strdup(name);
    if (copy == NULL) {
        return -1;
    }
    c->prepared[c->nprepared++] = copy;
    return 0;
}

/* Prepares stmt on c unless done. NULL when prepared; else a failed result (SQL error) or
 * a result the caller must treat as a connection failure (returned via *conn_failed). */
static PGresult *prepare_once(pg_conn *c, const pg_stmt *stmt, bool *conn_failed) {
    *conn_failed = false;
    if (is_prepared(c, stmt->name)) {
        return NULL;
    }
    PGresult *res = checked(c, PQprepare(c->conn, stmt->name, stmt->sql, stmt->nparams, NULL));
    if (res == NULL) {
        *conn_failed = true;
        return NULL;
    }
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    /* 42P05: already prepared on this session (a name we lost track of); usable as is. */
    if (ok || strcmp(pg_result_sqlstate(res), "42P05") == 0) {
        PQclear(res);
        if (remember_prepared(c, stmt->name) != 0) {
            LOG_WARNF("pg_pool: out of memory tracking statement %s", stmt->name);
        }
        return NULL;
    }
    return res;
}

PGresult *pg_exec_stmt(pg_conn *conn, const pg_stmt *stmt, const char *const *values) {
    if (conn == NULL || conn->conn == NULL || stmt == NULL) {
        return NULL;
    }
    bool conn_failed = false;
    PGresult *failed = prepare_once(conn, stmt, &conn_failed);
    if (conn_failed) {
        return NULL;
    }
    if (failed != NULL) {
        return failed;
    }
    return checked(conn,
                   PQexecPrepared(conn->conn, stmt->name, stmt->nparams, values, NULL, NULL, 0));
}

PGresult *pg_exec_stmt_ok(pg_conn *conn, const pg_stmt *stmt, const char *const *values, char *err,
                          size_t errlen) {
    PGresult *res = pg_exec_stmt(conn, stmt, values);
    if (res != NULL && pg_result_ok(res)) {
        return res;
    }
    errbuf_setf(err, errlen, "%s: %s", stmt->name,
                res != NULL ? PQresultErrorMessage(res) : "postgres connection failed");
    if (res == NULL) {
        pg_conn_mark_broken(conn);
    }
    PQclear(res);
    return NULL;
}

PGresult *pg_exec_sql(pg_conn *conn, const char *sql) {
    if (conn == NULL || conn->conn == NULL) {
        return NULL;
    }
    return checked(conn, PQexec(conn->conn, sql));
}

int pg_run(pg_conn *conn, const char *sql, char *err, size_t errlen) {
    PGresult *res = pg_exec_sql(conn, sql);
    if (res == NULL) {
        errbuf_setf_line(err, errlen, "postgres connection failed: %s",
                         conn != NULL && conn->conn != NULL ? PQerrorMessage(conn->conn) : "");
        return -1;
    }
    if (!pg_result_ok(res)) {
        errbuf_setf_line(err, errlen, "%s", PQresultErrorMessage(res));
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return 0;
}

int pg_begin(pg_conn *conn, char *err, size_t errlen) {
    return pg_run(conn, "BEGIN", err, errlen);
}

int pg_commit(pg_conn *conn, char *err, size_t errlen) {
    PGresult *res = pg_exec_sql(conn, "COMMIT");
    if (res == NULL) {
        errbuf_setf_line(err, errlen, "postgres connection failed during COMMIT: %s",
                         conn != NULL && conn->conn != NULL ? PQerrorMessage(conn->conn) : "");
        return -1;
    }
    /* COMMIT of an aborted transaction "succeeds" with the tag ROLLBACK. */
    bool rolled_back = strcmp(PQcmdStatus(res), "ROLLBACK") == 0;
    if (!pg_result_ok(res) || rolled_back) {
        errbuf_setf_line(err, errlen, "commit failed: %s",
                         rolled_back ? "transaction was aborted" : PQresultErrorMessage(res));
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return 0;
}

void pg_rollback(pg_conn *conn) {
    if (conn == NULL || conn->conn == NULL) {
        return;
    }
    if (PQtransactionStatus(conn->conn) == PQTRANS_IDLE) {
        return;
    }
    PGresult *res = pg_exec_sql(conn, "ROLLBACK");
    if (res != NULL && PQresultStatus(res) != PGRES_COMMAND_OK) {
        conn->broken = true;
    }
    PQclear(res);
}

bool pg_result_ok(const PGresult *res) {
    if (res == NULL) {
        return false;
    }
    ExecStatusType st = PQresultStatus(res);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

const char *pg_result_sqlstate(const PGresult *res) {
    if (res == NULL) {
        return "";
    }
    const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    return s != NULL ? s : "";
}

bool pg_pool_ping(pg_pool *pool, int timeout_ms, char *err, size_t errlen) {
    pg_conn *c = pg_pool_acquire(pool, timeout_ms, err, errlen);
    if (c == NULL) {
        return false;
    }
    bool ok = pg_run(c, "SELECT 1", err, errlen) == 0;
    pg_pool_release(pool, c);
    return ok;
}

int pg_pool_warm(pg_pool *pool, char *err, size_t errlen) {
    pg_conn **held = calloc((size_t)pool->size, sizeof *held);
    if (held == NULL) {
        errbuf_setf(err, errlen, "pg_pool: out of memory");
        return 0;
    }
    int n = 0;
    while (n < pool->size) {
        /* A slot is free at once unless someone else uses the pool meanwhile. */
        held[n] = pg_pool_acquire(pool, 1000, err, errlen);
        if (held[n] == NULL) {
            break;
        }
        n++;
    }
    for (int i = 0; i < n; i++) {
        pg_pool_release(pool, held[i]);
    }
    free(held);
    return n;
}
