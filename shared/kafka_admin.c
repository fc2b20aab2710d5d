/*
 * kafka_admin.c: topic creation and topic configs through librdkafka's Admin API.
 *
 * Owns: a short-lived rd_kafka_t per call (admin work is rare: startup jobs and tests).
 * Rules: CreateTopics for every topic (with its policy's configs, when given), treating
 * TOPIC_ALREADY_EXISTS as success; then metadata is polled until each topic is listed
 * with a leader for every partition, so a caller can produce at once. An existing topic's
 * configs are read (DescribeConfigs) and, when a managed one differs, replaced whole
 * (AlterConfigs) by the policy's merged with every other DYNAMIC_TOPIC_CONFIG entry it
 * had, so an operator's own settings survive (docs/decisions.md, "AlterConfigs, merged").
 * Before any alteration, the metadata's replica counts are checked against each policy's
 * min.insync.replicas, and the whole call refuses when a topic has fewer replicas. Every
 * step waits only what is left of the caller's timeout (an admin request's answer gets
 * 1 s more to arrive), so the call ends within timeout_ms plus about 1 s.
 */
#include "shared/kafka_admin.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shared/bus.h"
#include "shared/errbuf.h"
#include "shared/kafka_conf.h"
#include "shared/log.h"
#include "shared/time_util.h"
#include "shared/topic_policy.h"

/* "Connection refused" while waiting for a broker is expected: its log lines are debug. */
static rd_kafka_t *admin_handle(const char *brokers, char *err, size_t errlen) {
    const char *const kv[][2] = {{"client.id", ADMIN_CLIENT_ID}, {NULL, NULL}};
    rd_kafka_conf_t *conf = kafka_conf_new(brokers, kv, KAFKA_LOG_DEBUG, err, errlen);
    return conf != NULL ? kafka_conf_open(RD_KAFKA_PRODUCER, conf, "kafka admin", err, errlen)
                        : NULL;
}

static int remaining_ms(int64_t deadline_ns) {
    int64_t left = (deadline_ns - time_monotonic_ns()) / 1000000;
    return left < 0 ? 0 : (int)left;
}

static size_t count_topics(const char *const *topics) {
    size_t n = 0;
    while (topics[n] != NULL) {
        n++;
    }
    return n;
}

/* Checks the CreateTopics result: 0 when each topic was created or already existed;
 * created[i] (when not NULL) says whether topics[i] was made now. */
static int check_create_result(rd_kafka_event_t *ev, const char *const *topics, bool *created,
                               char *err, size_t errlen) {
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    /* A request-level failure (no broker, timeout) carries no per-topic results. */
    if (res == NULL || rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        errbuf_setf(err, errlen, "kafka admin: %s",
                    rd_kafka_event_error(ev) ? rd_kafka_event_error_string(ev)
                                             : "unexpected event");
        return -1;
    }
    size_t n = 0;
    const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &n);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
        const char *name = rd_kafka_topic_result_name(tr[i]);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            LOG_INFOF("created kafka topic %s", name);
            for (size_t t = 0; created != NULL && topics[t] != NULL; t++) {
                created[t] = created[t] || strcmp(topics[t], name) == 0;
            }
        } else if (e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            const char *msg = rd_kafka_topic_result_error_string(tr[i]);
            errbuf_setf(err, errlen, "creating topic %s: %s", name,
                        msg != NULL ? msg : rd_kafka_err2str(e));
            return -1;
        }
    }
    return 0;
}

/* Sets the request timeout (and, for CreateTopics, the operation timeout) of opts. */
static int set_timeouts(rd_kafka_AdminOptions_t *opts, bool operation, int timeout_ms, char *err,
                        size_t errlen) {
    char why[512];
    if ((operation &&
         rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, why, sizeof why) != 0) ||
        rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, why, sizeof why) != 0) {
        errbuf_setf(err, errlen, "kafka admin options: %s", why);
        return -1;
    }
    return 0;
}

/* Adds policy's configs to a new topic. 0, or -1 with err. */
static int new_topic_configs(rd_kafka_NewTopic_t *nt, const topic_policy *policy, char *err,
                             size_t errlen) {
    for (size_t c = 0; policy != NULL && c < policy->n_configs; c++) {
        rd_kafka_resp_err_t e =
            rd_kafka_NewTopic_set_config(nt, policy->configs[c].name, policy->configs[c].value);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            errbuf_setf(err, errlen, "topic %s: config %s=%s: %s", policy->topic,
                        policy->configs[c].name, policy->configs[c].value, rd_kafka_err2str(e));
            return -1;
        }
    }
    return 0;
}

/* CreateTopics for topics[] (policies[i] gives topics[i]'s configs, when not NULL). */
static int create_all(rd_kafka_t *rk, const char *const *topics, const topic_policy *policies,
                      bool *created, int partitions, int replication, int64_t deadline_ns,
                      char *err, size_t errlen) {
    size_t n = count_topics(topics);
    rd_kafka_NewTopic_t **nt = calloc(n ? n : 1, sizeof *nt);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    int rc = (nt == NULL || q == NULL || opts == NULL) ? -1 : 0;
    if (rc != 0) {
        errbuf_setf(err, errlen, "kafka admin: out of memory");
    }
    char why[512];
    for (size_t i = 0; i < n && rc == 0; i++) {
        nt[i] = rd_kafka_NewTopic_new(topics[i], partitions, replication, why, sizeof why);
        if (nt[i] == NULL) {
            errbuf_setf(err, errlen, "topic %s: %s", topics[i], why);
            rc = -1;
        } else if (policies != NULL) {
            rc = new_topic_configs(nt[i], &policies[i], err, errlen);
        }
    }
    /* The broker gets what is left of the command's deadline; the poll waits 1 s more for
     * the broker's answer to arrive (a timeout answer comes within the deadline). */
    int timeout_ms = remaining_ms(deadline_ns);
    timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
    if (rc == 0) {
        rc = set_timeouts(opts, true, timeout_ms, err, errlen);
    }
    if (rc == 0) {
        rd_kafka_CreateTopics(rk, nt, n, opts, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
        if (ev == NULL) {
            errbuf_setf(err, errlen, "kafka admin: no answer to CreateTopics within %d ms",
                        timeout_ms);
            rc = -1;
        } else {
            rc = check_create_result(ev, topics, created, err, errlen);
            rd_kafka_event_destroy(ev);
        }
    }
    for (size_t i = 0; nt != NULL && i < n; i++) {
        if (nt[i] != NULL) {
            rd_kafka_NewTopic_destroy(nt[i]);
        }
    }
    free(nt);
    if (opts != NULL) {
        rd_kafka_AdminOptions_destroy(opts);
    }
    if (q != NULL) {
        rd_kafka_queue_destroy(q);
    }
    return rc;
}

/* True when every topic is in md with a leader for each partition. */
static bool all_visible(const struct rd_kafka_metadata *md, const char *const *topics) {
    for (size_t t = 0; topics[t] != NULL; t++) {
        bool ok = false;
        for (int i = 0; i < md->topic_cnt; i++) {
            const struct rd_kafka_metadata_topic *mt = &md->topics[i];
            if (strcmp(mt->topic, topics[t]) != 0 || mt->err || mt->partition_cnt == 0) {
                continue;
            }
            ok = true;
            for (int p = 0; p < mt->partition_cnt; p++) {
                ok = ok && mt->partitions[p].leader >= 0 && !mt->partitions[p].err;
            }
        }
        if (!ok) {
            return false;
        }
    }
    return true;
}

static int wait_visible(rd_kafka_t *rk, const char *const *topics, int64_t deadline_ns, char *err,
                        size_t errlen) {
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        int wait = remaining_ms(deadline_ns);
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, wait > 0 ? wait : 1);
        bool ok = e == RD_KAFKA_RESP_ERR_NO_ERROR && all_visible(md, topics);
        if (md != NULL) {
            rd_kafka_metadata_destroy(md);
        }
        if (ok) {
            return 0;
        }
        if (remaining_ms(deadline_ns) == 0) {
            errbuf_setf(err, errlen, "kafka: created topics not visible in metadata in time");
            return -1;
        }
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

int kafka_admin_create_topics(const char *brokers, const char *const *topics, int partitions,
                              int replication, int timeout_ms, char *err, size_t errlen) {
    if (topics == NULL || partitions < 1 || replication < 1 || timeout_ms < 1) {
        errbuf_setf(err, errlen, "kafka_admin_create_topics: bad arguments");
        return -1;
    }
    int64_t deadline = time_monotonic_ns() + (int64_t)timeout_ms * 1000000;
    rd_kafka_t *rk = admin_handle(brokers, err, errlen);
    if (rk == NULL) {
        return -1;
    }
    int rc = create_all(rk, topics, NULL, NULL, partitions, replication, deadline, err, errlen);
    if (rc == 0) {
        rc = wait_visible(rk, topics, deadline, err, errlen);
    }
    rd_kafka_destroy(rk);
    return rc;
}

int kafka_admin_wait_ready(const char *brokers, int timeout_ms, char *err, size_t errlen) {
    int64_t deadline = time_monotonic_ns() + (int64_t)timeout_ms * 1000000;
    rd_kafka_t *rk = admin_handle(brokers, err, errlen);
    if (rk == NULL) {
        return -1;
    }
    rd_kafka_resp_err_t last = RD_KAFKA_RESP_ERR__TIMED_OUT;
    int rc = -1;
    while (rc != 0) {
        const struct rd_kafka_metadata *md = NULL;
        int wait = remaining_ms(deadline);
        wait = wait > 1000 ? 1000 : (wait > 0 ? wait : 1);
        last = rd_kafka_metadata(rk, 0, NULL, &md, wait);
        if (last == RD_KAFKA_RESP_ERR_NO_ERROR) {
            rc = md->broker_cnt > 0 ? 0 : -1;
            rd_kafka_metadata_destroy(md);
        }
        if (rc != 0 && remaining_ms(deadline) == 0) {
            break;
        }
        if (rc != 0) {
            struct timespec ts = {.tv_sec = 0, .tv_nsec = 100 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    rd_kafka_destroy(rk);
    if (rc != 0) {
        errbuf_setf(err, errlen, "kafka at %s not ready within %d ms: %s", brokers, timeout_ms,
                    rd_kafka_err2str(last));
    }
    return rc;
}

const char *kafka_topic_action_name(kafka_topic_action action) {
    switch (action) {
    case KAFKA_TOPIC_CREATED:
        return "created";
    case KAFKA_TOPIC_ALTERED:
        return "altered";
    case KAFKA_TOPIC_UNCHANGED:
        return "unchanged";
    }
    return "unknown";
}

/* Index of the policy of topic name, or n. */
static size_t policy_index(const topic_policy *policies, size_t n, const char *name) {
    size_t i = 0;
    while (i < n && (name == NULL || strcmp(policies[i].topic, name) != 0)) {
        i++;
    }
    return i;
}

/* Fills alter with policy's configs and every other dynamic topic config of described (an
 * operator's), counted in *kept. 1 when the topic needs the alteration (a managed config
 * is not set on the topic itself to the policy's value), 0 when it already matches, -1
 * with err when a config to keep cannot be read back (a sensitive one). */
static int merge_configs(const rd_kafka_ConfigResource_t *described, const topic_policy *policy,
                         rd_kafka_ConfigResource_t *alter, int *kept, char *err, size_t errlen) {
    size_t n = 0, matching = 0;
    const rd_kafka_ConfigEntry_t **entries = rd_kafka_ConfigResource_configs(described, &n);
    *kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (rd_kafka_ConfigEntry_source(entries[i]) !=
            RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG) {
            continue;
        }
        const char *name = rd_kafka_ConfigEntry_name(entries[i]);
        const char *value = rd_kafka_ConfigEntry_value(entries[i]);
        const char *want = topic_policy_value(policy, name);
        if (want != NULL) {
            matching += value != NULL && strcmp(value, want) == 0;
            continue;
        }
        if (value == NULL || rd_kafka_ConfigEntry_is_sensitive(entries[i])) {
            errbuf_setf(err, errlen,
                        "topic %s: its config %s cannot be read back, so altering the topic "
                        "would drop it; set the retention configs by hand",
                        policy->topic, name != NULL ? name : "?");
            return -1;
        }
        if (rd_kafka_ConfigResource_set_config(alter, name, value) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            errbuf_setf(err, errlen, "topic %s: cannot keep config %s", policy->topic, name);
            return -1;
        }
        (*kept)++;
    }
    for (size_t c = 0; c < policy->n_configs; c++) {
        if (rd_kafka_ConfigResource_set_config(alter, policy->configs[c].name,
                                               policy->configs[c].value) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
            errbuf_setf(err, errlen, "topic %s: bad config %s=%s", policy->topic,
                        policy->configs[c].name, policy->configs[c].value);
            return -1;
        }
    }
    return matching == policy->n_configs ? 0 : 1;
}

/* Sends one Describe/AlterConfigs request for res[0..n) and waits for its event; NULL with
 * err when there is no answer in time or the request as a whole failed. */
static rd_kafka_event_t *configs_request(rd_kafka_t *rk, bool alter,
                                         rd_kafka_ConfigResource_t **res, size_t n, int timeout_ms,
                                         char *err, size_t errlen) {
    const char *what = alter ? "AlterConfigs" : "DescribeConfigs";
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(
        rk, alter ? RD_KAFKA_ADMIN_OP_ALTERCONFIGS : RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_event_t *ev = NULL;
    if (q == NULL || opts == NULL) {
        errbuf_setf(err, errlen, "kafka admin: out of memory");
    } else if (set_timeouts(opts, false, timeout_ms, err, errlen) == 0) {
        if (alter) {
            rd_kafka_AlterConfigs(rk, res, n, opts, q);
        } else {
            rd_kafka_DescribeConfigs(rk, res, n, opts, q);
        }
        ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
        if (ev == NULL) {
            errbuf_setf(err, errlen, "kafka admin: no answer to %s within %d ms", what, timeout_ms);
        } else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            errbuf_setf(err, errlen, "kafka admin: %s: %s", what, rd_kafka_event_error_string(ev));
            rd_kafka_event_destroy(ev);
            ev = NULL;
        }
    }
    if (opts != NULL) {
        rd_kafka_AdminOptions_destroy(opts);
    }
    if (q != NULL) {
        rd_kafka_queue_destroy(q);
    }
    return ev;
}

/* 0 when every resource of an Describe/AlterConfigs result has no error, else -1 with err. */
static int check_resources(const rd_kafka_ConfigResource_t **rs, size_t n, const char *what,
                           char *err, size_t errlen) {
    for (size_t i = 0; i < n; i++) {
        if (rd_kafka_ConfigResource_error(rs[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            const char *msg = rd_kafka_ConfigResource_error_string(rs[i]);
            errbuf_setf(err, errlen, "%s of topic %s: %s", what,
                        rd_kafka_ConfigResource_name(rs[i]),
                        msg != NULL ? msg : rd_kafka_err2str(rd_kafka_ConfigResource_error(rs[i])));
            return -1;
        }
    }
    return 0;
}

/* From the described topics, builds in alter[0..*m) the alterations the topics need (the
 * caller destroys them, also on failure); sets each described topic's outcome. 0, or -1
 * with err. */
static int plan_alterations(const rd_kafka_ConfigResource_t **described, size_t nd,
                            const topic_policy *policies, size_t n, kafka_topic_outcome *outcomes,
                            rd_kafka_ConfigResource_t **alter, size_t *m, char *err,
                            size_t errlen) {
    for (size_t i = 0; i < nd; i++) {
        size_t idx = policy_index(policies, n, rd_kafka_ConfigResource_name(described[i]));
        if (idx == n) {
            continue;
        }
        rd_kafka_ConfigResource_t *r =
            rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, policies[idx].topic);
        if (r == NULL) {
            errbuf_setf(err, errlen, "kafka admin: out of memory");
            return -1;
        }
        int need = merge_configs(described[i], &policies[idx], r, &outcomes[idx].kept, err, errlen);
        if (need == 1) {
            outcomes[idx].action = KAFKA_TOPIC_ALTERED;
            alter[(*m)++] = r;
            continue;
        }
        rd_kafka_ConfigResource_destroy(r);
        if (need < 0) {
            return -1;
        }
        outcomes[idx].action = KAFKA_TOPIC_UNCHANGED;
        outcomes[idx].kept = 0;
    }
    return 0;
}

/* DescribeConfigs of every topic not created now; NULL (rc 0) when there is none, NULL
 * with *rc -1 and err on failure, else the event (the caller destroys it). */
static rd_kafka_event_t *describe_existing(rd_kafka_t *rk, const topic_policy *policies, size_t n,
                                           const kafka_topic_outcome *outcomes, int64_t deadline_ns,
                                           int *rc, char *err, size_t errlen) {
    rd_kafka_ConfigResource_t **res = calloc(n ? n : 1, sizeof *res);
    size_t nres = 0;
    *rc = res != NULL ? 0 : -1;
    if (*rc != 0) {
        errbuf_setf(err, errlen, "kafka admin: out of memory");
    }
    for (size_t i = 0; *rc == 0 && i < n; i++) {
        if (outcomes[i].action == KAFKA_TOPIC_CREATED) {
            continue;
        }
        res[nres] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, policies[i].topic);
        if (res[nres++] == NULL) {
            errbuf_setf(err, errlen, "kafka admin: out of memory");
            *rc = -1;
        }
    }
    rd_kafka_event_t *ev = NULL;
    if (*rc == 0 && nres > 0) {
        int wait = remaining_ms(deadline_ns);
        ev = configs_request(rk, false, res, nres, wait > 0 ? wait : 1, err, errlen);
        *rc = ev != NULL ? 0 : -1;
    }
    for (size_t i = 0; res != NULL && i < nres; i++) {
        if (res[i] != NULL) {
            rd_kafka_ConfigResource_destroy(res[i]);
        }
    }
    free(res);
    return ev;
}

/* Sends AlterConfigs for alter[0..n) and checks every topic's result. 0, or -1 with err. */
static int alter_configs(rd_kafka_t *rk, rd_kafka_ConfigResource_t **alter, size_t n,
                         int64_t deadline_ns, char *err, size_t errlen) {
    int wait = remaining_ms(deadline_ns);
    rd_kafka_event_t *ev = configs_request(rk, true, alter, n, wait > 0 ? wait : 1, err, errlen);
    if (ev == NULL) {
        return -1;
    }
    size_t na = 0;
    const rd_kafka_ConfigResource_t **altered =
        rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &na);
    int rc = check_resources(altered, na, "AlterConfigs", err, errlen);
    rd_kafka_event_destroy(ev);
    return rc;
}

/* Describes the topics not created now and alters those that differ from their policy. */
static int alter_existing(rd_kafka_t *rk, const topic_policy *policies, size_t n,
                          kafka_topic_outcome *outcomes, int64_t deadline_ns, char *err,
                          size_t errlen) {
    int rc = 0;
    rd_kafka_event_t *ev =
        describe_existing(rk, policies, n, outcomes, deadline_ns, &rc, err, errlen);
    if (ev == NULL) {
        return rc;
    }
    rd_kafka_ConfigResource_t **alter = calloc(n, sizeof *alter);
    size_t nalter = 0;
    if (alter == NULL) {
        errbuf_setf(err, errlen, "kafka admin: out of memory");
        rc = -1;
    } else {
        size_t nd = 0;
        const rd_kafka_ConfigResource_t **described = rd_kafka_DescribeConfigs_result_resources(
            rd_kafka_event_DescribeConfigs_result(ev), &nd);
        rc = check_resources(described, nd, "DescribeConfigs", err, errlen);
        if (rc == 0) {
            rc =
                plan_alterations(described, nd, policies, n, outcomes, alter, &nalter, err, errlen);
        }
    }
    rd_kafka_event_destroy(ev);
    if (rc == 0 && nalter > 0) {
        rc = alter_configs(rk, alter, nalter, deadline_ns, err, errlen);
    }
    for (size_t i = 0; i < nalter; i++) {
        rd_kafka_ConfigResource_destroy(alter[i]);
    }
    free(alter);
    return rc;
}

/* The fewest replicas of any partition of mt. */
static int min_replicas(const struct rd_kafka_metadata_topic *mt) {
    int fewest = mt->partition_cnt > 0 ? mt->partitions[0].replica_cnt : 0;
    for (int p = 1; p < mt->partition_cnt; p++) {
        if (mt->partitions[p].replica_cnt < fewest) {
            fewest = mt->partitions[p].replica_cnt;
        }
    }
    return fewest;
}

/* Reads each topic's partition count into its outcome, and refuses (-1 with err naming
 * the topics) when a topic has fewer replicas than its policy's min.insync.replicas:
 * setting that would make every acks=all write to it fail. Runs before any alteration. */
static int read_partitions(rd_kafka_t *rk, const topic_policy *policies, size_t n,
                           kafka_topic_outcome *outcomes, int64_t deadline_ns, char *err,
                           size_t errlen) {
    const struct rd_kafka_metadata *md = NULL;
    int wait = remaining_ms(deadline_ns);
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, wait > 0 ? wait : 1);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        errbuf_setf(err, errlen, "kafka metadata: %s", rd_kafka_err2str(e));
        return -1;
    }
    int rc = 0;
    for (int t = 0; t < md->topic_cnt; t++) {
        size_t idx = policy_index(policies, n, md->topics[t].topic);
        if (idx == n) {
            continue;
        }
        outcomes[idx].partitions = md->topics[t].partition_cnt;
        outcomes[idx].replicas = min_replicas(&md->topics[t]);
        char why[512];
        if (topic_policy_check_replicas(&policies[idx], outcomes[idx].replicas, why, sizeof why) !=
            0) {
            LOG_ERRORF("%s", why);
            if (rc == 0) {
                errbuf_setf(err, errlen, "%s; no topic altered", why);
            }
            rc = -1;
        }
    }
    rd_kafka_metadata_destroy(md);
    return rc;
}

int kafka_admin_apply_policies(const char *brokers, const topic_policy *policies, size_t n,
                               int partitions, int replication, int timeout_ms,
                               kafka_topic_outcome *outcomes, char *err, size_t errlen) {
    if (policies == NULL || outcomes == NULL || n == 0 || partitions < 1 || replication < 1 ||
        timeout_ms < 1) {
        errbuf_setf(err, errlen, "kafka_admin_apply_policies: bad arguments");
        return -1;
    }
    int64_t deadline = time_monotonic_ns() + (int64_t)timeout_ms * 1000000;
    const char **topics = calloc(n + 1, sizeof *topics);
    bool *created = calloc(n, sizeof *created);
    if (topics == NULL || created == NULL) {
        free(topics);
        free(created);
        errbuf_setf(err, errlen, "kafka admin: out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        topics[i] = policies[i].topic;
        outcomes[i] = (kafka_topic_outcome){.action = KAFKA_TOPIC_UNCHANGED};
    }
    rd_kafka_t *rk = admin_handle(brokers, err, errlen);
    int rc = rk != NULL ? 0 : -1;
    if (rc == 0) {
        rc = create_all(rk, topics, policies, created, partitions, replication, deadline, err,
                        errlen);
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        outcomes[i].action = created[i] ? KAFKA_TOPIC_CREATED : KAFKA_TOPIC_UNCHANGED;
    }
    if (rc == 0) {
        rc = wait_visible(rk, topics, deadline, err, errlen);
    }
    if (rc == 0) {
        rc = read_partitions(rk, policies, n, outcomes, deadline, err, errlen);
    }
    if (rc == 0) {
        rc = alter_existing(rk, policies, n, outcomes, deadline, err, errlen);
    }
    if (rk != NULL) {
        rd_kafka_destroy(rk);
    }
    free(topics);
    free(created);
    return rc;
}
