/*
 * kafka_conf.c: setting librdkafka configuration from a table (see kafka_conf.h).
 */
#include "shared/kafka_conf.h"

#include "shared/errbuf.h"

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
