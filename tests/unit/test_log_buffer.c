/*
 * test_log_buffer.c: lines handed to the write-behind buffer from several threads all
 * reach stderr whole (never interleaved), each thread's in its order, and none is lost
 * when the buffer stops; before start and after stop the caller is told to write itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/log_buffer.h"

#define THREADS 4
#define LINES 5000

static void *writer(void *arg) {
    int t = (int)(intptr_t)arg;
    char line[96];
    for (int i = 0; i < LINES; i++) {
        int n = snprintf(line, sizeof line, "{\"thread\":%d,\"seq\":%d,\"pad\":\"xxxxxxxxxxxx\"}\n",
                         t, i);
        assert_true(log_buffer_write(line, (size_t)n, i % 1000 == 0));
    }
    return NULL;
}

static void test_whole_lines_in_order(void **state) {
    (void)state;
    char path[] = "/tmp/test_log_buffer_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int saved = dup(STDERR_FILENO);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    assert_false(log_buffer_write("x\n", 2, false));
    assert_int_equal(log_buffer_start(), 0);
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, writer, (void *)(intptr_t)t), 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    log_buffer_stop();
    assert_false(log_buffer_write("x\n", 2, false));
    dup2(saved, STDERR_FILENO);
    close(saved);

    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int next[THREADS] = {0};
    char line[256];
    int total = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        int t = -1, seq = -1;
        assert_int_equal(sscanf(line, "{\"thread\":%d,\"seq\":%d,", &t, &seq), 2);
        assert_true(t >= 0 && t < THREADS);
        assert_int_equal(seq, next[t]);
        assert_non_null(strstr(line, "\"pad\":\"xxxxxxxxxxxx\"}\n"));
        next[t]++;
        total++;
    }
    fclose(f);
    unlink(path);
    close(fd);
    assert_int_equal(total, THREADS * LINES);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_lines_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
