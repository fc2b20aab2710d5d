/*
 * kafka_conf.h: the one home of librdkafka configuration and of its log/error callbacks.
 *
 * Owns: creating every rd_kafka_conf_t taskbus uses (bootstrap.servers first, then the
 * caller's {key, value} table), the log and error callbacks each kind of client gets, and
 * opening a handle from a configuration, and asking an open handle whether the cluster
 * answers (kafka_ping: the API's and every daemon's readiness check).
 * Rules:
 * - A table ends with {NULL, NULL}; the first refused key stops it and err names it.
 * - Callers set only what is theirs on top (a delivery-report or rebalance callback, an
 *   opaque); they never create a configuration or set a log/error callback themselves.
 * - kafka_conf_open always takes the configuration: librdkafka's on success, destroyed
 *   here on failure, so no caller has a conf to free after it.
 */
#ifndef TASKBUS_SHARED_KAFKA_CONF_H
#define TASKBUS_SHARED_KAFKA_CONF_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

/* Where a client's librdkafka log lines and error events go. */
typedef enum kafka_log_mode {
    /* The bus producer. Log lines: warnings (but connection FAILs, which repeat the error
     * events) at WARN, the rest at DEBUG. Error events: transport ones at WARN, a fatal one
     * with librdkafka's cause, the rest at ERROR. */
    KAFKA_LOG_PRODUCER,
    /* A consumer loop. Log lines as the producer's; every error event at ERROR, named by
     * the client's group.id. */
    KAFKA_LOG_CONSUMER,
    /* Short-lived helper handles (topic admin, the importer's lag probe), whose callers
     * report failures themselves: every log line at DEBUG, named by client.id. */
    KAFKA_LOG_DEBUG,
    /* Nothing (taskbus-admin's group probe: its failures come back as results). */
    KAFKA_LOG_SILENT,
    /* librdkafka's own logger on stderr (taskbus-admin replay-dlq's consumer). */
    KAFKA_LOG_STDERR,
} kafka_log_mode;

/* A new configuration: bootstrap.servers = brokers, then each pair of kv (may be NULL),
 * then log's callbacks. NULL with err ("no brokers", the refused key) on failure. */
rd_kafka_conf_t *kafka_conf_new(const char *brokers, const char *const kv[][2], kafka_log_mode log,
                                char *err, size_t errlen);

/* Sets each kv[i] until {NULL, NULL}. 0, or -1 with err naming the key and librdkafka's
 * reason. */
int kafka_conf_set_all(rd_kafka_conf_t *conf, const char *const kv[][2], char *err, size_t errlen);

/* rd_kafka_new on conf, which it always takes. NULL with err "<what>: <reason>". */
rd_kafka_t *kafka_conf_open(rd_kafka_type_t type, rd_kafka_conf_t *conf, const char *what,
                            char *err, size_t errlen);

/* True when a metadata request on rk is answered within timeout_ms and lists a broker;
 * false with the reason in err. */
bool kafka_ping(rd_kafka_t *rk, int timeout_ms, char *err, size_t errlen);

#endif
