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
/* The whole registry in text exposition format 0.0.4; caller free()s. */
char *metrics_render(void);

#endif
