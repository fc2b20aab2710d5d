/*
 * admin_backfill_state.c: taskbus-admin backfill-task-state (see admin_backfill_state.h).
 *
 * Owns: the cursor over tasks and the state record built from each row. Rules: the record
 * is the CloudEvent a write of the task would have produced (shared/cloudevent.h, data =
 * the task as stored plus user_id and command_id): type taskbus.task.created for a task
 * at version 1, taskbus.task.updated otherwise, with the task's own version, so a
 * consumer's version rule treats it as the state it is; command_id is this run's id (a
 * fresh UUIDv7 printed at the end; no command has it). Rows go in pages of PAGE tasks,
 * one outbox statement per page, all in the one locked transaction. Tasks in team
 * projects (no owner, migration 0022) are left out: their record has no user to name
 * until the task events carry the project (docs/decisions.md, "Tasks in team projects
 * (slice 3b)").
 */
#include "tools/admin/admin_backfill_state.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/bus.h"
#include "shared/cloudevent.h"
#include "shared/outbox.h"
#include "shared/pg_pool.h"
#include "shared/task_event_types.h"
#include "shared/task_model.h"
#include "shared/uuid7.h"
#include "tools/admin/admin_db.h"

#define WHO "taskbus-admin backfill-task-state"
#define PAGE 1000
#define PAGE_TEXT "1000"

/* One page's outbox rows and the texts they borrow. */
typedef struct page {
    outbox_row rows[PAGE];
    char *texts[PAGE];
    char ids[PAGE][UUID_STR_LEN];
    char keys[PAGE][UUID_STR_LEN];
    size_t n;
} page;

static void page_clear(page *p) {
    for (size_t i = 0; i < p->n; i++) {
        free(p->texts[i]);
    }
    p->n = 0;
}

/* The state record of row r of res into p. 0, or -1 (printed). */
static int add_row(page *p, const PGresult *res, int r, const char *run_id) {
    char owner[UUID_STR_LEN] = "";
    json_t *task = task_from_row(res, r, owner);
    if (task == NULL) {
        fprintf(stderr, WHO ": task %s: the row cannot be read\n", PQgetvalue(res, r, 0));
        return -1;
    }
    task_json_strip_for_event(task); /* a state record is an event: the same data */
    json_object_set_new(task, "user_id", json_string(owner));
    json_object_set_new(task, "command_id", json_string(run_id));
    char *data = json_dumps(task, JSON_COMPACT);
    long long version = task_json_version(task);
    json_decref(task);
    size_t i = p->n;
    snprintf(p->keys[i], sizeof p->keys[i], "%s", PQgetvalue(res, r, 0));
    char subject[64];
    snprintf(subject, sizeof subject, TASK_SUBJECT_PREFIX "%s", p->keys[i]);
    const char *type = version == 1 ? TASK_EVENT_CREATED : TASK_EVENT_UPDATED;
    p->texts[i] = data != NULL ? cloudevent_text(type, subject, data, NULL, p->ids[i]) : NULL;
    free(data);
    if (p->texts[i] == NULL) {
        fprintf(stderr, WHO ": out of memory\n");
        return -1;
    }
    p->rows[i] = (outbox_row){.event_id = p->ids[i],
                              .topic = TASK_STATE_TOPIC,
                              .key = p->keys[i],
                              .payload = p->texts[i],
                              .ce_type = type};
    p->n++;
    return 0;
}

/* Pages through the cursor into the outbox. The count written, or -1 (printed). */
static long long copy_all(pg_conn *c, const char *run_id) {
    page *p = calloc(1, sizeof *p);
    if (p == NULL) {
        fprintf(stderr, WHO ": out of memory\n");
        return -1;
    }
    long long total = 0;
    for (;;) {
        PGresult *res = pg_exec_sql(c, "FETCH " PAGE_TEXT " FROM backfill_tasks");
        if (!pg_result_ok(res)) {
            admin_db_print_error(WHO, "reading tasks", res);
            PQclear(res);
            total = -1;
            break;
        }
        int n = PQntuples(res);
        int rc = 0;
        for (int r = 0; r < n && rc == 0; r++) {
            rc = add_row(p, res, r, run_id);
        }
        PQclear(res);
        char err[512];
        if (rc == 0 && p->n > 0 && outbox_add_many(c, p->rows, p->n, err, sizeof err) != 0) {
            fprintf(stderr, WHO ": writing the outbox: %s\n", err);
            rc = -1;
        }
        total += (long long)p->n;
        page_clear(p);
        if (rc != 0) {
            total = -1;
            break;
        }
        if (n < PAGE) {
            break;
        }
    }
    free(p);
    return total;
}

int admin_backfill_task_state(const taskbus_config *cfg) {
    pg_pool *pool = NULL;
    pg_conn *c = admin_db_open(cfg, &pool);
    if (c == NULL) {
        return 1;
    }
    char err[512];
    char run_id[UUID_STR_LEN];
    uuid7_generate(run_id);
    long long n = -1;
    if (pg_begin(c, err, sizeof err) != 0) {
        fprintf(stderr, WHO ": %s\n", err);
    } else if (pg_run(c, "LOCK TABLE tasks IN SHARE MODE", err, sizeof err) != 0 ||
               pg_run(c,
                      "DECLARE backfill_tasks NO SCROLL CURSOR FOR SELECT " TASK_SELECT_COLUMNS
                      " FROM tasks WHERE owner_id IS NOT NULL ORDER BY id",
                      err, sizeof err) != 0) {
        fprintf(stderr, WHO ": %s\n", err);
        pg_rollback(c);
    } else if ((n = copy_all(c, run_id)) < 0) {
        pg_rollback(c);
    } else if (pg_commit(c, err, sizeof err) != 0) {
        fprintf(stderr, WHO ": %s\n", err);
        n = -1;
    }
    admin_db_close(pool, c);
    if (n < 0) {
        fprintf(stderr, WHO ": nothing was written\n");
        return 1;
    }
    printf("%lld task(s) queued for %s (command_id %s); the relay publishes them\n", n,
           TASK_STATE_TOPIC, run_id);
    return 0;
}
