/*
 * consumer_reads.c: what the routes over the task-events consumers' tables share
 * (consumer_reads.h).
 *
 * Rules: a query value is form-decoded ('+' is a space, %XX a byte) into at most
 * CONSUMER_QUERY_VALUE_MAX bytes and may hold no NUL or control byte; a parameter name
 * that does not decode is listed as "query".
 */
#include "api/consumer_reads.h"

#include <string.h>

#include "api/read_replica.h"
#include "shared/percent_decode.h"
#include "shared/log.h"

/* Form-decodes [s, s+len) into out (NUL-terminated); false when malformed, too long or
 * holding a NUL or control byte. */
static bool decode_part(const char *s, size_t len, char out[CONSUMER_QUERY_VALUE_MAX + 1]) {
    return percent_decode(s, len, PCT_PLUS_IS_SPACE | PCT_REFUSE_CONTROLS, out,
                          CONSUMER_QUERY_VALUE_MAX + 1, NULL) == PCT_OK;
}

static query_param *find_param(query_param *params, const char *name) {
    for (query_param *p = params; p->name != NULL; p++) {
        if (strcmp(p->name, name) == 0) {
            return p;
        }
    }
    return NULL;
}

static int parse_pair(const char *pair, size_t len, query_param *params, json_t *errors) {
    const char *eq = memchr(pair, '=', len);
    size_t name_len = eq != NULL ? (size_t)(eq - pair) : len;
    char name[CONSUMER_QUERY_VALUE_MAX + 1];
    char value[CONSUMER_QUERY_VALUE_MAX + 1];
    if (!decode_part(pair, name_len, name)) {
        return api_field_error_add(errors, "query", "holds a parameter name that is not valid");
    }
    query_param *p = find_param(params, name);
    if (p == NULL) {
        return api_field_error_add(errors, name, "is not a parameter of this endpoint");
    }
    if (p->present) {
        return api_field_error_add(errors, name, "may be given only once");
    }
    if (!decode_part(eq != NULL ? eq + 1 : pair + len, eq != NULL ? len - name_len - 1 : 0,
                     value)) {
        return api_field_error_add(errors, name, "is not validly encoded or is too long");
    }
    p->present = true;
    memcpy(p->value, value, sizeof value);
    return 0;
}

int consumer_query_parse(const api_request_ctx *ctx, query_param *params, json_t *errors) {
    const char *url = ctx->req->http_url;
    const char *q = url != NULL ? strchr(url, '?') : NULL;
    int rc = 0;
    if (q == NULL) {
        return 0;
    }
    q++;
    size_t total = strcspn(q, "#");
    size_t at = 0;
    while (at < total) {
        size_t len = strcspn(q + at, "&#");
        if (len > 0) {
            rc |= parse_pair(q + at, len, params, errors);
        }
        at += len + 1;
    }
    return rc;
}

void consumer_respond_unavailable(api_request_ctx *ctx) {
    api_set_header(ctx, "Retry-After", "1");
    api_respond_error(ctx, 503, "service-unavailable",
                      "the database is not reachable; try again shortly");
}

/* One statement and its rows, on whichever pool read_exact chose. */
typedef struct stmt_read {
    const pg_stmt *stmt;
    const char *const *values;
    PGresult *res;
} stmt_read;

static int run_stmt(pg_conn *conn, void *arg) {
    stmt_read *r = arg;
    PGresult *res = pg_exec_stmt(conn, r->stmt, r->values);
    if (res == NULL) {
        LOG_WARNF("insights: postgres connection failed");
        return -1;
    }
    if (!pg_result_ok(res)) {
        LOG_ERRORF("insights: %s failed (%s): %s", r->stmt->name, pg_result_sqlstate(res),
                   PQresultErrorMessage(res));
        PQclear(res);
        return -1;
    }
    r->res = res;
    return 0;
}

PGresult *consumer_read(const api_app *app, const pg_stmt *stmt, const char *const *values) {
    /* The consumers' tables promise no read-your-writes: the replica at any lag, the
     * primary when it fails (docs/decisions.md "Exact reads from the replica"). */
    read_lsn any = {.state = READ_LSN_ANY, .lsn = 0};
    stmt_read r = {.stmt = stmt, .values = values, .res = NULL};
    char err[256];
    if (read_exact(app, any, stmt->name, run_stmt, &r, err, sizeof err) != 0) {
        LOG_WARNF("insights: %s", err);
        return NULL;
    }
    return r.res;
}

int consumer_project_param(const query_param *param, char project[UUID_STR_LEN], json_t *errors) {
    project[0] = '\0';
    if (!param->present) {
        return 0;
    }
    if (!uuid_canonical(param->value, project)) {
        project[0] = '\0';
        return api_field_error_add(errors, param->name, "must be a project id (a UUID)");
    }
    return 0;
}
