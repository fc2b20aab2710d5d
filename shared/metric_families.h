/*
 * metric_families.h: the daemons' metric families (names, types, help, label sets) in one
 * place, and the building of their label text.
 *
 * Owns: every taskbus_* family a daemon exports about its work (the names are fixed by
 * issue 11's contract, listed in README "Daemon metrics"): the consumer loop's records,
 * batches and batch duration, the consumer lag, dead letters, the outbox, webhook
 * deliveries, e-mails, reminders, reports and import lines. Rules:
 * - Label values are bounded sets: groups and topics come from bus.h or configuration,
 *   partitions from the topic's metadata (KAFKA_LAG_MAX_PARTITIONS at most), results from
 *   the fixed words below, webhook attempts are capped (METRIC_ATTEMPT_CAP, then "N+").
 * - Every value is escaped as the text format requires (backslash, double quote, newline).
 * - Hot paths (a consumer batch) build their label text once (metric_consumer_labels) and
 *   update the registry once per batch, never per record.
 */
#ifndef TASKBUS_SHARED_METRIC_FAMILIES_H
#define TASKBUS_SHARED_METRIC_FAMILIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Attempts above this are labelled "<cap>+" (attempt="5+"). */
#define METRIC_ATTEMPT_CAP 5
/* Longest label text of one series we build (a 249-byte group name escaped twice over fits). */
#define METRIC_LABELS_MAX 1200

/* Writes `k1="v1",k2="v2"` for n pairs into out, escaping the values. 0, or -1 when it
 * does not fit outlen (out is then ""). */
int metric_labels(char *out, size_t outlen, size_t n, const char *const kv[][2]);

/* The attempt label of attempt (from 1): "1".."CAP-1", then "CAP+". 0, or -1 (out "") when
 * attempt < 1 or out is too small. */
int metric_attempt_label(char *out, size_t outlen, int attempt);

/* Registers at 0 the counters service ("writer", "notifier", ...: the daemon's service
 * name) will count, so a rate or increase sees its first event (a series that appears at
 * 1 hides it). Families whose labels are open-ended (webhook attempts) appear with their
 * first event. Called once by the daemon skeleton (shared/daemon.c). */
void metric_families_register(const char *service, const char *writer_topic);

/* ---- the consumer loop (shared/kafka_consumer.c) ---- */

/* The label texts of one consumer group, built once when the loop is created. */
typedef struct metric_consumer_labels {
    char group[METRIC_LABELS_MAX];   /* group="..." */
    char ok[METRIC_LABELS_MAX];      /* group="...",result="ok" */
    char failed[METRIC_LABELS_MAX];  /* group="...",result="failed" */
    char skipped[METRIC_LABELS_MAX]; /* group="...",result="skipped" */
} metric_consumer_labels;

/* 0, or -1 when the group name cannot be labelled (too long). */
int metric_consumer_labels_init(metric_consumer_labels *l, const char *group);
/* Registers the group's records and batches counters at 0 (the loop's creation). */
void metric_consumer_register(const metric_consumer_labels *l);
/* A batch attempt rolled back: batches{failed} +1, records{failed} + records. */
void metric_consumer_batch_failed(const metric_consumer_labels *l, size_t records);
/* A batch committed (and its after-commit step done): batches{ok} +1, records{ok} +
 * applied, records{skipped} + skipped (below the stored offset), and its duration from the
 * first attempt. */
void metric_consumer_batch_done(const metric_consumer_labels *l, size_t applied, size_t skipped,
                                double seconds);

/* ---- the observer (taskbus-scheduler) ---- */

/* taskbus_consumer_lag{group,topic,partition}. */
void metric_consumer_lag(const char *group, const char *topic, int32_t partition, int64_t lag);
/* taskbus_outbox_backlog and taskbus_outbox_oldest_age_seconds. */
void metric_outbox(int64_t backlog, double oldest_age_s);
/* taskbus_dlq_pending{topic}. */
void metric_dlq_pending(const char *dlq_topic, int64_t pending);

/* ---- the work of each daemon ---- */

/* taskbus_dlq_records_total{topic}: one record this process sent to dlq_topic. */
void metric_dlq_record(const char *dlq_topic);
/* taskbus_webhook_deliveries_total{result,attempt}: result is "delivered", "retrying" (the
 * attempt failed, another comes) or "failed" (the last attempt failed: given up). */
void metric_webhook_delivery(const char *result, int attempt);
/* taskbus_emails_total{result}: one SMTP attempt, sent or failed. */
void metric_email(bool sent);
/* taskbus_reminders_fired_total: n reminders committed. */
void metric_reminders_fired(int n);
/* taskbus_reports_built_total{format,result}: format "csv" or "json" (anything else
 * "other"), result "ok" or "failed". */
void metric_report_built(const char *format, bool ok);
/* taskbus_import_lines_total{result}: result "produced" (committed to Kafka and marked) or
 * "retried" (their tick rolled back; they are produced again). */
void metric_import_lines(const char *result, int64_t n);

#endif
