/*
 * test_importer_throttle.c: the importer's AIMD throttle and fair share
 * (workers/importer/importer_throttle.c), with a clock the test moves: slow start doubles per
 * round up to the ceiling, additive increase above the threshold, multiplicative
 * decrease on latency and on lag (once per round trip), the base latency's minimum filter
 * that the latency threshold rides on, the floor, growth only of a used
 * rate and a known lag, the in-flight window, grants that add up to rate * time, the
 * restart after idle; the split between users and imports, leftovers and rotation, and
 * max-min fairness over random demands.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "workers/importer/importer_throttle.h"

#define MS 1000000LL
#define S 1000000000LL

static importer_throttle_config config(void) {
    /* start 1000/s, +500/s per 100 ms, x0.5, ceiling 20 000, floor 100, 30 ms over the
     * base latency, lag 2000 */
    return importer_throttle_defaults(100, 20000, 30 * MS, 2000);
}

/* An update where the writer keeps up and the importer used its whole grant. */
static int64_t calm(importer_throttle *t, int64_t *now, int64_t step_ns, int64_t last_grant) {
    *now += step_ns;
    importer_signals s = {.lag = 0,
                          .oldest_unapplied_ns = -1,
                          .seen_min_ns = -1,
                          .in_flight = 0,
                          .produced = last_grant};
    return importer_throttle_update(t, &s, *now);
}

/* Runs calm ticks of step_ns for total_ns, each producing the previous grant. */
static int64_t run_calm(importer_throttle *t, int64_t *now, int64_t step_ns, int64_t total_ns,
                        int64_t grant) {
    for (int64_t done = 0; done < total_ns; done += step_ns) {
        grant = calm(t, now, step_ns, grant);
    }
    return grant;
}

static void test_slow_start_doubles_per_round_up_to_the_ceiling(void **state) {
    (void)state;
    importer_throttle_config c = config();
    importer_throttle t;
    importer_throttle_init(&t, &c);
    int64_t now = 5 * S;
    importer_signals s = {.lag = 0, .oldest_unapplied_ns = -1};
    int64_t grant = importer_throttle_update(&t, &s, now);
    assert_int_equal(t.verdict, THROTTLE_START);
    assert_int_equal(grant, 100); /* one max tick (100 ms) at the start rate */
    assert_true(t.rate == 1000);
    grant = run_calm(&t, &now, 10 * MS, 100 * MS, grant);
    assert_int_equal(t.verdict, THROTTLE_GROW);
    assert_true(t.rate > 1990 && t.rate < 2010);
    grant = run_calm(&t, &now, 10 * MS, 100 * MS, grant);
    assert_true(t.rate > 3980 && t.rate < 4020);
    /* 20 000 is 2^4.32 * 1000: the ceiling within 450 ms of the start, never above */
    grant = run_calm(&t, &now, 10 * MS, 250 * MS, grant);
    assert_true(t.rate == 20000);
    run_calm(&t, &now, 10 * MS, 2 * S, grant);
    assert_true(t.rate == 20000);
    assert_int_equal(t.cuts, 0);
}

/* Drives the throttle to rate 8000 in slow start, then reports latency once. */
static int64_t congest_at(importer_throttle *t, int64_t *now) {
    importer_throttle_config c = config();
    importer_throttle_init(t, &c);
    *now = 100 * S;
    importer_signals s0 = {.lag = 0, .oldest_unapplied_ns = -1};
    int64_t grant = importer_throttle_update(t, &s0, *now);
    grant = run_calm(t, now, 10 * MS, 300 * MS, grant);
    assert_true(t->rate > 7900 && t->rate < 8100);
    *now += 10 * MS;
    importer_signals s = {.lag = 10, .oldest_unapplied_ns = *now - 31 * MS, .produced = grant};
    return importer_throttle_update(t, &s, *now);
}

static void test_latency_over_threshold_halves_the_rate_once_per_round_trip(void **state) {
    (void)state;
    importer_throttle t;
    int64_t now;
    double before = 0;
    congest_at(&t, &now);
    assert_int_equal(t.verdict, THROTTLE_DECREASE);
    assert_int_equal(t.cuts, 1);
    before = t.rate;
    assert_true(before > 3950 && before < 4050);
    assert_true(t.ssthresh == t.rate);
    int64_t cut = now;
    /* Still late, but those items were produced before the cut: it was answered. */
    now += 150 * MS;
    importer_signals s = {.lag = 10, .oldest_unapplied_ns = cut - 5 * MS, .produced = 40};
    importer_throttle_update(&t, &s, now);
    assert_int_equal(t.verdict, THROTTLE_HOLD);
    assert_true(t.rate == before);
    /* Late items produced after the cut, but less than a round after it: held too. */
    importer_throttle t2;
    int64_t now2;
    congest_at(&t2, &now2);
    now2 += 50 * MS;
    importer_signals s2 = {.lag = 0, .oldest_unapplied_ns = now2 - 40 * MS, .produced = 200};
    importer_throttle_update(&t2, &s2, now2);
    assert_int_equal(t2.verdict, THROTTLE_HOLD);
    /* Items produced after the cut are late a round later: cut again. */
    now += 100 * MS;
    importer_signals s3 = {.lag = 0, .oldest_unapplied_ns = cut + 10 * MS, .produced = 400};
    importer_throttle_update(&t, &s3, now);
    assert_int_equal(t.verdict, THROTTLE_DECREASE);
    assert_int_equal(t.cuts, 2);
    assert_true(t.rate > before / 2 - 1 && t.rate < before / 2 + 1);
    /* Exactly at the threshold is not late. */
    now += 200 * MS;
    importer_signals s4 = {.lag = 0, .oldest_unapplied_ns = now - 30 * MS, .produced = 1000};
    importer_throttle_update(&t, &s4, now);
    assert_int_equal(t.verdict, THROTTLE_GROW);
}

static void test_additive_increase_after_a_decrease(void **state) {
    (void)state;
    importer_throttle t;
    int64_t now;
    int64_t grant = congest_at(&t, &now);
    double base = t.rate;
    /* Above ssthresh: +500/s per 100 ms round, linear, not doubling. */
    grant = run_calm(&t, &now, 10 * MS, 100 * MS, grant);
    assert_true(t.rate > base + 499 && t.rate < base + 501);
    grant = run_calm(&t, &now, 20 * MS, 1 * S, grant);
    assert_true(t.rate > base + 5499 && t.rate < base + 5501);
    assert_int_equal(t.verdict, THROTTLE_GROW);
    /* Up to the ceiling, not beyond: 20 000 after (20000 - base) / 5000 s. */
    run_calm(&t, &now, 20 * MS, 5 * S, grant);
    assert_true(t.rate == 20000);
}

static void test_lag_over_threshold_decreases_and_unknown_lag_holds(void **state) {
    (void)state;
    importer_throttle_config c = config();
    importer_throttle t;
    importer_throttle_init(&t, &c);
    int64_t now = 1 * S;
    importer_signals s = {.lag = 0, .oldest_unapplied_ns = -1};
    int64_t grant = importer_throttle_update(&t, &s, now);
    grant = run_calm(&t, &now, 10 * MS, 200 * MS, grant);
    double r = t.rate;
    /* A lag of exactly max_lag is fine; one more is congestion, even with nothing of ours
     * in flight (interactive writes or another importer). */
    now += 10 * MS;
    s = (importer_signals){.lag = 2000, .oldest_unapplied_ns = -1, .produced = grant};
    importer_throttle_update(&t, &s, now);
    assert_int_equal(t.verdict, THROTTLE_GROW);
    r = t.rate;
    now += 10 * MS;
    s.lag = 2001;
    importer_throttle_update(&t, &s, now);
    assert_int_equal(t.verdict, THROTTLE_DECREASE);
    assert_true(t.rate > r / 2 - 1 && t.rate < r / 2 + 1);
    /* The lag stays: one more decrease per round, no faster. */
    now += 50 * MS;
    importer_throttle_update(&t, &s, now);
    assert_int_equal(t.verdict, THROTTLE_HOLD);
    now += 60 * MS;
    importer_throttle_update(&t, &s, now);
    assert_int_equal(t.verdict, THROTTLE_DECREASE);
    assert_int_equal(t.cuts, 2);
    /* Unknown lag: no growth, no decrease. */
    r = t.rate;
    now += 200 * MS;
    s = (importer_signals){.lag = -1, .oldest_unapplied_ns = -1, .produced = 100000};
    importer_throttle_update(&t, &s, now);
    assert_int_equal(t.verdict, THROTTLE_HOLD);
    assert_true(t.rate == r);
}

static void test_floor_holds_under_endless_congestion(void **state) {
    (void)state;
    importer_throttle_config c = config();
    importer_throttle t;
    importer_throttle_init(&t, &c);
    int64_t now = 1 * S;
    importer_signals s = {.lag = 1000000, .oldest_unapplied_ns = -1};
    importer_throttle_update(&t, &s, now);
    int64_t granted = 0;
    for (int i = 0; i < 500; i++) {
        now += 20 * MS;
        granted += importer_throttle_update(&t, &s, now);
        assert_true(t.rate >= 100);
    }
    assert_true(t.rate == 100);
    assert_true(t.cuts >= 4);
    /* At the floor the import still moves: 100/s over the last 9 s is about 900. */
    assert_true(granted >= 900);
}

static void test_an_unused_rate_does_not_grow(void **state) {
    (void)state;
    importer_throttle_config c = config();
    importer_throttle t;
    importer_throttle_init(&t, &c);
    int64_t now = 1 * S;
    importer_signals s = {.lag = 0, .oldest_unapplied_ns = -1};
    importer_throttle_update(&t, &s, now);
    /* The imports end or the importer cannot keep up: produced far below the grant. */
    for (int i = 0; i < 100; i++) {
        now += 10 * MS;
        s.produced = 2; /* 200/s against 1000/s allowed */
        importer_throttle_update(&t, &s, now);
        assert_int_equal(t.verdict, THROTTLE_HOLD);
    }
    assert_true(t.rate == 1000);
    /* A slow importer: the grant was produced, but over a much longer time. */
    now += 10 * MS;
    s.produced = 10;
    importer_throttle_update(&t, &s, now);
    assert_int_equal(t.verdict, THROTTLE_GROW);
    double r = t.rate;
    now += 100 * MS;
    s.produced = 11; /* 10 ms worth of grant over 100 ms */
    importer_throttle_update(&t, &s, now);
    assert_int_equal(t.verdict, THROTTLE_HOLD);
    assert_true(t.rate == r);
}

static void test_in_flight_window(void **state) {
    (void)state;
    importer_throttle_config c = config();
    importer_throttle t;
    importer_throttle_init(&t, &c);
    int64_t now = 1 * S;
    importer_signals s = {.lag = 0, .oldest_unapplied_ns = -1};
    int64_t grant = importer_throttle_update(&t, &s, now);
    run_calm(&t, &now, 10 * MS, 1 * S, grant); /* at the ceiling: 200 per 10 ms */
    now += 10 * MS;
    s = (importer_signals){
        .lag = 0, .oldest_unapplied_ns = now - 5 * MS, .in_flight = 1900, .produced = 200};
    assert_int_equal(importer_throttle_update(&t, &s, now), 100); /* 2000 - 1900 */
    now += 10 * MS;
    s.in_flight = 2000;
    assert_int_equal(importer_throttle_update(&t, &s, now), 0);
    now += 10 * MS;
    s.in_flight = 5000;
    assert_int_equal(importer_throttle_update(&t, &s, now), 0);
    /* The window empties: the grant is the rate's again, with no burst for the wait. */
    now += 10 * MS;
    s.in_flight = 0;
    s.oldest_unapplied_ns = -1;
    assert_int_equal(importer_throttle_update(&t, &s, now), 200);
    assert_int_equal(t.cuts, 0);
}

static void test_grants_add_up_to_rate_times_time(void **state) {
    (void)state;
    importer_throttle_config c = config();
    c.start_rate = 777;
    c.min_rate = 777;
    c.max_rate = 777; /* a fixed rate: floor = ceiling */
    importer_throttle t;
    importer_throttle_init(&t, &c);
    int64_t now = 3 * S;
    importer_signals s = {.lag = 0, .oldest_unapplied_ns = -1};
    int64_t total = importer_throttle_update(&t, &s, now) - 77; /* the first 100 ms */
    int64_t start = now;
    srand(7);
    for (int i = 0; i < 3000; i++) {
        now += (1 + rand() % 30) * MS; /* ticks of 1..30 ms */
        total += importer_throttle_update(&t, &s, now);
        double exact = 777.0 * (double)(now - start) / 1e9;
        assert_true((double)total <= exact + 1 && (double)total >= exact - 1);
    }
    /* A pause longer than a max tick is not made up for. */
    now += 10 * S;
    int64_t after_pause = importer_throttle_update(&t, &s, now);
    assert_true(after_pause == 77 || after_pause == 78);
}

static void test_idle_restarts_slow_start(void **state) {
    (void)state;
    importer_throttle t;
    int64_t now;
    congest_at(&t, &now);
    importer_throttle_idle(&t);
    assert_true(t.rate == 1000 && t.ssthresh == 20000);
    now += 60 * S;
    importer_signals s = {.lag = 0, .oldest_unapplied_ns = now - 100 * S};
    int64_t grant = importer_throttle_update(&t, &s, now);
    assert_int_equal(t.verdict, THROTTLE_START);
    assert_int_equal(grant, 100);
    /* The old decrease no longer answers for new congestion. */
    now += 10 * MS;
    s = (importer_signals){.lag = 0, .oldest_unapplied_ns = now - 31 * MS, .produced = 100};
    importer_throttle_update(&t, &s, now);
    assert_int_equal(t.verdict, THROTTLE_DECREASE);
}

static void test_the_writers_base_latency_raises_the_threshold(void **state) {
    (void)state;
    importer_throttle_config c = config();   /* 30 ms of added delay */
    assert_true(c.base_bucket_ns == 60 * S); /* the default window: 10 minutes */
    c.base_bucket_ns = 1 * S;
    importer_throttle t;
    importer_throttle_init(&t, &c);
    int64_t now = 1 * S;
    importer_signals s = {.lag = 0, .oldest_unapplied_ns = -1, .seen_min_ns = -1};
    int64_t grant = importer_throttle_update(&t, &s, now);
    assert_int_equal(importer_throttle_base_ns(&t), 0); /* no sample yet */
    /* Batches are seen applied 40 ms after delivery at best: the base. */
    for (int i = 0; i < 50; i++) {
        now += 10 * MS;
        s = (importer_signals){.lag = 0,
                               .oldest_unapplied_ns = now - 69 * MS,
                               .seen_min_ns = 40 * MS + i * MS,
                               .produced = grant};
        grant = importer_throttle_update(&t, &s, now);
        assert_int_equal(t.verdict, THROTTLE_GROW); /* 69 ms is within 40 + 30 */
    }
    assert_int_equal(importer_throttle_base_ns(&t), 40 * MS);
    now += 10 * MS;
    s = (importer_signals){
        .lag = 0, .oldest_unapplied_ns = now - 71 * MS, .seen_min_ns = -1, .produced = grant};
    importer_throttle_update(&t, &s, now);
    assert_int_equal(t.verdict, THROTTLE_DECREASE);
    /* A lower sample lowers the base at once; higher ones replace it only once the lower
     * one left the window (10 buckets of 1 s). */
    s = (importer_signals){.lag = 0, .oldest_unapplied_ns = -1, .seen_min_ns = 25 * MS};
    now += 10 * MS;
    importer_throttle_update(&t, &s, now);
    assert_int_equal(importer_throttle_base_ns(&t), 25 * MS);
    s.seen_min_ns = 60 * MS;
    for (int i = 0; i < 90; i++) {
        now += 100 * MS;
        importer_throttle_update(&t, &s, now);
    }
    assert_int_equal(importer_throttle_base_ns(&t), 25 * MS); /* 9 s later: still in */
    for (int i = 0; i < 20; i++) {
        now += 100 * MS;
        importer_throttle_update(&t, &s, now);
    }
    assert_int_equal(importer_throttle_base_ns(&t), 60 * MS);
    /* A long pause forgets every sample. */
    now += 60 * S;
    s.seen_min_ns = -1;
    importer_throttle_update(&t, &s, now);
    assert_int_equal(importer_throttle_base_ns(&t), 0);
}

static void test_bad_config_is_made_safe(void **state) {
    (void)state;
    importer_throttle_config c = config();
    c.min_rate = 0;
    c.max_rate = -5;
    c.decrease = 3;
    c.interval_ns = 0;
    c.max_tick_ns = 0;
    importer_throttle t;
    importer_throttle_init(&t, &c);
    assert_true(t.cfg.min_rate == 1 && t.cfg.max_rate == 1 && t.cfg.decrease == 0.5);
    assert_true(t.rate == 1);
    importer_signals s = {.lag = 0, .oldest_unapplied_ns = -1};
    int64_t now = 1;
    for (int i = 0; i < 100; i++) {
        now += 1 * S;
        assert_true(importer_throttle_update(&t, &s, now) >= 0);
    }
}

/* --- fair share ------------------------------------------------------------------------ */

static void share(int64_t grant, const int64_t *want, const int *user, int n, unsigned turn,
                  int64_t *out) {
    importer_throttle_share(grant, want, user, n, turn, out);
    int64_t sum = 0, wanted = 0;
    for (int i = 0; i < n; i++) {
        assert_true(out[i] >= 0 && out[i] <= want[i]);
        sum += out[i];
        wanted += want[i];
    }
    assert_int_equal(sum, grant < wanted ? grant : wanted);
}

static void test_share_equal_between_users_then_imports(void **state) {
    (void)state;
    int64_t out[3];
    /* Two imports of user 0 and one of user 1: halves per user, quarters per import. */
    const int64_t want[3] = {5000, 5000, 5000};
    const int user[3] = {0, 0, 1};
    share(400, want, user, 3, 0, out);
    assert_int_equal(out[0], 100);
    assert_int_equal(out[1], 100);
    assert_int_equal(out[2], 200);
    /* Three users: thirds, the two leftover items one each from the turn. */
    const int user3[3] = {4, 9, 2};
    share(302, want, user3, 3, 1, out);
    assert_int_equal(out[0], 100);
    assert_int_equal(out[1], 101);
    assert_int_equal(out[2], 101);
    share(302, want, user3, 3, 2, out);
    assert_int_equal(out[0], 101);
    assert_int_equal(out[1], 100);
    assert_int_equal(out[2], 101);
}

static void test_share_leftover_goes_to_the_others(void **state) {
    (void)state;
    int64_t out[4];
    /* User 1's import has 10 left: the rest of its half goes to user 0's imports. */
    const int64_t want[3] = {5000, 5000, 10};
    const int user[3] = {0, 0, 1};
    share(400, want, user, 3, 0, out);
    assert_int_equal(out[2], 10);
    assert_int_equal(out[0], 195);
    assert_int_equal(out[1], 195);
    /* Within a user: an import nearly done leaves its part to the user's other import. */
    const int64_t want2[4] = {3, 1000, 1000, 0};
    const int user2[4] = {0, 0, 1, 2};
    share(100, want2, user2, 4, 0, out);
    assert_int_equal(out[0], 3);
    assert_int_equal(out[1], 47);
    assert_int_equal(out[2], 50);
    assert_int_equal(out[3], 0);
    /* More grant than wanted: everyone gets everything. */
    share(100000, want2, user2, 4, 0, out);
    assert_int_equal(out[0], 3);
    assert_int_equal(out[1], 1000);
    assert_int_equal(out[2], 1000);
    /* Nothing to grant. */
    share(0, want2, user2, 4, 0, out);
    assert_int_equal(out[1], 0);
}

static void test_share_of_single_items_rotates(void **state) {
    (void)state;
    /* At the floor a tick may grant one item: every import gets its turn, in order. */
    const int64_t want[3] = {100, 100, 100};
    const int user[3] = {0, 1, 2};
    int64_t got[3] = {0, 0, 0};
    for (unsigned turn = 0; turn < 30; turn++) {
        int64_t out[3];
        share(1, want, user, 3, turn, out);
        assert_int_equal(out[turn % 3], 1);
        for (int i = 0; i < 3; i++) {
            got[i] += out[i];
        }
    }
    assert_int_equal(got[0], 10);
    assert_int_equal(got[1], 10);
    assert_int_equal(got[2], 10);
}

static void test_share_is_max_min_fair(void **state) {
    (void)state;
    srand(11);
    for (int round = 0; round < 2000; round++) {
        int n = 1 + rand() % 12;
        int64_t want[12], out[12];
        int user[12];
        for (int i = 0; i < n; i++) {
            want[i] = rand() % 4 == 0 ? 0 : rand() % 300;
            user[i] = rand() % 4;
        }
        int64_t grant = rand() % 1500;
        share(grant, want, user, n, (unsigned)rand(), out);
        /* Per user: what it got and wanted. A user that got less than it wanted got at
         * least as much as any other user, less one item. */
        int64_t got_u[4] = {0}, want_u[4] = {0};
        for (int i = 0; i < n; i++) {
            got_u[user[i]] += out[i];
            want_u[user[i]] += want[i];
        }
        for (int u = 0; u < 4; u++) {
            for (int v = 0; v < 4; v++) {
                if (got_u[u] < want_u[u]) {
                    assert_true(got_u[u] >= got_u[v] - 1);
                }
            }
        }
        /* The same between the imports of one user. */
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                if (user[i] == user[j] && out[i] < want[i]) {
                    assert_true(out[i] >= out[j] - 1);
                }
            }
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_start_doubles_per_round_up_to_the_ceiling),
        cmocka_unit_test(test_latency_over_threshold_halves_the_rate_once_per_round_trip),
        cmocka_unit_test(test_additive_increase_after_a_decrease),
        cmocka_unit_test(test_lag_over_threshold_decreases_and_unknown_lag_holds),
        cmocka_unit_test(test_floor_holds_under_endless_congestion),
        cmocka_unit_test(test_an_unused_rate_does_not_grow),
        cmocka_unit_test(test_in_flight_window),
        cmocka_unit_test(test_grants_add_up_to_rate_times_time),
        cmocka_unit_test(test_idle_restarts_slow_start),
        cmocka_unit_test(test_the_writers_base_latency_raises_the_threshold),
        cmocka_unit_test(test_bad_config_is_made_safe),
        cmocka_unit_test(test_share_equal_between_users_then_imports),
        cmocka_unit_test(test_share_leftover_goes_to_the_others),
        cmocka_unit_test(test_share_of_single_items_rotates),
        cmocka_unit_test(test_share_is_max_min_fair),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
