/*
 * thread_memory.c: releasing a thread's all-zero TLS pages (see thread_memory.h).
 *
 * Rules: the TLS block of each library comes from dl_iterate_phdr (dlpi_tls_data is the
 * calling thread's copy, NULL when the library has no TLS or this thread has none
 * allocated yet); a page is released only when it lies wholly inside one block and reads
 * as zero, in runs of adjacent such pages (one madvise per run). No global state: the
 * once-flag is thread-local.
 */
#include "api/thread_memory.h"

#include <link.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct release_walk {
    uintptr_t page;  /* the page size */
    size_t released; /* bytes given back so far */
} release_walk;

static bool page_is_zero(uintptr_t addr, uintptr_t page) {
    const uint64_t *w = (const uint64_t *)addr;
    uint64_t any = 0;
    for (size_t i = 0; i < page / sizeof *w; i++) {
        any |= w[i];
    }
    return any == 0;
}

static void release_run(release_walk *walk, uintptr_t from, uintptr_t to) {
    if (to > from && madvise((void *)from, to - from, MADV_DONTNEED) == 0) {
        walk->released += to - from;
    }
}

/* The whole pages of [start, start + len) that read as zero, released in runs. */
static void release_zero_pages(release_walk *walk, uintptr_t start, size_t len) {
    uintptr_t first = (start + walk->page - 1) & ~(walk->page - 1);
    uintptr_t end = (start + len) & ~(walk->page - 1);
    uintptr_t run = 0; /* start of the current run of zero pages, 0 when none */
    for (uintptr_t p = first; p + walk->page <= end; p += walk->page) {
        if (page_is_zero(p, walk->page)) {
            run = run != 0 ? run : p;
            continue;
        }
        if (run != 0) {
            release_run(walk, run, p);
            run = 0;
        }
    }
    if (run != 0) {
        release_run(walk, run, end);
    }
}

static int on_library(struct dl_phdr_info *info, size_t size, void *data) {
    release_walk *walk = data;
    if (size < offsetof(struct dl_phdr_info, dlpi_tls_data) + sizeof info->dlpi_tls_data ||
        info->dlpi_tls_data == NULL) {
        return 0;
    }
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type == PT_TLS) {
            release_zero_pages(walk, (uintptr_t)info->dlpi_tls_data,
                               (size_t)info->dlpi_phdr[i].p_memsz);
        }
    }
    return 0;
}

size_t thread_memory_release_zero_tls(void) {
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || (page & (page - 1)) != 0) {
        return 0;
    }
    release_walk walk = {.page = (uintptr_t)page, .released = 0};
    dl_iterate_phdr(on_library, &walk);
    return walk.released;
}

void thread_memory_release_zero_tls_once(void) {
    static _Thread_local bool done; /* per thread, so no lock */
    if (!done) {
        done = true;
        (void)thread_memory_release_zero_tls();
    }
}
