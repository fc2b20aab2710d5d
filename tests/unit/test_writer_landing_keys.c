/*
 * test_writer_landing_keys.c: no CROSSSLOT in the writer's landing
 * (workers/writer/writer_effects.c).
 *
 * Covers: the KEYS of each of the three landing scripts, as the writer builds them for a
 * batch of one user, all hash to one Redis Cluster slot: the data and marks steps to the
 * user's {u:<uid>} slot, the invalidation to the {nc} slot. The slot is computed here with
 * Redis Cluster's own rule (CRC16/XMODEM of the hash tag, or of the whole key, mod 16384),
 * checked against the reference value of the Redis Cluster specification, because this
 * branch has no cluster client to ask (issue 13: shared/redis_cluster.h arrives with it).
 * A team command's copy for another member lands in that member's slot.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "shared/redis_keys.h"
#include "workers/writer/writer_effects.h"

#define UID "0190f5a0-0000-7000-8000-0000000000aa"

/* CRC16-CCITT (XMODEM): polynomial 0x1021, initial 0, as in the Redis Cluster spec. */
static uint16_t crc16(const char *buf, size_t len) {
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((unsigned char)buf[i] << 8);
        for (int b = 0; b < 8; b++) {
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
        }
    }
    return crc;
}

/* The key's slot: the first {...} with something inside is hashed, else the whole key. */
static unsigned key_slot(const char *key) {
    size_t len = strlen(key);
    const char *open = strchr(key, '{');
    if (open != NULL) {
        const char *close = strchr(open + 1, '}');
        if (close != NULL && close > open + 1) {
            return crc16(open + 1, (size_t)(close - open - 1)) & 16383;
        }
    }
    return crc16(key, len) & 16383;
}

static void test_slot_function_matches_the_spec(void **state) {
    (void)state;
    /* The specification's check value: CRC16("123456789") = 0x31C3. */
    assert_int_equal(crc16("123456789", 9), 0x31C3);
    assert_int_equal(key_slot("123456789"), 0x31C3 & 16383);
    assert_int_equal(key_slot("{user1000}.following"), key_slot("user1000"));
    assert_int_equal(key_slot("foo{}{bar}"), crc16("foo{}{bar}", 10) & 16383);
    assert_int_equal(key_slot("foo{{bar}}zap"), crc16("{bar", 4) & 16383);
}

static void add_effect(writer_effect_list *list, const char *task, const char *cmd, bool applied) {
    writer_effect e = {0};
    memcpy(e.user_id, UID, UUID_STR_LEN);
    memcpy(e.task_id, task, UUID_STR_LEN);
    memcpy(e.command_id, cmd, UUID_STR_LEN);
    e.version = applied ? 3 : 0;
    e.status_value = strdup(applied ? "{\"status\":\"applied\"}" : "{\"status\":\"rejected\"}");
    e.task_value = applied ? strdup("{\"version\":3}") : NULL;
    e.event_value = applied ? strdup("{\"type\":\"task.updated\"}") : NULL;
    assert_non_null(e.status_value);
    assert_int_equal(writer_effects_push(list, &e), 0);
}

/* Every key of step's script for list, and that they share one slot; returns it. */
static unsigned step_slot(const writer_effect_list *list, writer_land_step step, int want_keys) {
    char(*keys)[REDIS_KEY_MAX] = NULL;
    int n = 0;
    assert_int_equal(writer_effects_step_keys(list, step, &keys, &n), 0);
    assert_int_equal(n, want_keys);
    unsigned slot = key_slot(keys[0]);
    for (int i = 0; i < n; i++) {
        assert_true(keys[i][0] != '\0');
        if (key_slot(keys[i]) != slot) {
            fail_msg("step %d: %s is in slot %u, %s in slot %u", (int)step, keys[i],
                     key_slot(keys[i]), keys[0], slot);
        }
    }
    free(keys);
    return slot;
}

static void test_every_script_is_in_one_slot(void **state) {
    (void)state;
    writer_effect_list list = {0};
    add_effect(&list, "0190f5a0-0000-7000-8000-000000000001",
               "0190f5a0-0000-7000-8000-000000000011", true);
    add_effect(&list, "0190f5a0-0000-7000-8000-000000000002",
               "0190f5a0-0000-7000-8000-000000000012", false);
    add_effect(&list, "0190f5a0-0000-7000-8000-000000000001",
               "0190f5a0-0000-7000-8000-000000000013", true);
    unsigned user = key_slot("{u:" UID "}");
    /* data: gen, lsn, then task and command key per command */
    assert_int_equal(step_slot(&list, WRITER_LAND_DATA, 2 + 2 * 3), user);
    /* invalidation: {nc}:seq only */
    assert_int_equal(step_slot(&list, WRITER_LAND_INVALIDATE, 1), key_slot(NEAR_CACHE_SEQ_KEY));
    assert_int_equal(key_slot(NEAR_CACHE_SEQ_KEY), key_slot("nc"));
    /* marks: events log, then the command key per command */
    assert_int_equal(step_slot(&list, WRITER_LAND_MARKS, 1 + 3), user);
    /* the user's slot is not {nc}'s: one script with both would be CROSSSLOT */
    assert_int_not_equal(user, key_slot(NEAR_CACHE_SEQ_KEY));
    char(*keys)[REDIS_KEY_MAX] = NULL;
    int n = 0;
    assert_int_equal(writer_effects_step_keys(&list, WRITER_LAND_ALL, &keys, &n), -1);
    assert_null(keys);
    writer_effects_free(&list);
}

/* A team command's copy for another member: the member's slot, a derived command id (the
 * same for a replay, another for each member, never the command's own), the event and
 * status, and no task value. */
static void test_fanout_copies_go_to_the_members_slot(void **state) {
    (void)state;
    writer_effect_list list = {0};
    add_effect(&list, "0190f5a0-0000-7000-8000-000000000001",
               "0190f5a0-0000-7000-8000-000000000011", true);
    const char *member = "0190f5a0-0000-7000-8000-0000000000bb";
    const char *other = "0190f5a0-0000-7000-8000-0000000000cc";
    writer_effect a, again, b;
    writer_effect_build_fanout(&a, &list, 0, member);
    writer_effect_build_fanout(&again, &list, 0, member);
    writer_effect_build_fanout(&b, &list, 0, other);
    assert_string_equal(a.user_id, member);
    assert_string_equal(a.task_id, list.items[0].task_id);
    assert_string_equal(a.command_id, again.command_id);
    assert_string_not_equal(a.command_id, b.command_id);
    assert_string_not_equal(a.command_id, list.items[0].command_id);
    assert_null(a.task_value);
    assert_ptr_equal(a.event_value, list.items[0].event_value); /* borrowed, not copied */
    assert_ptr_equal(a.status_value, list.items[0].status_value);
    assert_int_equal(a.copy_of, 1);
    writer_effect_list copies = {0}; /* one user's: the scripts' keys are per user */
    assert_int_equal(writer_effects_push(&copies, &a), 0);
    unsigned slot = key_slot("{u:0190f5a0-0000-7000-8000-0000000000bb}");
    assert_int_equal(step_slot(&copies, WRITER_LAND_DATA, 2 + 2), slot);
    assert_int_equal(step_slot(&copies, WRITER_LAND_MARKS, 1 + 1), slot);
    writer_effects_free(&copies); /* frees nothing of the original's */
    assert_string_equal(list.items[0].event_value, "{\"type\":\"task.updated\"}");
    writer_effects_free(&list);
}

/* What an applied command leaves in its actor's cache: the task as stored, a tombstone
 * for a delete and for a move out of the Inbox (so the owner's cached copy is outranked
 * and their reads go on to Postgres), nothing for a team task. */
static void test_task_values_by_place(void **state) {
    (void)state;
    task_command cmd = {.type = TASK_CMD_UPDATE, .expected_version = -1};
    strcpy(cmd.user_id, UID);
    strcpy(cmd.task_id, "0190f5a0-0000-7000-8000-000000000001");
    strcpy(cmd.command_id, "0190f5a0-0000-7000-8000-000000000011");
    static const struct {
        bool team, left_inbox;
        writer_row_op op;
        const char *want;
    } cases[] = {
        {false, false, WRITER_ROW_UPDATE, "{\"id\":\"t\",\"version\":7}"},
        {false, false, WRITER_ROW_DELETE, "{\"deleted\":true,\"version\":7}"},
        {true, true, WRITER_ROW_UPDATE, "{\"deleted\":true,\"version\":7}"},
        {true, false, WRITER_ROW_UPDATE, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        writer_decision dec = {.applied = true,
                               .op = cases[i].op,
                               .task_version = 7,
                               .event_type = "taskbus.task.updated",
                               .team = cases[i].team,
                               .left_inbox = cases[i].left_inbox};
        char *task_text = strdup("{\"id\":\"t\",\"version\":7}");
        char *event_text = strdup("{}");
        writer_effect e;
        assert_int_equal(writer_effect_build(&e, &cmd, &dec, &task_text, &event_text), 0);
        if (cases[i].want == NULL)
            assert_null(e.task_value);
        else
            assert_string_equal(e.task_value, cases[i].want);
        free(task_text);
        free(event_text);
        writer_effect_free(&e);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fanout_copies_go_to_the_members_slot),
        cmocka_unit_test(test_task_values_by_place),
        cmocka_unit_test(test_slot_function_matches_the_spec),
        cmocka_unit_test(test_every_script_is_in_one_slot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
