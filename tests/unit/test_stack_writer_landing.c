/*
 * test_stack_writer_landing.c: the writer's three-step landing
 * (workers/writer/writer_effects.c) against a real Redis and Postgres.
 *
 * Covers:
 * - a crash after each step (data, invalidation, marks) healed by a replay gives the same
 *   Redis state as one clean landing: the task values, the markers (applied/rejected,
 *   with the nc_seq of an invalidation published for the user), one stream entry per
 *   applied command and never two; a replay of a finished landing changes nothing and
 *   publishes no further invalidation; the intermediate states are the promised ones
 *   (data visible before any invalidation; no marker before the invalidation);
 * - the commit LSN: the key {u:<uid>}:lsn holds a value at or past the commit's LSN and
 *   at or below the primary's pg_current_wal_lsn(), is set only if greater, has the 7-day
 *   TTL; a journal replay sets it from a fresh read at or past the row's commit;
 * - the replica's WAIT (a private master and replica started here with redis-server, the
 *   binary the stack runs): confirmed with a live replica; a frozen replica makes the
 *   data's WAIT (after step 1) fail, so the landing fails before step 2 (its journal row
 *   would stay): the data is on the master, but no invalidation, marker or event; a
 *   replay after it thaws succeeds and writes the markers (on the replica too, by the
 *   marks' WAIT); with no replica the landing does not wait.
 * Needs REDIS_URL and DATABASE_URL (tests/run exports them); without them it FAILS.
 * Users are fresh random ids, so it shares the stack's Redis with anything else.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shared/near_cache_bus.h"
#include "shared/pg_pool.h"
#include "shared/redis_keys.h"
#include "shared/redis_pool.h"
#include "shared/time_util.h"
#include "shared/uuid7.h"
#include "workers/writer/writer_effects.h"

#define WAIT_MS 10000
#define REPLICA_WAIT_MS 200

static redis_pool *g_redis;
static pg_pool *g_pg;

/* ---- helpers ---- */

static redisReply *cmd(redis_pool *pool, const char *fmt, const char *a, const char *b) {
    redisReply *r = redis_pool_command(pool, fmt, a, b);
    assert_non_null(r);
    return r;
}

/* GET key as a malloc'd string, or NULL when missing. */
static char *get_text(redis_pool *pool, const char *key) {
    redisReply *r = cmd(pool, "GET %s", key, NULL);
    char *v = r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
    freeReplyObject(r);
    return v;
}

static long long integer(redis_pool *pool, const char *fmt, const char *key) {
    redisReply *r = cmd(pool, fmt, key, NULL);
    long long v = r->type == REDIS_REPLY_INTEGER  ? r->integer
                  : r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10)
                                                  : -1;
    freeReplyObject(r);
    return v;
}

static long long pg_lsn_now(void) {
    char err[256];
    long long lsn = 0;
    if (writer_effects_commit_lsn_pool(g_pg, &lsn, err, sizeof err) != 0) {
        fail_msg("%s", err);
    }
    return lsn;
}

/* A user's batch: applied creates of tasks[0..napplied) then one rejection. */
typedef struct fixture {
    char uid[UUID_STR_LEN];
    char tasks[3][UUID_STR_LEN];
    char cmds[4][UUID_STR_LEN];
    writer_effect_list list;
} fixture;

static void fixture_make(fixture *f) {
    memset(f, 0, sizeof *f);
    uuid7_generate(f->uid);
    for (int i = 0; i < 4; i++) {
        uuid7_generate(f->cmds[i]);
    }
    for (int i = 0; i < 3; i++) {
        uuid7_generate(f->tasks[i]);
    }
    for (int i = 0; i < 4; i++) {
        bool applied = i < 3;
        writer_effect e = {0};
        memcpy(e.user_id, f->uid, UUID_STR_LEN);
        memcpy(e.task_id, f->tasks[i < 3 ? i : 0], UUID_STR_LEN);
        memcpy(e.command_id, f->cmds[i], UUID_STR_LEN);
        char text[512];
        if (applied) {
            e.version = 1;
            snprintf(text, sizeof text, "{\"id\":\"%s\",\"title\":\"t%d\",\"version\":1}",
                     f->tasks[i], i);
            e.task_value = strdup(text);
            snprintf(text, sizeof text,
                     "{\"type\":\"task.created\",\"id\":\"%s\",\"subject\":\"%s\"}", f->cmds[i],
                     f->tasks[i]);
            e.event_value = strdup(text);
            snprintf(text, sizeof text,
                     "{\"status\":\"applied\",\"task_id\":\"%s\",\"type\":\"create\","
                     "\"task_version\":1}",
                     f->tasks[i]);
        } else {
            snprintf(text, sizeof text,
                     "{\"status\":\"rejected\",\"task_id\":\"%s\",\"type\":\"update\","
                     "\"problem\":{\"status\":409}}",
                     f->tasks[0]);
        }
        e.status_value = strdup(text);
        assert_non_null(e.status_value);
        assert_int_equal(writer_effects_push(&f->list, &e), 0);
    }
}

static void fixture_free(fixture *f) {
    writer_effects_free(&f->list);
}

static writer_land_opts opts_at(long long lsn) {
    return (writer_land_opts){
        .released = false, .commit_lsn = lsn, .replica_wait_ms = REPLICA_WAIT_MS};
}

/* Replaces every occurrence of from in *text by to (to is never longer). */
static void replace_all(char *text, const char *from, const char *to) {
    size_t fl = strlen(from), tl = strlen(to);
    for (char *at = strstr(text, from); at != NULL; at = strstr(at + tl, from)) {
        memcpy(at, to, tl);
        memmove(at + tl, at + fl, strlen(at + fl) + 1);
    }
}

/* The user's tasks, markers, events, generation and LSN as text, with the user's ids
 * replaced by U, T<i>, C<i>, so two users' states compare equal when Redis holds the same
 * for both. Every marker and stream entry must carry nc_seq == seq (the last invalidation
 * published for the user); the text leaves it out. */
static char *state_of(redis_pool *pool, const fixture *f, long long seq) {
    char key[REDIS_KEY_MAX];
    json_t *out = json_object();
    json_t *tasks = json_array(), *marks = json_array(), *events = json_array();
    for (int i = 0; i < 3; i++) {
        char *v = get_text(pool, redis_key_task(key, f->uid, f->tasks[i]));
        json_array_append_new(tasks, v != NULL ? json_string(v) : json_null());
        free(v);
    }
    for (int i = 0; i < 4; i++) {
        char *v = get_text(pool, redis_key_command(key, f->uid, f->cmds[i]));
        json_t *m = v != NULL ? json_loads(v, 0, NULL) : NULL;
        free(v);
        if (m != NULL) {
            json_t *s = json_object_get(m, "nc_seq");
            if (s == NULL || json_integer_value(s) != seq) {
                fail_msg("marker %d: nc_seq %lld, want %lld", i,
                         s != NULL ? (long long)json_integer_value(s) : -1LL, seq);
            }
            json_object_del(m, "nc_seq");
        }
        json_array_append_new(marks, m != NULL ? m : json_null());
    }
    redisReply *r = cmd(pool, "XRANGE %s - +", redis_key_events_log(key, f->uid), NULL);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *fields = r->element[i]->element[1];
        assert_int_equal(fields->elements, 4);
        assert_string_equal(fields->element[0]->str, "event");
        assert_string_equal(fields->element[2]->str, "nc_seq");
        assert_int_equal(strtoll(fields->element[3]->str, NULL, 10), seq);
        json_array_append_new(events, json_string(fields->element[1]->str));
    }
    freeReplyObject(r);
    json_object_set_new(out, "tasks", tasks);
    json_object_set_new(out, "marks", marks);
    json_object_set_new(out, "events", events);
    long long gen = integer(pool, "GET %s", redis_key_generation(key, f->uid));
    json_object_set_new(out, "gen_set", json_boolean(gen > 0));
    long long lsn = integer(pool, "GET %s", redis_key_commit_lsn(key, f->uid));
    json_object_set_new(out, "lsn", json_integer(lsn));
    char *text = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(out);
    assert_non_null(text);
    replace_all(text, f->uid, "U");
    for (int i = 0; i < 3; i++) {
        char to[4];
        snprintf(to, sizeof to, "T%d", i);
        replace_all(text, f->tasks[i], to);
    }
    for (int i = 0; i < 4; i++) {
        char to[4];
        snprintf(to, sizeof to, "C%d", i);
        replace_all(text, f->cmds[i], to);
    }
    return text;
}

/* A subscriber to the invalidation channel (its own connection). */
static redisContext *subscribe_invalidations(const char *url) {
    const char *hostport = strstr(url, "://");
    assert_non_null(hostport);
    hostport += 3;
    const char *at = strchr(hostport, '@');
    if (at != NULL) {
        hostport = at + 1;
    }
    char host[128];
    int port = 0;
    if (sscanf(hostport, "%127[^:]:%d", host, &port) != 2) {
        fail_msg("cannot read host:port from REDIS_URL");
    }
    struct timeval tv = {.tv_sec = 1};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    assert_non_null(c);
    assert_int_equal(c->err, 0);
    assert_int_equal(redisSetTimeout(c, tv), REDIS_OK);
    redisReply *r = redisCommand(c, "SUBSCRIBE %s", NEAR_CACHE_CHANNEL);
    assert_non_null(r);
    freeReplyObject(r);
    return c;
}

/* Reads invalidations until a PING's PONG (so everything published before the call is
 * in); keeps the sequences of uid's "<seq> <uid> tasks" messages. */
static size_t drain_invalidations(redisContext *c, const char *uid, long long *seqs, size_t cap) {
    size_t n = 0;
    redisReply *r = redisCommand(c, "PING drained");
    int64_t deadline = time_monotonic_ns() + (int64_t)WAIT_MS * 1000000;
    for (;;) {
        assert_non_null(r);
        bool pong = r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
                    strcmp(r->element[0]->str, "pong") == 0;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
            strcmp(r->element[0]->str, "message") == 0) {
            long long seq = 0;
            char who[64] = "", scope[16] = "";
            if (sscanf(r->element[2]->str, "%lld %63s %15s", &seq, who, scope) >= 2 &&
                strcmp(who, uid) == 0) {
                assert_string_equal(scope, NEAR_CACHE_SCOPE_TASKS);
                assert_true(n < cap);
                seqs[n++] = seq;
            }
        }
        freeReplyObject(r);
        if (pong) {
            return n;
        }
        assert_true(time_monotonic_ns() < deadline);
        void *next = NULL;
        assert_int_equal(redisGetReply(c, &next), REDIS_OK);
        r = next;
    }
}

/* ---- idempotence ---- */

static void test_a_crash_between_steps_is_healed_by_a_replay(void **state) {
    (void)state;
    char err[512] = "";
    char key[REDIS_KEY_MAX];
    redisContext *sub = subscribe_invalidations(getenv("REDIS_URL"));
    long long lsn = pg_lsn_now();
    writer_land_opts opts = opts_at(lsn);
    long long seqs[8];

    /* the reference: one clean landing */
    fixture ref;
    fixture_make(&ref);
    assert_int_equal(writer_effects_land(g_redis, &ref.list, &opts, err, sizeof err), 0);
    assert_int_equal(drain_invalidations(sub, ref.uid, seqs, 8), 1);
    char *want = state_of(g_redis, &ref, seqs[0]);
    /* three applied creates: three stream entries; four markers; the LSN */
    assert_int_equal(integer(g_redis, "XLEN %s", redis_key_events_log(key, ref.uid)), 3);
    assert_null(strstr(want, "null"));

    for (writer_land_step crash = WRITER_LAND_DATA; crash <= WRITER_LAND_MARKS; crash++) {
        fixture f;
        fixture_make(&f);
        assert_int_equal(writer_effects_land_upto(g_redis, &f.list, &opts, crash, err, sizeof err),
                         0);
        size_t n = drain_invalidations(sub, f.uid, seqs, 8);
        /* what the crash left: the data (and LSN) always; an invalidation from step 2 on;
         * markers and events only after step 3 */
        char *t0 = get_text(g_redis, redis_key_task(key, f.uid, f.tasks[0]));
        assert_non_null(t0);
        free(t0);
        assert_int_equal(integer(g_redis, "GET %s", redis_key_commit_lsn(key, f.uid)), lsn);
        assert_int_equal(n, crash >= WRITER_LAND_INVALIDATE ? 1 : 0);
        char *m0 = get_text(g_redis, redis_key_command(key, f.uid, f.cmds[0]));
        assert_true((m0 != NULL) == (crash >= WRITER_LAND_MARKS));
        free(m0);
        assert_int_equal(integer(g_redis, "XLEN %s", redis_key_events_log(key, f.uid)),
                         crash >= WRITER_LAND_MARKS ? 3 : 0);

        /* the replay (the journal row was kept): the same state as one clean landing */
        assert_int_equal(writer_effects_land(g_redis, &f.list, &opts, err, sizeof err), 0);
        n += drain_invalidations(sub, f.uid, seqs + n, 8 - n);
        /* a finished landing publishes nothing more, an unfinished one exactly one more */
        assert_int_equal(n, crash == WRITER_LAND_INVALIDATE ? 2 : 1);
        char *got = state_of(g_redis, &f, seqs[n - 1]);
        assert_string_equal(got, want);
        free(got);

        /* more replays change nothing and publish nothing */
        assert_int_equal(writer_effects_land(g_redis, &f.list, &opts, err, sizeof err), 0);
        assert_int_equal(writer_effects_land(g_redis, &f.list, &opts, err, sizeof err), 0);
        assert_int_equal(drain_invalidations(sub, f.uid, seqs + n, 8 - n), 0);
        got = state_of(g_redis, &f, seqs[n - 1]);
        assert_string_equal(got, want);
        free(got);
        fixture_free(&f);
    }
    free(want);
    fixture_free(&ref);
    redisFree(sub);
}

/* A landing that finds some of a user's commands marked (what a writer replaying an
 * orphan row sees when the row's owner finished its marks between the replayer's steps)
 * marks only the others: no second stream entry, the first marker kept. */
static void test_marked_commands_are_never_marked_again(void **state) {
    (void)state;
    char err[512] = "";
    char key[REDIS_KEY_MAX];
    fixture f;
    fixture_make(&f);
    writer_land_opts opts = opts_at(pg_lsn_now());
    writer_effect_list first = {0};
    writer_effect e = f.list.items[0];
    e.task_value = strdup(e.task_value);
    e.status_value = strdup(e.status_value);
    e.event_value = strdup(e.event_value);
    assert_int_equal(writer_effects_push(&first, &e), 0);
    assert_int_equal(writer_effects_land(g_redis, &first, &opts, err, sizeof err), 0);
    char *m0 = get_text(g_redis, redis_key_command(key, f.uid, f.cmds[0]));
    assert_non_null(m0);
    assert_int_equal(integer(g_redis, "XLEN %s", redis_key_events_log(key, f.uid)), 1);

    assert_int_equal(writer_effects_land(g_redis, &f.list, &opts, err, sizeof err), 0);
    assert_int_equal(integer(g_redis, "XLEN %s", redis_key_events_log(key, f.uid)), 3);
    char *again = get_text(g_redis, redis_key_command(key, f.uid, f.cmds[0]));
    assert_string_equal(again, m0);
    free(again);
    free(m0);
    writer_effects_free(&first);
    fixture_free(&f);
}

/* Markers and live events carry the sequence of the user's invalidation, which was
 * published before them (the subscriber sees the invalidation, then the event). */
static void test_live_events_carry_the_invalidations_sequence(void **state) {
    (void)state;
    char err[512] = "";
    fixture f;
    fixture_make(&f);
    redisContext *sub = subscribe_invalidations(getenv("REDIS_URL"));
    char channel[REDIS_KEY_MAX];
    redisReply *r = redisCommand(sub, "SUBSCRIBE %s", redis_key_events_channel(channel, f.uid));
    assert_non_null(r);
    freeReplyObject(r);
    writer_land_opts opts = opts_at(pg_lsn_now());
    assert_int_equal(writer_effects_land(g_redis, &f.list, &opts, err, sizeof err), 0);
    long long seq = -1;
    int events = 0;
    int64_t deadline = time_monotonic_ns() + (int64_t)WAIT_MS * 1000000;
    while (events < 3) {
        assert_true(time_monotonic_ns() < deadline);
        void *next = NULL;
        assert_int_equal(redisGetReply(sub, &next), REDIS_OK);
        r = next;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
            strcmp(r->element[0]->str, "message") == 0) {
            if (strcmp(r->element[1]->str, NEAR_CACHE_CHANNEL) == 0) {
                long long s = 0;
                char who[64] = "";
                if (sscanf(r->element[2]->str, "%lld %63s", &s, who) == 2 &&
                    strcmp(who, f.uid) == 0) {
                    seq = s;
                }
            } else {
                /* an event: after the invalidation, with its sequence */
                assert_true(seq > 0);
                json_t *msg = json_loads(r->element[2]->str, 0, NULL);
                assert_non_null(msg);
                assert_int_equal(json_integer_value(json_object_get(msg, "nc_seq")), seq);
                json_decref(msg);
                events++;
            }
        }
        freeReplyObject(r);
    }
    redisFree(sub);
    fixture_free(&f);
}

/* ---- commit LSN ---- */

static void test_the_commit_lsn_is_at_or_past_the_commit(void **state) {
    (void)state;
    char err[512] = "";
    pg_conn *conn = pg_pool_acquire(g_pg, 5000, err, sizeof err);
    assert_non_null(conn);
    /* a committed write: a journal row of this test's batch */
    fixture f;
    fixture_make(&f);
    assert_int_equal(pg_begin(conn, err, sizeof err), 0);
    long long id = 0;
    assert_int_equal(writer_effects_journal_add(conn, &f.list, &id, err, sizeof err), 0);
    PGresult *res = pg_exec_sql(conn, "SELECT (pg_current_wal_insert_lsn() - '0/0')::bigint");
    assert_true(pg_result_ok(res));
    long long before_commit = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    assert_int_equal(pg_commit(conn, err, sizeof err), 0);
    long long lsn = 0;
    assert_int_equal(writer_effects_commit_lsn(conn, &lsn, err, sizeof err), 0);
    /* the commit record is written after every record of the transaction */
    assert_true(lsn > before_commit);
    pg_pool_release(g_pg, conn);

    writer_land_opts opts = opts_at(lsn);
    assert_int_equal(writer_effects_land(g_redis, &f.list, &opts, err, sizeof err), 0);
    char key[REDIS_KEY_MAX];
    redis_key_commit_lsn(key, f.uid);
    long long stored = integer(g_redis, "GET %s", key);
    assert_int_equal(stored, lsn);
    assert_true(stored <= pg_lsn_now());
    long long ttl = integer(g_redis, "TTL %s", key);
    assert_true(ttl > CACHE_COMMIT_LSN_TTL_S - 60 && ttl <= CACHE_COMMIT_LSN_TTL_S);
    /* if greater: an older LSN does not lower it, a newer one raises it */
    opts.commit_lsn = lsn - 1000;
    assert_int_equal(writer_effects_land(g_redis, &f.list, &opts, err, sizeof err), 0);
    assert_int_equal(integer(g_redis, "GET %s", key), lsn);
    opts.commit_lsn = lsn + 1000;
    assert_int_equal(writer_effects_land(g_redis, &f.list, &opts, err, sizeof err), 0);
    assert_int_equal(integer(g_redis, "GET %s", key), lsn + 1000);
    /* no LSN, no landing */
    opts.commit_lsn = 0;
    assert_int_equal(writer_effects_land(g_redis, &f.list, &opts, err, sizeof err), -1);

    /* the journal replay: our row (still there: nothing deleted it) lands with a fresh
     * LSN at or past its commit. The stack's writer may replay it first (rows older than
     * its grace): then the row is gone, so replay a fresh one. */
    fixture g;
    fixture_make(&g);
    conn = pg_pool_acquire(g_pg, 5000, err, sizeof err);
    assert_non_null(conn);
    assert_int_equal(pg_begin(conn, err, sizeof err), 0);
    long long gid = 0;
    assert_int_equal(writer_effects_journal_add(conn, &g.list, &gid, err, sizeof err), 0);
    assert_int_equal(pg_commit(conn, err, sizeof err), 0);
    long long committed = 0;
    assert_int_equal(writer_effects_commit_lsn(conn, &committed, err, sizeof err), 0);
    pg_pool_release(g_pg, conn);
    int replayed = writer_effects_recover(g_pg, g_redis, 0, REPLICA_WAIT_MS, err, sizeof err);
    if (replayed < 0) {
        fail_msg("recover: %s", err);
    }
    redis_key_commit_lsn(key, g.uid);
    long long replay_lsn = integer(g_redis, "GET %s", key);
    assert_true(replay_lsn >= committed);
    assert_true(replay_lsn <= pg_lsn_now());
    redis_key_command(key, g.uid, g.cmds[0]);
    char *m = get_text(g_redis, key);
    assert_non_null(m);
    assert_non_null(strstr(m, "\"applied\""));
    free(m);
    fixture_free(&f);
    fixture_free(&g);
}

/* A team command's copies for other members are journaled as references to its element
 * ("of"): a replay of the row lands each member's copy, with the original's event, once. */
static void test_member_copies_replay_from_the_journal(void **state) {
    (void)state;
    char err[512] = "";
    fixture f;
    fixture_make(&f);
    char members[2][UUID_STR_LEN], copies[2][UUID_STR_LEN];
    for (int m = 0; m < 2; m++) {
        uuid7_generate(members[m]);
        writer_effect copy;
        writer_effect_build_fanout(&copy, &f.list, 0, members[m]);
        memcpy(copies[m], copy.command_id, UUID_STR_LEN);
        assert_int_equal(writer_effects_push(&f.list, &copy), 0);
    }
    pg_conn *conn = pg_pool_acquire(g_pg, 5000, err, sizeof err);
    assert_non_null(conn);
    assert_int_equal(pg_begin(conn, err, sizeof err), 0);
    long long id = 0;
    assert_int_equal(writer_effects_journal_add(conn, &f.list, &id, err, sizeof err), 0);
    assert_int_equal(pg_commit(conn, err, sizeof err), 0);
    pg_pool_release(g_pg, conn);
    /* the stack's writer may replay it first: the outcome is the same */
    for (int round = 0; round < 2; round++) {
        if (writer_effects_recover(g_pg, g_redis, 0, REPLICA_WAIT_MS, err, sizeof err) < 0) {
            fail_msg("recover: %s", err);
        }
    }
    char key[REDIS_KEY_MAX];
    for (int m = 0; m < 2; m++) {
        redis_key_command(key, members[m], copies[m]);
        char *marker = get_text(g_redis, key);
        assert_non_null(marker);
        assert_non_null(strstr(marker, "\"applied\""));
        free(marker);
        redis_key_events_log(key, members[m]);
        assert_int_equal(integer(g_redis, "XLEN %s", key), 1);
        redis_key_task(key, members[m], f.tasks[0]);
        assert_int_equal(integer(g_redis, "EXISTS %s", key), 0); /* no task value */
    }
    fixture_free(&f);
}

/* ---- WAIT ---- */

/* A free TCP port on loopback (bound, then closed). */
static int free_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    return ntohs(a.sin_port);
}

static pid_t start_redis(int port, int master_port) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* its log would bury the test's output */
        if (freopen("/dev/null", "w", stdout) == NULL || freopen("/dev/null", "w", stderr) == NULL)
            _exit(126);
        char p[16], m[16];
        snprintf(p, sizeof p, "%d", port);
        snprintf(m, sizeof m, "%d", master_port);
        if (master_port > 0) {
            execlp("redis-server", "redis-server", "--port", p, "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--repl-diskless-sync-delay", "0", "--replicaof",
                   "127.0.0.1", m, (char *)NULL);
        } else {
            execlp("redis-server", "redis-server", "--port", p, "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", (char *)NULL);
        }
        _exit(127);
    }
    return pid;
}

static void stop_redis(pid_t pid) {
    kill(pid, SIGCONT);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* Waits until the master's INFO replication says connected_slaves:want, and, when want
 * is 1, the replica's link is up. */
static void wait_replicas(redis_pool *master, redis_pool *replica, int want) {
    int64_t deadline = time_monotonic_ns() + (int64_t)WAIT_MS * 1000000;
    char line[32];
    snprintf(line, sizeof line, "connected_slaves:%d", want);
    for (;;) {
        redisReply *r = redis_pool_command(master, "INFO replication");
        bool ok = r != NULL && r->type == REDIS_REPLY_STRING && strstr(r->str, line) != NULL;
        if (r != NULL)
            freeReplyObject(r);
        if (ok && want > 0) {
            r = redis_pool_command(replica, "INFO replication");
            ok = r != NULL && r->type == REDIS_REPLY_STRING &&
                 strstr(r->str, "master_link_status:up") != NULL;
            if (r != NULL)
                freeReplyObject(r);
        }
        if (ok)
            return;
        if (time_monotonic_ns() > deadline)
            fail_msg("the private master never reported %s", line);
        time_sleep_ms(50);
    }
}

static redis_pool *pool_on(int port) {
    char url[64], err[256] = "";
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    redis_pool *p = NULL;
    int64_t deadline = time_monotonic_ns() + (int64_t)WAIT_MS * 1000000;
    p = redis_pool_create(url, 2, 1000, err, sizeof err);
    assert_non_null(p);
    while (!redis_pool_ping(p, err, sizeof err)) {
        if (time_monotonic_ns() > deadline)
            fail_msg("redis-server on %d: %s", port, err);
        time_sleep_ms(50);
    }
    return p;
}

/* Lands until it succeeds, as the writer's sweep retries a kept journal row: a replica on
 * a loaded box may need longer than one WAIT timeout to answer. */
static void land_until_confirmed(redis_pool *pool, const fixture *f, const writer_land_opts *opts) {
    char err[512] = "";
    int64_t deadline = time_monotonic_ns() + (int64_t)WAIT_MS * 1000000;
    while (writer_effects_land(pool, &f->list, opts, err, sizeof err) != 0) {
        if (time_monotonic_ns() > deadline) {
            fail_msg("no replica confirmed within %d ms: %s", WAIT_MS, err);
        }
        time_sleep_ms(50);
    }
}

static void test_a_landing_waits_for_a_replica(void **state) {
    (void)state;
    char err[512] = "";
    int mport = free_port(), rport = free_port();
    pid_t master = start_redis(mport, 0);
    redis_pool *mp = pool_on(mport);
    pid_t replica = start_redis(rport, mport);
    redis_pool *rp = pool_on(rport);
    wait_replicas(mp, rp, 1);
    writer_land_opts opts = opts_at(pg_lsn_now());

    /* a live replica confirms: the landing succeeds and the replica has the marker */
    fixture f;
    fixture_make(&f);
    land_until_confirmed(mp, &f, &opts);
    char key[REDIS_KEY_MAX];
    char *m = get_text(rp, redis_key_command(key, f.uid, f.cmds[3]));
    assert_non_null(m); /* WAIT returned: the replica applied every write before it */
    free(m);
    fixture_free(&f);

    /* a frozen replica (still connected): the data's WAIT gets no confirmation, so the
     * landing fails before anything reports the data: the master has the data, but no
     * invalidation, no marker and no event (the writer keeps the journal row on -1);
     * once the replica thaws the replay succeeds and writes the markers */
    assert_int_equal(kill(replica, SIGSTOP), 0);
    fixture_make(&f);
    long long seq_before = integer(mp, "GET %s", NEAR_CACHE_SEQ_KEY);
    assert_int_equal(writer_effects_land(mp, &f.list, &opts, err, sizeof err), -1);
    m = get_text(mp, redis_key_task(key, f.uid, f.tasks[0]));
    assert_non_null(m); /* step 1 ran */
    free(m);
    for (int i = 0; i < 4; i++) {
        m = get_text(mp, redis_key_command(key, f.uid, f.cmds[i]));
        assert_null(m); /* no marker before the data's WAIT confirmed */
    }
    assert_int_equal(integer(mp, "XLEN %s", redis_key_events_log(key, f.uid)), 0);
    assert_int_equal(integer(mp, "GET %s", NEAR_CACHE_SEQ_KEY), seq_before);
    assert_non_null(strstr(err, "WAIT (data)"));
    /* the same with the test hook stopping after step 3: it never gets there */
    assert_int_equal(
        writer_effects_land_upto(mp, &f.list, &opts, WRITER_LAND_MARKS, err, sizeof err), -1);
    assert_null(get_text(mp, redis_key_command(key, f.uid, f.cmds[0])));
    assert_int_equal(kill(replica, SIGCONT), 0);
    land_until_confirmed(mp, &f, &opts);
    for (int i = 0; i < 4; i++) {
        m = get_text(mp, redis_key_command(key, f.uid, f.cmds[i]));
        assert_non_null(m);
        free(m);
        m = get_text(rp, redis_key_command(key, f.uid, f.cmds[i]));
        assert_non_null(m); /* the marks' WAIT returned: the replica has them too */
        free(m);
    }
    assert_true(integer(mp, "GET %s", NEAR_CACHE_SEQ_KEY) > seq_before);
    /* one event per applied command, on the replica too */
    assert_int_equal(integer(mp, "XLEN %s", redis_key_events_log(key, f.uid)), 3);
    assert_int_equal(integer(rp, "XLEN %s", redis_key_events_log(key, f.uid)), 3);
    fixture_free(&f);

    /* no replica: the landing does not wait for one */
    redis_pool_destroy(rp);
    stop_redis(replica);
    wait_replicas(mp, NULL, 0);
    fixture_make(&f);
    assert_int_equal(writer_effects_land(mp, &f.list, &opts, err, sizeof err), 0);
    fixture_free(&f);

    redis_pool_destroy(mp);
    stop_redis(master);
}

static int setup(void **state) {
    (void)state;
    const char *redis_url = getenv("REDIS_URL");
    const char *db_url = getenv("DATABASE_URL");
    if (redis_url == NULL || redis_url[0] == '\0' || db_url == NULL || db_url[0] == '\0') {
        fprintf(stderr, "test_stack_writer_landing: REDIS_URL and DATABASE_URL must be set\n");
        return -1;
    }
    char err[256] = "";
    g_redis = redis_pool_create(redis_url, 2, 2000, err, sizeof err);
    g_pg = g_redis != NULL ? pg_pool_create(db_url, 2, 10000, err, sizeof err) : NULL;
    if (g_pg == NULL) {
        fprintf(stderr, "test_stack_writer_landing: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    pg_pool_destroy(g_pg);
    redis_pool_destroy(g_redis);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_crash_between_steps_is_healed_by_a_replay),
        cmocka_unit_test(test_marked_commands_are_never_marked_again),
        cmocka_unit_test(test_live_events_carry_the_invalidations_sequence),
        cmocka_unit_test(test_the_commit_lsn_is_at_or_past_the_commit),
        cmocka_unit_test(test_member_copies_replay_from_the_journal),
        cmocka_unit_test(test_a_landing_waits_for_a_replica),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
