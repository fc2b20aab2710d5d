/*
 * metrics.c: a small Prometheus registry and its text exposition (format 0.0.4).
 *
 * Owns: families (name, help, type) in creation order, each with its labelled series;
 * a hash table finds a series by (name, labels) in O(1) on the hot path.
 * Rules: one mutex guards the whole registry (updates are a hash lookup and an add, far
 * shorter than anything a request does around them). Series are never freed: they live
 * until exit, which keeps pointers stable and the code small. A name reused with another
 * type is ignored rather than producing an invalid exposition. Label text is written as
 * given: callers pass bounded, already-escaped values (route patterns, status codes).
 */
#include "shared/metrics.h"

#include <math.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { M_COUNTER, M_GAUGE, M_HISTOGRAM } metric_type;

static const double BUCKETS[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
#define NBUCKETS (sizeof BUCKETS / sizeof BUCKETS[0])
#define NSLOTS 1024

typedef struct family family;

typedef struct series {
    struct series *next_in_family;
    struct series *next_in_slot;
    family *fam;
    char *labels; /* "" when none */
    double value; /* counter, gauge */
    double sum;   /* histogram */
    uint64_t count;
    uint64_t buckets[NBUCKETS]; /* per bucket, not cumulative */
} series;

struct family {
    family *next;
    char *name;
    char *help;
    metric_type type;
    series *first, *last;
};

/* The registry: all guarded by g_lock. */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static family *g_families, *g_families_last;
static series *g_slots[NSLOTS];
/* Collectors run before each render: also guarded by g_lock (copied out to run). */
static metrics_collector_fn g_collectors[METRICS_MAX_COLLECTORS];
static size_t g_ncollectors;

static uint32_t hash_key(const char *name, const char *labels) {
    uint32_t h = 2166136261u;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    h = (h ^ 0xFFu) * 16777619u;
    for (const char *p = labels; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h;
}

static family *family_get(const char *name, const char *help, metric_type type) {
    for (family *f = g_families; f != NULL; f = f->next) {
        if (strcmp(f->name, name) == 0)
            return f->type == type ? f : NULL;
    }
    family *f = calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    f->name = strdup(name);
    f->help = strdup(help != NULL ? help : name);
    if (f->name == NULL || f->help == NULL) {
        free(f->name);
        free(f->help);
        free(f);
        return NULL;
    }
    f->type = type;
    if (g_families_last != NULL)
        g_families_last->next = f;
    else
        g_families = f;
    g_families_last = f;
    return f;
}

/* The series for name{labels}, created on first use; NULL on a type clash or no memory. */
static series *series_get(const char *name, const char *help, const char *labels,
                          metric_type type) {
    if (labels == NULL)
        labels = "";
    uint32_t slot = hash_key(name, labels) % NSLOTS;
    for (series *s = g_slots[slot]; s != NULL; s = s->next_in_slot) {
        if (strcmp(s->fam->name, name) == 0 && strcmp(s->labels, labels) == 0)
            return s->fam->type == type ? s : NULL;
    }
    family *f = family_get(name, help, type);
    if (f == NULL)
        return NULL;
    series *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->labels = strdup(labels);
    if (s->labels == NULL) {
        free(s);
        return NULL;
    }
    s->fam = f;
    s->next_in_slot = g_slots[slot];
    g_slots[slot] = s;
    if (f->last != NULL)
        f->last->next_in_family = s;
    else
        f->first = s;
    f->last = s;
    return s;
}

void metrics_counter_add(const char *name, const char *help, const char *labels, double delta) {
    if (name == NULL || !(delta >= 0))
        return; /* counters only go up */
    pthread_mutex_lock(&g_lock);
    series *s = series_get(name, help, labels, M_COUNTER);
    if (s != NULL)
        s->value += delta;
    pthread_mutex_unlock(&g_lock);
}

void metrics_counter_set(const char *name, const char *help, const char *labels, double value) {
    if (name == NULL || !(value >= 0))
        return;
    pthread_mutex_lock(&g_lock);
    series *s = series_get(name, help, labels, M_COUNTER);
    if (s != NULL && value > s->value)
        s->value = value;
    pthread_mutex_unlock(&g_lock);
}

void metrics_add_collector(metrics_collector_fn fn) {
    if (fn == NULL)
        return;
    pthread_mutex_lock(&g_lock);
    bool known = false;
    for (size_t i = 0; i < g_ncollectors; i++)
        known = known || g_collectors[i] == fn;
    if (!known && g_ncollectors < METRICS_MAX_COLLECTORS)
        g_collectors[g_ncollectors++] = fn;
    pthread_mutex_unlock(&g_lock);
}

/* Runs every collector (they take the lock themselves through the setters). */
static void run_collectors(void) {
    metrics_collector_fn fns[METRICS_MAX_COLLECTORS];
    pthread_mutex_lock(&g_lock);
    size_t n = g_ncollectors;
    memcpy(fns, g_collectors, n * sizeof fns[0]);
    pthread_mutex_unlock(&g_lock);
    for (size_t i = 0; i < n; i++)
        fns[i]();
}

void metrics_gauge_set(const char *name, const char *help, const char *labels, double value) {
    if (name == NULL)
        return;
    pthread_mutex_lock(&g_lock);
    series *s = series_get(name, help, labels, M_GAUGE);
    if (s != NULL)
        s->value = value;
    pthread_mutex_unlock(&g_lock);
}

void metrics_histogram_observe(const char *name, const char *help, const char *labels,
                               double value) {
    if (name == NULL || isnan(value))
        return;
    pthread_mutex_lock(&g_lock);
    series *s = series_get(name, help, labels, M_HISTOGRAM);
    if (s != NULL) {
        for (size_t i = 0; i < NBUCKETS; i++) {
            if (value <= BUCKETS[i]) {
                s->buckets[i]++;
                break;
            }
        }
        s->count++;
        s->sum += value;
    }
    pthread_mutex_unlock(&g_lock);
}

static void format_value(double v, char *out, size_t outlen) {
    if (isnan(v))
        snprintf(out, outlen, "NaN");
    else if (isinf(v))
        snprintf(out, outlen, v > 0 ? "+Inf" : "-Inf");
    else {
        /* Shortest form that reads back exactly: "0.1", not "0.10000000000000001". */
        snprintf(out, outlen, "%.15g", v);
        if (strtod(out, NULL) != v)
            snprintf(out, outlen, "%.17g", v);
    }
}

static void write_help(FILE *out, const family *f) {
    static const char *const TYPES[] = {"counter", "gauge", "histogram"};
    fprintf(out, "# HELP %s ", f->name);
    for (const char *p = f->help; *p; p++) {
        if (*p == '\\')
            fputs("\\\\", out);
        else if (*p == '\n')
            fputs("\\n", out);
        else
            fputc(*p, out);
    }
    fprintf(out, "\n# TYPE %s %s\n", f->name, TYPES[f->type]);
}

static void write_histogram(FILE *out, const family *f, const series *s) {
    const char *sep = s->labels[0] != '\0' ? "," : "";
    uint64_t cumulative = 0;
    char v[40];
    for (size_t i = 0; i < NBUCKETS; i++) {
        cumulative += s->buckets[i];
        format_value(BUCKETS[i], v, sizeof v);
        fprintf(out, "%s_bucket{%s%sle=\"%s\"} %llu\n", f->name, s->labels, sep, v,
                (unsigned long long)cumulative);
    }
    fprintf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", f->name, s->labels, sep,
            (unsigned long long)s->count);
    format_value(s->sum, v, sizeof v);
    const char *open = s->labels[0] != '\0' ? "{" : "";
    const char *close = s->labels[0] != '\0' ? "}" : "";
    fprintf(out, "%s_sum%s%s%s %s\n", f->name, open, s->labels, close, v);
    fprintf(out, "%s_count%s%s%s %llu\n", f->name, open, s->labels, close,
            (unsigned long long)s->count);
}

static void write_family(FILE *out, const family *f) {
    write_help(out, f);
    char v[40];
    for (const series *s = f->first; s != NULL; s = s->next_in_family) {
        if (f->type == M_HISTOGRAM) {
            write_histogram(out, f, s);
            continue;
        }
        format_value(s->value, v, sizeof v);
        if (s->labels[0] != '\0')
            fprintf(out, "%s{%s} %s\n", f->name, s->labels, v);
        else
            fprintf(out, "%s %s\n", f->name, v);
    }
}

char *metrics_render(void) {
    run_collectors();
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (out == NULL)
        return NULL;
    pthread_mutex_lock(&g_lock);
    for (const family *f = g_families; f != NULL; f = f->next)
        write_family(out, f);
    pthread_mutex_unlock(&g_lock);
    int failed = ferror(out);
    if (fclose(out) != 0 || failed) {
        free(buf);
        return NULL;
    }
    return buf;
}
