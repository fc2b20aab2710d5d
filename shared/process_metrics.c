/*
 * process_metrics.c: the process collector (see process_metrics.h).
 *
 * Owns: reading /proc/self/stat, /proc/self/limits, /proc/self/fd and /proc/stat on each
 * render, and the parsers of those texts. Rules: no state of its own (every refresh reads
 * afresh); a /proc read that fails only skips its families in that refresh.
 */
#include "shared/process_metrics.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/metrics.h"

#define PROC_TEXT_MAX 16384

int process_parse_stat(const char *text, long ticks_per_second, process_stat *out) {
    if (text == NULL || out == NULL || ticks_per_second <= 0) {
        return -1;
    }
    /* "pid (comm) state ppid ...": comm may hold ") ", so the last ')' ends it. */
    const char *p = strrchr(text, ')');
    if (p == NULL) {
        return -1;
    }
    p++;
    /* Fields after comm, counted from 3 (state) as proc(5) numbers them. */
    double utime = -1, stime = -1, start = -1, vsize = -1, rss = -1;
    int field = 2;
    while (*p != '\0' && field < 24) {
        while (*p == ' ') {
            p++;
        }
        if (*p == '\0' || *p == '\n') {
            break;
        }
        field++;
        char *end = NULL;
        if (field == 14 || field == 15 || field == 22 || field == 23 || field == 24) {
            errno = 0;
            double v = strtod(p, &end);
            if (errno != 0 || end == p || (*end != ' ' && *end != '\n' && *end != '\0')) {
                return -1;
            }
            if (field == 14) {
                utime = v;
            } else if (field == 15) {
                stime = v;
            } else if (field == 22) {
                start = v;
            } else if (field == 23) {
                vsize = v;
            } else {
                rss = v;
            }
            p = end;
        } else {
            while (*p != ' ' && *p != '\0' && *p != '\n') {
                p++;
            }
        }
    }
    if (utime < 0 || stime < 0 || start < 0 || vsize < 0 || rss < 0) {
        return -1;
    }
    out->cpu_seconds = (utime + stime) / (double)ticks_per_second;
    out->start_ticks = start;
    out->virtual_bytes = vsize;
    out->resident_pages = rss;
    return 0;
}

int process_parse_max_fds(const char *text, double *out) {
    if (text == NULL || out == NULL) {
        return -1;
    }
    const char *line = strstr(text, "Max open files");
    if (line == NULL) {
        return -1;
    }
    const char *p = line + strlen("Max open files");
    while (*p == ' ') {
        p++;
    }
    if (strncmp(p, "unlimited", 9) == 0) {
        *out = -1;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    double v = strtod(p, &end);
    if (errno != 0 || end == p || *end != ' ') {
        return -1;
    }
    *out = v;
    return 0;
}

int process_parse_boot_time(const char *text, double *out) {
    if (text == NULL || out == NULL) {
        return -1;
    }
    for (const char *line = text; line != NULL && *line != '\0';) {
        if (strncmp(line, "btime ", 6) == 0) {
            char *end = NULL;
            errno = 0;
            double v = strtod(line + 6, &end);
            if (errno != 0 || end == line + 6 || (*end != '\n' && *end != '\0')) {
                return -1;
            }
            *out = v;
            return 0;
        }
        line = strchr(line, '\n');
        line = line != NULL ? line + 1 : NULL;
    }
    return -1;
}

/* The whole (small) file into buf. 0, or -1. */
static int read_text(const char *path, char *buf, size_t len) {
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        return -1;
    }
    size_t n = fread(buf, 1, len - 1, f);
    int failed = ferror(f);
    if (fclose(f) != 0 || failed) {
        return -1;
    }
    buf[n] = '\0';
    return 0;
}

/* btime of /proc/stat, read line by line (its "intr" line can be very long). */
static int read_boot_time(double *out) {
    FILE *f = fopen("/proc/stat", "re");
    if (f == NULL) {
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    int rc = -1;
    while (rc != 0 && getline(&line, &cap, f) >= 0) {
        if (strncmp(line, "btime ", 6) == 0) {
            rc = process_parse_boot_time(line, out);
            break;
        }
    }
    free(line);
    if (fclose(f) != 0) {
        return -1;
    }
    return rc;
}

/* Entries of /proc/self/fd but the directory's own descriptor. -1 when unreadable. */
static int count_open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) {
        return -1;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            n++;
        }
    }
    if (closedir(d) != 0) {
        return -1;
    }
    return n > 0 ? n - 1 : 0; /* the DIR's descriptor was open while counting */
}

void process_metrics_collect(void) {
    char *text = malloc(PROC_TEXT_MAX);
    if (text == NULL) {
        return;
    }
    long ticks = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    process_stat st;
    if (read_text("/proc/self/stat", text, PROC_TEXT_MAX) == 0 &&
        process_parse_stat(text, ticks, &st) == 0) {
        metrics_counter_set("process_cpu_seconds_total",
                            "Total user and system CPU time spent in seconds.", NULL,
                            st.cpu_seconds);
        metrics_gauge_set("process_virtual_memory_bytes", "Virtual memory size in bytes.", NULL,
                          st.virtual_bytes);
        if (page > 0) {
            metrics_gauge_set("process_resident_memory_bytes", "Resident memory size in bytes.",
                              NULL, st.resident_pages * (double)page);
        }
        double boot = 0;
        if (read_boot_time(&boot) == 0 && ticks > 0) {
            metrics_gauge_set("process_start_time_seconds",
                              "Start time of the process since unix epoch in seconds.", NULL,
                              boot + st.start_ticks / (double)ticks);
        }
    }
    double max_fds = 0;
    if (read_text("/proc/self/limits", text, PROC_TEXT_MAX) == 0 &&
        process_parse_max_fds(text, &max_fds) == 0 && max_fds >= 0) {
        metrics_gauge_set("process_max_fds", "Maximum number of open file descriptors.", NULL,
                          max_fds);
    }
    int fds = count_open_fds();
    if (fds >= 0) {
        metrics_gauge_set("process_open_fds", "Number of open file descriptors.", NULL,
                          (double)fds);
    }
    free(text);
}

void process_metrics_register(void) {
    metrics_add_collector(process_metrics_collect);
}
