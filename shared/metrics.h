/*
 * metrics.h: Prometheus counters and histograms, and their text exposition.
 *
 * Owns: a process-wide registry of labelled series (mutex-guarded; series are created on
 * first use and live until exit). Rules: names follow Prometheus conventions (_total,
 * _seconds); label values are bounded sets (route patterns, never raw paths).
 */
#ifndef TASKBUS_SHARED_METRICS_H
#define TASKBUS_SHARED_METRICS_H

#include <stddef.h>

/* Adds delta to counter name{labels}. labels is "key=\"v\",key2=\"v\"" or NULL. */
void metrics_counter_add(const char *name, const char *help, const char *labels, double delta);
/* Observes value (seconds) into histogram name{labels} with the default latency buckets. */
void metrics_histogram_observe(const char *name, const char *help, const char *labels,
                               double value);
/* Sets gauge name{labels}. */
void metrics_gauge_set(const char *name, const char *help, const char *labels, double value);
/* Sets counter name{labels} to a total counted elsewhere (a collector mirroring the
 * kernel's CPU time); a value below the current one is ignored (counters only go up). */
void metrics_counter_set(const char *name, const char *help, const char *labels, double value);

/* A function that refreshes some series just before each render (e.g. process_*). */
typedef void (*metrics_collector_fn)(void);
/* Registers fn (at most METRICS_MAX_COLLECTORS; a function already registered is not
 * added twice). Collectors run at the start of metrics_render, outside the registry lock. */
#define METRICS_MAX_COLLECTORS 8
void metrics_add_collector(metrics_collector_fn fn);
/* The whole registry in text exposition format 0.0.4; caller free()s. */
char *metrics_render(void);

#endif
