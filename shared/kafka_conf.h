/*
 * kafka_conf.h: setting librdkafka configuration from a table.
 *
 * Owns: the one loop that applies {key, value} pairs to an rd_kafka_conf_t and says which
 * key was refused. Rules: the table ends with {NULL, NULL}; the first refused key stops it.
 * (Issue 10 plans one librdkafka configuration module; this is its first piece.)
 */
#ifndef TASKBUS_SHARED_KAFKA_CONF_H
#define TASKBUS_SHARED_KAFKA_CONF_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

/* Sets each kv[i] until {NULL, NULL}. 0, or -1 with err naming the key and librdkafka's
 * reason. */
int kafka_conf_set_all(rd_kafka_conf_t *conf, const char *const kv[][2], char *err, size_t errlen);

#endif
