/*
 * idempotency.c: Idempotency-Key claims, replays and stored answers (see idempotency.h).
 *
 * Owns: the SQL on idempotency_keys (schemas/migrations/0003_tasks.sql). Rules: the claim
 * is one atomic INSERT ... ON CONFLICT DO UPDATE ... WHERE (expired or stale), so of two
 * concurrent first requests exactly one gets the row back; the other reads the row and
 * answers from it. Only the headers this module lists are stored and replayed (never
 * X-Request-ID: every request has its own). A replayed problem carries the replaying
 * request's id, so support can find the call the client actually made.
 */
#include "api/idempotency.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/auth_sessions.h"
#include "api/instance_lease.h"
#include "shared/log.h"
#include "shared/pg_locks.h"
#include "shared/problem.h"
#include "shared/stringify.h"

/* A claim a retry may take over: same request, still in flight, and its holder gave it
 * up (owner NULL), is dead (no session of this database holds its lease lock), or has
 * been silent for too long. A row without a plan (made before migration 0010, maybe by
 * an older binary still producing) is taken over only once stale. */
/* clang-format off */
#define TAKEOVER_CONDITION                                                                    \
    "(k.state = 'in_flight' AND k.request_hash = EXCLUDED.request_hash AND"                   \
    " (k.created_at < now() - interval '" STRINGIFY(IDEMPOTENCY_STALE_CLAIM_S) " seconds'"         \
    "  OR (k.plan IS NOT NULL AND (k.owner IS NULL OR NOT EXISTS ("                           \
    "      SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory'"                            \
    "      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())" \
    "      AND l.classid = " PG_LOCK_SQL(PG_LOCK_INSTANCE_LEASE_CLASS)                        \
    "      AND l.objid = k.owner::oid"                                                        \
    "      AND l.objsubid = 2 AND l.granted)))))"
/* clang-format on */

/* Returns the plan to act on: ours for a new or expired key, the stored one (when there
 * is one) for a takeover; the second column says which. No row: somebody else holds it. */
/* clang-format off */
static const pg_stmt CLAIM = {
    "idem_claim",
    "INSERT INTO idempotency_keys AS k (user_id, key, request_hash, state, created_at,"
    "  expires_at, owner, plan)"
    " VALUES ($1::uuid, $2, $3, 'in_flight', now(),"
    "  now() + interval '" STRINGIFY(IDEMPOTENCY_TTL_S) " seconds', NULLIF($4::int, 0), $5::jsonb)"
    " ON CONFLICT (user_id, key) DO UPDATE SET request_hash = EXCLUDED.request_hash,"
    "  state = 'in_flight', status_code = NULL, response_headers = NULL, response_body = NULL,"
    "  created_at = EXCLUDED.created_at, owner = EXCLUDED.owner,"
    "  plan = CASE WHEN k.expires_at < now() OR k.plan IS NULL THEN EXCLUDED.plan"
    "   ELSE k.plan END,"
    "  expires_at = CASE WHEN k.expires_at < now() THEN EXCLUDED.expires_at"
    "   ELSE k.expires_at END"
    " WHERE k.expires_at < now() OR " TAKEOVER_CONDITION
    " RETURNING k.plan::text, (k.plan IS DISTINCT FROM $5::jsonb)",
    5};
/* clang-format on */
static const pg_stmt READ = {
    "idem_read",
    "SELECT request_hash, state, status_code, response_headers::text, response_body"
    " FROM idempotency_keys WHERE user_id = $1::uuid AND key = $2",
    2};
/* Store, release and give-up touch the claim only while this request still owns it: a
 * retry that took it over (believing us dead) answers for it from then on. */
#define OWNED_BY_US                                                                                \
    " WHERE user_id = $1::uuid AND key = $2 AND request_hash = $3 AND state = 'in_flight'"         \
    " AND owner IS NOT DISTINCT FROM NULLIF($4::int, 0)"
static const pg_stmt STORE = {"idem_store",
                              "UPDATE idempotency_keys SET state = 'done', status_code = $5::int,"
                              " response_headers = $6::jsonb, response_body = $7" OWNED_BY_US,
                              7};
static const pg_stmt RELEASE = {"idem_release", "DELETE FROM idempotency_keys" OWNED_BY_US, 4};
/* Compare and swap: only the plan this request read is replaced. */
static const pg_stmt REPLAN = {"idem_replan",
                               "UPDATE idempotency_keys SET plan = $5::jsonb" OWNED_BY_US
                               " AND plan = $6::jsonb RETURNING 1",
                               6};
static const pg_stmt LOCK_OWNED = {"idem_lock_owned",
                                   "SELECT 1 FROM idempotency_keys" OWNED_BY_US " FOR UPDATE", 4};
static const pg_stmt GIVE_UP = {"idem_give_up",
                                "UPDATE idempotency_keys SET owner = NULL" OWNED_BY_US, 4};

/* The answer headers a replay repeats. */
static const char *const STORED_HEADERS[] = {
    "Location",    "Content-Location", "ETag", "Preference-Applied",
    "Retry-After", "Content-Type",     NULL};

#define LEASE_WAIT_MS 1500
#define LEASE_POLL_MS 20

/* A claim loses to a concurrent release at most this often before we give up. */
#define CLAIM_ATTEMPTS 3

bool idempotency_key_valid(const char *key) {
    if (key == NULL)
        return false;
    size_t n = 0;
    for (; key[n] != '\0'; n++) {
        if ((unsigned char)key[n] < 0x21 || (unsigned char)key[n] > 0x7E)
            return false;
    }
    return n >= 1 && n <= IDEMPOTENCY_KEY_MAX;
}

void idempotency_request_hash(const char *method, const char *path, const void *body,
                              size_t body_len, char out[65]) {
    crypto_hash_sha256_state st;
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)method, strlen(method));
    crypto_hash_sha256_update(&st, (const unsigned char *)"\n", 1);
    crypto_hash_sha256_update(&st, (const unsigned char *)path, strlen(path));
    crypto_hash_sha256_update(&st, (const unsigned char *)"\n", 1);
    if (body_len > 0)
        crypto_hash_sha256_update(&st, body, body_len);
    crypto_hash_sha256_final(&st, digest);
    sodium_bin2hex(out, 65, digest, sizeof digest);
}

/* --- answering from a stored row --- */

static void set_stored_headers(api_request_ctx *ctx, const char *headers_text) {
    json_t *headers = headers_text != NULL ? json_loads(headers_text, 0, NULL) : NULL;
    const char *name;
    json_t *v;
    json_object_foreach(headers, name, v) {
        if (json_is_string(v) && strcmp(name, "Content-Type") != 0)
            api_set_header(ctx, name, json_string_value(v));
    }
    json_decref(headers);
}

/* Replays a done row: its status, headers and body. */
static void replay(api_request_ctx *ctx, int status, const char *headers_text, const char *body) {
    api_set_header(ctx, "Idempotent-Replayed", "true");
    set_stored_headers(ctx, headers_text);
    json_t *doc = body != NULL && body[0] != '\0' ? json_loads(body, 0, NULL) : NULL;
    if (doc == NULL) {
        api_respond_empty(ctx, status);
        return;
    }
    if (status >= 400 && json_is_object(doc)) {
        if (json_object_set_new(doc, "request_id", json_string(ctx->request_id)) != 0)
            LOG_WARNF("idempotency: could not renew a replayed problem's request id");
        api_respond_problem(ctx, doc);
        return;
    }
    api_respond_json(ctx, status, doc);
}

/* Answers from the row another request holds. */
static void answer_from_row(api_request_ctx *ctx, const PGresult *res,
                            const idempotency_claim *claim) {
    if (strcmp(PQgetvalue(res, 0, 0), claim->request_hash) != 0) {
        api_respond_error(ctx, 422, "idempotency-key-reused",
                          "this Idempotency-Key was used with a different request");
        return;
    }
    if (strcmp(PQgetvalue(res, 0, 1), "done") != 0 || PQgetisnull(res, 0, 2)) {
        api_set_header(ctx, "Retry-After", "1");
        api_respond_error(ctx, 409, "idempotency-key-in-flight",
                          "a request with this Idempotency-Key is still being processed");
        return;
    }
    int status = atoi(PQgetvalue(res, 0, 2));
    replay(ctx, status, PQgetisnull(res, 0, 3) ? NULL : PQgetvalue(res, 0, 3),
           PQgetisnull(res, 0, 4) ? NULL : PQgetvalue(res, 0, 4));
}

/* --- claiming --- */

typedef enum { CLAIM_WON, CLAIM_HELD, CLAIM_FAILED } claim_result;

/* Takes the plan of a won claim from its row into c. False when unreadable. */
static bool take_plan(const PGresult *res, idempotency_claim *c) {
    json_t *plan = PQgetisnull(res, 0, 0) ? NULL : json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    if (!json_is_object(plan)) {
        json_decref(plan);
        return false;
    }
    json_decref(c->plan);
    c->plan = plan;
    c->taken_over = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    return true;
}

/* One attempt: CLAIM_WON (c->plan set), CLAIM_HELD with *row (the holder's row, caller
 * PQclear()s), or CLAIM_FAILED. A row released between the two statements reads as no
 * row: *row NULL. */
static claim_result try_claim(pg_conn *conn, const char *const *values, idempotency_claim *c,
                              PGresult **row) {
    *row = NULL;
    PGresult *res = pg_exec_stmt(conn, &CLAIM, values);
    if (!pg_result_ok(res) || PQnfields(res) != 2) {
        LOG_WARNF("idempotency: claim failed: %s",
                  res != NULL ? PQresultErrorMessage(res) : "connection failed");
        PQclear(res);
        return CLAIM_FAILED;
    }
    bool won = PQntuples(res) == 1;
    bool plan_ok = won && take_plan(res, c);
    PQclear(res);
    if (won) {
        if (!plan_ok)
            LOG_ERRORF("idempotency: a claimed key carries no readable plan");
        return plan_ok ? CLAIM_WON : CLAIM_FAILED;
    }
    res = pg_exec_stmt(conn, &READ, values);
    if (!pg_result_ok(res) || PQnfields(res) != 5) {
        LOG_WARNF("idempotency: read failed: %s",
                  res != NULL ? PQresultErrorMessage(res) : "connection failed");
        PQclear(res);
        return CLAIM_FAILED;
    }
    if (PQntuples(res) == 1)
        *row = res;
    else
        PQclear(res);
    return CLAIM_HELD;
}

/* Claims the key: 1 won, 0 answered from the holder's row, -1 failed (not answered). */
static int claim(api_request_ctx *ctx, pg_conn *conn, idempotency_claim *c, const char *plan_text) {
    char owner[16];
    snprintf(owner, sizeof owner, "%d", c->owner);
    const char *values[] = {ctx->user_id, c->key, c->request_hash, owner, plan_text};
    for (int attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
        PGresult *row;
        claim_result r = try_claim(conn, values, c, &row);
        if (r == CLAIM_WON)
            return 1;
        if (r == CLAIM_FAILED)
            return -1;
        if (row != NULL) {
            answer_from_row(ctx, row, c);
            PQclear(row);
            return 0;
        }
    }
    return -1;
}

/* The lease owner, waiting up to LEASE_WAIT_MS while the lease is being (re)taken (just
 * after start or a Postgres restart). 0 when it is still not held. */
static int wait_for_lease(const instance_lease *lease) {
    int owner = instance_lease_owner(lease);
    for (int waited = 0; owner == 0 && waited < LEASE_WAIT_MS; waited += LEASE_POLL_MS) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = LEASE_POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
        owner = instance_lease_owner(lease);
    }
    return owner;
}

static void respond_invalid_key(api_request_ctx *ctx) {
    json_t *p = problem_new(422, "validation-error", "the Idempotency-Key header is invalid",
                            ctx->request_id);
    if (p == NULL) {
        api_respond_error(ctx, 500, "internal-error", NULL);
        return;
    }
    problem_add_field_error(p, "Idempotency-Key", "must be 1 to 255 visible ASCII characters");
    api_respond_problem(ctx, p);
}

idempotency_step idempotency_begin(api_request_ctx *ctx, const void *body, size_t body_len,
                                   json_t *fresh_plan, idempotency_claim *c) {
    memset(c, 0, sizeof *c);
    const char *key = api_header(ctx, "Idempotency-Key");
    if (key == NULL) {
        c->plan = json_incref(fresh_plan); /* a new reference; the plan is never changed */
        return IDEMPOTENCY_PROCEED;
    }
    if (!idempotency_key_valid(key)) {
        respond_invalid_key(ctx);
        return IDEMPOTENCY_ANSWERED;
    }
    snprintf(c->key, sizeof c->key, "%s", key);
    c->owner = wait_for_lease(ctx->app->lease);
    if (c->owner == 0) {
        /* A claim without a live owner could be taken over by a duplicate at once. */
        LOG_WARNF("idempotency: the instance lease is not held; keyed request refused");
        api_set_header(ctx, "Retry-After", "1");
        api_respond_error(ctx, 503, "service-unavailable",
                          "the Idempotency-Key cannot be honoured right now; retry shortly");
        return IDEMPOTENCY_ANSWERED;
    }
    idempotency_request_hash(ctx->req->http_verb != NULL ? ctx->req->http_verb : "",
                             ctx->req->url_path != NULL ? ctx->req->url_path : "", body, body_len,
                             c->request_hash);
    char *plan_text = json_dumps(fresh_plan, JSON_COMPACT);
    char err[256];
    pg_conn *conn = plan_text != NULL
                        ? pg_pool_acquire(ctx->app->pg, API_PG_ACQUIRE_MS, err, sizeof err)
                        : NULL;
    int rc = -1;
    if (conn == NULL) {
        LOG_WARNF("idempotency: no database connection: %s",
                  plan_text != NULL ? err : "out of memory");
    } else {
        rc = claim(ctx, conn, c, plan_text);
        pg_pool_release(ctx->app->pg, conn);
    }
    free(plan_text);
    if (rc == 1) {
        c->active = true;
        if (c->taken_over)
            LOG_INFOF("idempotency: took over the claim of an earlier attempt (its process is "
                      "gone or gave it up); repeating its command ids");
        return IDEMPOTENCY_PROCEED;
    }
    if (rc < 0) {
        api_set_header(ctx, "Retry-After", "1");
        api_respond_error(ctx, 503, "service-unavailable",
                          "the Idempotency-Key could not be checked; retry shortly");
    }
    return IDEMPOTENCY_ANSWERED;
}

/* --- finishing --- */

/* The stored headers of the answer as JSON text (caller free()s), or NULL. */
static char *answer_headers(const api_request_ctx *ctx) {
    json_t *h = json_object();
    for (size_t i = 0; h != NULL && STORED_HEADERS[i] != NULL; i++) {
        const char *v = u_map_get_case(ctx->resp->map_header, STORED_HEADERS[i]);
        if (v != NULL && json_object_set_new(h, STORED_HEADERS[i], json_string(v)) != 0) {
            json_decref(h);
            h = NULL;
        }
    }
    char *text = h != NULL ? json_dumps(h, JSON_COMPACT) : NULL;
    json_decref(h);
    return text;
}

/* The answer's body as a NUL-terminated copy (caller free()s), or NULL. */
static char *answer_body(const api_request_ctx *ctx) {
    size_t n = ctx->resp->binary_body != NULL ? ctx->resp->binary_body_length : 0;
    char *text = malloc(n + 1);
    if (text == NULL)
        return NULL;
    if (n > 0)
        memcpy(text, ctx->resp->binary_body, n);
    text[n] = '\0';
    return text;
}

static void run_finish(pg_conn *conn, const pg_stmt *stmt, const char *const *values) {
    PGresult *res = pg_exec_stmt(conn, stmt, values);
    if (!pg_result_ok(res))
        LOG_WARNF("idempotency: %s failed (the claim goes stale in %d s): %s", stmt->name,
                  IDEMPOTENCY_STALE_CLAIM_S,
                  res != NULL ? PQresultErrorMessage(res) : "connection failed");
    PQclear(res);
}

/* Stores a non-5xx answer; without a copy of the body, releases instead (a retry beats a
 * replay with no body). */
static void store_answer(api_request_ctx *ctx, pg_conn *conn, const char *const *owned) {
    char status[16];
    snprintf(status, sizeof status, "%d", ctx->status);
    char *headers = answer_headers(ctx);
    char *body = answer_body(ctx);
    if (body == NULL) {
        run_finish(conn, &RELEASE, owned);
    } else {
        const char *values[] = {
            owned[0], owned[1], owned[2], owned[3], status, headers != NULL ? headers : "{}", body};
        run_finish(conn, &STORE, values);
    }
    free(headers);
    free(body);
}

int idempotency_replan(api_request_ctx *ctx, idempotency_claim *c, const json_t *plan) {
    char *text = c->active ? json_dumps(plan, JSON_COMPACT) : NULL;
    char *old = text != NULL ? json_dumps(c->plan, JSON_COMPACT) : NULL;
    json_t *copy = old != NULL ? json_deep_copy(plan) : NULL;
    char err[256];
    pg_conn *conn =
        copy != NULL ? pg_pool_acquire(ctx->app->pg, API_PG_ACQUIRE_MS, err, sizeof err) : NULL;
    int rc = -1;
    if (conn != NULL) {
        char owner[16];
        snprintf(owner, sizeof owner, "%d", c->owner);
        const char *values[] = {ctx->user_id, c->key, c->request_hash, owner, text, old};
        PGresult *res = pg_exec_stmt(conn, &REPLAN, values);
        rc = pg_result_ok(res) && PQntuples(res) == 1 ? 0 : -1;
        PQclear(res);
        pg_pool_release(ctx->app->pg, conn);
    }
    if (rc == 0) {
        json_decref(c->plan);
        c->plan = copy;
        c->taken_over = false;
    } else {
        LOG_WARNF("idempotency: could not replace a claim's plan");
        json_decref(copy);
    }
    free(text);
    free(old);
    return rc;
}

int idempotency_lock_owned(pg_conn *conn, const char *user_id, const idempotency_claim *c) {
    if (!c->active)
        return 1;
    char owner[16];
    snprintf(owner, sizeof owner, "%d", c->owner);
    const char *values[] = {user_id, c->key, c->request_hash, owner};
    PGresult *res = pg_exec_stmt(conn, &LOCK_OWNED, values);
    int rc = pg_result_ok(res) ? (PQntuples(res) == 1 ? 1 : 0) : -1;
    if (rc < 0)
        LOG_WARNF("idempotency: locking a claim failed: %s",
                  res != NULL ? PQresultErrorMessage(res) : "connection failed");
    PQclear(res);
    return rc;
}

void idempotency_finish(api_request_ctx *ctx, idempotency_claim *c) {
    json_decref(c->plan);
    c->plan = NULL;
    if (!c->active)
        return;
    c->active = false;
    char err[256];
    pg_conn *conn = pg_pool_acquire(ctx->app->pg, API_PG_ACQUIRE_MS, err, sizeof err);
    if (conn == NULL) {
        LOG_WARNF("idempotency: no database connection to finish a claim (it goes stale in "
                  "%d s): %s",
                  IDEMPOTENCY_STALE_CLAIM_S, err);
        return;
    }
    char owner[16];
    snprintf(owner, sizeof owner, "%d", c->owner);
    const char *owned[] = {ctx->user_id, c->key, c->request_hash, owner};
    if (ctx->status < 500 && ctx->status != 0)
        store_answer(ctx, conn, owned);
    else
        run_finish(conn, c->in_doubt ? &GIVE_UP : &RELEASE, owned);
    pg_pool_release(ctx->app->pg, conn);
}
