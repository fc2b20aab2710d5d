/*
 * test_stack_sse_hub.c: the instance's shared SSE subscription (api/sse_hub.c) against a
 * real Redis: the caps are exact when many threads join at once and every slot comes
 * back; one connection serves every stream (CLIENT LIST); a published event reaches every
 * stream of its user and no other; a killed connection is reconnected and each stream
 * that was live is told to re-read the log once its channel is subscribed again; a
 * stream that falls behind its queue bound is told the same; shutdown wakes streams at
 * once; an unreachable Redis makes a join fail in time and keeps no slot.
 *
 * Needs REDIS_URL (tests/run exports it); without it the test FAILS rather than skips.
 * Channels belong to fresh random user ids, so it can share a Redis with anything else.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/sse_hub.h"
#include "api/sse_queue.h"
#include "shared/redis_keys.h"
#include "shared/redis_pool.h"
#include "shared/time_util.h"
#include "shared/uuid7.h"

#define WAIT_MS 5000
/* What one of the small test events costs in a stream's queue, with room to spare. */
#define SMALL_EVENT_COST (SSE_QUEUE_ITEM_OVERHEAD + 64)

/* This process's hubs go by their own name, apart from the API's hub on the same Redis. */
static char g_client_name[64];

static redis_pool *g_pool;
static const char *g_url;

static sse_hub *new_hub(int per_user, int per_instance, size_t queue_bytes) {
    char err[256] = "";
    sse_hub_params p = {.redis_url = g_url,
                        .redis_timeout_ms = 1000,
                        .max_per_user = per_user,
                        .max_per_instance = per_instance,
                        .queue_bytes = queue_bytes,
                        .client_name = g_client_name};
    sse_hub *hub = sse_hub_create(&p, err, sizeof err);
    if (hub == NULL) {
        fail_msg("sse_hub_create: %s", err);
    }
    return hub;
}

static void publish(const char *user, unsigned long long ms, const char *type) {
    char channel[REDIS_KEY_MAX], msg[256];
    redis_key_events_channel(channel, user);
    snprintf(msg, sizeof msg, "{\"id\":\"%llu-0\",\"event\":{\"type\":\"%s\",\"id\":\"e%llu\"}}",
             ms, type, ms);
    const char *argv[3] = {"PUBLISH", channel, msg};
    redisReply *r = redis_pool_command_argv(g_pool, 3, argv, NULL);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    freeReplyObject(r);
}

/* The next event of sub within WAIT_MS; fails on anything else. */
static void expect_event(sse_hub_sub *sub, unsigned long long ms, const char *name) {
    sse_event ev;
    sse_hub_next_result rc = sse_hub_next(sub, WAIT_MS, &ev);
    assert_int_equal(rc, SSE_HUB_EVENT);
    assert_true(ev.id.ms == ms);
    assert_string_equal(ev.name, name);
    sse_event_clear(&ev);
}

static void expect_idle(sse_hub_sub *sub, int ms) {
    sse_event ev;
    sse_hub_next_result rc = sse_hub_next(sub, ms, &ev);
    if (rc == SSE_HUB_EVENT) {
        sse_event_clear(&ev);
    }
    assert_int_equal(rc, SSE_HUB_IDLE);
}

/* CLIENT LIST lines named g_client_name: how many, and the sum of their `sub=`. */
static void hub_clients(int *count, int *subs, long long *first_id) {
    redisReply *r = redis_pool_command(g_pool, "CLIENT LIST");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    *count = 0;
    *subs = 0;
    *first_id = -1;
    char *save = NULL;
    char needle[96];
    snprintf(needle, sizeof needle, " name=%s ", g_client_name);
    for (char *line = strtok_r(r->str, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (strstr(line, needle) == NULL) {
            continue;
        }
        (*count)++;
        const char *s = strstr(line, " sub=");
        if (s != NULL) {
            *subs += atoi(s + 5);
        }
        if (*first_id < 0 && strncmp(line, "id=", 3) == 0) {
            *first_id = atoll(line + 3);
        }
    }
    freeReplyObject(r);
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Polls CLIENT LIST until the hub connections and their subscriptions are as expected. */
static long long wait_hub_clients(int want_count, int want_subs) {
    int64_t deadline = time_monotonic_ns() + (int64_t)WAIT_MS * 1000000;
    int count = -1, subs = -1;
    long long id = -1;
    while (time_monotonic_ns() < deadline) {
        hub_clients(&count, &subs, &id);
        if (count == want_count && subs == want_subs) {
            return id;
        }
        sleep_ms(20);
    }
    fail_msg("CLIENT LIST: %d hub connection(s) with %d subscription(s), wanted %d and %d", count,
             subs, want_count, want_subs);
    return -1;
}

typedef struct racer {
    sse_hub *hub;
    const char *user;
    pthread_barrier_t *start;
    sse_hub_join_result rc;
    sse_hub_sub *sub;
} racer;

static void *race_join(void *arg) {
    racer *r = arg;
    pthread_barrier_wait(r->start);
    r->rc = sse_hub_join(r->hub, r->user, WAIT_MS, &r->sub);
    return NULL;
}

/* n threads join at once for users[i % nusers]; counts[rc] tallies the answers. */
static void race(sse_hub *hub, const char (*users)[UUID_STR_LEN], int nusers, int n, racer *out,
                 int counts[6]) {
    pthread_t t[64];
    pthread_barrier_t start;
    assert_true(n <= 64);
    assert_int_equal(pthread_barrier_init(&start, NULL, (unsigned)n), 0);
    for (int i = 0; i < n; i++) {
        out[i] = (racer){.hub = hub, .user = users[i % nusers], .start = &start};
        assert_int_equal(pthread_create(&t[i], NULL, race_join, &out[i]), 0);
    }
    for (int i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
    }
    pthread_barrier_destroy(&start);
    memset(counts, 0, 6 * sizeof counts[0]);
    for (int i = 0; i < n; i++) {
        counts[out[i].rc]++;
        if (out[i].rc != SSE_HUB_JOINED) {
            assert_null(out[i].sub);
        }
    }
}

static void test_caps_are_exact_under_concurrency(void **state) {
    (void)state;
    sse_hub *hub = new_hub(3, 7, 0);
    char users[4][UUID_STR_LEN];
    for (int i = 0; i < 4; i++) {
        uuid7_generate(users[i]);
    }
    racer r[64];
    int counts[6];
    /* 24 joins for one user: exactly the per-user cap gets in. */
    race(hub, users, 1, 24, r, counts);
    assert_int_equal(counts[SSE_HUB_JOINED], 3);
    assert_int_equal(counts[SSE_HUB_USER_FULL], 21);
    assert_int_equal(sse_hub_open_count(hub), 3);

    /* 30 joins spread over three more users: the instance cap (7) bounds the total, the
     * per-user cap each user. */
    racer r2[64];
    race(hub, (const char(*)[UUID_STR_LEN])users[1], 3, 30, r2, counts);
    assert_int_equal(counts[SSE_HUB_JOINED], 4);
    assert_int_equal(
        counts[SSE_HUB_JOINED] + counts[SSE_HUB_USER_FULL] + counts[SSE_HUB_INSTANCE_FULL], 30);
    assert_true(counts[SSE_HUB_INSTANCE_FULL] > 0);
    assert_int_equal(sse_hub_open_count(hub), 7);
    int per_user[3] = {0};
    for (int i = 0; i < 30; i++) {
        if (r2[i].rc == SSE_HUB_JOINED) {
            per_user[i % 3]++;
        }
    }
    for (int u = 0; u < 3; u++) {
        assert_true(per_user[u] <= 3);
    }
    /* One connection for all of it, subscribed to each user with a stream. */
    int users_with_streams = 1 + (per_user[0] > 0) + (per_user[1] > 0) + (per_user[2] > 0);
    wait_hub_clients(1, users_with_streams);

    /* Every slot comes back; then the first user can join again. */
    for (int i = 0; i < 24; i++) {
        sse_hub_leave(r[i].sub);
    }
    for (int i = 0; i < 30; i++) {
        sse_hub_leave(r2[i].sub);
    }
    assert_int_equal(sse_hub_open_count(hub), 0);
    wait_hub_clients(1, 0);
    sse_hub_sub *again = NULL;
    assert_int_equal(sse_hub_join(hub, users[0], WAIT_MS, &again), SSE_HUB_JOINED);
    assert_int_equal(sse_hub_open_count(hub), 1);
    sse_hub_leave(again);
    sse_hub_destroy(hub);
    wait_hub_clients(0, 0);
}

static void test_fan_out_to_every_stream_of_the_user(void **state) {
    (void)state;
    sse_hub *hub = new_hub(5, 50, 0);
    char a[UUID_STR_LEN], b[UUID_STR_LEN];
    uuid7_generate(a);
    uuid7_generate(b);
    sse_hub_sub *a1 = NULL, *a2 = NULL, *b1 = NULL;
    assert_int_equal(sse_hub_join(hub, a, WAIT_MS, &a1), SSE_HUB_JOINED);
    assert_int_equal(sse_hub_join(hub, a, WAIT_MS, &a2), SSE_HUB_JOINED);
    assert_int_equal(sse_hub_join(hub, b, WAIT_MS, &b1), SSE_HUB_JOINED);
    wait_hub_clients(1, 2);

    /* join returned after the SUBSCRIBE was confirmed: an event published now arrives */
    publish(a, 1001, "taskbus.task.created");
    publish(b, 2001, "taskbus.task.deleted");
    publish(a, 1002, "taskbus.task.updated");
    expect_event(a1, 1001, "task.created");
    expect_event(a1, 1002, "task.updated");
    expect_event(a2, 1001, "task.created");
    expect_event(a2, 1002, "task.updated");
    expect_event(b1, 2001, "task.deleted");
    expect_idle(b1, 200);
    expect_idle(a1, 50);

    /* a malformed message is dropped, the stream goes on */
    char channel[REDIS_KEY_MAX];
    redis_key_events_channel(channel, a);
    redisReply *r = redis_pool_command(g_pool, "PUBLISH %s %s", channel, "not json");
    assert_non_null(r);
    freeReplyObject(r);
    publish(a, 1003, "taskbus.task.completed");
    expect_event(a2, 1003, "task.completed");

    /* the last stream of b leaves: its channel is unsubscribed, a's stays */
    sse_hub_leave(b1);
    wait_hub_clients(1, 1);
    sse_hub_leave(a1);
    sse_hub_leave(a2);
    wait_hub_clients(1, 0);
    sse_hub_destroy(hub);
}

static void test_reconnect_tells_live_streams_to_reread(void **state) {
    (void)state;
    sse_hub *hub = new_hub(5, 50, 0);
    char a[UUID_STR_LEN];
    uuid7_generate(a);
    sse_hub_sub *s = NULL;
    assert_int_equal(sse_hub_join(hub, a, WAIT_MS, &s), SSE_HUB_JOINED);
    long long id = wait_hub_clients(1, 1);
    publish(a, 3001, "taskbus.task.created");
    expect_event(s, 3001, "task.created");

    redisReply *r = redis_pool_command(g_pool, "CLIENT KILL ID %lld", id);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->integer, 1);
    freeReplyObject(r);

    /* Once the channel is subscribed again the stream is told to re-read the log. */
    sse_event ev;
    assert_int_equal(sse_hub_next(s, WAIT_MS, &ev), SSE_HUB_RESYNC);
    long long id2 = wait_hub_clients(1, 1);
    assert_true(id2 != id);
    assert_true(sse_hub_connected(hub));
    /* and live events flow on the new connection */
    publish(a, 3002, "taskbus.task.updated");
    expect_event(s, 3002, "task.updated");
    sse_hub_leave(s);
    sse_hub_destroy(hub);
}

static void test_a_stream_that_falls_behind_rereads(void **state) {
    (void)state;
    /* room for a few small events only */
    sse_hub *hub = new_hub(5, 50, 3 * SMALL_EVENT_COST);
    char a[UUID_STR_LEN];
    uuid7_generate(a);
    sse_hub_sub *slow = NULL, *fast = NULL;
    assert_int_equal(sse_hub_join(hub, a, WAIT_MS, &slow), SSE_HUB_JOINED);
    assert_int_equal(sse_hub_join(hub, a, WAIT_MS, &fast), SSE_HUB_JOINED);
    for (unsigned long long i = 0; i < 10; i++) {
        publish(a, 4000 + i, "taskbus.task.created");
        expect_event(fast, 4000 + i, "task.created"); /* fast keeps up */
    }
    /* slow read nothing: its queue overflowed, so it is told to re-read, once */
    sse_event ev;
    assert_int_equal(sse_hub_next(slow, WAIT_MS, &ev), SSE_HUB_RESYNC);
    expect_idle(slow, 100);
    publish(a, 4100, "taskbus.task.updated");
    expect_event(slow, 4100, "task.updated");
    expect_event(fast, 4100, "task.updated");
    sse_hub_leave(slow);
    sse_hub_leave(fast);
    sse_hub_destroy(hub);
}

typedef struct waiter {
    sse_hub_sub *sub;
    sse_hub_next_result rc;
    int64_t took_ns;
} waiter;

static void *wait_next(void *arg) {
    waiter *w = arg;
    int64_t t0 = time_monotonic_ns();
    sse_event ev;
    w->rc = sse_hub_next(w->sub, 30000, &ev);
    if (w->rc == SSE_HUB_EVENT) {
        sse_event_clear(&ev);
    }
    w->took_ns = time_monotonic_ns() - t0;
    return NULL;
}

static void test_shutdown_wakes_streams_and_refuses_joins(void **state) {
    (void)state;
    sse_hub *hub = new_hub(5, 50, 0);
    char a[UUID_STR_LEN];
    uuid7_generate(a);
    waiter w = {0};
    assert_int_equal(sse_hub_join(hub, a, WAIT_MS, &w.sub), SSE_HUB_JOINED);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, wait_next, &w), 0);
    sleep_ms(100);
    sse_hub_shutdown(hub);
    pthread_join(t, NULL);
    assert_int_equal(w.rc, SSE_HUB_CLOSING);
    assert_true(w.took_ns < 10LL * 1000000000LL); /* not the 30 s it would wait otherwise */
    assert_true(sse_hub_closing(w.sub));
    sse_hub_sub *late = NULL;
    assert_int_equal(sse_hub_join(hub, a, WAIT_MS, &late), SSE_HUB_SHUTTING_DOWN);
    assert_null(late);
    sse_hub_leave(w.sub);
    assert_int_equal(sse_hub_open_count(hub), 0);
    sse_hub_destroy(hub);
}

static void test_unreachable_redis_fails_the_join_in_time(void **state) {
    (void)state;
    char err[256] = "";
    /* port 1 on loopback: nothing listens there */
    sse_hub_params p = {.redis_url = "redis://127.0.0.1:1/0",
                        .redis_timeout_ms = 200,
                        .max_per_user = 2,
                        .max_per_instance = 2};
    sse_hub *hub = sse_hub_create(&p, err, sizeof err);
    assert_non_null(hub);
    char a[UUID_STR_LEN];
    uuid7_generate(a);
    sse_hub_sub *s = NULL;
    int64_t t0 = time_monotonic_ns();
    assert_int_equal(sse_hub_join(hub, a, 300, &s), SSE_HUB_UNAVAILABLE);
    assert_true(time_monotonic_ns() - t0 < 3LL * 1000000000LL);
    assert_null(s);
    assert_false(sse_hub_connected(hub));
    /* the slot came back: the caps still admit two (and both fail the same way) */
    assert_int_equal(sse_hub_open_count(hub), 0);
    assert_int_equal(sse_hub_join(hub, a, 100, &s), SSE_HUB_UNAVAILABLE);
    assert_int_equal(sse_hub_open_count(hub), 0);
    sse_hub_destroy(hub);

    /* a malformed URL and impossible caps are refused at creation */
    p.redis_url = "http://nope";
    assert_null(sse_hub_create(&p, err, sizeof err));
    p.redis_url = g_url;
    p.max_per_user = 0;
    assert_null(sse_hub_create(&p, err, sizeof err));
}

static int setup(void **state) {
    (void)state;
    g_url = getenv("REDIS_URL");
    if (g_url == NULL || g_url[0] == '\0') {
        fprintf(stderr, "test_stack_sse_hub: REDIS_URL is not set; this test needs Redis\n");
        return -1;
    }
    snprintf(g_client_name, sizeof g_client_name, "taskbus-test-sse-hub-%ld", (long)getpid());
    char err[256] = "";
    g_pool = redis_pool_create(g_url, 2, 2000, err, sizeof err);
    if (g_pool == NULL) {
        fprintf(stderr, "test_stack_sse_hub: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    redis_pool_destroy(g_pool);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_caps_are_exact_under_concurrency),
        cmocka_unit_test(test_fan_out_to_every_stream_of_the_user),
        cmocka_unit_test(test_reconnect_tells_live_streams_to_reread),
        cmocka_unit_test(test_a_stream_that_falls_behind_rereads),
        cmocka_unit_test(test_shutdown_wakes_streams_and_refuses_joins),
        cmocka_unit_test(test_unreachable_redis_fails_the_join_in_time),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
