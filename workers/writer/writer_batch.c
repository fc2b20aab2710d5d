/*
 * writer_batch.c: one batch of task commands, from Kafka records to committed effects.
 *
 * Owns: the order of work inside a batch and the per-batch bookkeeping (see
 * writer_batch.h). Rules: every allocation of a batch is freed before on_batch returns,
 * on every path; the only thing that outlives it is the effect list in the ctx, which
 * after_commit consumes; the commands rows go in as one statement over array parameters.
 */
#include "workers/writer/writer_batch.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/errbuf.h"
#include "shared/log.h"
#include "shared/near_cache_bus.h"
#include "shared/task_command_codec.h"
#include "shared/time_util.h"
#include "shared/pg_array.h"
#include "shared/strbuf.h"
#include "workers/writer/writer_dlq.h"
#include "workers/writer/writer_execute.h"

#define ERR_LEN 512

static const pg_stmt STMT_SEEN = {
    .name = "writer_commands_seen",
    .sql = "SELECT command_id::text FROM commands WHERE command_id = ANY($1::uuid[])",
    .nparams = 1,
};
static const pg_stmt STMT_RECORD = {
    .name = "writer_commands_record",
    .sql = "INSERT INTO commands (command_id, user_id, task_id, type, status, problem,"
           " task_version, import_id, effects_id)"
           " SELECT x.command_id, x.user_id, x.task_id, x.type, x.status, x.problem,"
           " x.task_version, x.import_id, NULLIF($9::bigint, 0)"
           " FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::jsonb[],"
           " $7::bigint[], $8::uuid[])"
           " AS x(command_id, user_id, task_id, type, status, problem, task_version, import_id)",
    .nparams = 9,
};

/* One record of the batch as the writer sees it. */
typedef enum { REC_DECODED, REC_DEAD, REC_SKIP } rec_state;

typedef struct batch {
    const kafka_record *recs;
    size_t n;
    task_command *cmds;
    rec_state *state;
    writer_item *items; /* the decoded commands not seen before, in batch order */
    size_t *at;         /* items[k] is recs[at[k]] */
    bool *dead;         /* items[k] went to the DLQ (careful path) */
    size_t nitems;
} batch;

static void batch_free(batch *b) {
    for (size_t i = 0; b->cmds != NULL && i < b->n; i++) {
        task_command_clear(&b->cmds[i]);
    }
    for (size_t k = 0; b->items != NULL && k < b->nitems; k++) {
        writer_item_clear(&b->items[k]);
    }
    free(b->cmds);
    free(b->state);
    free(b->items);
    free(b->at);
    free(b->dead);
}

/* ---- decoding and the DLQ ---- */

static bool already_dead(const writer_ctx *ctx, const kafka_record *rec) {
    for (size_t i = 0; i < ctx->ndead; i++) {
        if (ctx->dead[i].partition == rec->partition && ctx->dead[i].offset == rec->offset) {
            return true;
        }
    }
    return false;
}

/* Remembers a parked record; forgetting one (no memory) only risks a second copy. */
static void remember_dead(writer_ctx *ctx, const kafka_record *rec) {
    if (ctx->ndead == ctx->dead_cap) {
        size_t cap = ctx->dead_cap ? ctx->dead_cap * 2 : 16;
        writer_dead_ref *grown = realloc(ctx->dead, cap * sizeof *grown);
        if (grown == NULL) {
            return;
        }
        ctx->dead = grown;
        ctx->dead_cap = cap;
    }
    ctx->dead[ctx->ndead++] = (writer_dead_ref){rec->partition, rec->offset};
}

/* Sends rec to the DLQ and says so. 0, or -1. */
static int send_dead_logged(writer_ctx *ctx, const kafka_record *rec, const char *reason) {
    char err[ERR_LEN];
    if (writer_dlq_send(ctx->producer, ctx->dlq_topic, rec, reason, err, sizeof err) != 0) {
        LOG_ERRORF("writer: cannot send %s[%d]@%lld to %s: %s", rec->topic, (int)rec->partition,
                   (long long)rec->offset, ctx->dlq_topic, err);
        return -1;
    }
    LOG_WARNF("writer: %s[%d]@%lld sent to %s: %s", rec->topic, (int)rec->partition,
              (long long)rec->offset, ctx->dlq_topic, reason);
    remember_dead(ctx, rec);
    ctx->stats.dlq++;
    return 0;
}

/* A dead letter; its lines carry the record's ids (kafka_record_log_context). */
static int send_dead(writer_ctx *ctx, const kafka_record *rec, const char *reason) {
    if (already_dead(ctx, rec)) {
        ctx->stats.dlq++;
        return 0;
    }
    kafka_record_log_context(rec);
    int rc = send_dead_logged(ctx, rec, reason);
    kafka_record_log_context(NULL);
    return rc;
}

/* Decodes every record; those that do not decode go to the DLQ. 0, or -1. */
static int decode_all(writer_ctx *ctx, batch *b) {
    for (size_t i = 0; i < b->n; i++) {
        char why[ERR_LEN];
        char reason[ERR_LEN + 16];
        if (task_command_decode(b->recs[i].value, b->recs[i].value_len, &b->cmds[i], why,
                                sizeof why) == 0) {
            b->state[i] = REC_DECODED;
            continue;
        }
        b->state[i] = REC_DEAD;
        snprintf(reason, sizeof reason, "decode: %s", why);
        if (send_dead(ctx, &b->recs[i], reason) != 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- skipping what was applied before ---- */

static bool same_id_before(const batch *b, size_t upto, const char *id) {
    for (size_t j = 0; j < upto; j++) {
        if (b->state[j] == REC_DECODED && strcmp(b->cmds[j].command_id, id) == 0) {
            return true;
        }
    }
    return false;
}

/* Marks REC_SKIP every command already in `commands`, and repeats within the batch. */
static int mark_seen(pg_conn *conn, batch *b, char *err, size_t errlen) {
    strbuf ids = {0};
    pg_array_open(&ids);
    for (size_t i = 0; i < b->n; i++) {
        if (b->state[i] == REC_DECODED) {
            pg_array_add(&ids, b->cmds[i].command_id);
        }
    }
    pg_array_close(&ids);
    if (ids.failed) {
        free(ids.data);
        errbuf_setf(err, errlen, "out of memory");
        return -1;
    }
    const char *vals[1] = {ids.data};
    PGresult *res = pg_exec_stmt(conn, &STMT_SEEN, vals);
    free(ids.data);
    if (!pg_result_ok(res)) {
        errbuf_setf(err, errlen, "commands lookup: %s",
                    res != NULL ? PQresultErrorMessage(res) : "postgres connection failed");
        PQclear(res);
        return -1;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        for (size_t i = 0; i < b->n; i++) {
            if (b->state[i] == REC_DECODED &&
                strcmp(b->cmds[i].command_id, PQgetvalue(res, r, 0)) == 0) {
                b->state[i] = REC_SKIP;
            }
        }
    }
    PQclear(res);
    /* A command produced twice close together may sit twice in one batch. */
    for (size_t i = 1; i < b->n; i++) {
        if (b->state[i] == REC_DECODED && same_id_before(b, i, b->cmds[i].command_id)) {
            b->state[i] = REC_SKIP;
        }
    }
    return 0;
}

/* ---- applying ---- */

static bool data_error(const char *sqlstate) {
    return strncmp(sqlstate, "22", 2) == 0 || strncmp(sqlstate, "23", 2) == 0;
}

static int savepoint(pg_conn *conn, const char *sql) {
    char err[ERR_LEN];
    if (pg_run(conn, sql, err, sizeof err) != 0) {
        LOG_ERRORF("writer: %s", err);
        return -1;
    }
    return 0;
}

/* Careful path: items[lo..hi) in a savepoint; a slice that fails with a data error is
 * undone and split in halves, down to the one command that fails, which goes to the DLQ
 * (its item is marked dead). The same executor as the fast path, on smaller slices.
 * 0, or -1 (a failure that is not the data's: retry the batch). */
static int apply_slice(writer_ctx *ctx, pg_conn *conn, batch *b, size_t lo, size_t hi) {
    char err[ERR_LEN];
    char sqlstate[6];
    if (savepoint(conn, "SAVEPOINT writer_slice") != 0) {
        return -1;
    }
    if (writer_execute(conn, b->items + lo, hi - lo, sqlstate, err, sizeof err) == 0) {
        return savepoint(conn, "RELEASE SAVEPOINT writer_slice");
    }
    LOG_ERRORF("writer: %zu command(s) from %s: %s (sqlstate %s)", hi - lo,
               b->items[lo].cmd->command_id, err, sqlstate);
    if (!data_error(sqlstate) ||
        savepoint(conn, "ROLLBACK TO SAVEPOINT writer_slice; RELEASE SAVEPOINT writer_slice") !=
            0) {
        return -1;
    }
    for (size_t k = lo; k < hi; k++) {
        writer_item_clear(&b->items[k]);
    }
    if (hi - lo == 1) {
        char reason[ERR_LEN + 16];
        snprintf(reason, sizeof reason, "apply: %s", err);
        b->dead[lo] = true;
        return send_dead(ctx, &b->recs[b->at[lo]], reason);
    }
    size_t mid = lo + (hi - lo) / 2;
    if (apply_slice(ctx, conn, b, lo, mid) != 0) {
        return -1;
    }
    return apply_slice(ctx, conn, b, mid, hi);
}

/* Lists the commands to apply as executor items. 0, or -1 (no memory). */
static int list_items(batch *b) {
    b->items = calloc(b->n ? b->n : 1, sizeof *b->items);
    b->at = calloc(b->n ? b->n : 1, sizeof *b->at);
    b->dead = calloc(b->n ? b->n : 1, sizeof *b->dead);
    if (b->items == NULL || b->at == NULL || b->dead == NULL) {
        return -1;
    }
    for (size_t i = 0; i < b->n; i++) {
        if (b->state[i] == REC_DECODED) {
            b->items[b->nitems] = (writer_item){.cmd = &b->cmds[i],
                                                .request_id = b->recs[i].request_id,
                                                .traceparent = b->recs[i].traceparent};
            b->at[b->nitems++] = i;
        }
    }
    return 0;
}

/* Applies the batch's commands: all at once, or, after a data error, carefully. 0, or -1
 * (ctx->careful set when a data error makes plain retries pointless). */
static int apply_items(writer_ctx *ctx, pg_conn *conn, batch *b) {
    if (ctx->careful) {
        return b->nitems > 0 ? apply_slice(ctx, conn, b, 0, b->nitems) : 0;
    }
    char err[ERR_LEN];
    char sqlstate[6];
    if (writer_execute(conn, b->items, b->nitems, sqlstate, err, sizeof err) != 0) {
        LOG_ERRORF("writer: %s (sqlstate %s)", err, sqlstate);
        ctx->careful = data_error(sqlstate);
        return -1;
    }
    return 0;
}

/* Appends the effect of cmd decided as dec (taking the texts). 0, or -1. */
static int push_effect(writer_ctx *ctx, const task_command *cmd, const writer_decision *dec,
                       char **task_text, char **event_text) {
    writer_effect eff;
    if (writer_effect_build(&eff, cmd, dec, task_text, event_text) != 0) {
        LOG_ERRORF("writer: out of memory recording command %s", cmd->command_id);
        return -1;
    }
    if (writer_effects_push(&ctx->effects, &eff) != 0) {
        LOG_ERRORF("writer: out of memory recording command %s", cmd->command_id);
        writer_effect_free(&eff);
        return -1;
    }
    return 0;
}

/* The copies of the effect just pushed (an applied team command's, or its next
 * occurrence's) for the other members of its project. 0, or -1. */
static int push_fanout(writer_ctx *ctx, const writer_item *it) {
    size_t of = ctx->effects.count - 1; /* the original: every copy is derived from it */
    for (size_t m = 0; m < it->nfanout; m++) {
        writer_effect eff;
        writer_effect_build_fanout(&eff, &ctx->effects, of, it->fanout[m]);
        if (writer_effects_push(&ctx->effects, &eff) != 0) {
            LOG_ERRORF("writer: out of memory recording command %s", it->cmd->command_id);
            return -1; /* eff owns nothing: its texts are the original's */
        }
    }
    return 0;
}

/* The effects and commands rows of the applied and rejected items, each next occurrence
 * right after the completion that made it, each team command's copies for the project's
 * other members right after its own. 0, or -1. */
static int collect(writer_ctx *ctx, batch *b) {
    for (size_t k = 0; k < b->nitems; k++) {
        writer_item *it = &b->items[k];
        if (b->dead[k]) {
            continue;
        }
        writer_next *next = &it->next;
        if (push_effect(ctx, it->cmd, &it->dec, &it->task_text, &it->event_text) != 0 ||
            push_fanout(ctx, it) != 0 ||
            (next->made &&
             (push_effect(ctx, &next->cmd, &next->dec, &next->task_text, &next->event_text) != 0 ||
              push_fanout(ctx, it) != 0))) {
            return -1;
        }
        ctx->stats.occurrences += next->made;
        if (it->dec.applied) {
            ctx->stats.applied++;
        } else {
            ctx->stats.rejected++;
        }
    }
    return 0;
}

#define RECORD_COLUMNS 8

/* Appends the commands row of cmd decided as dec to cols. false when out of memory. */
static bool add_command_row(strbuf *cols, const task_command *c, const writer_decision *dec) {
    char version[24];
    snprintf(version, sizeof version, "%lld", dec->task_version);
    char *problem = dec->problem != NULL ? json_dumps(dec->problem, JSON_COMPACT) : NULL;
    const char *vals[RECORD_COLUMNS] = {
        c->command_id,
        c->user_id,
        c->task_id,
        task_command_type_name(c->type),
        dec->applied ? "applied" : "rejected",
        problem,
        dec->applied ? version : NULL,
        c->import_id[0] != '\0' ? c->import_id : NULL,
    };
    for (int col = 0; col < RECORD_COLUMNS; col++) {
        pg_array_add(&cols[col], vals[col]);
    }
    free(problem);
    return dec->problem == NULL || problem != NULL;
}

/* The commands rows (a next occurrence's too, under its derived command id), each naming
 * the journal row of its effects (journal_id, 0: none). */
static int record_commands(pg_conn *conn, const batch *b, long long journal_id) {
    strbuf cols[RECORD_COLUMNS] = {0};
    size_t rows = 0;
    for (int c = 0; c < RECORD_COLUMNS; c++) {
        pg_array_open(&cols[c]);
    }
    bool failed = false;
    for (size_t k = 0; k < b->nitems; k++) {
        const writer_item *it = &b->items[k];
        if (b->dead[k]) {
            continue;
        }
        failed = !add_command_row(cols, it->cmd, &it->dec) || failed;
        rows++;
        if (it->next.made) {
            failed = !add_command_row(cols, &it->next.cmd, &it->next.dec) || failed;
            rows++;
        }
    }
    char journal[24];
    snprintf(journal, sizeof journal, "%lld", journal_id);
    const char *vals[RECORD_COLUMNS + 1];
    for (int c = 0; c < RECORD_COLUMNS; c++) {
        pg_array_close(&cols[c]);
        failed = failed || cols[c].failed;
        vals[c] = cols[c].data;
    }
    vals[RECORD_COLUMNS] = journal;
    int rc = 0;
    if (failed) {
        LOG_ERRORF("writer: out of memory listing commands rows");
        rc = -1;
    } else if (rows > 0) {
        PGresult *res = pg_exec_stmt(conn, &STMT_RECORD, vals);
        rc = pg_result_ok(res) ? 0 : -1;
        if (rc != 0) {
            LOG_ERRORF("writer: recording commands: %s",
                       res != NULL ? PQresultErrorMessage(res) : "postgres connection failed");
        }
        PQclear(res);
    }
    for (int c = 0; c < RECORD_COLUMNS; c++) {
        free(cols[c].data);
    }
    return rc;
}

static int run_batch(writer_ctx *ctx, pg_conn *conn, batch *b) {
    char err[ERR_LEN];
    if (decode_all(ctx, b) != 0) {
        return -1;
    }
    if (mark_seen(conn, b, err, sizeof err) != 0) {
        LOG_ERRORF("writer: %s", err);
        return -1;
    }
    for (size_t i = 0; i < b->n; i++) {
        ctx->stats.skipped += b->state[i] == REC_SKIP;
    }
    if (list_items(b) != 0) {
        LOG_ERRORF("writer: out of memory for a batch of %zu", b->n);
        return -1;
    }
    if (apply_items(ctx, conn, b) != 0 || collect(ctx, b) != 0) {
        return -1;
    }
    if (ctx->effects.count > 0 &&
        writer_effects_journal_add(conn, &ctx->effects, &ctx->journal_id, err, sizeof err) != 0) {
        LOG_ERRORF("writer: %s", err);
        return -1;
    }
    return record_commands(conn, b, ctx->journal_id);
}

int writer_on_batch(void *vctx, pg_conn *conn, const kafka_record *records, size_t count) {
    writer_ctx *ctx = vctx;
    writer_effects_clear(&ctx->effects);
    ctx->journal_id = 0;
    memset(&ctx->stats, 0, sizeof ctx->stats);
    ctx->stats.records = count;
    ctx->batch_start_ns = time_monotonic_ns();
    batch b = {.recs = records, .n = count};
    b.cmds = calloc(count, sizeof *b.cmds);
    b.state = calloc(count, sizeof *b.state);
    int rc = -1;
    if (b.cmds == NULL || b.state == NULL) {
        LOG_ERRORF("writer: out of memory for a batch of %zu", count);
    } else {
        rc = run_batch(ctx, conn, &b);
    }
    batch_free(&b);
    if (rc != 0) {
        writer_effects_clear(&ctx->effects);
        ctx->journal_id = 0;
    }
    return rc;
}

/* ---- after the commit ---- */

static void log_batch(const writer_ctx *ctx) {
    double secs = (double)(time_monotonic_ns() - ctx->batch_start_ns) / 1e9;
    json_t *fields = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:I,s:f}", "count", (json_int_t)ctx->stats.records, "applied",
        (json_int_t)ctx->stats.applied, "rejected", (json_int_t)ctx->stats.rejected, "skipped",
        (json_int_t)ctx->stats.skipped, "dlq", (json_int_t)ctx->stats.dlq, "occurrences",
        (json_int_t)ctx->stats.occurrences, "duration_s", secs);
    log_json(LOG_DEBUG, "writer batch", fields);
}

/* Lands journaled effects (all of them, oldest first, while this writer has a backlog;
 * else only rows older than the grace, orphans of a lost commit reply or a dead writer),
 * then releases rows that stayed undelivered long enough (writer_release.h). */
static void sweep_if_due(writer_ctx *ctx) {
    int64_t now = time_monotonic_ns();
    int interval_ms = ctx->backlog || writer_release_watching(&ctx->release)
                          ? WRITER_BACKLOG_SWEEP_MS
                          : WRITER_SWEEP_MS;
    if (now - ctx->last_sweep_ns < (int64_t)interval_ms * 1000000) {
        return;
    }
    ctx->last_sweep_ns = now;
    char err[ERR_LEN];
    if (now >= ctx->redis_retry_ns) {
        int min_age = ctx->backlog ? 0 : near_cache_journal_grace_ms(ctx->lease_ms);
        int n = writer_effects_recover(ctx->pg, ctx->redis, min_age,
                                       writer_replica_wait_ms(ctx->lease_ms), err, sizeof err);
        if (n < 0) {
            ctx->redis_retry_ns = now + (int64_t)WRITER_REDIS_RETRY_MS * 1000000;
            if (!ctx->said_sweep_failed) {
                LOG_WARNF("writer: journal sweep: %s (retrying every %d ms)", err,
                          WRITER_REDIS_RETRY_MS);
            }
            ctx->said_sweep_failed = true;
        } else {
            ctx->said_sweep_failed = false;
            if (n > 0) {
                LOG_INFOF("writer: landed %d journaled batch(es) in redis", n);
            }
            ctx->backlog = false;
        }
    }
    int released = writer_release_due(ctx->pg, &ctx->release, ctx->lease_ms, err, sizeof err);
    if (released < 0) {
        LOG_WARNF("writer: %s", err);
    } else if (released > 0) {
        LOG_WARNF("writer: released %d journaled batch(es) Redis has not taken yet; their "
                  "commands are reported applied from Postgres",
                  released);
    }
}

/* Lands the batch's effects live: the commit LSN (one Postgres round trip per batch, read
 * after the COMMIT returned), then the landing. 0, or -1 with err. */
static int land_live(writer_ctx *ctx, char *err, size_t errlen) {
    if (ctx->effects.count == 0) {
        return 0;
    }
    writer_land_opts opts = {.replica_wait_ms = writer_replica_wait_ms(ctx->lease_ms)};
    if (writer_effects_commit_lsn_pool(ctx->pg, &opts.commit_lsn, err, errlen) != 0) {
        return -1;
    }
    return writer_effects_land(ctx->redis, &ctx->effects, &opts, err, errlen);
}

/* A committed batch that stays journaled: its users' near-cache entries must die now, not
 * when the journal rule lapses the leases (grace + lease later). With one Redis that is
 * also what Redis down does (every subscriber connection drops, every lease lapses at
 * once); on a Redis Cluster the user's master can be dead while the {nc} master and the
 * leases live on, and an instance whose read of that user fails over to Postgres serves
 * the new version while the others serve the old one from their near caches (scale
 * suite: "version 3 after 4 was reported or read"). Published after the commit, so a
 * Postgres read between the commit and this message can still see the new version before
 * another instance drops the old one (the window of any cache-aside read, milliseconds
 * here). A failure is retried only after WRITER_REDIS_RETRY_MS, so a frozen {nc} master
 * costs the loop at most one timeout a second; meanwhile the leases run out as before
 * (the instances renew through that master too, or the journal rule stops them). */
static void invalidate_unlanded(writer_ctx *ctx) {
    int64_t now = time_monotonic_ns();
    if (now < ctx->nc_retry_ns) {
        return;
    }
    char err[ERR_LEN];
    if (writer_effects_invalidate(ctx->redis, &ctx->effects, err, sizeof err) == 0) {
        ctx->said_nc_failed = false;
        return;
    }
    ctx->nc_retry_ns = now + (int64_t)WRITER_REDIS_RETRY_MS * 1000000;
    if (!ctx->said_nc_failed) {
        LOG_WARNF("writer: near-cache invalidation of a journaled batch: %s (the leases run "
                  "out instead)",
                  err);
    }
    ctx->said_nc_failed = true;
}

/* After the commit: the effects go to Redis, unless Redis failed and older batches wait
 * in the journal (they land first, in order, by the sweep). Never blocks the next batch:
 * what does not land (Redis, the commit LSN, or a replica's WAIT failed) stays journaled,
 * and its users' near-cache entries are invalidated at once (invalidate_unlanded). */
int writer_after_commit(void *vctx, const kafka_record *records, size_t count) {
    (void)records;
    (void)count;
    writer_ctx *ctx = vctx;
    char err[ERR_LEN];
    bool landed = false;
    if (!ctx->backlog && time_monotonic_ns() >= ctx->redis_retry_ns) {
        if (land_live(ctx, err, sizeof err) == 0) {
            landed = true;
            if (ctx->journal_id != 0 &&
                writer_effects_journal_done(ctx->pg, ctx->journal_id, err, sizeof err) != 0) {
                LOG_WARNF("writer: %s (the sweep will replay it harmlessly)", err);
            }
        } else {
            LOG_WARNF("writer: redis effects of %zu command(s): %s; journaled, applying goes on",
                      ctx->effects.count, err);
            ctx->backlog = true;
            ctx->redis_retry_ns = time_monotonic_ns() + (int64_t)WRITER_REDIS_RETRY_MS * 1000000;
        }
    } else if (ctx->journal_id != 0) {
        ctx->backlog = true;
    }
    if (!landed && ctx->journal_id != 0) {
        invalidate_unlanded(ctx);
    }
    ctx->careful = false;
    ctx->ndead = 0;
    log_batch(ctx);
    writer_effects_clear(&ctx->effects);
    ctx->journal_id = 0;
    sweep_if_due(ctx);
    return 0;
}

/* Between batches: a commit whose reply was lost leaves its effects only in the journal
 * (the retry finds every record already applied and lands nothing), so the sweep must
 * also run when no batch comes. */
void writer_on_idle(void *vctx) {
    sweep_if_due(vctx);
}

void writer_ctx_free(writer_ctx *ctx) {
    if (ctx != NULL) {
        writer_release_watch_free(&ctx->release);
        writer_effects_free(&ctx->effects);
        free(ctx->dead);
        ctx->dead = NULL;
        ctx->ndead = ctx->dead_cap = 0;
    }
}
