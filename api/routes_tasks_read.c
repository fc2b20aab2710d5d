/*
 * routes_tasks_read.c: GET /api/v1/tasks, /api/v1/tasks/:id, /api/v1/tasks/stats
 * (ROUTES_TASKS_READ).
 *
 * Owns: the read answers of docs/decisions.md "Reads and cache". Rules: the user is
 * always the access token's sub and every query names it, so another user's task is
 * absent (404), never forbidden; an id that is not a UUID is just as absent. A task
 * answer carries ETag "<version>" and honours If-None-Match (304). A list is one of three
 * scopes: the caller's Inbox (no project=, or project= naming it), whose pages come from
 * the page cache under the user's generation, else from Postgres (the replica once it has
 * replayed the user's commit LSN, read with the generation; else the primary), an
 * assignee= being one more filter in the page hash; a team project (project=, for a
 * member); the tasks assigned to someone in the caller's projects (assignee= without
 * project=). The last two hold team tasks, which no user's generation covers: they are
 * read from the primary with the membership in the statement and never cached. Redis
 * trouble only costs the cache. Postgres unavailable is 503 with Retry-After. The query
 * string is parsed from the raw URL (ulfius's map joins repeated keys with commas and
 * would lose repeated tag= values).
 */
#include <stdlib.h>
#include <string.h>

#include "api/if_match.h"
#include "api/near_cache.h"
#include "api/near_cache_keys.h"
#include "api/project_access.h"
#include "api/read_replica.h"
#include "api/api_token_scope.h"
#include "api/routes.h"
#include "api/task_list_cache.h"
#include "api/task_query.h"
#include "api/task_stats.h"
#include "api/task_store.h"
#include "shared/log.h"
#include "shared/problem.h"
#include "shared/task_model.h"

static void respond_unavailable(api_request_ctx *ctx) {
    api_set_header(ctx, "Retry-After", "1");
    api_respond_error(ctx, 503, "service-unavailable",
                      "the task database is not reachable; try again shortly");
}

/* ------------------------------------------------------------------ one task */

static void handle_get_task(api_request_ctx *ctx) {
    json_t *task = NULL;
    near_cache_blob *text = NULL;
    int team_rank = 0; /* any member reads a team task */
    task_store_result found =
        task_store_lookup(ctx->app, ctx->user_id, ctx->path_params[0], &text, &task, &team_rank);
    if (found == TASK_STORE_UNAVAILABLE) {
        respond_unavailable(ctx);
        return;
    }
    if (found == TASK_STORE_NOT_FOUND) {
        api_respond_error(ctx, 404, "not-found", "no task with this id");
        return;
    }
    char etag[IF_MATCH_ETAG_MAX];
    if_match_etag(text != NULL ? near_cache_blob_aux(text) : task_json_version(task), etag,
                  sizeof etag);
    api_set_header(ctx, "ETag", etag);
    if (if_match_etag_list_matches(api_header(ctx, "If-None-Match"), etag, true))
        api_respond_empty(ctx, 304);
    else if (text != NULL)
        api_respond_json_text(ctx, 200, near_cache_blob_data(text), near_cache_blob_len(text));
    else
        api_respond_json(ctx, 200, json_incref(task));
    near_cache_blob_release(text);
    json_decref(task);
}

/* ------------------------------------------------------------------ list */

/* A copy of the raw query string of the request ("" when none); NULL when out of memory. */
static char *raw_query(const api_request_ctx *ctx) {
    const char *url = ctx->req->http_url;
    const char *qmark = url != NULL ? strchr(url, '?') : NULL;
    if (qmark == NULL)
        return strdup("");
    return strndup(qmark + 1, strcspn(qmark + 1, "#"));
}

/* One list query and its rows, on whichever pool read_exact chose. */
typedef struct list_read {
    const task_sql *sql;
    PGresult *res;
} list_read;

static int run_list_on(pg_conn *conn, void *arg) {
    list_read *r = arg;
    PGconn *raw = pg_conn_raw(conn);
    PGresult *res =
        PQexecParams(raw, r->sql->text, r->sql->nparams, NULL, r->sql->values, NULL, NULL, 0);
    if (res == NULL || PQstatus(raw) != CONNECTION_OK) {
        pg_conn_mark_broken(conn);
        LOG_WARNF("task list: postgres connection failed");
        PQclear(res);
        return -1;
    }
    if (!pg_result_ok(res)) {
        LOG_ERRORF("task list: query failed (%s): %s", pg_result_sqlstate(res),
                   PQresultErrorMessage(res));
        PQclear(res);
        return -1;
    }
    r->res = res;
    return 0;
}

/* Runs sql on the replica when it has replayed need, else on the primary. The result
 * (caller PQclear()s), or NULL when unavailable. */
static PGresult *run_list_sql(const api_app *app, const task_sql *sql, read_lsn need) {
    char err[256];
    list_read r = {.sql = sql, .res = NULL};
    if (read_exact(app, need, "task list", run_list_on, &r, err, sizeof err) != 0) {
        LOG_WARNF("task list: %s", err);
        return NULL;
    }
    return r.res;
}

/* The cursor continuing after row of res, or NULL (json null) when it cannot be made. */
static json_t *next_cursor(const api_app *app, const task_query *q, const PGresult *res, int row) {
    task_cursor pos = {.present = true};
    pos.key_null = PQgetisnull(res, row, TASK_SQL_SORT_KEY_COLUMN);
    if (!pos.key_null)
        pos.key = strtoll(PQgetvalue(res, row, TASK_SQL_SORT_KEY_COLUMN), NULL, 10);
    snprintf(pos.id, sizeof pos.id, "%s", PQgetvalue(res, row, 0));
    char text[TASK_CURSOR_MAX];
    if (task_cursor_encode(q, &pos, app->jwt_key, app->jwt_key_len, text, sizeof text) != 0)
        return NULL;
    return json_string(text);
}

/* {items, next_cursor} from the rows of one page query, or NULL. */
static json_t *page_from_rows(const api_app *app, const task_query *q, const PGresult *res) {
    int rows = PQntuples(res);
    int shown = rows > q->limit ? q->limit : rows;
    json_t *items = json_array();
    if (items == NULL)
        return NULL;
    for (int i = 0; i < shown; i++) {
        json_t *task = task_from_row(res, i, NULL);
        if (task == NULL || json_array_append_new(items, task) != 0) {
            LOG_ERRORF("task list: row %d could not be mapped", i);
            json_decref(items);
            return NULL;
        }
    }
    json_t *cursor = rows > q->limit ? next_cursor(app, q, res, shown - 1) : json_null();
    if (cursor == NULL) {
        LOG_ERRORF("task list: no cursor could be made for the next page");
        json_decref(items);
        return NULL;
    }
    return json_pack("{s:o,s:o}", "items", items, "next_cursor", cursor);
}

typedef enum {
    LIST_INBOX,    /* the caller's Inbox (cacheable) */
    LIST_PROJECT,  /* the team project q names */
    LIST_ASSIGNED, /* q's assignee's tasks in the caller's projects */
} list_scope;

/* The page query of scope for the caller (the builders resolve assignee=me to them). */
static int build_list_sql(const api_request_ctx *ctx, const task_query *q, list_scope scope,
                          task_sql *sql) {
    const char *caller = ctx->user_id;
    if (scope == LIST_PROJECT)
        return task_query_build_project_sql(q, q->project, caller, sql);
    if (scope == LIST_ASSIGNED)
        return task_query_build_assigned_sql(q, task_query_assignee_for(q, caller), caller, sql);
    return task_query_build_sql(q, caller, sql);
}

/* The page of scope from Postgres (a team page has the membership in its statement).
 * Answers 500/503 itself and returns NULL on failure. */
static json_t *page_from_postgres(api_request_ctx *ctx, const task_query *q, list_scope scope,
                                  read_lsn need) {
    task_sql *sql = malloc(sizeof *sql);
    int built = sql == NULL ? -1 : build_list_sql(ctx, q, scope, sql);
    if (built != 0) {
        free(sql);
        api_respond_error(ctx, 500, "internal-error", NULL);
        return NULL;
    }
    PGresult *res = run_list_sql(ctx->app, sql, need);
    free(sql);
    if (res == NULL) {
        respond_unavailable(ctx);
        return NULL;
    }
    json_t *page = page_from_rows(ctx->app, q, res);
    PQclear(res);
    if (page == NULL)
        api_respond_error(ctx, 500, "internal-error", NULL);
    return page;
}

/* A page that may hold team tasks (a team project's, or the assigned scope's): always
 * from the primary (read_exact without a commit LSN), never cached, like a team task
 * (docs/decisions.md, "Tasks in team projects (slice 3b)", "Assignees (slice 4)"). */
static void serve_team_page(api_request_ctx *ctx, const task_query *q, list_scope scope) {
    read_lsn primary = {.state = READ_LSN_UNKNOWN, .lsn = 0};
    json_t *page = page_from_postgres(ctx, q, scope, primary);
    if (page != NULL)
        api_respond_json(ctx, 200, page);
}

/* A page body from the Redis cache, checked before it is trusted (a copy the caller
 * frees), or NULL for a miss. */
static char *page_from_redis(const api_request_ctx *ctx, long long gen, const char *hash) {
    char *body = task_list_cache_get(ctx->app, ctx->user_id, gen, hash);
    if (body == NULL)
        return NULL;
    json_t *page = json_loads(body, 0, NULL);
    bool ok = json_is_object(page);
    json_decref(page);
    if (!ok) {
        LOG_WARNF("list cache: an unreadable page was ignored");
        free(body);
        return NULL;
    }
    return body;
}

/* The page text: Redis (under the user's generation, while the lease lets us trust it),
 * else Postgres (then stored in Redis). NULL when answered already (an error). *redis_down
 * says Redis failed for the user while trusted: the page must not be near-cached then (as
 * task_store.c's from_sources; docs/decisions.md, "A dead master and the near caches"). */
static char *page_text(api_request_ctx *ctx, const task_query *q, const char *hash,
                       bool trust_redis, bool *redis_down) {
    read_lsn need = {.state = READ_LSN_UNKNOWN, .lsn = 0};
    long long gen = trust_redis ? task_list_cache_generation(ctx->app, ctx->user_id, &need) : -1;
    *redis_down = trust_redis && gen < 0;
    char *text = gen >= 0 ? page_from_redis(ctx, gen, hash) : NULL;
    if (text != NULL)
        return text;
    json_t *page = page_from_postgres(ctx, q, LIST_INBOX, need);
    if (page == NULL)
        return NULL;
    text = json_dumps(page, JSON_COMPACT);
    json_decref(page);
    if (text == NULL) {
        api_respond_error(ctx, 500, "internal-error", NULL);
        return NULL;
    }
    if (gen >= 0)
        task_list_cache_put(ctx->app, ctx->user_id, gen, hash, text);
    return text;
}

/* The near cache first (zero round trips), then page_text, kept in the near cache under a
 * ticket taken before the sources were read. Without a lease, Postgres only. */
static void serve_page(api_request_ctx *ctx, const task_query *q) {
    char hash[TASK_QUERY_HASH_HEX];
    task_query_page_hash(q, hash);
    near_cache *nc = ctx->app->near_cache;
    char nkey[NEAR_CACHE_KEY_MAX];
    near_cache_key_page(nkey, ctx->user_id, hash);
    near_cache_blob *b = near_cache_get(nc, nkey);
    if (b != NULL) {
        api_respond_json_text(ctx, 200, near_cache_blob_data(b), near_cache_blob_len(b));
        near_cache_blob_release(b);
        return;
    }
    near_cache_ticket t = near_cache_ticket_take(nc, ctx->user_id, NEAR_CACHE_TASKS);
    bool redis_down = false;
    char *text = page_text(ctx, q, hash, t.usable, &redis_down);
    if (text == NULL)
        return;
    if (!redis_down)
        near_cache_put(nc, &t, ctx->user_id, nkey, text, strlen(text), 0);
    api_respond_json_text(ctx, 200, text, strlen(text));
    free(text);
}

/* Answers 422 listing each bad parameter (errors stolen). */
static void respond_invalid(api_request_ctx *ctx, json_t *errors) {
    json_t *problem = problem_new(422, "validation-error", "some query parameters are not valid",
                                  ctx->request_id);
    if (problem == NULL || json_object_set_new(problem, "errors", errors) != 0) {
        json_decref(problem);
        api_respond_error(ctx, 500, "internal-error", NULL);
        return;
    }
    api_respond_problem(ctx, problem);
}

/* project=<id>: a member's list of a team project; the caller's own Inbox named is the
 * Inbox list (cached as ever, under its own page hash). An assignee= is a filter of
 * either. 404 for a non-member. */
static void serve_named_project(api_request_ctx *ctx, const task_query *q) {
    project_access access;
    if (project_access_check(ctx, q->project, &access) != 1)
        return;
    if (access.inbox)
        serve_page(ctx, q);
    else
        serve_team_page(ctx, q, LIST_PROJECT);
}

static void handle_list_tasks(api_request_ctx *ctx) {
    json_t *errors = json_array();
    char *query = raw_query(ctx);
    if (errors == NULL || query == NULL) {
        json_decref(errors);
        free(query);
        api_respond_error(ctx, 500, "internal-error", NULL);
        return;
    }
    task_query q;
    int bad = task_query_parse(query, ctx->app->jwt_key, ctx->app->jwt_key_len, &q, errors);
    free(query);
    if (bad > 0) {
        respond_invalid(ctx, errors);
    } else if (bad < 0) {
        json_decref(errors);
        api_respond_error(ctx, 500, "internal-error", NULL);
    } else {
        json_decref(errors);
        if (q.project[0] != '\0')
            serve_named_project(ctx, &q);
        else if (q.assignee[0] != '\0')
            serve_team_page(ctx, &q, LIST_ASSIGNED);
        else
            serve_page(ctx, &q);
    }
    task_query_clear(&q);
}

/* ------------------------------------------------------------------ stats */

/* ?project=<id>: whose counts. Absent or the caller's own Inbox: the caller's (as ever); a
 * team project the caller is a member of (any role): the project's; else 404, like every
 * route under a project (422 for a value that is no id, as the list answers). 1 with *team
 * (project holds its id), or the request was answered. Other parameters are ignored, as
 * they always were here. */
static int stats_scope(api_request_ctx *ctx, char project[UUID_STR_LEN], bool *team) {
    const char *named = ctx->req->map_url != NULL ? u_map_get(ctx->req->map_url, "project") : NULL;
    *team = false;
    if (named == NULL)
        return 1;
    if (!uuid_canonical(named, project)) {
        json_t *errors = json_array();
        if (errors == NULL ||
            api_field_error_add(errors, "project", "must be a project id (a UUID)") != 0) {
            json_decref(errors);
            api_respond_error(ctx, 500, "internal-error", NULL);
        } else {
            respond_invalid(ctx, errors);
        }
        return 0;
    }
    project_access access;
    if (project_access_check(ctx, project, &access) != 1)
        return 0;
    *team = !access.inbox;
    return 1;
}

static void handle_stats(api_request_ctx *ctx) {
    json_t *stats = NULL;
    char project[UUID_STR_LEN];
    bool team = false;
    if (stats_scope(ctx, project, &team) != 1)
        return;
    task_stats_result rc = team ? task_stats_read_project(ctx->app, project, &stats)
                                : task_stats_read(ctx->app, ctx->user_id, &stats);
    if (rc == TASK_STATS_OK)
        api_respond_json(ctx, 200, stats);
    else if (rc == TASK_STATS_UNAVAILABLE)
        respond_unavailable(ctx);
    else
        api_respond_error(ctx, 500, "internal-error", NULL);
}

const api_route ROUTES_TASKS_READ[] = {
    {"GET", "/api/v1/tasks", handle_list_tasks, API_ROUTE_AUTH, API_SCOPE_TASKS_READ},
    {"GET", "/api/v1/tasks/stats", handle_stats, API_ROUTE_AUTH, API_SCOPE_TASKS_READ},
    {"GET", "/api/v1/tasks/:id", handle_get_task, API_ROUTE_AUTH, API_SCOPE_TASKS_READ},
    {NULL, NULL, NULL, 0, 0},
};
