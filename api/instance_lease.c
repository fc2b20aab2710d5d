/*
 * instance_lease.c: the advisory lock that tells other processes this API is alive
 * (see instance_lease.h).
 *
 * Rules: only the keeper thread touches the PGconn; request threads read the owner
 * through an atomic. The thread checks the session once a second (SELECT 1) and, when it
 * is gone, clears the owner before reconnecting, so a claim is never stamped with an
 * owner whose lock nobody holds for long.
 */
#include "api/instance_lease.h"

#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shared/log.h"
#include "shared/pg_locks.h"
#include "shared/time_util.h"

#define TAKE_LOCK_SQL                                                                              \
    "SELECT pg_try_advisory_lock(" PG_LOCK_SQL(PG_LOCK_INSTANCE_LEASE_CLASS) ", $1::int)"
#define LEASE_CHECK_INTERVAL_MS 1000
#define LEASE_LOCK_ATTEMPTS 5

struct instance_lease {
    char *database_url;
    pthread_t thread;
    pthread_mutex_t mu; /* guards stop, with cv */
    pthread_cond_t cv;
    bool stop;
    atomic_int owner;
    PGconn *conn; /* keeper thread only */
};

static PGconn *connect_session(const char *url) {
    /* Keepalives and a TCP user timeout: a half-open connection must not keep the owner
     * id alive here for minutes after Postgres dropped the lock. */
    const char *const keys[] = {"dbname",           "connect_timeout",  "application_name",
                                "keepalives",       "keepalives_idle",  "keepalives_interval",
                                "keepalives_count", "tcp_user_timeout", NULL};
    const char *const values[] = {url, "3", "taskbus-api-lease", "1", "5", "2", "2", "5000", NULL};
    PGconn *conn = PQconnectdbParams(keys, values, 1);
    if (conn != NULL && PQstatus(conn) != CONNECTION_OK) {
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

/* Takes the lock under a fresh random owner id. The id, or 0. */
static int take_lock(PGconn *conn) {
    for (int attempt = 0; attempt < LEASE_LOCK_ATTEMPTS; attempt++) {
        int owner = (int)randombytes_uniform(0x7FFFFFFE) + 1;
        char owner_text[16];
        snprintf(owner_text, sizeof owner_text, "%d", owner);
        const char *values[] = {owner_text};
        PGresult *res = PQexecParams(conn, TAKE_LOCK_SQL, 1, NULL, values, NULL, NULL, 0);
        bool ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
        bool held = ok && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
        if (!ok) {
            return 0;
        }
        if (held) {
            return owner;
        }
    }
    return 0;
}

static bool session_alive(PGconn *conn) {
    PGresult *res = PQexec(conn, "SELECT 1");
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    PQclear(res);
    return ok && PQstatus(conn) == CONNECTION_OK;
}

static void keep_once(instance_lease *l) {
    if (l->conn != NULL && session_alive(l->conn)) {
        return;
    }
    if (l->conn != NULL) {
        atomic_store(&l->owner, 0);
        LOG_WARNF("instance lease: Postgres session lost; reconnecting");
        PQfinish(l->conn);
        l->conn = NULL;
    }
    l->conn = connect_session(l->database_url);
    int owner = l->conn != NULL ? take_lock(l->conn) : 0;
    if (owner == 0 && l->conn != NULL) {
        PQfinish(l->conn);
        l->conn = NULL;
    }
    atomic_store(&l->owner, owner);
    if (owner != 0) {
        LOG_INFOF("instance lease held (owner %d)", owner);
    }
}

/* Sleeps up to ms unless stopped. True when stopped. */
static bool wait_or_stop(instance_lease *l, int ms) {
    struct timespec deadline = time_monotonic_deadline_ms(ms);
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        if (pthread_cond_timedwait(&l->cv, &l->mu, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    bool stop = l->stop;
    pthread_mutex_unlock(&l->mu);
    return stop;
}

static void *keeper_main(void *arg) {
    instance_lease *l = arg;
    do {
        keep_once(l);
    } while (!wait_or_stop(l, LEASE_CHECK_INTERVAL_MS));
    return NULL;
}

static void lease_free(instance_lease *l) {
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l->database_url);
    free(l);
}

instance_lease *instance_lease_start(const char *database_url) {
    instance_lease *l = calloc(1, sizeof *l);
    if (l == NULL) {
        return NULL;
    }
    pthread_condattr_t ca;
    bool cond_ok = pthread_condattr_init(&ca) == 0;
    cond_ok = cond_ok && pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
              pthread_cond_init(&l->cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!cond_ok || pthread_mutex_init(&l->mu, NULL) != 0) {
        free(l);
        return NULL;
    }
    atomic_init(&l->owner, 0);
    l->database_url = strdup(database_url);
    if (l->database_url == NULL || pthread_create(&l->thread, NULL, keeper_main, l) != 0) {
        lease_free(l);
        return NULL;
    }
    return l;
}

void instance_lease_stop(instance_lease *l) {
    if (l == NULL) {
        return;
    }
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    atomic_store(&l->owner, 0);
    if (l->conn != NULL) {
        PQfinish(l->conn);
    }
    lease_free(l);
}

int instance_lease_owner(const instance_lease *l) {
    return l != NULL ? atomic_load(&((instance_lease *)l)->owner) : 0;
}
