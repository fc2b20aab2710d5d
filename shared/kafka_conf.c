/*
 * kafka_conf.c: librdkafka configuration and its log/error callbacks (see kafka_conf.h).
 * Rules: the callbacks keep no state of their own; what names a client in a line (its
 * group.id, its handle name) is read from the handle, so they need no opaque and every
 * caller stays free to set its own.
 */
#include "shared/kafka_conf.h"

#include <stdbool.h>
#include <string.h>

#include "shared/errbuf.h"
#include "shared/log.h"

/* Service clients: syslog levels up to 4 (warning) matter; connection FAILs repeat what
 * the error callback says. */
static void log_service(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    (void)rk;
    if (level <= 4 && strcmp(fac, "FAIL") != 0) {
        log_msgf(LOG_WARN, "librdkafka %s: %s", fac, buf);
    } else {
        log_msgf(LOG_DEBUG, "librdkafka %s: %s", fac, buf);
    }
}

/* Helper handles: "Connection refused" while waiting for a broker is expected. */
static void log_debug(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    log_msgf(LOG_DEBUG, "librdkafka %s (level %d) %s: %s", rd_kafka_name(rk), level, fac, buf);
}

static void log_silent(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    (void)rk;
    (void)level;
    (void)fac;
    (void)buf;
}

static void error_producer(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof why);
        LOG_ERRORF("kafka producer fatal error %s: %s", rd_kafka_err2name(orig), why);
        return;
    }
    /* Transport errors are retried by librdkafka; failed messages are logged on delivery. */
    bool transient =
        err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN;
    log_msgf(transient ? LOG_WARN : LOG_ERROR, "kafka producer error %s: %s",
             rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static void error_consumer(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    (void)opaque;
    char group[256] = "?";
    size_t size = sizeof group;
    if (rd_kafka_conf_get(rd_kafka_conf(rk), "group.id", group, &size) != RD_KAFKA_CONF_OK ||
        size > sizeof group) {
        strcpy(group, "?");
    }
    LOG_ERRORF("consumer %s: kafka error %s: %s", group,
               rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static void set_callbacks(rd_kafka_conf_t *conf, kafka_log_mode log) {
    switch (log) {
    case KAFKA_LOG_PRODUCER:
        rd_kafka_conf_set_error_cb(conf, error_producer);
        rd_kafka_conf_set_log_cb(conf, log_service);
        break;
    case KAFKA_LOG_CONSUMER:
        rd_kafka_conf_set_error_cb(conf, error_consumer);
        rd_kafka_conf_set_log_cb(conf, log_service);
        break;
    case KAFKA_LOG_DEBUG:
        rd_kafka_conf_set_log_cb(conf, log_debug);
        break;
    case KAFKA_LOG_SILENT:
        rd_kafka_conf_set_log_cb(conf, log_silent);
        break;
    case KAFKA_LOG_STDERR:
        break;
    }
}

rd_kafka_conf_t *kafka_conf_new(const char *brokers, const char *const kv[][2], kafka_log_mode log,
                                char *err, size_t errlen) {
    if (brokers == NULL) {
        errbuf_setf(err, errlen, "kafka config: no brokers");
        return NULL;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (conf == NULL) {
        errbuf_setf(err, errlen, "kafka config: out of memory");
        return NULL;
    }
    const char *const servers[][2] = {{"bootstrap.servers", brokers}, {NULL, NULL}};
    if (kafka_conf_set_all(conf, servers, err, errlen) != 0 ||
        (kv != NULL && kafka_conf_set_all(conf, kv, err, errlen) != 0)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    set_callbacks(conf, log);
    return conf;
}

int kafka_conf_set_all(rd_kafka_conf_t *conf, const char *const kv[][2], char *err, size_t errlen) {
    for (size_t i = 0; kv[i][0] != NULL; i++) {
        char why[256];
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], why, sizeof why) != RD_KAFKA_CONF_OK) {
            errbuf_setf(err, errlen, "kafka config %s: %s", kv[i][0], why);
            return -1;
        }
    }
    return 0;
}

rd_kafka_t *kafka_conf_open(rd_kafka_type_t type, rd_kafka_conf_t *conf, const char *what,
                            char *err, size_t errlen) {
    char why[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, why, sizeof why);
    if (rk == NULL) {
        errbuf_setf(err, errlen, "%s: %s", what, why);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

bool kafka_ping(rd_kafka_t *rk, int timeout_ms, char *err, size_t errlen) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t rc = rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms);
    if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
        errbuf_setf(err, errlen, "kafka metadata: %s", rd_kafka_err2str(rc));
        return false;
    }
    bool ok = md->broker_cnt > 0;
    if (!ok) {
        errbuf_setf(err, errlen, "kafka metadata lists no brokers");
    }
    rd_kafka_metadata_destroy(md);
    return ok;
}
