/*
 * migrate.c: the SQL migration runner.
 *
 * Owns: schema_migrations and applying the dir's .sql files in byte-wise file-name order.
 * Rules:
 * - The whole run holds pg_advisory_lock(PG_LOCK_MIGRATE) (shared/pg_locks.h) on the
 *   caller's connection, taken before schema_migrations is even created, so concurrent
 *   runners serialise and each file is applied once. The lock is released on every path.
 * - Each file runs in its own transaction together with its schema_migrations row; a
 *   file must not contain BEGIN/COMMIT of its own.
 * - version is the file name without ".sql"; checksum is the hex SHA-256 of its bytes
 *   (libsodium). A recorded version whose checksum differs is an error: migrations are
 *   append-only.
 * - statement_timeout is lifted for the run (migrations and the lock wait may be slow)
 *   and RESET afterwards to the connection's default.
 */
#include "shared/migrate.h"

#include <dirent.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/errbuf.h"
#include "shared/log.h"
#include "shared/pg_locks.h"

#define LOCK_SQL "SELECT pg_advisory_lock(" PG_LOCK_SQL(PG_LOCK_MIGRATE) ")"
#define UNLOCK_SQL "SELECT pg_advisory_unlock(" PG_LOCK_SQL(PG_LOCK_MIGRATE) ")"
#define MIGRATE_MAX_FILE_BYTES (16 * 1024 * 1024)

typedef struct name_list {
    char **names;
    size_t count;
    size_t cap;
} name_list;

static void name_list_free(name_list *l) {
    for (size_t i = 0; i < l->count; i++) {
        free(l->names[i]);
    }
    free(l->names);
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_sql_suffix(const char *name) {
    size_t n = strlen(name);
    return n > 4 && strcmp(name + n - 4, ".sql") == 0 && name[0] != '.';
}

/* The .sql files of dir, sorted. 0, or -1 with err. */
static int list_migrations(const char *dir, name_list *out, char *err, size_t errlen) {
    DIR *d = opendir(dir);
    if (d == NULL) {
        errbuf_setf(err, errlen, "cannot open migrations directory %s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (!has_sql_suffix(e->d_name)) {
            continue;
        }
        if (out->count == out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 16;
            char **grown = realloc(out->names, cap * sizeof *grown);
            if (grown == NULL) {
                rc = -1;
                break;
            }
            out->names = grown;
            out->cap = cap;
        }
        if ((out->names[out->count] = strdup(e->d_name)) == NULL) {
            rc = -1;
            break;
        }
        out->count++;
    }
    closedir(d);
    if (rc != 0) {
        errbuf_setf(err, errlen, "out of memory listing %s", dir);
        return -1;
    }
    if (out->count > 0) {
        qsort(out->names, out->count, sizeof *out->names, cmp_names);
    }
    return 0;
}

/* Reads a whole file as a NUL-terminated string. NULL with err. */
static char *read_file(const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        errbuf_setf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0;
    size_t cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *grown = cap <= MIGRATE_MAX_FILE_BYTES ? realloc(buf, cap) : NULL;
            if (grown == NULL) {
                errbuf_setf(err, errlen, "%s is too large or out of memory", path);
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = grown;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0) {
            break;
        }
    }
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed) {
        errbuf_setf(err, errlen, "cannot read %s", path);
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    if (strlen(buf) != len) {
        errbuf_setf(err, errlen, "%s contains a NUL byte", path);
        free(buf);
        return NULL;
    }
    return buf;
}

static void sha256_hex(const char *data, char out[crypto_hash_sha256_BYTES * 2 + 1]) {
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, (const unsigned char *)data, strlen(data));
    sodium_bin2hex(out, crypto_hash_sha256_BYTES * 2 + 1, digest, sizeof digest);
}

/* Looks version up. 1 with the checksum copied, 0 when absent, -1 on error. */
static int recorded_checksum(pg_conn *conn, const char *version, char *checksum, size_t cap,
                             char *err, size_t errlen) {
    const char *vals[1] = {version};
    PGresult *res =
        PQexecParams(pg_conn_raw(conn), "SELECT checksum FROM schema_migrations WHERE version = $1",
                     1, NULL, vals, NULL, NULL, 0);
    if (!pg_result_ok(res)) {
        errbuf_setf(err, errlen, "reading schema_migrations: %s",
                    res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(pg_conn_raw(conn)));
        if (res == NULL) {
            pg_conn_mark_broken(conn);
        }
        PQclear(res);
        return -1;
    }
    int found = PQntuples(res) > 0;
    if (found) {
        snprintf(checksum, cap, "%s", PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    return found;
}

static int record_version(pg_conn *conn, const char *version, const char *checksum, char *err,
                          size_t errlen) {
    const char *vals[2] = {version, checksum};
    PGresult *res = PQexecParams(pg_conn_raw(conn),
                                 "INSERT INTO schema_migrations(version, checksum, applied_at) "
                                 "VALUES ($1, $2, now())",
                                 2, NULL, vals, NULL, NULL, 0);
    int rc = pg_result_ok(res) ? 0 : -1;
    if (rc != 0) {
        errbuf_setf(err, errlen, "recording %s: %s", version,
                    res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(pg_conn_raw(conn)));
    }
    PQclear(res);
    return rc;
}

/* Applies one file in its own transaction. 1 applied, 0 already there, -1 error. */
static int apply_one(pg_conn *conn, const char *dir, const char *name, char *err, size_t errlen) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char version[256];
    snprintf(version, sizeof version, "%.*s", (int)(strlen(name) - 4), name);
    char *sql = read_file(path, err, errlen);
    if (sql == NULL) {
        return -1;
    }
    char sum[crypto_hash_sha256_BYTES * 2 + 1];
    sha256_hex(sql, sum);
    char stored[128];
    int found = recorded_checksum(conn, version, stored, sizeof stored, err, errlen);
    int rc = found < 0 ? -1 : 0;
    if (found == 1 && strcmp(stored, sum) != 0) {
        errbuf_setf(err, errlen,
                    "migration %s was changed after it was applied (checksum %.12s…, recorded "
                    "%.12s…); add a new migration instead",
                    version, sum, stored);
        rc = -1;
    } else if (found == 0) {
        char why[512] = "";
        rc = pg_begin(conn, why, sizeof why);
        if (rc == 0) {
            rc = pg_run(conn, sql, why, sizeof why);
        }
        if (rc == 0) {
            rc = record_version(conn, version, sum, why, sizeof why);
        }
        if (rc == 0) {
            rc = pg_commit(conn, why, sizeof why);
        }
        if (rc != 0) {
            pg_rollback(conn);
            errbuf_setf(err, errlen, "migration %s failed: %s", version, why);
        } else {
            LOG_INFOF("applied migration %s", version);
            rc = 1;
        }
    }
    free(sql);
    return rc;
}

static int apply_all(pg_conn *conn, const char *dir, char *err, size_t errlen) {
    if (pg_run(conn,
               "CREATE TABLE IF NOT EXISTS schema_migrations ("
               " version text PRIMARY KEY, checksum text NOT NULL,"
               " applied_at timestamptz NOT NULL DEFAULT now())",
               err, errlen) != 0) {
        return -1;
    }
    name_list files = {0};
    if (list_migrations(dir, &files, err, errlen) != 0) {
        name_list_free(&files);
        return -1;
    }
    int applied = 0;
    for (size_t i = 0; i < files.count; i++) {
        int rc = apply_one(conn, dir, files.names[i], err, errlen);
        if (rc < 0) {
            applied = -1;
            break;
        }
        applied += rc;
    }
    name_list_free(&files);
    return applied;
}

int migrate_run(pg_conn *conn, const char *dir, char *err, size_t errlen) {
    if (conn == NULL || dir == NULL) {
        errbuf_setf(err, errlen, "migrate_run: bad arguments");
        return -1;
    }
    if (sodium_init() < 0) {
        errbuf_setf(err, errlen, "libsodium failed to initialise");
        return -1;
    }
    if (pg_run(conn, "SET statement_timeout = 0", err, errlen) != 0) {
        return -1;
    }
    int applied = -1;
    if (pg_run(conn, LOCK_SQL, err, errlen) == 0) {
        applied = apply_all(conn, dir, err, errlen);
        char why[256];
        if (pg_run(conn, UNLOCK_SQL, why, sizeof why) != 0) {
            /* The lock is session-bound: a reset connection drops it, so no lock leaks. */
            LOG_WARNF("migrate: unlock failed: %s", why);
            pg_conn_mark_broken(conn);
        }
    }
    char why[256];
    if (pg_run(conn, "RESET statement_timeout", why, sizeof why) != 0) {
        pg_conn_mark_broken(conn);
    }
    return applied;
}
