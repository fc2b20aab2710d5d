/*
 * importer_lag.c: the writer's lag as the importer's throttle sees it (see importer_lag.h).
 * Rules: the watermarks, the stored offsets and the arithmetic are shared/kafka_lag.c's;
 * this file only maps its answers onto the throttle's.
 */
#include "workers/importer/importer_lag.h"

#include <stdlib.h>
#include <string.h>

#include "shared/bus.h"
#include "shared/errbuf.h"
#include "shared/kafka_lag.h"

struct importer_lag {
    kafka_lag *k;
    char *topic;
    char *group;
    kafka_lag_partition parts[KAFKA_LAG_MAX_PARTITIONS]; /* the latest measurement */
};

importer_lag *importer_lag_create(const char *brokers, const char *topic, const char *group,
                                  char *err, size_t errlen) {
    importer_lag *lag = calloc(1, sizeof *lag);
    if (lag == NULL || (lag->topic = strdup(topic)) == NULL ||
        (lag->group = strdup(group)) == NULL) {
        errbuf_setf(err, errlen, "importer lag: out of memory");
        importer_lag_destroy(lag);
        return NULL;
    }
    lag->k = kafka_lag_create(brokers, IMPORTER_LAG_CLIENT_ID, err, errlen);
    if (lag->k == NULL) {
        importer_lag_destroy(lag);
        return NULL;
    }
    return lag;
}

void importer_lag_destroy(importer_lag *lag) {
    if (lag == NULL) {
        return;
    }
    kafka_lag_destroy(lag->k);
    free(lag->topic);
    free(lag->group);
    free(lag);
}

int importer_lag_prepare(importer_lag *lag, int timeout_ms, char *err, size_t errlen) {
    return kafka_lag_partitions(lag->k, lag->topic, timeout_ms, err, errlen) > 0 ? 0 : -1;
}

int64_t importer_lag_measure(importer_lag *lag, pg_conn *conn, int timeout_ms, char *err,
                             size_t errlen) {
    kafka_lag_partition *parts = lag->parts;
    int n = kafka_lag_watermarks(lag->k, lag->topic, false, parts, KAFKA_LAG_MAX_PARTITIONS,
                                 timeout_ms, err, errlen);
    if (n < 0) {
        return IMPORTER_LAG_UNKNOWN;
    }
    if (kafka_lag_stored(conn, lag->group, lag->topic, parts, n, err, errlen) != 0) {
        return IMPORTER_LAG_ERR_POSTGRES;
    }
    return kafka_lag_applied_sum(parts, n);
}
