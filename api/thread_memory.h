/*
 * thread_memory.h: giving back the memory a connection thread holds but does not use.
 *
 * Owns: releasing the all-zero pages of the calling thread's static TLS blocks (issue 8).
 * glibc gives every thread a copy of every loaded library's thread-local storage and
 * zero-fills it when the thread starts, so the pages are resident from the first
 * instruction. librdkafka alone has 15 KiB of thread-local buffers (errors, address
 * strings), which the API's libmicrohttpd threads (one per connection) never use: with
 * 1 000 idle keep-alive connections that was 16 MiB of zeros.
 * Rules: only whole pages inside one library's TLS block whose every byte is zero are
 * released (madvise MADV_DONTNEED), so a later read still sees zeros and a later write
 * simply faults a fresh page in: nothing the program can observe changes, as long as no
 * other thread writes into this thread's TLS (no library we link hands its thread-local
 * buffers to another thread). Affects only the calling thread.
 */
#ifndef TASKBUS_API_THREAD_MEMORY_H
#define TASKBUS_API_THREAD_MEMORY_H

#include <stddef.h>

/* Releases the calling thread's all-zero TLS pages; returns the bytes released (0 when
 * there was nothing to release or madvise refused). Safe to call from any thread, any
 * number of times; the cost is one walk of the loaded libraries and a read of their TLS. */
size_t thread_memory_release_zero_tls(void);

/* Calls thread_memory_release_zero_tls the first time it runs in a thread and does
 * nothing afterwards (a thread-local flag; a thread created later, even on a reused
 * stack, starts with the flag clear). */
void thread_memory_release_zero_tls_once(void);

#endif
