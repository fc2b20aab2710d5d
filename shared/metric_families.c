/*
 * metric_families.c: the daemons' metric families and their label text (see
 * metric_families.h). Rules: the registry (shared/metrics.c) does the locking; this file
 * holds no state. A label that cannot be built (a value too long) drops the update and
 * never writes a truncated series.
 */
#include "shared/metric_families.h"

#include <stdio.h>
#include <string.h>

#include "shared/bus.h"
#include "shared/metrics.h"

#define H_RECORDS                                                                                  \
    "Records handled by a consumer loop, by result (ok: applied; skipped: "                        \
    "below the stored offset; failed: in a batch attempt rolled back)"
#define H_BATCHES "Batch attempts of a consumer loop, by result"
#define H_BATCH_SECONDS "Time from a batch's first attempt to its commit and after-commit step"
#define H_LAG "Broker high watermark minus the next offset the group stored in Postgres"
#define H_BACKLOG "Outbox rows not yet published"
#define H_AGE "Age of the oldest unpublished outbox row (0 when none)"
#define H_DLQ "Records this process sent to a dead-letter topic"
#define H_DLQ_PENDING "Dead letters neither replayed nor skipped"
#define H_WEBHOOK "Webhook delivery attempts, by result and attempt number"
#define H_EMAILS "SMTP attempts, by result"
#define H_REMINDERS "Due-soon reminders recorded and enqueued"
#define H_REPORTS "Reports built, by format and result"
#define H_IMPORT "Import lines produced as commands, by result"

int metric_labels(char *out, size_t outlen, size_t n, const char *const kv[][2]) {
    if (out == NULL || outlen == 0) {
        return -1;
    }
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        const char *k = kv[i][0];
        const char *v = kv[i][1] != NULL ? kv[i][1] : "";
        int w = snprintf(out + len, outlen - len, "%s%s=\"", i > 0 ? "," : "", k);
        if (w < 0 || (size_t)w >= outlen - len) {
            out[0] = '\0';
            return -1;
        }
        len += (size_t)w;
        for (const char *p = v; *p; p++) {
            const char *esc = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
            size_t need = esc != NULL ? 2 : 1;
            if (len + need >= outlen) {
                out[0] = '\0';
                return -1;
            }
            if (esc != NULL) {
                memcpy(out + len, esc, 2);
            } else {
                out[len] = *p;
            }
            len += need;
        }
        if (len + 1 >= outlen) {
            out[0] = '\0';
            return -1;
        }
        out[len++] = '"';
        out[len] = '\0';
    }
    if (n == 0) {
        out[0] = '\0';
    }
    return 0;
}

int metric_attempt_label(char *out, size_t outlen, int attempt) {
    if (out == NULL || outlen == 0) {
        return -1;
    }
    int w = attempt < 1                     ? -1
            : attempt >= METRIC_ATTEMPT_CAP ? snprintf(out, outlen, "%d+", METRIC_ATTEMPT_CAP)
                                            : snprintf(out, outlen, "%d", attempt);
    if (w < 0 || (size_t)w >= outlen) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

/* taskbus_dlq_records_total{topic} += n. */
static void metric_dlq_record_add(const char *dlq_topic, double n) {
    char labels[METRIC_LABELS_MAX];
    const char *const kv[][2] = {{"topic", dlq_topic}};
    if (metric_labels(labels, sizeof labels, 1, kv) == 0) {
        metrics_counter_add("taskbus_dlq_records_total", H_DLQ, labels, n);
    }
}

void metric_families_register(const char *service, const char *writer_topic) {
    char dlq[256];
    if (service == NULL) {
        return;
    }
    if (strcmp(service, "writer") == 0 && writer_topic != NULL &&
        bus_dlq_topic(dlq, sizeof dlq, writer_topic) == 0) {
        metric_dlq_record_add(dlq, 0);
    } else if (strcmp(service, "notifier") == 0) {
        metric_dlq_record_add(NOTIFICATIONS_DLQ_TOPIC, 0);
        metrics_counter_add("taskbus_emails_total", H_EMAILS, "result=\"sent\"", 0);
        metrics_counter_add("taskbus_emails_total", H_EMAILS, "result=\"failed\"", 0);
    } else if (strcmp(service, "scheduler") == 0) {
        metrics_counter_add("taskbus_reminders_fired_total", H_REMINDERS, NULL, 0);
    } else if (strcmp(service, "reporter") == 0) {
        static const char *const SERIES[] = {
            "format=\"csv\",result=\"ok\"", "format=\"csv\",result=\"failed\"",
            "format=\"json\",result=\"ok\"", "format=\"json\",result=\"failed\""};
        for (size_t i = 0; i < sizeof SERIES / sizeof SERIES[0]; i++) {
            metrics_counter_add("taskbus_reports_built_total", H_REPORTS, SERIES[i], 0);
        }
    } else if (strcmp(service, "importer") == 0) {
        metrics_counter_add("taskbus_import_lines_total", H_IMPORT, "result=\"produced\"", 0);
        metrics_counter_add("taskbus_import_lines_total", H_IMPORT, "result=\"retried\"", 0);
    }
}

/* ---- the consumer loop ---- */

int metric_consumer_labels_init(metric_consumer_labels *l, const char *group) {
    const char *const g[][2] = {{"group", group}};
    const char *const ok[][2] = {{"group", group}, {"result", "ok"}};
    const char *const failed[][2] = {{"group", group}, {"result", "failed"}};
    const char *const skipped[][2] = {{"group", group}, {"result", "skipped"}};
    if (group == NULL || metric_labels(l->group, sizeof l->group, 1, g) != 0 ||
        metric_labels(l->ok, sizeof l->ok, 2, ok) != 0 ||
        metric_labels(l->failed, sizeof l->failed, 2, failed) != 0 ||
        metric_labels(l->skipped, sizeof l->skipped, 2, skipped) != 0) {
        return -1;
    }
    return 0;
}

void metric_consumer_register(const metric_consumer_labels *l) {
    metrics_counter_add("taskbus_consumer_batches_total", H_BATCHES, l->ok, 0);
    metrics_counter_add("taskbus_consumer_batches_total", H_BATCHES, l->failed, 0);
    metrics_counter_add("taskbus_consumer_records_total", H_RECORDS, l->ok, 0);
    metrics_counter_add("taskbus_consumer_records_total", H_RECORDS, l->skipped, 0);
    metrics_counter_add("taskbus_consumer_records_total", H_RECORDS, l->failed, 0);
}

void metric_consumer_batch_failed(const metric_consumer_labels *l, size_t records) {
    metrics_counter_add("taskbus_consumer_batches_total", H_BATCHES, l->failed, 1);
    metrics_counter_add("taskbus_consumer_records_total", H_RECORDS, l->failed, (double)records);
}

void metric_consumer_batch_done(const metric_consumer_labels *l, size_t applied, size_t skipped,
                                double seconds) {
    metrics_counter_add("taskbus_consumer_batches_total", H_BATCHES, l->ok, 1);
    metrics_counter_add("taskbus_consumer_records_total", H_RECORDS, l->ok, (double)applied);
    if (skipped > 0) {
        metrics_counter_add("taskbus_consumer_records_total", H_RECORDS, l->skipped,
                            (double)skipped);
    }
    metrics_histogram_observe("taskbus_consumer_batch_duration_seconds", H_BATCH_SECONDS, l->group,
                              seconds);
}

/* ---- the observer ---- */

void metric_consumer_lag(const char *group, const char *topic, int32_t partition, int64_t lag) {
    char part[16];
    char labels[METRIC_LABELS_MAX];
    snprintf(part, sizeof part, "%d", (int)partition);
    const char *const kv[][2] = {{"group", group}, {"topic", topic}, {"partition", part}};
    if (metric_labels(labels, sizeof labels, 3, kv) == 0) {
        metrics_gauge_set("taskbus_consumer_lag", H_LAG, labels, (double)lag);
    }
}

void metric_outbox(int64_t backlog, double oldest_age_s) {
    metrics_gauge_set("taskbus_outbox_backlog", H_BACKLOG, NULL, (double)backlog);
    metrics_gauge_set("taskbus_outbox_oldest_age_seconds", H_AGE, NULL,
                      oldest_age_s > 0 ? oldest_age_s : 0);
}

void metric_dlq_pending(const char *dlq_topic, int64_t pending) {
    char labels[METRIC_LABELS_MAX];
    const char *const kv[][2] = {{"topic", dlq_topic}};
    if (metric_labels(labels, sizeof labels, 1, kv) == 0) {
        metrics_gauge_set("taskbus_dlq_pending", H_DLQ_PENDING, labels, (double)pending);
    }
}

/* ---- the work of each daemon ---- */

void metric_dlq_record(const char *dlq_topic) {
    metric_dlq_record_add(dlq_topic, 1);
}

void metric_webhook_delivery(const char *result, int attempt) {
    char n[16];
    char labels[128];
    const char *const kv[][2] = {{"result", result}, {"attempt", n}};
    if (metric_attempt_label(n, sizeof n, attempt) == 0 &&
        metric_labels(labels, sizeof labels, 2, kv) == 0) {
        metrics_counter_add("taskbus_webhook_deliveries_total", H_WEBHOOK, labels, 1);
    }
}

void metric_email(bool sent) {
    metrics_counter_add("taskbus_emails_total", H_EMAILS,
                        sent ? "result=\"sent\"" : "result=\"failed\"", 1);
}

void metric_reminders_fired(int n) {
    if (n >= 0) {
        metrics_counter_add("taskbus_reminders_fired_total", H_REMINDERS, NULL, (double)n);
    }
}

void metric_report_built(const char *format, bool ok) {
    const char *f = format != NULL && (strcmp(format, "csv") == 0 || strcmp(format, "json") == 0)
                        ? format
                        : "other";
    char labels[64];
    const char *const kv[][2] = {{"format", f}, {"result", ok ? "ok" : "failed"}};
    if (metric_labels(labels, sizeof labels, 2, kv) == 0) {
        metrics_counter_add("taskbus_reports_built_total", H_REPORTS, labels, 1);
    }
}

void metric_import_lines(const char *result, int64_t n) {
    char labels[64];
    const char *const kv[][2] = {{"result", result}};
    if (n > 0 && metric_labels(labels, sizeof labels, 1, kv) == 0) {
        metrics_counter_add("taskbus_import_lines_total", H_IMPORT, labels, (double)n);
    }
}
