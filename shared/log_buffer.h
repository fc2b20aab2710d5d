/*
 * log_buffer.h: an optional write-behind buffer for log lines (the API's access log).
 *
 * Owns: one process-wide buffer and the thread that writes it to stderr every
 * LOG_BUFFER_FLUSH_MS, or at once when it holds LOG_BUFFER_FLUSH_BYTES or a line of level
 * error arrives. Rules: lines are appended whole and written whole, in order, many per
 * write(2), so concurrent threads never interleave; past LOG_BUFFER_MAX_BYTES a line is
 * written directly (after the buffered ones) rather than dropped. A process killed
 * outright loses at most the last LOG_BUFFER_FLUSH_MS of lines; log_buffer_stop writes
 * what is left. Until log_buffer_start, and after log_buffer_stop, log.c writes directly.
 */
#ifndef TASKBUS_SHARED_LOG_BUFFER_H
#define TASKBUS_SHARED_LOG_BUFFER_H

#include <stdbool.h>
#include <stddef.h>

#define LOG_BUFFER_FLUSH_MS 20
#define LOG_BUFFER_FLUSH_BYTES (64 * 1024)
#define LOG_BUFFER_MAX_BYTES (4 * 1024 * 1024)

/* 0, or -1 (no thread: lines keep being written directly). */
int log_buffer_start(void);
void log_buffer_stop(void);
/* Takes one whole line (with its newline); false when the buffer is not running (the
 * caller writes it itself). urgent: flush now. */
bool log_buffer_write(const char *line, size_t len, bool urgent);
/* write(2) of all of buf to stderr, retrying short writes and EINTR. */
void log_buffer_write_all(const char *buf, size_t len);

#endif
