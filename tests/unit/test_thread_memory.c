/*
 * test_thread_memory.c: releasing a thread's all-zero TLS pages (api/thread_memory.c).
 *
 * A 64 KiB thread-local array of this program stands in for librdkafka's buffers. In a new
 * thread (whose TLS glibc has just zero-filled, so every page is resident), one page gets a
 * non-zero byte; after the release the zero pages are no longer resident (mincore), still
 * read as zero and can be written again, and the page with data kept its byte and stayed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "api/thread_memory.h"

#define TLS_BYTES (64 * 1024)

static _Thread_local unsigned char tls_array[TLS_BYTES];

typedef struct outcome {
    size_t released;
    size_t page;
    bool data_kept;
    bool data_page_resident;
    int zero_pages_checked;
    int zero_pages_resident;
    bool zero_pages_read_zero;
    bool rewrite_ok;
} outcome;

static bool resident(const void *page_addr, size_t page) {
    unsigned char vec = 0;
    return mincore((void *)page_addr, page, &vec) == 0 && (vec & 1) != 0;
}

static void *in_thread(void *arg) {
    outcome *o = arg;
    o->page = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t base = ((uintptr_t)tls_array + o->page - 1) & ~(uintptr_t)(o->page - 1);
    unsigned char *data_page = (unsigned char *)base + 2 * o->page;
    data_page[100] = 7;
    o->released = thread_memory_release_zero_tls();
    o->data_kept = data_page[100] == 7;
    o->data_page_resident = resident(data_page, o->page);
    o->zero_pages_read_zero = true;
    /* whole pages of the array other than the data page (the array is 16 pages long, so
     * at least 14 lie wholly inside it) */
    for (int i = 0; i < 12; i++) {
        unsigned char *p = (unsigned char *)base + (size_t)(i < 2 ? i : i + 1) * o->page;
        o->zero_pages_checked++;
        o->zero_pages_resident += resident(p, o->page) ? 1 : 0; /* before reading it */
        for (size_t k = 0; k < o->page; k++) {
            o->zero_pages_read_zero = o->zero_pages_read_zero && p[k] == 0;
        }
        p[o->page / 2] = (unsigned char)(i + 1);
        o->rewrite_ok = (i == 0 || o->rewrite_ok) && p[o->page / 2] == (unsigned char)(i + 1);
    }
    return NULL;
}

static void test_releases_zero_pages_and_keeps_data(void **state) {
    (void)state;
    outcome o;
    memset(&o, 0, sizeof o);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, in_thread, &o), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(o.released >= 12 * o.page);
    assert_true(o.data_kept);
    assert_true(o.data_page_resident);
    assert_int_equal(o.zero_pages_checked, 12);
    assert_int_equal(o.zero_pages_resident, 0);
    assert_true(o.zero_pages_read_zero);
    assert_true(o.rewrite_ok);
}

/* The first call releases the page; the second does nothing, so the page made resident
 * (and zero) in between stays resident. */
static void *twice(void *arg) {
    size_t *second = arg;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t p = (uintptr_t)&tls_array[TLS_BYTES / 2] & ~(uintptr_t)(page - 1);
    thread_memory_release_zero_tls_once();
    bool released = !resident((void *)p, page);
    /* resident and all zero again: a second release would give it back */
    tls_array[TLS_BYTES / 2] = 1;
    tls_array[TLS_BYTES / 2] = 0;
    thread_memory_release_zero_tls_once();
    *second = released && resident((void *)p, page) ? 1 : 0;
    return NULL;
}

static void test_once_runs_once_per_thread(void **state) {
    (void)state;
    size_t kept = 0;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, twice, &kept), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(kept, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_releases_zero_pages_and_keeps_data),
        cmocka_unit_test(test_once_runs_once_per_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
