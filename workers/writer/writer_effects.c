/*
 * writer_effects.c: what the writer does in Redis after a batch commits.
 *
 * Owns: the effect list, its journal rows, the three landing steps and the invalidation
 * of a batch that stays journaled (see writer_effects.h). Rules: each script's keys are
 * declared in KEYS and share one cluster slot (the user's, or {nc} for the invalidation,
 * which is shared/near_cache_bus.c's script); the journal holds the exact Redis values as
 * text, so a replay writes what the live path would have written; every allocation is
 * checked and every error path frees.
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

#define DATA_FIXED_KEYS 2
#define DATA_FIXED_ARGS 3
#define DATA_KEYS_PER_CMD 2
#define DATA_ARGS_PER_CMD 2
#define MARKS_FIXED_KEYS 1
#define MARKS_FIXED_ARGS 5
#define MARKS_ARGS_PER_CMD 2
#define RECOVER_BATCH 100
#define REPLID_MAX 64
/* The list generation's and the event log's TTL, as the scripts spell it. */
#define USER_LOG_TTL STRINGIFY(CACHE_USER_LOG_TTL_S)

/* The status of a command's marker, as both user-slot scripts read it. */
#define LUA_FIELD                                                                                  \
    "local function field(text, name)\n"                                                           \
    "  if not text then return nil end\n"                                                          \
    "  local ok, obj = pcall(cjson.decode, text)\n"                                                \
    "  if ok and type(obj) == 'table' then return obj[name] end\n"                                 \
    "  return nil\n"                                                                               \
    "end\n"                                                                                        \
    "local function landed(ckey)\n"                                                                \
    "  local st = field(redis.call('GET', ckey), 'status')\n"                                      \
    "  return st == 'applied' or st == 'rejected'\n"                                               \
    "end\n"

/* Step 1, data (the user's slot). KEYS: gen, commit LSN, then per command task key and
 * command key. ARGV: task TTL, commit LSN, LSN TTL, then per command version and task
 * value ("" for none). For each command whose marker does not say applied/rejected yet:
 * the task value, set if newer than the cached "version"; one INCR of the list generation
 * when any task changed (its TTL renewed: CACHE_USER_LOG_TTL_S). The commit LSN is set if
 * greater, else its TTL refreshed: always a write, so a WAIT after a replay that found
 * everything landed still covers the node's earlier writes. Returns {pending commands, the
 * node's connected replicas, the node's replication id}: the last two come from INFO
 * replication and decide the WAIT. */
static redis_script DATA_SCRIPT = {
    .source =
        LUA_FIELD "local pending, bump = 0, false\n"
                  "local n = (#KEYS - 2) / 2\n"
                  "for i = 0, n - 1 do\n"
                  "  local tkey, ckey = KEYS[3 + 2 * i], KEYS[4 + 2 * i]\n"
                  "  if not landed(ckey) then\n"
                  "    pending = pending + 1\n"
                  "    local tval = ARGV[5 + 2 * i]\n"
                  "    if tval ~= '' then\n"
                  "      local ver = tonumber(ARGV[4 + 2 * i])\n"
                  "      local old = tonumber(field(redis.call('GET', tkey), 'version'))\n"
                  "      if old == nil or ver > old then\n"
                  "        redis.call('SET', tkey, tval, 'EX', ARGV[1])\n"
                  "      end\n"
                  "      bump = true\n"
                  "    end\n"
                  "  end\n"
                  "end\n"
                  "if bump then\n"
                  "  redis.call('INCR', KEYS[1])\n"
                  "  redis.call('EXPIRE', KEYS[1], " USER_LOG_TTL ")\n"
                  "end\n"
                  "local cur = tonumber(redis.call('GET', KEYS[2]))\n"
                  "if cur == nil or tonumber(ARGV[2]) > cur then\n"
                  "  redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])\n"
                  "else\n"
                  "  redis.call('EXPIRE', KEYS[2], ARGV[3])\n"
                  "end\n"
                  "local info = redis.call('INFO', 'replication')\n"
                  "local replicas = tonumber(string.match(info, 'connected_slaves:(%d+)')) or 0\n"
                  "return {pending, replicas, string.match(info, 'master_replid:(%w+)') or ''}\n",
};

/* Step 3, marks (the user's slot). KEYS: events log, then per command its command key.
 * ARGV: events channel, command TTL, stream MAXLEN, the invalidation's sequence (step 2),
 * released ("1": the commands were already reported from Postgres, so markers and live
 * events carry no "nc_seq"), then per command status value and event ("" for none). For
 * each command not marked yet: XADD the event (with nc_seq; the log's TTL renewed) and
 * PUBLISH it, then the marker, all in one script, so an event is never added twice.
 * Returns how many commands it marked. */
static redis_script MARKS_SCRIPT = {
    .source = LUA_FIELD
    "local seq = ARGV[4]\n"
    "local tag = ''\n"
    "if ARGV[5] ~= '1' then tag = ',\"nc_seq\":' .. seq end\n"
    "local marked = 0\n"
    "for i = 0, #KEYS - 2 do\n"
    "  local ckey = KEYS[2 + i]\n"
    "  local sval, ev = ARGV[6 + 2 * i], ARGV[7 + 2 * i]\n"
    "  if not landed(ckey) then\n"
    "    if ev ~= '' then\n"
    "      local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'event', ev,"
    " 'nc_seq', seq)\n"
    "      redis.call('EXPIRE', KEYS[1], " USER_LOG_TTL ")\n"
    "      redis.call('PUBLISH', ARGV[1], '{\"id\":\"' .. id .. '\"' .. tag .. ',\"event\":' .."
    " ev .. '}')\n"
    "    end\n"
    "    if string.sub(sval, -1) == '}' then sval = string.sub(sval, 1, -2) .. tag .. '}' end\n"
    "    redis.call('SET', ckey, sval, 'EX', ARGV[2])\n"
    "    marked = marked + 1\n"
    "  end\n"
    "end\n"
    "return marked\n",
};

void writer_effect_free(writer_effect *e) {
    free(e->task_value);
    if (e->copy_of == 0) { /* a copy's are its original's */
        free(e->status_value);
        free(e->event_value);
    }
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
        if (dec->team && !dec->left_inbox) {
            /* A team task is not cached: its readers ask Postgres with their membership
             * (docs/decisions.md, "Tasks in team projects (slice 3b)"). */
        } else if (dec->op == WRITER_ROW_DELETE || dec->left_inbox) {
            /* A task moved out of its owner's Inbox leaves the owner's cache like a deleted
             * one: the tombstone's version outranks the cached value, and a reader who finds
             * it asks Postgres for a team task (docs/decisions.md, "Moving tasks"). */
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
        (dec->applied &&
         (e->event_value == NULL || ((!dec->team || dec->left_inbox) && e->task_value == NULL)))) {
        writer_effect_free(e);
        return -1;
    }
    return 0;
}

void writer_effect_build_fanout(writer_effect *e, const writer_effect_list *list, size_t of,
                                const char *member) {
    const writer_effect *o = &list->items[of];
    memset(e, 0, sizeof *e);
    memcpy(e->user_id, member, UUID_STR_LEN);
    memcpy(e->task_id, o->task_id, UUID_STR_LEN);
    char label[64];
    snprintf(label, sizeof label, WRITER_FANOUT_LABEL "%s", member);
    uuid7_derive(o->command_id, label, e->command_id);
    e->version = o->version;
    e->status_value = o->status_value;
    e->event_value = o->event_value;
    e->copy_of = of + 1;
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
 * as JSON strings (or null), written without a jansson tree: this runs for every batch. A
 * member's copy is {u, t, c, v, task: null, of}: the index of the element whose status
 * and event it repeats, so a team's batch costs a short element per member, not a copy of
 * every event. */
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
        if (e->copy_of != 0) { /* a member's copy: its original's index, not its texts */
            len = snprintf(head, sizeof head, ",\"of\":%zu}", e->copy_of - 1);
            strbuf_append(&b, head, (size_t)len);
            continue;
        }
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

/* One journal element into e; list holds the elements before it (a copy's original). 0,
 * or -1 (e freed). */
static int effect_from_json(const json_t *o, writer_effect *e, const writer_effect_list *list) {
    memset(e, 0, sizeof *e);
    json_t *task = json_object_get(o, "task");
    json_t *event = json_object_get(o, "event");
    json_t *of = json_object_get(o, "of");
    if (copy_id(e->user_id, json_object_get(o, "u")) != 0 ||
        copy_id(e->task_id, json_object_get(o, "t")) != 0 ||
        copy_id(e->command_id, json_object_get(o, "c")) != 0 ||
        !json_is_integer(json_object_get(o, "v"))) {
        return -1;
    }
    e->version = (long long)json_integer_value(json_object_get(o, "v"));
    if (of != NULL) {
        json_int_t at = json_is_integer(of) ? json_integer_value(of) : -1;
        if (at < 0 || (size_t)at >= list->count || list->items[at].copy_of != 0) {
            return -1;
        }
        e->status_value = list->items[at].status_value;
        e->event_value = list->items[at].event_value;
        e->copy_of = (size_t)at + 1;
        return 0;
    }
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
        if (effect_from_json(o, &e, list) != 0 || writer_effects_push(list, &e) != 0) {
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

/* One script call: argv holds keys then args; what they point at lives in the call. */
typedef struct script_call {
    const char **argv;
    char (*keys)[REDIS_KEY_MAX]; /* numkeys + 1: the last one is the events channel */
    char (*nums)[24];            /* per command version */
    char lsn[24];
    char seq[24];
    int argc;
    int numkeys;
} script_call;

static void call_free(script_call *call) {
    free(call->argv);
    free(call->keys);
    free(call->nums);
    memset(call, 0, sizeof *call);
}

static int call_alloc(script_call *call, int numkeys, int nargs, size_t n) {
    call->numkeys = numkeys;
    call->argc = numkeys + nargs;
    call->argv = calloc((size_t)call->argc, sizeof *call->argv);
    call->keys = calloc((size_t)numkeys + 1, sizeof *call->keys);
    call->nums = calloc(n ? n : 1, sizeof *call->nums);
    if (call->argv == NULL || call->keys == NULL || call->nums == NULL) {
        call_free(call);
        return -1;
    }
    return 0;
}

/* Step 1's call for effects idx[0..n) of one user. 0, or -1 (OOM). */
static int build_data(const writer_effect_list *list, const size_t *idx, size_t n, long long lsn,
                      script_call *call) {
    const char *uid = list->items[idx[0]].user_id;
    if (call_alloc(call, (int)(DATA_FIXED_KEYS + DATA_KEYS_PER_CMD * n),
                   (int)(DATA_FIXED_ARGS + DATA_ARGS_PER_CMD * n), n) != 0) {
        return -1;
    }
    redis_key_generation(call->keys[0], uid);
    redis_key_commit_lsn(call->keys[1], uid);
    snprintf(call->lsn, sizeof call->lsn, "%lld", lsn);
    const char **args = call->argv + call->numkeys;
    args[0] = STRINGIFY(CACHE_TASK_TTL_S);
    args[1] = call->lsn;
    args[2] = STRINGIFY(CACHE_COMMIT_LSN_TTL_S);
    for (size_t i = 0; i < n; i++) {
        const writer_effect *e = &list->items[idx[i]];
        redis_key_task(call->keys[DATA_FIXED_KEYS + DATA_KEYS_PER_CMD * i], uid, e->task_id);
        redis_key_command(call->keys[DATA_FIXED_KEYS + DATA_KEYS_PER_CMD * i + 1], uid,
                          e->command_id);
        snprintf(call->nums[i], sizeof call->nums[i], "%lld", e->version);
        const char **a = args + DATA_FIXED_ARGS + DATA_ARGS_PER_CMD * i;
        a[0] = call->nums[i];
        a[1] = e->task_value != NULL ? e->task_value : "";
    }
    for (int k = 0; k < call->numkeys; k++) {
        call->argv[k] = call->keys[k];
    }
    return 0;
}

/* Step 3's call for effects idx[0..n) of one user. 0, or -1 (OOM). */
static int build_marks(const writer_effect_list *list, const size_t *idx, size_t n, long long seq,
                       bool released, script_call *call) {
    const char *uid = list->items[idx[0]].user_id;
    if (call_alloc(call, (int)(MARKS_FIXED_KEYS + n),
                   (int)(MARKS_FIXED_ARGS + MARKS_ARGS_PER_CMD * n), n) != 0) {
        return -1;
    }
    redis_key_events_log(call->keys[0], uid);
    redis_key_events_channel(call->keys[call->numkeys], uid);
    snprintf(call->seq, sizeof call->seq, "%lld", seq);
    const char **args = call->argv + call->numkeys;
    args[0] = call->keys[call->numkeys];
    args[1] = STRINGIFY(CACHE_COMMAND_TTL_S);
    args[2] = STRINGIFY(CACHE_EVENTS_STREAM_MAXLEN);
    args[3] = call->seq;
    args[4] = released ? "1" : "0";
    for (size_t i = 0; i < n; i++) {
        const writer_effect *e = &list->items[idx[i]];
        redis_key_command(call->keys[MARKS_FIXED_KEYS + i], uid, e->command_id);
        const char **a = args + MARKS_FIXED_ARGS + MARKS_ARGS_PER_CMD * i;
        a[0] = e->status_value;
        a[1] = e->event_value != NULL ? e->event_value : "";
    }
    for (int k = 0; k < call->numkeys; k++) {
        call->argv[k] = call->keys[k];
    }
    return 0;
}

/* A node the landing wrote to that has a replica to WAIT for: its replication id (the
 * same for every user it owns) and a key it owns, to route the WAIT. */
typedef struct wait_node {
    char replid[REPLID_MAX];
    char route_key[REDIS_KEY_MAX];
} wait_node;

typedef struct wait_list {
    wait_node *items;
    size_t count;
} wait_list;

/* Remembers a node (once); *at gets its index. 0, or -1 (OOM). */
static int wait_add(wait_list *w, size_t cap, const char *replid, const char *route_key, int *at) {
    for (size_t i = 0; i < w->count; i++) {
        if (strcmp(w->items[i].replid, replid) == 0) {
            *at = (int)i;
            return 0;
        }
    }
    if (w->items == NULL && (w->items = calloc(cap, sizeof *w->items)) == NULL) {
        return -1;
    }
    snprintf(w->items[w->count].replid, REPLID_MAX, "%s", replid);
    snprintf(w->items[w->count].route_key, REDIS_KEY_MAX, "%s", route_key);
    *at = (int)w->count++;
    return 0;
}

/* Reads step 1's reply {pending, replicas, replid}. 0, or -1 with err. */
static int read_data_reply(const redisReply *r, long long *pending, long long *replicas,
                           char replid[REPLID_MAX], char *err, size_t errlen) {
    if (r == NULL) {
        errbuf_setf(err, errlen, "redis unavailable");
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_INTEGER ||
        r->element[2]->type != REDIS_REPLY_STRING) {
        errbuf_setf(err, errlen, "redis data step: %s",
                    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        return -1;
    }
    *pending = r->element[0]->integer;
    *replicas = r->element[1]->integer;
    snprintf(replid, REPLID_MAX, "%s", r->element[2]->str);
    return 0;
}

/* Step 1: data. 0 with *pending and, when the node has a replica, the node noted in waits
 * and *node = its index there (else -1); -1 with err. */
static int land_data(redis_pool *redis, const writer_effect_list *list, const size_t *idx, size_t n,
                     long long lsn, wait_list *waits, size_t wait_cap, long long *pending,
                     int *node, char *err, size_t errlen) {
    script_call call = {0};
    if (build_data(list, idx, n, lsn, &call) != 0) {
        errbuf_setf(err, errlen, "redis effects: out of memory");
        return -1;
    }
    redisReply *r = redis_pool_eval(redis, &DATA_SCRIPT, call.numkeys, call.argc, call.argv);
    long long replicas = 0;
    char replid[REPLID_MAX];
    int rc = read_data_reply(r, pending, &replicas, replid, err, errlen);
    if (r != NULL) {
        freeReplyObject(r);
    }
    *node = -1;
    if (rc == 0 && replicas > 0 && wait_add(waits, wait_cap, replid, call.keys[0], node) != 0) {
        errbuf_setf(err, errlen, "redis effects: out of memory");
        rc = -1;
    }
    call_free(&call);
    return rc;
}

/* Step 3: marks. 0, or -1 with err. */
static int land_marks(redis_pool *redis, const writer_effect_list *list, const size_t *idx,
                      size_t n, long long seq, bool released, char *err, size_t errlen) {
    script_call call = {0};
    if (build_marks(list, idx, n, seq, released, &call) != 0) {
        errbuf_setf(err, errlen, "redis effects: out of memory");
        return -1;
    }
    redisReply *r = redis_pool_eval(redis, &MARKS_SCRIPT, call.numkeys, call.argc, call.argv);
    int rc = -1;
    if (r == NULL) {
        errbuf_setf(err, errlen, "redis unavailable");
    } else if (r->type != REDIS_REPLY_INTEGER) {
        errbuf_setf(err, errlen, "redis marks step: %s",
                    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    } else {
        rc = 0;
    }
    if (r != NULL) {
        freeReplyObject(r);
    }
    call_free(&call);
    return rc;
}

/* WAIT 1 on every node noted whose flag in only[] is set (every node when only is NULL),
 * through a key it owns, on the connection the step's scripts used (the pool hands this
 * thread the same per-node connection while it stays healthy). what names the step in the
 * error. 0 when each has a replica's acknowledgement, -1 with err. */
static int wait_replicas(redis_pool *redis, const wait_list *waits, const bool *only, int wait_ms,
                         const char *what, char *err, size_t errlen) {
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d", wait_ms > 0 ? wait_ms : 1);
    for (size_t i = 0; i < waits->count; i++) {
        if (only != NULL && !only[i]) {
            continue;
        }
        const char *argv[3] = {"WAIT", "1", timeout};
        redisReply *r = redis_pool_command_on_key(redis, waits->items[i].route_key, 3, argv, NULL);
        bool ok = r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer >= 1;
        if (!ok) {
            errbuf_setf(err, errlen, "redis WAIT (%s): %s", what,
                        r == NULL                      ? "redis unavailable"
                        : r->type == REDIS_REPLY_ERROR ? r->str
                                                       : "no replica confirmed in time");
        }
        if (r != NULL) {
            freeReplyObject(r);
        }
        if (!ok) {
            return -1;
        }
    }
    return 0;
}

/* An effect's place in the batch, sorted by user so each user gets one call per step. */
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

int writer_replica_wait_ms(int lease_ms) {
    int ms = near_cache_journal_grace_ms(lease_ms) / 4;
    return ms > 10 ? ms : 10;
}

/* One user's effects in the sorted index: idx[start..end). */
typedef struct user_group {
    size_t start;
    size_t end;
    long long seq; /* step 2's sequence; 0: nothing was pending (skip steps 2 and 3) */
    int node;      /* the user's node in the wait list, or -1 (no replica: no WAIT) */
} user_group;

/* Splits the sorted refs into user groups. Returns how many. */
static size_t group_users(const user_ref *refs, size_t count, user_group *groups) {
    size_t ngroups = 0;
    for (size_t start = 0; start < count;) {
        size_t end = start + 1;
        while (end < count && strcmp(refs[end].user_id, refs[start].user_id) == 0) {
            end++;
        }
        groups[ngroups++] = (user_group){.start = start, .end = end};
        start = end;
    }
    return ngroups;
}

/* Step 2 for every group with pending commands, in one script: their sequences. A group
 * whose commands were all marked already (a replay of a finished landing) skips steps 2
 * and 3: the landing that marked them published after its data. 0, or -1 with err. */
static int land_invalidations(redis_pool *redis, const writer_effect_list *list, const size_t *idx,
                              user_group *groups, size_t ngroups, char *err, size_t errlen) {
    const char **uids = malloc((ngroups ? ngroups : 1) * sizeof *uids);
    if (uids == NULL) {
        errbuf_setf(err, errlen, "redis effects: out of memory");
        return -1;
    }
    size_t n = 0;
    for (size_t g = 0; g < ngroups; g++) {
        if (groups[g].seq != 0) {
            uids[n++] = list->items[idx[groups[g].start]].user_id;
        }
    }
    long long first = 0;
    int rc = 0;
    if (n > 0 &&
        near_cache_bus_publish_users(redis, NEAR_CACHE_SCOPE_TASKS, uids, n, &first) != 0) {
        errbuf_setf(err, errlen, "redis unavailable (invalidation step)");
        rc = -1;
    }
    for (size_t g = 0, k = 0; rc == 0 && g < ngroups; g++) {
        if (groups[g].seq != 0) {
            groups[g].seq = first + (long long)k++;
        }
    }
    free(uids);
    return rc;
}

/* Step 3 for every group with pending commands, then WAIT 1 on each node it wrote to that
 * has a replica. 0, or -1 with err. */
static int land_all_marks(redis_pool *redis, const writer_effect_list *list, const size_t *idx,
                          const user_group *groups, size_t ngroups, const writer_land_opts *opts,
                          const wait_list *waits, bool wait, char *err, size_t errlen) {
    bool *marked = calloc(waits->count ? waits->count : 1, sizeof *marked);
    if (marked == NULL) {
        errbuf_setf(err, errlen, "redis effects: out of memory");
        return -1;
    }
    int rc = 0;
    for (size_t g = 0; rc == 0 && g < ngroups; g++) {
        if (groups[g].seq == 0) {
            continue;
        }
        rc = land_marks(redis, list, idx + groups[g].start, groups[g].end - groups[g].start,
                        groups[g].seq, opts->released, err, errlen);
        if (groups[g].node >= 0) {
            marked[groups[g].node] = true;
        }
    }
    if (rc == 0 && wait) {
        rc = wait_replicas(redis, waits, marked, opts->replica_wait_ms, "marks", err, errlen);
    }
    free(marked);
    return rc;
}

/* The steps, each for every user before the next: step 1 per user, then WAIT 1 on each of
 * their nodes that has a replica (nothing reports data a failover could still lose), step 2
 * once for the batch, step 3 per user, then WAIT 1 again on the nodes step 3 wrote to (the
 * stream entries and markers; the journal row is deleted only after it). Per user the
 * order is data, invalidation, marks. */
static int land_groups(redis_pool *redis, const writer_effect_list *list, const size_t *idx,
                       user_group *groups, size_t ngroups, const writer_land_opts *opts,
                       writer_land_step upto, wait_list *waits, char *err, size_t errlen) {
    for (size_t g = 0; g < ngroups; g++) {
        long long pending = 0;
        if (land_data(redis, list, idx + groups[g].start, groups[g].end - groups[g].start,
                      opts->commit_lsn, waits, ngroups, &pending, &groups[g].node, err,
                      errlen) != 0) {
            return -1;
        }
        groups[g].seq = pending > 0 ? 1 : 0;
    }
    if (upto < WRITER_LAND_INVALIDATE) {
        return 0;
    }
    if (wait_replicas(redis, waits, NULL, opts->replica_wait_ms, "data", err, errlen) != 0) {
        return -1;
    }
    if (land_invalidations(redis, list, idx, groups, ngroups, err, errlen) != 0) {
        return -1;
    }
    if (upto < WRITER_LAND_MARKS) {
        return 0;
    }
    return land_all_marks(redis, list, idx, groups, ngroups, opts, waits, upto >= WRITER_LAND_ALL,
                          err, errlen);
}

int writer_effects_land_upto(redis_pool *redis, const writer_effect_list *list,
                             const writer_land_opts *opts, writer_land_step upto, char *err,
                             size_t errlen) {
    if (list->count == 0) {
        return 0;
    }
    if (opts->commit_lsn <= 0) {
        errbuf_setf(err, errlen, "redis effects: no commit LSN");
        return -1;
    }
    user_ref *refs = malloc(list->count * sizeof *refs);
    size_t *idx = malloc(list->count * sizeof *idx);
    user_group *groups = malloc(list->count * sizeof *groups);
    if (refs == NULL || idx == NULL || groups == NULL) {
        errbuf_setf(err, errlen, "redis effects: out of memory");
        free(refs);
        free(idx);
        free(groups);
        return -1;
    }
    for (size_t i = 0; i < list->count; i++) {
        refs[i] = (user_ref){list->items[i].user_id, i};
    }
    qsort(refs, list->count, sizeof *refs, cmp_by_user);
    for (size_t i = 0; i < list->count; i++) {
        idx[i] = refs[i].index;
    }
    size_t ngroups = group_users(refs, list->count, groups);
    wait_list waits = {0};
    int rc = land_groups(redis, list, idx, groups, ngroups, opts, upto, &waits, err, errlen);
    free(waits.items);
    free(groups);
    free(refs);
    free(idx);
    return rc;
}

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

size_t writer_effects_users(const writer_effect_list *list, const char **out) {
    for (size_t i = 0; i < list->count; i++) {
        out[i] = list->items[i].user_id;
    }
    qsort(out, list->count, sizeof *out, cmp_str_ptr);
    size_t n = 0;
    for (size_t i = 0; i < list->count; i++) {
        if (n == 0 || strcmp(out[n - 1], out[i]) != 0) {
            out[n++] = out[i];
        }
    }
    return n;
}

int writer_effects_invalidate(redis_pool *redis, const writer_effect_list *list, char *err,
                              size_t errlen) {
    if (list->count == 0) {
        return 0;
    }
    const char **uids = malloc(list->count * sizeof *uids);
    if (uids == NULL) {
        errbuf_setf(err, errlen, "redis effects: out of memory");
        return -1;
    }
    size_t n = writer_effects_users(list, uids);
    long long first = 0;
    int rc = near_cache_bus_publish_users(redis, NEAR_CACHE_SCOPE_TASKS, uids, n, &first);
    if (rc != 0) {
        errbuf_setf(err, errlen, "redis unavailable (invalidation step)");
    }
    free(uids);
    return rc;
}

int writer_effects_land(redis_pool *redis, const writer_effect_list *list,
                        const writer_land_opts *opts, char *err, size_t errlen) {
    return writer_effects_land_upto(redis, list, opts, WRITER_LAND_ALL, err, errlen);
}

int writer_effects_step_keys(const writer_effect_list *list, writer_land_step step,
                             char (**keys_out)[REDIS_KEY_MAX], int *nkeys_out) {
    *keys_out = NULL;
    *nkeys_out = 0;
    if (list->count == 0) {
        return -1;
    }
    size_t *idx = malloc(list->count * sizeof *idx);
    if (idx == NULL) {
        return -1;
    }
    for (size_t i = 0; i < list->count; i++) {
        idx[i] = i;
    }
    script_call call = {0};
    int rc = 0;
    if (step == WRITER_LAND_DATA) {
        rc = build_data(list, idx, list->count, 1, &call);
    } else if (step == WRITER_LAND_MARKS) {
        rc = build_marks(list, idx, list->count, 1, false, &call);
    } else if (step == WRITER_LAND_INVALIDATE) {
        rc = call_alloc(&call, 1, 2, 1);
        if (rc == 0) {
            snprintf(call.keys[0], REDIS_KEY_MAX, "%s", NEAR_CACHE_SEQ_KEY);
        }
    } else {
        rc = -1;
    }
    free(idx);
    if (rc != 0) {
        call_free(&call);
        return -1;
    }
    *keys_out = call.keys;
    *nkeys_out = call.numkeys;
    call.keys = NULL;
    call_free(&call);
    return 0;
}

int writer_effects_commit_lsn(pg_conn *conn, long long *lsn_out, char *err, size_t errlen) {
    PGresult *res = pg_exec_sql(conn, "SELECT (pg_current_wal_lsn() - '0/0')::bigint");
    int rc = -1;
    if (pg_result_ok(res) && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        *lsn_out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        rc = *lsn_out > 0 ? 0 : -1;
        if (rc != 0) {
            errbuf_setf(err, errlen, "commit LSN: %s", PQgetvalue(res, 0, 0));
        }
    } else {
        copy_pg_error(res, "commit LSN", err, errlen);
    }
    PQclear(res);
    return rc;
}

int writer_effects_commit_lsn_pool(pg_pool *pg, long long *lsn_out, char *err, size_t errlen) {
    pg_conn *conn = pg_pool_acquire(pg, DAEMON_PG_ACQUIRE_MS, err, errlen);
    if (conn == NULL) {
        return -1;
    }
    int rc = writer_effects_commit_lsn(conn, lsn_out, err, errlen);
    pg_pool_release(pg, conn);
    return rc;
}

/* ---- recovery ---- */

/* Lands one journal row and deletes it. 0, or -1 with err. */
static int replay_row(pg_conn *conn, redis_pool *redis, long long id, const char *text,
                      const writer_land_opts *opts, char *err, size_t errlen) {
    writer_effect_list list = {0};
    if (list_from_json(text, &list) != 0) {
        /* A row we cannot read can never land: keep it out of the way, loudly. */
        LOG_ERRORF("writer: journal row %lld is unreadable; deleting it", id);
        writer_effects_free(&list);
        return journal_delete(conn, id, err, errlen);
    }
    int rc = writer_effects_land(redis, &list, opts, err, errlen);
    writer_effects_free(&list);
    return rc == 0 ? journal_delete(conn, id, err, errlen) : -1;
}

int writer_effects_recover(pg_pool *pg, redis_pool *redis, int min_age_ms, int replica_wait_ms,
                           char *err, size_t errlen) {
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
        /* Read after the scan: every row it returned was committed before it, so this LSN
         * is at or past each of their commits (the rows do not keep their own). */
        writer_land_opts opts = {.replica_wait_ms = replica_wait_ms};
        if (rows > 0 && writer_effects_commit_lsn(conn, &opts.commit_lsn, err, errlen) != 0) {
            replayed = -1;
        }
        for (int r = 0; replayed >= 0 && r < rows; r++) {
            long long id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
            opts.released = strcmp(PQgetvalue(res, r, 2), "t") == 0;
            replayed = replay_row(conn, redis, id, PQgetvalue(res, r, 1), &opts, err, errlen) == 0
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
