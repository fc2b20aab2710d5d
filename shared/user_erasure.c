/*
 * user_erasure.c: erasing a user (see user_erasure.h for the sequence and its rules).
 *
 * Owns: the statements of the sequence and the event it writes, and the search for the
 * user's Redis keys. Rules: every PGresult is cleared and every reply freed on every path;
 * the tombstone is written only once the checks passed, so a refusal changes nothing.
 */
#include "shared/user_erasure.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/bus.h"
#include "shared/cloudevent.h"
#include "shared/errbuf.h"
#include "shared/outbox.h"
#include "shared/redis_cluster.h"
#include "shared/redis_keys.h"
#include "shared/user_epoch.h"
#include "shared/uuid7.h"

/* Keys deleted per UNLINK, and asked for per SCAN step. */
#define KEYS_PER_CALL 256
/* A slot holds the keys of about one user in 16384; this bounds one GETKEYSINSLOT. */
#define SLOT_KEYS_MAX 1000000

static const pg_stmt STMT_LOCK = {
    .name = "user_erasure_lock",
    .sql = "SELECT outcome, inbox::text, sole_owned, deleted_at"
           " FROM user_erasure_lock($1::uuid, $2)",
    .nparams = 2,
};
static const pg_stmt STMT_DELETE = {
    .name = "user_erasure_delete",
    .sql = "DELETE FROM users WHERE id = $1::uuid",
    .nparams = 1,
};

/* The outcome of a failed statement, with why in err. */
static user_erasure_outcome failed(const PGresult *res, const char *what, char *err,
                                   size_t errlen) {
    if (res == NULL) {
        errbuf_setf(err, errlen, "%s: postgres connection lost", what);
        return USER_ERASURE_PG_DOWN;
    }
    errbuf_setf(err, errlen, "%s: %s", what, PQresultErrorMessage(res));
    const char *state = pg_result_sqlstate(res);
    if (strcmp(state, PG_SQLSTATE_DEADLOCK) == 0)
        return USER_ERASURE_DEADLOCK;
    /* a statement or lock timeout: Postgres is busy, the request is not wrong */
    return strcmp(state, PG_SQLSTATE_QUERY_CANCELED) == 0 ||
                   strcmp(state, PG_SQLSTATE_LOCK_NOT_AVAILABLE) == 0
               ? USER_ERASURE_PG_DOWN
               : USER_ERASURE_FAILED;
}

/* The checks; DONE with inbox ("" for none) and deleted_at filled, or the refusal. */
static user_erasure_outcome lock_and_check(pg_conn *conn, const user_erasure_request *req,
                                           user_erasure_result *out, char inbox[UUID_STR_LEN],
                                           char deleted_at[40], char *err, size_t errlen) {
    const char *vals[2] = {req->user_id, req->expect_password_hash};
    PGresult *res = pg_exec_stmt(conn, &STMT_LOCK, vals);
    if (res == NULL || !pg_result_ok(res) || PQntuples(res) != 1) {
        user_erasure_outcome o = failed(res, STMT_LOCK.name, err, errlen);
        PQclear(res);
        return o;
    }
    const char *outcome = PQgetvalue(res, 0, 0);
    user_erasure_outcome o = USER_ERASURE_DONE;
    if (strcmp(outcome, "not_found") == 0) {
        o = USER_ERASURE_NOT_FOUND;
    } else if (strcmp(outcome, "changed") == 0) {
        o = USER_ERASURE_CHANGED;
    } else if (strcmp(outcome, "sole_owner") == 0) {
        out->sole_owned = strdup(PQgetvalue(res, 0, 2));
        o = out->sole_owned != NULL ? USER_ERASURE_SOLE_OWNER : USER_ERASURE_FAILED;
    } else {
        snprintf(inbox, UUID_STR_LEN, "%s", PQgetvalue(res, 0, 1));
        snprintf(deleted_at, 40, "%s", PQgetvalue(res, 0, 3));
    }
    PQclear(res);
    if (o == USER_ERASURE_FAILED) {
        errbuf_setf(err, errlen, "out of memory");
    }
    return o;
}

/* taskbus.user.deleted to the outbox. 0, or -1 with err. */
static int add_event(pg_conn *conn, const user_erasure_request *req, const char *inbox,
                     const char *deleted_at, char *err, size_t errlen) {
    json_t *data =
        json_pack("{s:s,s:o,s:s}", "user_id", req->user_id, "inbox_project_id",
                  inbox[0] != '\0' ? json_string(inbox) : json_null(), "deleted_at", deleted_at);
    return outbox_add_user_event(conn, USER_ERASED_EVENT, req->user_id, data, req->request_id,
                                 req->traceparent, err, errlen);
}

static user_erasure_outcome erase_in_transaction(pg_conn *conn, const user_erasure_request *req,
                                                 user_erasure_result *out, char *err,
                                                 size_t errlen) {
    char inbox[UUID_STR_LEN] = "", deleted_at[40] = "";
    user_erasure_outcome o = lock_and_check(conn, req, out, inbox, deleted_at, err, errlen);
    if (o != USER_ERASURE_DONE) {
        return o;
    }
    if (user_epoch_tombstone(req->redis, req->user_id, req->access_ttl_s, req->lease_ms, err,
                             errlen) != 0) {
        return USER_ERASURE_REDIS_DOWN;
    }
    out->tombstoned = true;
    if (add_event(conn, req, inbox, deleted_at, err, errlen) != 0) {
        return PQstatus(pg_conn_raw(conn)) != CONNECTION_OK ? USER_ERASURE_PG_DOWN
                                                            : USER_ERASURE_FAILED;
    }
    const char *vals[1] = {req->user_id};
    PGresult *res = pg_exec_stmt(conn, &STMT_DELETE, vals);
    o = res != NULL && pg_result_ok(res) ? USER_ERASURE_DONE
                                         : failed(res, STMT_DELETE.name, err, errlen);
    PQclear(res);
    return o;
}

/* One attempt: the transaction, committed or rolled back (the tombstone forgotten). */
static user_erasure_outcome attempt(pg_conn *conn, const user_erasure_request *req,
                                    user_erasure_result *out, char *err, size_t errlen) {
    /* READ COMMITTED whatever the server's default: the sole-owner check must see the
     * memberships as they are once the project locks are granted, not as they were when
     * the transaction began. */
    if (pg_run(conn, "BEGIN ISOLATION LEVEL READ COMMITTED", err, errlen) != 0)
        return USER_ERASURE_PG_DOWN;
    user_erasure_outcome o = erase_in_transaction(conn, req, out, err, errlen);
    if (o == USER_ERASURE_DONE && pg_commit(conn, err, errlen) != 0)
        o = USER_ERASURE_PG_DOWN;
    else if (o != USER_ERASURE_DONE)
        pg_rollback(conn);
    if (o != USER_ERASURE_DONE && out->tombstoned)
        out->tombstone_left = user_epoch_forget(req->redis, req->user_id) != 0;
    return o;
}

user_erasure_outcome user_erase(pg_conn *conn, const user_erasure_request *req,
                                user_erasure_result *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    user_erasure_outcome o = USER_ERASURE_DEADLOCK;
    for (int i = 0; i < USER_ERASURE_ATTEMPTS && o == USER_ERASURE_DEADLOCK; i++) {
        free(out->sole_owned);
        memset(out, 0, sizeof *out);
        o = attempt(conn, req, out, err, errlen);
    }
    if (o == USER_ERASURE_DEADLOCK)
        o = USER_ERASURE_PG_DOWN;
    if (o == USER_ERASURE_DONE &&
        user_erasure_forget_keys(req->redis, req->user_id, &out->keys_removed, out->keys_error,
                                 sizeof out->keys_error) != 0)
        out->keys_failed = true;
    return o;
}

/* ---------------------------------------------------------------- Redis keys */

/* Whether key is one of the user's (it carries tag) and not the tombstone. */
static bool erasable(const redisReply *key, const char *tag, const char *tombstone) {
    return key->type == REDIS_REPLY_STRING && strstr(key->str, tag) != NULL &&
           strcmp(key->str, tombstone) != 0;
}

/* UNLINKs the erasable keys among keys[0..n) on slot. 0, or -1 with err. */
static int unlink_keys(redis_pool *redis, int slot, redisReply **keys, size_t n, const char *tag,
                       const char *tombstone, long long *removed, char *err, size_t errlen) {
    const char *argv[KEYS_PER_CALL + 1];
    size_t lens[KEYS_PER_CALL + 1];
    argv[0] = "UNLINK";
    lens[0] = 6;
    size_t i = 0;
    while (i < n) {
        int argc = 1;
        for (; i < n && argc <= KEYS_PER_CALL; i++) {
            if (erasable(keys[i], tag, tombstone)) {
                argv[argc] = keys[i]->str;
                lens[argc++] = keys[i]->len;
            }
        }
        if (argc == 1) {
            continue;
        }
        redisReply *r = redis_pool_command_on_slot(redis, slot, argc, argv, lens);
        int rc = r != NULL && r->type == REDIS_REPLY_INTEGER ? 0 : -1;
        if (rc == 0) {
            *removed += r->integer;
        } else {
            errbuf_setf(err, errlen, "UNLINK: %s",
                        r != NULL && r->type == REDIS_REPLY_ERROR ? r->str : "redis unavailable");
        }
        if (r != NULL) {
            freeReplyObject(r);
        }
        if (rc != 0) {
            return -1;
        }
    }
    return 0;
}

/* A cluster: the keys of the user's slot, on the node that owns it. */
static int forget_in_slot(redis_pool *redis, const char *tag, const char *tombstone,
                          long long *removed, char *err, size_t errlen) {
    int slot = redis_cluster_key_slot(tombstone, strlen(tombstone));
    char slot_text[16], count[16];
    snprintf(slot_text, sizeof slot_text, "%d", slot);
    snprintf(count, sizeof count, "%d", SLOT_KEYS_MAX);
    const char *argv[4] = {"CLUSTER", "GETKEYSINSLOT", slot_text, count};
    redisReply *r = redis_pool_command_on_slot(redis, slot, 4, argv, NULL);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        errbuf_setf(err, errlen, "CLUSTER GETKEYSINSLOT: %s",
                    r != NULL && r->type == REDIS_REPLY_ERROR ? r->str : "redis unavailable");
        if (r != NULL) {
            freeReplyObject(r);
        }
        return -1;
    }
    int rc =
        unlink_keys(redis, slot, r->element, r->elements, tag, tombstone, removed, err, errlen);
    freeReplyObject(r);
    return rc;
}

/* A single Redis: SCAN MATCH *<tag>* until the cursor comes back to 0. */
static int forget_by_scan(redis_pool *redis, const char *tag, const char *tombstone,
                          long long *removed, char *err, size_t errlen) {
    char pattern[REDIS_KEY_MAX + 4], cursor[32] = "0", count[16];
    snprintf(pattern, sizeof pattern, "*%s*", tag);
    snprintf(count, sizeof count, "%d", KEYS_PER_CALL);
    do {
        const char *argv[6] = {"SCAN", cursor, "MATCH", pattern, "COUNT", count};
        redisReply *r = redis_pool_command_on_slot(redis, -1, 6, argv, NULL);
        bool ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                  r->element[0]->type == REDIS_REPLY_STRING &&
                  r->element[1]->type == REDIS_REPLY_ARRAY;
        int rc = ok ? unlink_keys(redis, -1, r->element[1]->element, r->element[1]->elements, tag,
                                  tombstone, removed, err, errlen)
                    : -1;
        if (!ok) {
            errbuf_setf(err, errlen, "SCAN: %s",
                        r != NULL && r->type == REDIS_REPLY_ERROR ? r->str : "redis unavailable");
        } else {
            snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        }
        if (r != NULL) {
            freeReplyObject(r);
        }
        if (rc != 0) {
            return -1;
        }
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

int user_erasure_forget_keys(redis_pool *redis, const char *user_id, long long *removed, char *err,
                             size_t errlen) {
    char tag[REDIS_KEY_MAX], tombstone[REDIS_KEY_MAX];
    *removed = 0;
    if (redis_key_user_tag(tag, user_id)[0] == '\0' ||
        redis_key_epoch(tombstone, user_id)[0] == '\0') {
        errbuf_setf(err, errlen, "user id too long for a key");
        return -1;
    }
    return redis_pool_is_cluster(redis)
               ? forget_in_slot(redis, tag, tombstone, removed, err, errlen)
               : forget_by_scan(redis, tag, tombstone, removed, err, errlen);
}
