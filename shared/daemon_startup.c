/*
 * daemon_startup.c: the shared start-up of every taskbus daemon (see
 * daemon_startup.h). Rules: an unparsable TASKBUS_LOG_LEVEL is not fatal (config_load
 * already checks it); the log level falls back to info.
 */
#include "shared/daemon_startup.h"

#include <stdio.h>
#include <string.h>

#include "shared/build_info.h"
#include "shared/daemon_signals.h"
#include "shared/log.h"
#include "shared/migrate.h"

/* 0 to run on, 1 after --help or --version, -1 after a usage error. */
static int parse_args(const daemon_identity *id, int argc, char **argv) {
    if (build_info_asked(argc, argv)) {
        build_info_print(stdout, id->program);
        return 1;
    }
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        config_print_help(stdout, id->program, id->summary);
        return 1;
    }
    if (argc > 1) {
        fprintf(stderr, "%s: unexpected argument %s (try --help)\n", id->program, argv[1]);
        return -1;
    }
    return 0;
}

bool daemon_startup(const daemon_identity *id, int argc, char **argv, taskbus_config *cfg,
                    int *exit_code) {
    int args = parse_args(id, argc, argv);
    if (args != 0) {
        *exit_code = args > 0 ? 0 : 2;
        return false;
    }
    char err[512];
    if (config_load(cfg, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", id->program, err);
        *exit_code = 2;
        return false;
    }
    log_level level = LOG_INFO;
    (void)log_level_parse(cfg->log_level, &level);
    log_init(id->service, level);
    if (daemon_signals_install() != 0) {
        LOG_ERRORF("%s: cannot install signal handlers", id->service);
        config_free(cfg);
        *exit_code = 1;
        return false;
    }
    *exit_code = 0;
    return true;
}

int daemon_run_migrations(pg_pool *pool, const char *schemas_dir, const char *service) {
    char dir[4096];
    int len = snprintf(dir, sizeof dir, "%s/migrations", schemas_dir);
    if (len < 0 || (size_t)len >= sizeof dir) {
        LOG_ERRORF("%s: TASKBUS_SCHEMAS_DIR is too long", service);
        return -1;
    }
    char err[512];
    for (;;) {
        pg_conn *c = pg_pool_acquire(pool, DAEMON_PG_ACQUIRE_MS, err, sizeof err);
        if (c != NULL) {
            int n = migrate_run(c, dir, err, sizeof err);
            pg_pool_release(pool, c);
            if (n < 0) {
                LOG_ERRORF("%s: migrations failed: %s", service, err);
                return -1;
            }
            LOG_INFOF("%s: %d migration(s) applied", service, n);
            return 0;
        }
        LOG_WARNF("%s: waiting for postgres: %s", service, err);
        if (daemon_sleep_ms(DAEMON_RETRY_MS)) {
            return -1;
        }
    }
}
