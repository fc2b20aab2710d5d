/*
 * admin_dlq.c: the one-by-one dead-letter jobs of taskbus-admin (see admin_dlq.h).
 *
 * Owns: opening what a job needs (Postgres, a consumer, a producer for a replay),
 * resolving a position to its partition, the status of a dead letter, and the output
 * (escaping bytes into one line of text, the JSON documents). Rules: every handle is
 * closed on every path (job_close); nothing printed can break a line or a terminal:
 * control characters and bytes that are not UTF-8 come out as \xNN.
 */
#include "tools/admin/admin_dlq.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/bus.h"
#include "shared/time_util.h"
#include "shared/utf8.h"
#include "tools/admin/admin_db.h"
#include "tools/admin/admin_dlq_marks.h"
#include "tools/admin/admin_dlq_read.h"
#include "tools/admin/admin_replay_dlq.h"

#define LIST_PAYLOAD_BYTES 60
#define LIST_REASON_BYTES 120
#define LIST_KEY_BYTES 64
/* The writer and the notifier cut a reason to 512 bytes; room for more. */
#define LIST_REASON_HEADER_MAX 2048

typedef struct job {
    admin_dlq_names names;
    bool json;
    pg_pool *pool;
    pg_conn *conn;
    rd_kafka_t *rk;
    kafka_producer *producer;
    json_t *rows; /* list --json */
    int32_t partition;
    int64_t progress; /* of replay --all in partition */
    long count;
} job;

/* --- text ------------------------------------------------------------------------------ */

/* Writes the first max bytes of [data, data+len) into out as one line of text: printable
 * UTF-8 kept, a backslash doubled, any other byte \xNN, "..." when cut. out must hold
 * max * 4 + 4 bytes. */
static void escape_text(const void *data, size_t len, size_t max, char *out) {
    const char *p = data != NULL ? data : "";
    size_t n = len < max ? len : max;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp = 0;
        size_t k = utf8_decode(p + i, n - i, &cp);
        if (k > 0 && !utf8_is_control(cp) && cp != '\\') {
            memcpy(out + o, p + i, k);
            o += k;
            i += k;
        } else if (k == 1 && cp == '\\') {
            out[o++] = '\\';
            out[o++] = '\\';
            i++;
        } else {
            o += (size_t)snprintf(out + o, 5, "\\x%02x", (unsigned char)p[i]);
            i++;
        }
    }
    if (len > max) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* The same into a new buffer (caller frees); NULL when out of memory. */
static char *escape_alloc(const void *data, size_t len) {
    char *out = malloc(len * 4 + 4);
    if (out != NULL) {
        escape_text(data, len, len, out);
    }
    return out;
}

/* A JSON string of the bytes when they are UTF-8, else of their escaped text. */
static json_t *json_bytes(const void *data, size_t len) {
    json_t *s = json_stringn(data != NULL ? data : "", data != NULL ? len : 0);
    if (s == NULL) {
        char *text = escape_alloc(data, len);
        s = text != NULL ? json_string(text) : NULL;
        free(text);
    }
    return s != NULL ? s : json_null();
}

/* --- opening and closing ---------------------------------------------------------------- */

static int job_open(job *j, const taskbus_config *cfg, const admin_dlq_args *args, bool producer) {
    *j = (job){.json = args->json};
    if (admin_dlq_names_of(args->topic, &j->names) != 0) {
        fprintf(stderr, "taskbus-admin: dlq: bad topic name\n");
        return 2;
    }
    j->conn = admin_db_open(cfg, &j->pool);
    if (j->conn == NULL) {
        return 1;
    }
    char err[512];
    if (producer) {
        j->producer = kafka_producer_create(cfg->kafka_brokers, ADMIN_CLIENT_ID,
                                            KAFKA_MESSAGE_TIMEOUT_DEFAULT_MS, err, sizeof err);
        if (j->producer == NULL) {
            fprintf(stderr, "taskbus-admin: %s\n", err);
            return 1;
        }
    }
    j->rk = admin_dlq_consumer(cfg);
    return j->rk != NULL ? 0 : 1;
}

static void job_close(job *j) {
    if (j->rk != NULL) {
        rd_kafka_consumer_close(j->rk);
        rd_kafka_destroy(j->rk);
    }
    if (j->producer != NULL) {
        kafka_producer_destroy(j->producer, ADMIN_DLQ_KAFKA_TIMEOUT_MS);
    }
    if (j->conn != NULL) {
        admin_db_close(j->pool, j->conn);
    }
    json_decref(j->rows);
}

/* Fills a bare OFFSET's partition: the topic's only one. 0, 1 (failure) or 2 (usage). */
static int resolve(job *j, admin_dlq_position *at) {
    if (at->partition >= 0) {
        return 0;
    }
    int32_t parts[ADMIN_DLQ_MAX_PARTITIONS];
    int n = 0;
    if (admin_dlq_partitions(j->rk, j->names.dlq, parts, &n) != 0) {
        return 1;
    }
    if (n != 1) {
        fprintf(stderr,
                "taskbus-admin: dlq: %s has %d partitions: give the position as "
                "PARTITION:OFFSET (as dlq list prints it)\n",
                j->names.dlq, n);
        return 2;
    }
    at->partition = parts[0];
    return 0;
}

/* The status of a dead letter (a dlq_mark), or -1. */
static int status_of(job *j, int32_t partition, int64_t offset, int64_t progress) {
    int mark = admin_dlq_mark_get(j->conn, j->names.dlq, partition, offset);
    if (mark == DLQ_MARK_NONE && offset < progress) {
        mark = DLQ_MARK_REPLAYED;
    }
    return mark;
}

/* --- list ------------------------------------------------------------------------------- */

static int list_visit(void *ctx, const rd_kafka_message_t *m) {
    job *j = ctx;
    int status = status_of(j, j->partition, m->offset, j->progress);
    if (status < 0) {
        return -1;
    }
    char reason[LIST_REASON_HEADER_MAX] = "";
    char attempts[32] = "";
    (void)admin_dlq_header(m, "dlq_reason", reason, sizeof reason);
    bool has_attempts = admin_dlq_header(m, "dlq_attempts", attempts, sizeof attempts);
    char payload[LIST_PAYLOAD_BYTES * 4 + 4];
    escape_text(m->payload, m->len, LIST_PAYLOAD_BYTES, payload);
    j->count++;
    if (j->json) {
        json_t *row = json_pack(
            "{s:i, s:I, s:s, s:o, s:o, s:o, s:s, s:I}", "partition", (int)m->partition, "offset",
            (json_int_t)m->offset, "status", dlq_mark_word((dlq_mark)status), "key",
            json_bytes(m->key, m->key_len), "reason", json_bytes(reason, strlen(reason)),
            "attempts", has_attempts ? json_integer(strtoll(attempts, NULL, 10)) : json_null(),
            "payload_head", payload, "payload_bytes", (json_int_t)m->len);
        return row != NULL && json_array_append_new(j->rows, row) == 0 ? 0 : -1;
    }
    char key[LIST_KEY_BYTES * 4 + 4];
    char why[LIST_REASON_BYTES * 4 + 4];
    escape_text(m->key, m->key_len, LIST_KEY_BYTES, key);
    escape_text(reason, strlen(reason), LIST_REASON_BYTES, why);
    char position[48];
    snprintf(position, sizeof position, "%" PRId32 ":%" PRId64, m->partition, m->offset);
    printf("%-10s %-8s %-8s key=%s reason=\"%s\" payload=\"%s\"\n", position,
           dlq_mark_word((dlq_mark)status), has_attempts ? attempts : "-", key, why, payload);
    return 0;
}

static int run_list(job *j) {
    int32_t parts[ADMIN_DLQ_MAX_PARTITIONS];
    int n = 0;
    if (admin_dlq_partitions(j->rk, j->names.dlq, parts, &n) != 0) {
        return 1;
    }
    if (j->json && (j->rows = json_array()) == NULL) {
        fprintf(stderr, "taskbus-admin: out of memory\n");
        return 1;
    }
    if (!j->json) {
        printf("%-10s %-8s %-8s %s\n", "POSITION", "STATUS", "ATTEMPTS", "KEY, REASON, PAYLOAD");
    }
    for (int i = 0; i < n; i++) {
        int64_t lo = 0;
        int64_t hi = 0;
        int64_t next = 0;
        if (admin_dlq_watermarks(j->rk, j->names.dlq, parts[i], &lo, &hi) != 0 ||
            (j->progress = admin_dlq_progress(j->conn, j->names.dlq, parts[i])) < 0) {
            return 1;
        }
        j->partition = parts[i];
        if (admin_dlq_scan(j->rk, j->names.dlq, parts[i], lo, hi, list_visit, j, &next) != 0) {
            return 1;
        }
    }
    if (j->json) {
        json_t *doc = json_pack("{s:s, s:s, s:O}", "dlq_topic", j->names.dlq, "topic",
                                j->names.source, "dead_letters", j->rows);
        char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (text == NULL) {
            fprintf(stderr, "taskbus-admin: out of memory\n");
            return 1;
        }
        printf("%s\n", text);
        free(text);
    } else {
        printf("%ld dead letter(s) in %s (replay target %s)\n", j->count, j->names.dlq,
               j->names.source);
    }
    return 0;
}

/* --- show ------------------------------------------------------------------------------- */

static int print_show_json(job *j, const rd_kafka_message_t *m, int status) {
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(m, &tstype);
    json_t *headers = json_array();
    rd_kafka_headers_t *hdrs = NULL;
    if (headers != NULL && rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char *name = NULL;
        const void *val = NULL;
        size_t size = 0;
        for (size_t i = 0;
             rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
             i++) {
            json_array_append_new(headers,
                                  json_pack("{s:o, s:o}", "name", json_bytes(name, strlen(name)),
                                            "value", json_bytes(val, size)));
        }
    }
    json_t *payload = json_stringn(m->payload != NULL ? m->payload : "", m->len);
    json_t *doc =
        json_pack("{s:s, s:s, s:i, s:I, s:s, s:I, s:o, s:o, s:I}", "dlq_topic", j->names.dlq,
                  "topic", j->names.source, "partition", (int)m->partition, "offset",
                  (json_int_t)m->offset, "status", dlq_mark_word((dlq_mark)status), "timestamp_ms",
                  (json_int_t)ts, "key", json_bytes(m->key, m->key_len), "headers",
                  headers != NULL ? headers : json_null(), "payload_bytes", (json_int_t)m->len);
    if (doc != NULL) {
        /* A payload that is not UTF-8 comes as escaped text under another name. */
        json_object_set_new(doc, payload != NULL ? "payload" : "payload_escaped",
                            payload != NULL ? payload : json_bytes(m->payload, m->len));
    } else {
        json_decref(payload);
    }
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (text == NULL) {
        fprintf(stderr, "taskbus-admin: out of memory\n");
        return 1;
    }
    printf("%s\n", text);
    free(text);
    return 0;
}

static int print_show_text(job *j, const rd_kafka_message_t *m, int status) {
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(m, &tstype);
    char when[64] = "-";
    if (ts >= 0) {
        time_format_rfc3339_ms(ts, when, sizeof when);
    }
    char *key = escape_alloc(m->key, m->key_len);
    char *payload = escape_alloc(m->payload, m->len);
    if (key == NULL || payload == NULL) {
        free(key);
        free(payload);
        fprintf(stderr, "taskbus-admin: out of memory\n");
        return 1;
    }
    printf("dead letter %s %" PRId32 ":%" PRId64 " (replay target %s)\n", j->names.dlq,
           m->partition, m->offset, j->names.source);
    printf("status: %s\ntimestamp: %s\nkey: %s\nheaders:\n", dlq_mark_word((dlq_mark)status), when,
           key);
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char *name = NULL;
        const void *val = NULL;
        size_t size = 0;
        for (size_t i = 0;
             rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
             i++) {
            char *value = escape_alloc(val, size);
            printf("  %s: %s\n", name, value != NULL ? value : "?");
            free(value);
        }
    }
    printf("payload (%zu bytes):\n%s\n", m->len, payload);
    free(key);
    free(payload);
    return 0;
}

/* The record at *at (its partition resolved), with its status. 0, 1 or 2 (exit codes). */
static int fetch(job *j, admin_dlq_position *at, rd_kafka_message_t **m, int *status) {
    int rc = resolve(j, at);
    if (rc != 0) {
        return rc;
    }
    int found = admin_dlq_fetch(j->rk, j->names.dlq, at->partition, at->offset, m);
    if (found == 0) {
        fprintf(stderr, "taskbus-admin: dlq: no dead letter at %s %" PRId32 ":%" PRId64 "\n",
                j->names.dlq, at->partition, at->offset);
    }
    if (found <= 0) {
        return 1;
    }
    int64_t progress = admin_dlq_progress(j->conn, j->names.dlq, at->partition);
    *status = progress >= 0 ? status_of(j, at->partition, at->offset, progress) : -1;
    return *status >= 0 ? 0 : 1;
}

static int run_show(job *j, admin_dlq_position at) {
    rd_kafka_message_t *m = NULL;
    int status = 0;
    int rc = fetch(j, &at, &m, &status);
    if (rc == 0) {
        rc = j->json ? print_show_json(j, m, status) : print_show_text(j, m, status);
    }
    if (m != NULL) {
        rd_kafka_message_destroy(m);
    }
    return rc;
}

/* --- replay one and skip ---------------------------------------------------------------- */

static void print_done(job *j, const char *what, admin_dlq_position at, const char *note) {
    if (j->json) {
        json_t *doc = json_pack("{s:s, s:s, s:i, s:I, s:s}", "dlq_topic", j->names.dlq, "topic",
                                j->names.source, "partition", (int)at.partition, "offset",
                                (json_int_t)at.offset, "status", what);
        char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
        printf("%s\n", text != NULL ? text : "{}");
        free(text);
        json_decref(doc);
        return;
    }
    printf("%s %s %" PRId32 ":%" PRId64 "%s\n", what, j->names.dlq, at.partition, at.offset, note);
}

static int run_replay_one(job *j, admin_dlq_position at) {
    rd_kafka_message_t *m = NULL;
    int status = 0;
    int rc = fetch(j, &at, &m, &status);
    if (rc == 0 && status == DLQ_MARK_SKIPPED) {
        fprintf(stderr,
                "taskbus-admin: dlq: %s %" PRId32 ":%" PRId64 " was skipped; not replayed\n",
                j->names.dlq, at.partition, at.offset);
        rc = 1;
    }
    if (rc == 0 && admin_replay_reproduce(j->producer, j->names.source, m) != 0) {
        rc = 1;
    }
    /* Produced: recorded so that replay --all passes over it. A skip between the fetch and
     * here wins (the mark stays skipped) and is reported. */
    int mark = rc == 0 ? admin_dlq_mark_set(j->conn, j->names.dlq, at.partition, at.offset,
                                            DLQ_MARK_REPLAYED)
                       : -1;
    if (rc == 0 && mark < 0) {
        fprintf(stderr, "taskbus-admin: dlq: replayed, but not recorded: replay --all may replay "
                        "it again\n");
        rc = 1;
    }
    if (rc == 0) {
        char note[320];
        snprintf(note, sizeof note, " to %s%s", j->names.source,
                 mark == DLQ_MARK_SKIPPED ? " (it was skipped meanwhile)" : "");
        print_done(j, "replayed", at, note);
    }
    if (m != NULL) {
        rd_kafka_message_destroy(m);
    }
    return rc;
}

static int run_skip(job *j, admin_dlq_position at) {
    rd_kafka_message_t *m = NULL;
    int status = 0;
    int rc = fetch(j, &at, &m, &status);
    if (m != NULL) {
        rd_kafka_message_destroy(m);
    }
    if (rc != 0) {
        return rc;
    }
    if (admin_dlq_mark_set(j->conn, j->names.dlq, at.partition, at.offset, DLQ_MARK_SKIPPED) < 0) {
        return 1;
    }
    print_done(j, "skipped", at,
               status == DLQ_MARK_SKIPPED    ? " (it was already skipped)"
               : status == DLQ_MARK_REPLAYED ? " (it had been replayed before; never again)"
                                             : " (never replayed)");
    return 0;
}

int admin_dlq_run(const taskbus_config *cfg, admin_command command, const admin_dlq_args *args) {
    job j;
    int rc = job_open(&j, cfg, args, command == ADMIN_CMD_DLQ_REPLAY);
    if (rc == 0) {
        switch (command) {
        case ADMIN_CMD_DLQ_LIST:
            rc = run_list(&j);
            break;
        case ADMIN_CMD_DLQ_SHOW:
            rc = run_show(&j, args->at);
            break;
        case ADMIN_CMD_DLQ_REPLAY:
            rc = run_replay_one(&j, args->at);
            break;
        case ADMIN_CMD_DLQ_SKIP:
            rc = run_skip(&j, args->at);
            break;
        default:
            rc = 2;
            break;
        }
    }
    job_close(&j);
    return rc;
}
