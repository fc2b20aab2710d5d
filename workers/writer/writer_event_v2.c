/*
 * writer_event_v2.c: the version-2 event of an applied task command (see
 * writer_event_v2.h).
 *
 * Rules: the data is assembled as text (this runs for every applied command, like the v1
 * event's), from the task text as stored, which is one JSON object ending in '}'.
 */
#include "workers/writer/writer_event_v2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/cloudevent.h"
#include "shared/strbuf.h"
#include "shared/task_event_types.h"

void writer_event_v2_type(const writer_decision *d, char out[WRITER_EVENT_V2_TYPE_MAX]) {
    snprintf(out, WRITER_EVENT_V2_TYPE_MAX, "%s" TASK_EVENT_V2_SUFFIX, d->event_type);
}

char *writer_event_v2(const task_command *c, const writer_decision *d, const char *task_text,
                      const char *deleted_from, const char *traceparent,
                      char event_id[UUID_STR_LEN]) {
    strbuf data = {0};
    if (task_text != NULL) {
        size_t len = strlen(task_text);
        strbuf_append(&data, task_text, len > 0 ? len - 1 : 0); /* without its '}' */
        strbuf_append(&data, ",", 1);
    } else {
        char head[160];
        int n =
            snprintf(head, sizeof head, "{\"id\":\"%s\",\"project_id\":\"%s\",\"version\":%lld,",
                     c->task_id, deleted_from != NULL ? deleted_from : "", d->task_version);
        strbuf_append(&data, head, (size_t)n);
    }
    char tail[128];
    int n = snprintf(tail, sizeof tail, "\"actor_id\":\"%s\",\"command_id\":\"%s\"}", c->user_id,
                     c->command_id);
    strbuf_append(&data, tail, (size_t)n);
    char type[WRITER_EVENT_V2_TYPE_MAX], subject[64];
    writer_event_v2_type(d, type);
    snprintf(subject, sizeof subject, TASK_SUBJECT_PREFIX "%s", c->task_id);
    char *text =
        data.failed ? NULL : cloudevent_text(type, subject, data.data, traceparent, event_id);
    free(data.data);
    return text;
}
