/*
 * test_sse_queue.c: the bounded queue of live events of one SSE stream: first in, first
 * out; the bound in bytes refuses a push whole (nothing half queued); items are copies,
 * independent of the caller's event; clear empties and the queue stays usable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/sse_queue.h"

static sse_event make(uint64_t ms, const char *data) {
    sse_event ev;
    memset(&ev, 0, sizeof ev);
    ev.id.ms = ms;
    sse_id_format(ev.id, ev.id_text);
    snprintf(ev.name, sizeof ev.name, "task.created");
    ev.data = strdup(data);
    assert_non_null(ev.data);
    return ev;
}

static void test_fifo_and_copies(void **state) {
    (void)state;
    sse_queue q;
    sse_queue_init(&q, 64 * 1024);
    for (uint64_t i = 1; i <= 5; i++) {
        char data[32];
        snprintf(data, sizeof data, "{\"n\":%llu}", (unsigned long long)i);
        sse_event ev = make(i, data);
        assert_int_equal(sse_queue_push_copy(&q, &ev), SSE_QUEUE_PUSHED);
        /* the queue holds a copy: the caller's event can go */
        memset(ev.data, 'x', strlen(ev.data));
        sse_event_clear(&ev);
    }
    assert_int_equal(q.count, 5);
    for (uint64_t i = 1; i <= 5; i++) {
        sse_event out;
        assert_true(sse_queue_pop(&q, &out));
        assert_true(out.id.ms == i);
        char want[32];
        snprintf(want, sizeof want, "{\"n\":%llu}", (unsigned long long)i);
        assert_string_equal(out.data, want);
        assert_string_equal(out.name, "task.created");
        sse_event_clear(&out);
    }
    sse_event none;
    assert_false(sse_queue_pop(&q, &none));
    assert_int_equal(q.count, 0);
    assert_int_equal(q.bytes, 0);
}

static void test_bound_refuses_whole_pushes(void **state) {
    (void)state;
    char big[200];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    size_t cost = strlen(big) + SSE_QUEUE_ITEM_OVERHEAD;
    sse_queue q;
    sse_queue_init(&q, cost * 3 + cost / 2); /* room for three, not four */
    sse_event ev = make(1, big);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(sse_queue_push_copy(&q, &ev), SSE_QUEUE_PUSHED);
    }
    size_t bytes = q.bytes;
    assert_int_equal(sse_queue_push_copy(&q, &ev), SSE_QUEUE_FULL);
    assert_int_equal(q.count, 3);
    assert_int_equal(q.bytes, bytes);
    /* popping one makes room for one again */
    sse_event out;
    assert_true(sse_queue_pop(&q, &out));
    sse_event_clear(&out);
    assert_int_equal(sse_queue_push_copy(&q, &ev), SSE_QUEUE_PUSHED);
    assert_int_equal(sse_queue_push_copy(&q, &ev), SSE_QUEUE_FULL);

    /* an item larger than the whole bound is refused even on an empty queue */
    sse_queue_clear(&q);
    assert_int_equal(q.count, 0);
    assert_int_equal(q.bytes, 0);
    sse_queue tiny;
    sse_queue_init(&tiny, cost - 1);
    assert_int_equal(sse_queue_push_copy(&tiny, &ev), SSE_QUEUE_FULL);
    assert_int_equal(tiny.count, 0);

    /* the queue stays usable after clear */
    assert_int_equal(sse_queue_push_copy(&q, &ev), SSE_QUEUE_PUSHED);
    assert_true(sse_queue_pop(&q, &out));
    assert_string_equal(out.data, big);
    sse_event_clear(&out);
    sse_event_clear(&ev);
}

static void test_empty_data_counts_too(void **state) {
    (void)state;
    sse_queue q;
    sse_queue_init(&q, SSE_QUEUE_ITEM_OVERHEAD * 2);
    sse_event ev = make(7, "");
    assert_int_equal(sse_queue_push_copy(&q, &ev), SSE_QUEUE_PUSHED);
    assert_int_equal(sse_queue_push_copy(&q, &ev), SSE_QUEUE_PUSHED);
    assert_int_equal(sse_queue_push_copy(&q, &ev), SSE_QUEUE_FULL);
    sse_event_clear(&ev);
    sse_queue_clear(&q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_and_copies),
        cmocka_unit_test(test_bound_refuses_whole_pushes),
        cmocka_unit_test(test_empty_data_counts_too),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
