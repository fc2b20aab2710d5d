/*
 * writer_effects.c: what the writer does in Redis after a batch commits.
 *
 * Owns: the effect list, its journal rows and the landing script (see writer_effects.h).
 * Rules: the script's keys are declared in KEYS, all of one user (one cluster slot); the
 * journal holds the exact Redis values as text, so a replay writes what the live path
 * would have written; every allocation is checked and every error path frees.
 */
#include "workers/writer/writer_effects.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/daemon_startup.h"
#include "shared/errbuf.h"
#include "shared/json_text.h"
#include "shared/log.h"
#include "shared/near_cache_bus.h"
#include "shared/redis_keys.h"
#include "shared/strbuf.h"
#include "shared/stringify.h"

#define SCRIPT_FIXED_KEYS 3
#define SCRIPT_FIXED_ARGS 7
#define SCRIPT_KEYS_PER_CMD 2
#define SCRIPT_ARGS_PER_CMD 4
#define RECOVER_BATCH 100

/* KEYS: gen, events log, the near-cache sequence, then per command task key and command
 * key. ARGV: events channel, task TTL, command TTL, stream MAXLEN, near-cache channel,
 * released ("1": the commands were already reported from Postgres, so their markers need
 * no acknowledgement), user id, then per command version, task value ("" for none),
 * status value, event ("" for none). Returns how many commands it landed (the rest had
 * landed before). The invalidation takes the next near-cache sequence and is published
 * after everything it covers, in the same script; markers and live events carry that
 * sequence ("nc_seq"), so a reader reports them only once every API instance applied it. */
static redis_script LAND_SCRIPT = {
    .source =
        "local function field(text, name)\n"
        "  if not text then return nil end\n"
        "  local ok, obj = pcall(cjson.decode, text)\n"
        "  if ok and type(obj) == 'table' then return obj[name] end\n"
        "  return nil\n"
        "end\n"
        "local seq = redis.call('INCR', KEYS[3])\n"
        "local tag = ''\n"
        "if ARGV[6] ~= '1' then tag = ',\"nc_seq\":' .. seq end\n"
        "local landed = 0\n"
        "local n = (#KEYS - 3) / 2\n"
        "for i = 0, n - 1 do\n"
        "  local tkey, ckey = KEYS[4 + 2 * i], KEYS[5 + 2 * i]\n"
        "  local ver = tonumber(ARGV[8 + 4 * i])\n"
        "  local tval, sval, ev = ARGV[9 + 4 * i], ARGV[10 + 4 * i], ARGV[11 + 4 * i]\n"
        "  local st = field(redis.call('GET', ckey), 'status')\n"
        "  if st ~= 'applied' and st ~= 'rejected' then\n"
        "    if tval ~= '' then\n"
        "      local old = tonumber(field(redis.call('GET', tkey), 'version'))\n"
        "      if old == nil or ver > old then\n"
        "        redis.call('SET', tkey, tval, 'EX', ARGV[2])\n"
        "      end\n"
        "      redis.call('INCR', KEYS[1])\n"
        "    end\n"
        "    if ev ~= '' then\n"
        "      local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'event', ev,"
        " 'nc_seq', seq)\n"
        "      redis.call('PUBLISH', ARGV[1], '{\"id\":\"' .. id .. '\"' .. tag .. ',\"event\":' .."
        " ev .. '}')\n"
        "    end\n"
        "    if string.sub(sval, -1) == '}' then sval = string.sub(sval, 1, -2) .. tag .. '}' end\n"
        "    redis.call('SET', ckey, sval, 'EX', ARGV[3])\n"
        "    landed = landed + 1\n"
        "  end\n"
        "end\n"
        "redis.call('PUBLISH', ARGV[5], seq .. ' ' .. ARGV[7] .. ' " NEAR_CACHE_SCOPE_TASKS "')\n"
        "return landed\n",
};

void writer_effect_free(writer_effect *e) {
    free(e->task_value);
    free(e->status_value);
    free(e->event_value);
    memset(e, 0, sizeof *e);
}

/* {"status":..., "task_id":..., "type":..., "task_version" | "problem"}. */
static char *status_value(const task_command *cmd, const writer_decision *dec) {
    json_t *o = json_pack("{s:s,s:s,s:s}", "status", dec->applied ? "applied" : "rejected",
                          "task_id", cmd->task_id, "type", task_command_type_name(cmd->type));
    int rc = o != NULL ? 0 : -1;
    if (rc == 0 && dec->applied) {
        rc = json_object_set_new(o, "task_version", json_integer((json_int_t)dec->task_version));
    } else if (rc == 0 && dec->problem != NULL) {
        rc = json_object_set(o, "problem", dec->problem);
    }
    char *text = rc == 0 ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

int writer_effect_build(writer_effect *e, const task_command *cmd, const writer_decision *dec,
                        char **task_text, char **event_text) {
    memset(e, 0, sizeof *e);
    memcpy(e->user_id, cmd->user_id, UUID_STR_LEN);
    memcpy(e->task_id, cmd->task_id, UUID_STR_LEN);
    memcpy(e->command_id, cmd->command_id, UUID_STR_LEN);
    e->status_value = status_value(cmd, dec);
    if (dec->applied) {
        e->version = dec->task_version;
        e->event_value = *event_text;
        *event_text = NULL;
        if (dec->op == WRITER_ROW_DELETE) {
            char tombstone[64];
            snprintf(tombstone, sizeof tombstone, "{\"deleted\":true,\"version\":%lld}",
                     dec->task_version);
            e->task_value = strdup(tombstone);
        } else {
            e->task_value = *task_text;
            *task_text = NULL;
        }
    }
    if (e->status_value == NULL ||
        (dec->applied && (e->event_value == NULL || e->task_value == NULL))) {
        writer_effect_free(e);
        return -1;
    }
    return 0;
}

void writer_effects_clear(writer_effect_list *list) {
    for (size_t i = 0; i < list->count; i++) {
        writer_effect_free(&list->items[i]);
    }
    list->count = 0;
}

void writer_effects_free(writer_effect_list *list) {
    writer_effects_clear(list);
    free(list->items);
    list->items = NULL;
    list->cap = 0;
}

int writer_effects_push(writer_effect_list *list, writer_effect *e) {
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 64;
        writer_effect *grown = realloc(list->items, cap * sizeof *grown);
        if (grown == NULL) {
            return -1;
        }
        list->items = grown;
        list->cap = cap;
    }
    list->items[list->count++] = *e;
    memset(e, 0, sizeof *e);
    return 0;
}

/* ---- journal ---- */

/* The journal row's text: a JSON array of {u, t, c, v, task, status, event}, the values
 * as JSON strings (or null), written without a jansson tree: this runs for every batch. */
static char *list_to_json(const writer_effect_list *list) {
    strbuf b = {0};
    strbuf_append(&b, "[", 1);
    for (size_t i = 0; i < list->count; i++) {
        const writer_effect *e = &list->items[i];
        char head[192];
        int len = snprintf(head, sizeof head,
                           "%s{\"u\":\"%s\",\"t\":\"%s\",\"c\":\"%s\",\"v\":%lld,\"task\":",
                           i > 0 ? "," : "", e->user_id, e->task_id, e->command_id, e->version);
        strbuf_append(&b, head, (size_t)len);
        json_text_string(&b, e->task_value);
        strbuf_puts(&b, ",\"status\":");
        json_text_string(&b, e->status_value);
        strbuf_puts(&b, ",\"event\":");
        json_text_string(&b, e->event_value);
        strbuf_append(&b, "}", 1);
    }
    strbuf_append(&b, "]", 1);
    if (b.failed) {
        free(b.data);
        return NULL;
    }
    return b.data;
}

static char *dup_opt(const json_t *v) {
    const char *s = json_string_value(v);
    return s != NULL ? strdup(s) : NULL;
}

static int copy_id(char out[UUID_STR_LEN], const json_t *v) {
    const char *s = json_string_value(v);
    if (s == NULL || strlen(s) != UUID_STR_LEN - 1) {
        return -1;
    }
    memcpy(out, s, UUID_STR_LEN);
    return 0;
}

/* One journal element into e. 0, or -1 (e freed). */
static int effect_from_json(const json_t *o, writer_effect *e) {
    memset(e, 0, sizeof *e);
    json_t *task = json_object_get(o, "task");
    json_t *event = json_object_get(o, "event");
    if (copy_id(e->user_id, json_object_get(o, "u")) != 0 ||
        copy_id(e->task_id, json_object_get(o, "t")) != 0 ||
        copy_id(e->command_id, json_object_get(o, "c")) != 0 ||
        !json_is_integer(json_object_get(o, "v"))) {
        return -1;
    }
    e->version = (long long)json_integer_value(json_object_get(o, "v"));
    e->status_value = dup_opt(json_object_get(o, "status"));
    e->task_value = dup_opt(task);
    e->event_value = dup_opt(event);
    if (e->status_value == NULL || (json_is_string(task) && e->task_value == NULL) ||
        (json_is_string(event) && e->event_value == NULL)) {
        writer_effect_free(e);
        return -1;
    }
    return 0;
}

static int list_from_json(const char *text, writer_effect_list *list) {
    json_error_t jerr;
    json_t *arr = json_loads(text, 0, &jerr);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return -1;
    }
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) {
        writer_effect e;
        if (effect_from_json(o, &e) != 0 || writer_effects_push(list, &e) != 0) {
            writer_effect_free(&e);
            json_decref(arr);
            return -1;
        }
    }
    json_decref(arr);
    return 0;
}

static const pg_stmt STMT_JOURNAL_ADD = {
    .name = "writer_journal_add",
    .sql = "INSERT INTO writer_pending_effects (effects) VALUES ($1) RETURNING id",
    .nparams = 1,
};
static const pg_stmt STMT_JOURNAL_DONE = {
    .name = "writer_journal_done",
    .sql = "DELETE FROM writer_pending_effects WHERE id = $1::bigint",
    .nparams = 1,
};
static const pg_stmt STMT_JOURNAL_DUE = {
    .name = "writer_journal_due",
    .sql = "SELECT id, effects, released FROM writer_pending_effects"
           " WHERE created_at <= clock_timestamp() - make_interval(secs => $1::float8 / 1000)"
           " ORDER BY id LIMIT " STRINGIFY(RECOVER_BATCH),
    .nparams = 1,
};

static void copy_pg_error(const PGresult *res, const char *what, char *err, size_t errlen) {
    errbuf_setf_line(err, errlen, "%s: %s", what,
                     res != NULL ? PQresultErrorMessage(res) : "postgres connection failed");
}

int writer_effects_journal_add(pg_conn *conn, const writer_effect_list *list, long long *id_out,
                               char *err, size_t errlen) {
    char *text = list_to_json(list);
    if (text == NULL) {
        errbuf_setf(err, errlen, "journal: cannot serialise %zu effect(s)", list->count);
        return -1;
    }
    const char *vals[1] = {text};
    PGresult *res = pg_exec_stmt(conn, &STMT_JOURNAL_ADD, vals);
    int rc = -1;
    if (pg_result_ok(res) && PQntuples(res) == 1) {
        *id_out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        rc = 0;
    } else {
        copy_pg_error(res, "journal insert", err, errlen);
    }
    PQclear(res);
    free(text);
    return rc;
}

static int journal_delete(pg_conn *conn, long long id, char *err, size_t errlen) {
    char idtext[32];
    snprintf(idtext, sizeof idtext, "%lld", id);
    const char *vals[1] = {idtext};
    PGresult *res = pg_exec_stmt(conn, &STMT_JOURNAL_DONE, vals);
    int rc = pg_result_ok(res) ? 0 : -1;
    if (rc != 0) {
        copy_pg_error(res, "journal delete", err, errlen);
    }
    PQclear(res);
    return rc;
}

int writer_effects_journal_done(pg_pool *pg, long long id, char *err, size_t errlen) {
    pg_conn *conn = pg_pool_acquire(pg, DAEMON_PG_ACQUIRE_MS, err, errlen);
    if (conn == NULL) {
        return -1;
    }
    /* One round trip, without waiting for the WAL flush: a delete lost in a Postgres crash
     * only brings the row back, and the sweep replays it harmlessly (landing is
     * idempotent). The id is a number we format, so the text is safe as SQL. */
    char sql[160];
    snprintf(sql, sizeof sql,
             "BEGIN; SET LOCAL synchronous_commit = off;"
             " DELETE FROM writer_pending_effects WHERE id = %lld; COMMIT",
             id);
    int rc = pg_run(conn, sql, err, errlen);
    pg_rollback(conn);
    pg_pool_release(pg, conn);
    return rc;
}

/* ---- landing ---- */

typedef struct script_call {
    const char **argv;
    char (*keys)[REDIS_KEY_MAX];
    int argc;
    int numkeys;
} script_call;

/* Builds the EVALSHA arguments for effects idx[0..n) of one user. 0, or -1 (OOM). */
static int build_call(const writer_effect_list *list, const size_t *idx, size_t n, bool released,
                      script_call *call, char versions[][24]) {
    const char *uid = list->items[idx[0]].user_id;
    call->numkeys = (int)(SCRIPT_FIXED_KEYS + SCRIPT_KEYS_PER_CMD * n);
    call->argc = call->numkeys + (int)(SCRIPT_FIXED_ARGS + SCRIPT_ARGS_PER_CMD * n);
    call->argv = calloc((size_t)call->argc, sizeof *call->argv);
    call->keys = calloc((size_t)call->numkeys + 1, sizeof *call->keys);
    if (call->argv == NULL || call->keys == NULL) {
        return -1;
    }
    redis_key_generation(call->keys[0], uid);
    redis_key_events_log(call->keys[1], uid);
    snprintf(call->keys[2], sizeof call->keys[2], "%s", NEAR_CACHE_SEQ_KEY);
    redis_key_events_channel(call->keys[call->numkeys], uid);
    const char **args = call->argv + call->numkeys;
    args[0] = call->keys[call->numkeys];
    args[1] = STRINGIFY(CACHE_TASK_TTL_S);
    args[2] = STRINGIFY(CACHE_COMMAND_TTL_S);
    args[3] = STRINGIFY(CACHE_EVENTS_STREAM_MAXLEN);
    args[4] = NEAR_CACHE_CHANNEL;
    args[5] = released ? "1" : "0";
    args[6] = uid;
    for (size_t i = 0; i < n; i++) {
        const writer_effect *e = &list->items[idx[i]];
        redis_key_task(call->keys[SCRIPT_FIXED_KEYS + 2 * i], uid, e->task_id);
        redis_key_command(call->keys[SCRIPT_FIXED_KEYS + 1 + 2 * i], uid, e->command_id);
        snprintf(versions[i], sizeof versions[i], "%lld", e->version);
        const char **a = args + SCRIPT_FIXED_ARGS + SCRIPT_ARGS_PER_CMD * i;
        a[0] = versions[i];
        a[1] = e->task_value != NULL ? e->task_value : "";
        a[2] = e->status_value;
        a[3] = e->event_value != NULL ? e->event_value : "";
    }
    for (int k = 0; k < call->numkeys; k++) {
        call->argv[k] = call->keys[k];
    }
    return 0;
}

/* One EVALSHA for effects idx[0..n), all of one user. 0, or -1 with err. */
static int land_user(redis_pool *redis, const writer_effect_list *list, const size_t *idx, size_t n,
                     bool released, char *err, size_t errlen) {
    script_call call = {0};
    char(*versions)[24] = calloc(n, sizeof *versions);
    int rc = -1;
    if (versions == NULL || build_call(list, idx, n, released, &call, versions) != 0) {
        errbuf_setf(err, errlen, "redis effects: out of memory");
    } else {
        redisReply *r = redis_pool_eval(redis, &LAND_SCRIPT, call.numkeys, call.argc, call.argv);
        if (r == NULL) {
            errbuf_setf(err, errlen, "redis unavailable");
        } else if (r->type != REDIS_REPLY_INTEGER) {
            errbuf_setf(err, errlen, "redis effects script: %s",
                        r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        } else {
            rc = 0;
        }
        freeReplyObject(r);
    }
    free(call.argv);
    free(call.keys);
    free(versions);
    return rc;
}

/* An effect's place in the batch, sorted by user so each user gets one call. */
typedef struct user_ref {
    const char *user_id;
    size_t index;
} user_ref;

/* By user, then batch order, so each user's commands land in the order they applied. */
static int cmp_by_user(const void *a, const void *b) {
    const user_ref *x = a, *y = b;
    int c = strcmp(x->user_id, y->user_id);
    return c != 0 ? c : (x->index > y->index) - (x->index < y->index);
}

int writer_effects_land(redis_pool *redis, const writer_effect_list *list, bool released, char *err,
                        size_t errlen) {
    if (list->count == 0) {
        return 0;
    }
    user_ref *refs = malloc(list->count * sizeof *refs);
    size_t *idx = malloc(list->count * sizeof *idx);
    if (refs == NULL || idx == NULL) {
        errbuf_setf(err, errlen, "redis effects: out of memory");
        free(refs);
        free(idx);
        return -1;
    }
    for (size_t i = 0; i < list->count; i++) {
        refs[i] = (user_ref){list->items[i].user_id, i};
    }
    qsort(refs, list->count, sizeof *refs, cmp_by_user);
    for (size_t i = 0; i < list->count; i++) {
        idx[i] = refs[i].index;
    }
    int rc = 0;
    for (size_t start = 0; rc == 0 && start < list->count;) {
        size_t end = start + 1;
        while (end < list->count && strcmp(refs[end].user_id, refs[start].user_id) == 0) {
            end++;
        }
        rc = land_user(redis, list, idx + start, end - start, released, err, errlen);
        start = end;
    }
    free(refs);
    free(idx);
    return rc;
}

/* ---- recovery ---- */

/* Lands one journal row and deletes it. 0, or -1 with err. */
static int replay_row(pg_conn *conn, redis_pool *redis, long long id, const char *text,
                      bool released, char *err, size_t errlen) {
    writer_effect_list list = {0};
    if (list_from_json(text, &list) != 0) {
        /* A row we cannot read can never land: keep it out of the way, loudly. */
        LOG_ERRORF("writer: journal row %lld is unreadable; deleting it", id);
        writer_effects_free(&list);
        return journal_delete(conn, id, err, errlen);
    }
    int rc = writer_effects_land(redis, &list, released, err, errlen);
    writer_effects_free(&list);
    return rc == 0 ? journal_delete(conn, id, err, errlen) : -1;
}

int writer_effects_recover(pg_pool *pg, redis_pool *redis, int min_age_ms, char *err,
                           size_t errlen) {
    pg_conn *conn = pg_pool_acquire(pg, DAEMON_PG_ACQUIRE_MS, err, errlen);
    if (conn == NULL) {
        return -1;
    }
    char age[16];
    snprintf(age, sizeof age, "%d", min_age_ms);
    const char *vals[1] = {age};
    int replayed = 0;
    for (;;) {
        PGresult *res = pg_exec_stmt(conn, &STMT_JOURNAL_DUE, vals);
        if (!pg_result_ok(res)) {
            copy_pg_error(res, "journal scan", err, errlen);
            PQclear(res);
            replayed = -1;
            break;
        }
        int rows = PQntuples(res);
        for (int r = 0; replayed >= 0 && r < rows; r++) {
            long long id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
            bool released = strcmp(PQgetvalue(res, r, 2), "t") == 0;
            replayed =
                replay_row(conn, redis, id, PQgetvalue(res, r, 1), released, err, errlen) == 0
                    ? replayed + 1
                    : -1;
        }
        PQclear(res);
        if (replayed < 0 || rows < RECOVER_BATCH) {
            break;
        }
    }
    pg_pool_release(pg, conn);
    return replayed;
}
