/*
 * kafka_records.h: Kafka records made in a test, for the batch handlers of the daemons
 * (kafka_batch_fn) that the stack tests call directly, as the consumer loop would.
 *
 * Owns: one record from a key and a value (both borrowed NUL-terminated strings; NULL
 * for none), at offset `offset` of partition 0 of topic. Header-only.
 */
#ifndef TASKBUS_TESTS_UNIT_KAFKA_RECORDS_H
#define TASKBUS_TESTS_UNIT_KAFKA_RECORDS_H

#include <string.h>

#include "shared/kafka_consumer.h"

static inline kafka_record kafka_record_of(const char *topic, int64_t offset, const char *key,
                                           const char *value) {
    return (kafka_record){.topic = topic,
                          .partition = 0,
                          .offset = offset,
                          .key = key,
                          .key_len = key != NULL ? strlen(key) : 0,
                          .value = value,
                          .value_len = value != NULL ? strlen(value) : 0,
                          .request_id = NULL};
}

#endif
