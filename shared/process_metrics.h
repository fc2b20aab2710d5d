/*
 * process_metrics.h: the standard Prometheus process collector, read from /proc/self.
 *
 * Owns: process_cpu_seconds_total (counter), process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_open_fds, process_max_fds and
 * process_start_time_seconds (gauges), refreshed each time the registry is rendered
 * (process_metrics_register installs a shared/metrics.c collector). Rules: the parsers
 * are pure (text in, numbers out) so unit tests feed them fixed /proc texts; a value
 * that cannot be read is left out of that refresh rather than reported as 0.
 */
#ifndef TASKBUS_SHARED_PROCESS_METRICS_H
#define TASKBUS_SHARED_PROCESS_METRICS_H

#include <stddef.h>

typedef struct process_stat {
    double cpu_seconds;    /* utime + stime */
    double start_ticks;    /* starttime: clock ticks after boot */
    double virtual_bytes;  /* vsize */
    double resident_pages; /* rss */
} process_stat;

/* Parses the text of /proc/<pid>/stat (the command may hold spaces and parentheses).
 * ticks_per_second: sysconf(_SC_CLK_TCK). 0, or -1 when the text is malformed. */
int process_parse_stat(const char *text, long ticks_per_second, process_stat *out);

/* The soft "Max open files" of a /proc/<pid>/limits text; "unlimited" is -1 (left out).
 * 0, or -1 when the line is missing or malformed. */
int process_parse_max_fds(const char *text, double *out);

/* The "btime" (boot time, Unix seconds) of a /proc/stat text. 0, or -1 when missing. */
int process_parse_boot_time(const char *text, double *out);

/* Reads /proc/self and sets the six families now. */
void process_metrics_collect(void);

/* Makes every metrics_render() refresh the process families first (idempotent). */
void process_metrics_register(void);

#endif
