/*
 * command_report.c: reporting a command decided only when it is safe (command_report.h).
 *
 * Rules: every path that answers APPLIED goes through reportable(); a Redis failure while
 * checking acknowledgements is "pending", never a guess.
 */
#include "api/command_report.h"

#include <time.h>

#include "shared/near_cache_bus.h"
#include "shared/time_util.h"

/* The registry's current sequence, for a marker Redis lost. */
#define CURRENT_SEQUENCE (-1)

/* 1 when every live instance acknowledged seq, else 0 (not yet, or Redis cannot say). */
static int acknowledged(const api_app *app, long long seq) {
    return near_cache_bus_acked(app->redis, seq, app->cfg->near_cache_lease_ms) == 1;
}

/* From the marker alone: APPLIED/REJECTED when reportable, PENDING when it says pending
 * or its sequence is not acknowledged yet; UNKNOWN/UNAVAILABLE when it cannot decide. */
static command_state from_marker(const api_app *app, const char *user_id, const char *id,
                                 command_outcome *out) {
    command_state st = task_command_read_marker(app, user_id, id, out);
    if (st == CMD_APPLIED && out->nc_seq > 0 && !acknowledged(app, out->nc_seq))
        return CMD_PENDING;
    return st;
}

/* An applied row: reportable as its effects say (see the header). */
static command_state from_applied_row(const api_app *app, const char *user_id, const char *id,
                                      command_outcome *out) {
    if (out->effects == CMD_EFFECTS_RELEASED)
        return CMD_APPLIED;
    if (out->effects == CMD_EFFECTS_PENDING)
        return CMD_PENDING;
    command_outcome marker = {0};
    command_state m = from_marker(app, user_id, id, &marker);
    /* A marker that still says "pending" although the effects landed: Redis lost the
     * writer's marker (and kept the API's older one). Like no marker at all. */
    bool stale_pending = m == CMD_PENDING && marker.state == CMD_PENDING;
    command_outcome_clear(&marker);
    if (m == CMD_APPLIED || (m == CMD_PENDING && !stale_pending))
        return m;
    if ((m == CMD_UNKNOWN || stale_pending) && acknowledged(app, CURRENT_SEQUENCE))
        return CMD_APPLIED;
    return CMD_PENDING;
}

/* Keeps what identifies the command (task id, type) and says pending. */
static command_state as_pending(command_outcome *out) {
    json_decref(out->problem);
    out->problem = NULL;
    out->task_version = -1;
    out->state = CMD_PENDING;
    return CMD_PENDING;
}

command_state command_report(const api_app *app, const char *user_id, const char *command_id,
                             command_outcome *out) {
    command_state row = task_command_read_row(app, user_id, command_id, out);
    if (row == CMD_REJECTED)
        return row;
    if (row == CMD_APPLIED) {
        command_state st = from_applied_row(app, user_id, command_id, out);
        return st == CMD_PENDING ? as_pending(out) : st;
    }
    /* No row (or no Postgres): the marker may still say pending, or decided where a
     * lagging read did not see the row yet. */
    command_state marker = from_marker(app, user_id, command_id, out);
    if (marker == CMD_PENDING)
        return as_pending(out);
    if (marker == CMD_APPLIED || marker == CMD_REJECTED)
        return marker;
    command_outcome_clear(out);
    return row == CMD_UNKNOWN ? CMD_UNKNOWN : CMD_UNAVAILABLE;
}

command_state command_report_wait(const api_app *app, const char *user_id, const char *command_id,
                                  int wait_s, command_outcome *out) {
    int64_t start = time_monotonic_ns();
    int64_t deadline = start + (int64_t)wait_s * 1000000000LL;
    int64_t next_full = start;
    for (;;) {
        command_state st = from_marker(app, user_id, command_id, out);
        if (st == CMD_APPLIED || st == CMD_REJECTED)
            return st;
        command_outcome_clear(out);
        int64_t now = time_monotonic_ns();
        /* The marker alone cannot say everything (Redis down or lost it; effects released
         * from the journal): the whole report, now and then. */
        if (now >= next_full) {
            next_full = now + (int64_t)TASK_COMMAND_POLL_PG_MS * 1000000LL;
            st = command_report(app, user_id, command_id, out);
            if (st == CMD_APPLIED || st == CMD_REJECTED)
                return st;
            command_outcome_clear(out);
        }
        if (now >= deadline)
            break;
        time_sleep_ms(TASK_COMMAND_POLL_REDIS_MS);
    }
    command_outcome_clear(out);
    out->state = CMD_PENDING;
    return CMD_PENDING;
}
