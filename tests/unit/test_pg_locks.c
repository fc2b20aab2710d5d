/*
 * test_pg_locks.c: the Postgres advisory lock keys (shared/pg_locks.h).
 *
 * Covers: each key as the SQL sees it (PG_LOCK_SQL pastes it into statements; migration
 * 0010 and docs/decisions.md name 7264004, test_stack_migrate looks for 7264001 in
 * pg_locks), and that the four keys are distinct numbers of one block.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "shared/pg_locks.h"

static void test_lock_keys(void **state) {
    (void)state;
    assert_string_equal(PG_LOCK_SQL(PG_LOCK_MIGRATE), "7264001");
    assert_string_equal(PG_LOCK_SQL(PG_LOCK_RELAY_LEADER), "7264002");
    assert_string_equal(PG_LOCK_SQL(PG_LOCK_IMPORTER_CLASS), "7264003");
    assert_string_equal(PG_LOCK_SQL(PG_LOCK_INSTANCE_LEASE_CLASS), "7264004");
    const long keys[] = {PG_LOCK_MIGRATE, PG_LOCK_RELAY_LEADER, PG_LOCK_IMPORTER_CLASS,
                         PG_LOCK_INSTANCE_LEASE_CLASS};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        assert_int_equal(keys[i], 7264001 + (long)i); /* distinct, one block */
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
