/*
 * notification.c: enqueueing an e-mail notification through the outbox.
 *
 * Owns: building the notifications-topic message and handing it to outbox_add.
 * Rules: never opens or ends a transaction (the caller's transaction carries the fact and
 * its notification together); every reference built here is released on every path.
 */
#include "shared/notification.h"

#include <stdio.h>
#include <string.h>

#include "shared/bus.h"
#include "shared/errbuf.h"
#include "shared/outbox.h"
#include "shared/time_util.h"
#include "shared/uuid7.h"

const char *const NOTIFICATION_KINDS[] = {"welcome",
                                          "password_changed",
                                          "due_soon",
                                          "report_ready",
                                          "webhook_disabled",
                                          "project_invitation",
                                          "project_role_changed",
                                          "project_removed",
                                          "task_assigned",
                                          "verify_email",
                                          "password_reset",
                                          "email_change",
                                          "email_in_use",
                                          "email_changed",
                                          "email_change_started",
                                          "email_change_revert",
                                          "register_confirm",
                                          "account_exists",
                                          "welcome_verified"};
const size_t NOTIFICATION_KINDS_COUNT = sizeof NOTIFICATION_KINDS / sizeof NOTIFICATION_KINDS[0];

bool notification_kind_is_valid(const char *kind) {
    if (kind == NULL) {
        return false;
    }
    for (size_t i = 0; i < NOTIFICATION_KINDS_COUNT; i++) {
        if (strcmp(kind, NOTIFICATION_KINDS[i]) == 0) {
            return true;
        }
    }
    return false;
}

json_t *notification_build(const char *kind, const char *user_id, const char *to,
                           const json_t *data, char *err, size_t errlen) {
    if (!notification_kind_is_valid(kind)) {
        errbuf_setf(err, errlen, "notification: unknown kind");
        return NULL;
    }
    if (user_id == NULL || !uuid_is_valid(user_id) || to == NULL || to[0] == '\0' ||
        strchr(to, '@') == NULL || (data != NULL && !json_is_object(data))) {
        errbuf_setf(err, errlen, "notification: bad user_id, to or data");
        return NULL;
    }
    char id[UUID_STR_LEN];
    char created[32];
    uuid7_generate(id);
    time_format_rfc3339_ms(time_now_unix_ms(), created, sizeof created);
    json_t *copy = data != NULL ? json_deep_copy(data) : json_object();
    json_t *msg = copy != NULL ? json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:s}", "id", id,
                                           "notification_id", id, "kind", kind, "user_id", user_id,
                                           "to", to, "data", copy, "created_at", created)
                               : NULL;
    if (msg == NULL) {
        errbuf_setf(err, errlen, "notification: out of memory");
    }
    return msg;
}

int notification_enqueue(pg_conn *conn, const char *kind, const char *user_id, const char *to,
                         const json_t *data, const char *request_id, const char *traceparent,
                         char *err, size_t errlen) {
    json_t *msg = notification_build(kind, user_id, to, data, err, errlen);
    if (msg == NULL) {
        return -1;
    }
    int rc =
        outbox_add(conn, NOTIFICATIONS_TOPIC, user_id, msg, request_id, traceparent, err, errlen);
    json_decref(msg);
    return rc;
}
