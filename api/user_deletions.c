/*
 * user_deletions.c: LISTEN taskbus_user_deleted and write tombstones (see user_deletions.h).
 *
 * Rules: the thread owns its one-connection pool and the connection it holds; the start-up
 * catch-up runs on the caller's thread before the thread exists, so nothing is shared
 * then. Shared state: `stop` and the wake pipe (the stopper writes, the thread reads) and
 * the process-wide g_caught_up flag, all atomics or a pipe, no lock. Every libpq result is
 * cleared and every notification freed.
 */
#include "api/user_deletions.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/errbuf.h"
#include "shared/log.h"
#include "shared/pg_pool.h"
#include "shared/user_epoch.h"

#define RETRY_MAX_MS 10000
/* An idle connection is pinged this often, so a dead one is noticed and replaced. */
#define PING_MS 10000
/* Rows are kept this long past the catch-up window (a day, for an operator's eyes). */
#define PRUNE_EXTRA_S 86400

/* Set once by the first catch-up of the process, read by every request (relaxed is
 * enough: it only ever goes from false to true). */
static atomic_bool g_caught_up = false;

static const pg_stmt RECENT = {
    "user_deletions_recent",
    "SELECT user_id::text FROM deleted_users"
    " WHERE deleted_at > now() - make_interval(secs => $1::int) ORDER BY deleted_at",
    1};
static const pg_stmt PRUNE = {
    "user_deletions_prune",
    "DELETE FROM deleted_users WHERE deleted_at < now() - make_interval(secs => $1::int)", 1};

struct user_deletions {
    const api_app *app;
    pg_pool *pool; /* one connection, held while it works */
    pg_conn *conn; /* NULL while disconnected */
    bool need_catch_up;
    bool said_down;       /* the Postgres outage was logged once */
    bool said_redis_down; /* a refused tombstone was logged once */
    int backoff_ms;
    atomic_bool stop;
    int wake[2]; /* written by user_deletions_stop */
    pthread_t thread;
    bool started;
};

bool user_deletions_caught_up(void) {
    return atomic_load_explicit(&g_caught_up, memory_order_relaxed);
}

bool user_deletions_payload_id(const char *payload, char out[UUID_STR_LEN]) {
    if (payload == NULL || strlen(payload) != UUID_STR_LEN - 1 || !uuid_is_valid(payload)) {
        return false;
    }
    memcpy(out, payload, UUID_STR_LEN);
    return true;
}

int user_deletions_window_s(int access_ttl_s) {
    return 2 * user_epoch_tombstone_ttl(access_ttl_s);
}

/* ------------------------------------------------------------------ connection */

static void drop_connection(user_deletions *ud) {
    if (ud->conn != NULL) {
        pg_conn_mark_broken(ud->conn); /* LISTEN must not survive into the pool's next use */
        pg_pool_release(ud->pool, ud->conn);
        ud->conn = NULL;
    }
}

static void went_down(user_deletions *ud, const char *what, const char *err) {
    if (!ud->said_down) {
        LOG_WARNF("user deletions: %s (%s); a deleted user's tokens are refused by the other "
                  "instances and by Postgres, and here once this reconnects",
                  what, err);
        ud->said_down = true;
    }
}

/* Connects and LISTENs; a catch-up is due afterwards. 0, or -1 (logged). */
static int connect_and_listen(user_deletions *ud) {
    char err[512];
    ud->conn = pg_pool_acquire(ud->pool, API_PG_ACQUIRE_MS, err, sizeof err);
    if (ud->conn == NULL) {
        went_down(ud, "cannot connect to Postgres", err);
        return -1;
    }
    if (pg_run(ud->conn, "LISTEN " USER_DELETIONS_CHANNEL, err, sizeof err) != 0) {
        went_down(ud, "LISTEN failed", err);
        drop_connection(ud);
        return -1;
    }
    ud->need_catch_up = true;
    return 0;
}

/* ------------------------------------------------------------------ tombstones */

/* 0, or -1 when Redis did not take it (logged once per outage). */
static int tombstone(user_deletions *ud, const char *user_id) {
    char err[256];
    if (user_epoch_tombstone(ud->app->redis, user_id, ud->app->cfg->access_ttl_s,
                             ud->app->cfg->near_cache_lease_ms, err, sizeof err) != 0) {
        if (!ud->said_redis_down) {
            LOG_WARNF("user deletions: Redis did not take the tombstone of user %s (%s); "
                      "retrying every %d ms",
                      user_id, err, USER_DELETIONS_RETRY_MS);
        }
        ud->said_redis_down = true;
        return -1;
    }
    return 0;
}

typedef enum { CATCH_UP_OK = 0, CATCH_UP_POSTGRES = -1, CATCH_UP_REDIS = -2 } catch_up_result;

static void prune(user_deletions *ud, int window_s) {
    char keep[16];
    snprintf(keep, sizeof keep, "%d", window_s + PRUNE_EXTRA_S);
    const char *values[] = {keep};
    PGresult *res = pg_exec_stmt(ud->conn, &PRUNE, values);
    if (!pg_result_ok(res)) {
        LOG_WARNF("user deletions: pruning deleted_users failed: %s",
                  res != NULL ? PQresultErrorMessage(res) : "connection failed");
    }
    PQclear(res); /* housekeeping only: a failure is retried at the next catch-up */
}

/* Tombstones every user deleted within the window. */
static catch_up_result catch_up(user_deletions *ud) {
    int window_s = user_deletions_window_s(ud->app->cfg->access_ttl_s);
    char window[16];
    snprintf(window, sizeof window, "%d", window_s);
    const char *values[] = {window};
    PGresult *res = pg_exec_stmt(ud->conn, &RECENT, values);
    if (!pg_result_ok(res)) {
        went_down(ud, "reading deleted_users failed",
                  res != NULL ? PQresultErrorMessage(res) : "connection failed");
        PQclear(res);
        return CATCH_UP_POSTGRES;
    }
    int n = PQntuples(res);
    catch_up_result rc = CATCH_UP_OK;
    for (int i = 0; i < n && rc == CATCH_UP_OK; i++) {
        if (tombstone(ud, PQgetvalue(res, i, 0)) != 0) {
            rc = CATCH_UP_REDIS;
        }
    }
    PQclear(res);
    if (rc != CATCH_UP_OK) {
        return rc;
    }
    prune(ud, window_s);
    ud->need_catch_up = false;
    if (ud->said_down || !user_deletions_caught_up()) {
        LOG_INFOF("user deletions: listening; %d recent deletion(s) applied", n);
    }
    ud->said_down = false;
    ud->said_redis_down = false;
    atomic_store_explicit(&g_caught_up, true, memory_order_relaxed);
    return CATCH_UP_OK;
}

/* Applies the notifications libpq has buffered. */
static void apply_notifications(user_deletions *ud) {
    PGnotify *n;
    while ((n = PQnotifies(pg_conn_raw(ud->conn))) != NULL) {
        char id[UUID_STR_LEN];
        if (!user_deletions_payload_id(n->extra, id)) {
            ud->need_catch_up = true; /* a TRUNCATE: every row of the window */
        } else if (tombstone(ud, id) != 0) {
            ud->need_catch_up = true; /* the row is in deleted_users: the catch-up has it */
        } else {
            log_json(LOG_INFO, "deleted user's tokens refused", json_pack("{s:s}", "user_id", id));
        }
        PQfreemem(n);
    }
}

/* ------------------------------------------------------------------ the thread */

static bool stopping(user_deletions *ud) {
    return atomic_load(&ud->stop);
}

/* Sleeps up to ms, or less when stopped. */
static void pause_ms(user_deletions *ud, int ms) {
    struct pollfd pfd = {.fd = ud->wake[0], .events = POLLIN};
    (void)poll(&pfd, 1, ms);
}

/* Waits for notifications (or the stop, or timeout_ms) and applies them. -1 when the
 * connection failed. */
static int follow(user_deletions *ud, int timeout_ms) {
    PGconn *raw = pg_conn_raw(ud->conn);
    apply_notifications(ud); /* those that arrived with the last query's answer */
    struct pollfd pfd[2] = {{.fd = PQsocket(raw), .events = POLLIN},
                            {.fd = ud->wake[0], .events = POLLIN}};
    if (pfd[0].fd < 0) {
        return -1;
    }
    int rc = poll(pfd, 2, timeout_ms);
    if (rc < 0) {
        return errno == EINTR ? 0 : -1;
    }
    if (rc == 0 && !ud->need_catch_up) {
        char err[256];
        if (pg_run(ud->conn, "SELECT 1", err, sizeof err) != 0) { /* idle: still there? */
            went_down(ud, "the listening connection failed", err);
            return -1;
        }
    }
    if ((pfd[0].revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
        if (PQconsumeInput(raw) == 0 || PQstatus(raw) != CONNECTION_OK) {
            went_down(ud, "the listening connection failed", PQerrorMessage(raw));
            return -1;
        }
    }
    apply_notifications(ud);
    return 0;
}

/* One step: (re)connect, catch up, or wait for notifications. */
static void step(user_deletions *ud) {
    if (ud->conn == NULL && connect_and_listen(ud) != 0) {
        pause_ms(ud, ud->backoff_ms);
        ud->backoff_ms = ud->backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : ud->backoff_ms * 2;
        return;
    }
    ud->backoff_ms = USER_DELETIONS_RETRY_MS;
    if (ud->need_catch_up) {
        catch_up_result rc = catch_up(ud);
        if (rc == CATCH_UP_POSTGRES) {
            drop_connection(ud);
            pause_ms(ud, USER_DELETIONS_RETRY_MS);
            return;
        }
    }
    if (follow(ud, ud->need_catch_up ? USER_DELETIONS_RETRY_MS : PING_MS) != 0) {
        drop_connection(ud);
    }
}

static void *run(void *arg) {
    user_deletions *ud = arg;
    while (!stopping(ud)) {
        step(ud);
    }
    return NULL;
}

/* ------------------------------------------------------------------ start and stop */

static void destroy(user_deletions *ud) {
    drop_connection(ud);
    if (ud->pool != NULL) {
        pg_pool_destroy(ud->pool);
    }
    if (ud->wake[0] >= 0) {
        close(ud->wake[0]);
    }
    if (ud->wake[1] >= 0) {
        close(ud->wake[1]);
    }
    free(ud);
}

user_deletions *user_deletions_start(const api_app *app, char *err, size_t errlen) {
    user_deletions *ud = calloc(1, sizeof *ud);
    if (ud == NULL) {
        errbuf_setf(err, errlen, "out of memory");
        return NULL;
    }
    ud->app = app;
    ud->wake[0] = ud->wake[1] = -1;
    ud->backoff_ms = USER_DELETIONS_RETRY_MS;
    atomic_init(&ud->stop, false);
    if (pipe2(ud->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        errbuf_setf(err, errlen, "pipe: %s", strerror(errno));
        destroy(ud);
        return NULL;
    }
    ud->pool =
        pg_pool_create(app->cfg->database_url, 1, app->cfg->pg_statement_timeout_ms, err, errlen);
    if (ud->pool == NULL) {
        destroy(ud);
        return NULL;
    }
    /* The first catch-up before the first request; its failure is retried by the thread. */
    if (connect_and_listen(ud) == 0 && catch_up(ud) == CATCH_UP_POSTGRES) {
        drop_connection(ud);
    }
    int rc = pthread_create(&ud->thread, NULL, run, ud);
    if (rc != 0) {
        errbuf_setf(err, errlen, "cannot start the listening thread: %s", strerror(rc));
        destroy(ud);
        return NULL;
    }
    ud->started = true;
    return ud;
}

void user_deletions_stop(user_deletions *ud) {
    if (ud == NULL) {
        return;
    }
    atomic_store(&ud->stop, true);
    ssize_t w;
    do {
        w = write(ud->wake[1], "x", 1);
    } while (w < 0 && errno == EINTR);
    if (ud->started) {
        pthread_join(ud->thread, NULL);
    }
    destroy(ud);
}
