/*
 * writer_dlq.c: sending a command the writer cannot apply to the dead-letter topic.
 *
 * Owns: building the DLQ headers and the synchronous send (see writer_dlq.h). Rules: the
 * reason is cut to DLQ_REASON_MAX bytes on a UTF-8 boundary, so a header stays small and
 * valid text whatever the decoder said. Each dead letter Kafka acknowledged counts once in
 * taskbus_dlq_records_total{topic}.
 */
#include "workers/writer/writer_dlq.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "shared/metric_families.h"

#define DLQ_REASON_MAX 512

/* Copies reason into out (outlen bytes) without splitting a UTF-8 sequence. */
static void copy_reason(char *out, size_t outlen, const char *reason) {
    size_t n = strlen(reason != NULL ? reason : "");
    if (n >= outlen) {
        n = outlen - 1;
        /* Back off continuation bytes so the cut lands on a character boundary. */
        while (n > 0 && ((unsigned char)reason[n] & 0xC0) == 0x80) {
            n--;
        }
    }
    if (n > 0) {
        memcpy(out, reason, n);
    }
    out[n] = '\0';
}

int writer_dlq_send(kafka_producer *producer, const char *dlq_topic, const kafka_record *rec,
                    const char *reason, char *err, size_t errlen) {
    char why[DLQ_REASON_MAX];
    char partition[16];
    char offset[32];
    copy_reason(why, sizeof why, reason);
    snprintf(partition, sizeof partition, "%" PRId32, rec->partition);
    snprintf(offset, sizeof offset, "%" PRId64, rec->offset);
    kafka_header headers[6] = {
        {"dlq_reason", why},
        {"dlq_topic", rec->topic},
        {"dlq_partition", partition},
        {"dlq_offset", offset},
    };
    size_t nh = 4;
    if (rec->request_id != NULL) {
        headers[nh++] = (kafka_header){"request_id", rec->request_id};
    }
    if (rec->traceparent != NULL) {
        headers[nh++] = (kafka_header){"traceparent", rec->traceparent};
    }
    kafka_message msg = {
        .topic = dlq_topic,
        .key = rec->key,
        .key_len = rec->key_len,
        .value = rec->value,
        .value_len = rec->value_len,
        .headers = headers,
        .nheaders = nh,
    };
    int rc = kafka_producer_send(producer, &msg, WRITER_DLQ_TIMEOUT_MS, err, errlen);
    if (rc == 0) {
        metric_dlq_record(dlq_topic);
    }
    return rc;
}
