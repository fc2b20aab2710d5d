/*
 * reporter_file.c: writing one report file (see reporter_file.h for the rules it keeps).
 */
#include "workers/reporter/reporter_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/errbuf.h"

static const char *const CSV_COLUMNS[] = {"id",         "title",        "description", "status",
                                          "priority",   "due_at",       "tags",        "created_at",
                                          "updated_at", "completed_at", "version"};
#define NCOLUMNS (sizeof CSV_COLUMNS / sizeof CSV_COLUMNS[0])

int report_csv_field(FILE *f, const char *value) {
    if (strpbrk(value, ",\"\r\n") == NULL)
        return fputs(value, f) == EOF ? -1 : 0;
    if (fputc('"', f) == EOF)
        return -1;
    for (const char *p = value; *p != '\0'; p++) {
        if ((*p == '"' && fputc('"', f) == EOF) || fputc(*p, f) == EOF)
            return -1;
    }
    return fputc('"', f) == EOF ? -1 : 0;
}

/* The tags joined by ';' as one field. */
static int csv_tags(FILE *f, const json_t *tags) {
    size_t len = 1, i;
    const json_t *t;
    json_array_foreach(tags, i, t) len +=
        strlen(json_string_value(t) ? json_string_value(t) : "") + 1;
    char *joined = malloc(len);
    if (joined == NULL)
        return -1;
    joined[0] = '\0';
    json_array_foreach(tags, i, t) {
        if (i > 0)
            strcat(joined, ";");
        strcat(joined, json_string_value(t) ? json_string_value(t) : "");
    }
    int rc = report_csv_field(f, joined);
    free(joined);
    return rc;
}

static int csv_value(FILE *f, const json_t *v) {
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_string(v))
        return report_csv_field(f, json_string_value(v));
    if (json_is_integer(v))
        return fprintf(f, "%lld", (long long)json_integer_value(v)) < 0 ? -1 : 0;
    if (json_is_array(v))
        return csv_tags(f, v);
    return -1;
}

static int csv_row(FILE *f, const json_t *task) {
    for (size_t c = 0; c < NCOLUMNS; c++) {
        if ((c > 0 && fputc(',', f) == EOF) ||
            csv_value(f, json_object_get(task, CSV_COLUMNS[c])) != 0)
            return -1;
    }
    return fputs("\r\n", f) == EOF ? -1 : 0;
}

static int csv_header(FILE *f) {
    for (size_t c = 0; c < NCOLUMNS; c++) {
        if ((c > 0 && fputc(',', f) == EOF) || fputs(CSV_COLUMNS[c], f) == EOF)
            return -1;
    }
    return fputs("\r\n", f) == EOF ? -1 : 0;
}

int report_file_open(report_file *rf, const char *dir, const char *id, const char *format,
                     char *err, size_t errlen) {
    memset(rf, 0, sizeof *rf);
    rf->csv = strcmp(format, "csv") == 0;
    int a = snprintf(rf->final_path, sizeof rf->final_path, "%s/%s.%s", dir, id, format);
    int b = snprintf(rf->part_path, sizeof rf->part_path, "%s/%s.%s.part", dir, id, format);
    if (a < 0 || b < 0 || (size_t)b >= sizeof rf->part_path) {
        errbuf_setf(err, errlen, "report path too long");
        return -1;
    }
    rf->f = fopen(rf->part_path, "we");
    if (rf->f == NULL) {
        errbuf_setf(err, errlen, "cannot create %s: %s", rf->part_path, strerror(errno));
        return -1;
    }
    if ((rf->csv ? csv_header(rf->f) : (fputc('[', rf->f) == EOF ? -1 : 0)) != 0) {
        errbuf_setf(err, errlen, "cannot write %s: %s", rf->part_path, strerror(errno));
        report_file_abort(rf);
        return -1;
    }
    return 0;
}

int report_file_add(report_file *rf, const json_t *task, char *err, size_t errlen) {
    int rc;
    if (rf->csv) {
        rc = csv_row(rf->f, task);
    } else {
        rc = fputs(rf->rows > 0 ? ",\n" : "\n", rf->f) == EOF ? -1 : 0;
        if (rc == 0)
            rc = json_dumpf(task, rf->f, JSON_COMPACT);
    }
    if (rc != 0) {
        errbuf_setf(err, errlen, "cannot write %s: %s", rf->part_path, strerror(errno));
        return -1;
    }
    rf->rows++;
    return 0;
}

/* fsync of the directory holding path, so the rename itself is durable. */
static int sync_dir(const char *path) {
    char dir[4352];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int report_file_finish(report_file *rf, long long *size_out, char *err, size_t errlen) {
    FILE *f = rf->f;
    int rc = rf->csv ? 0 : (fputs(rf->rows > 0 ? "\n]\n" : "]\n", f) == EOF ? -1 : 0);
    if (rc == 0)
        rc = fflush(f) == 0 && fsync(fileno(f)) == 0 ? 0 : -1;
    long size = rc == 0 ? ftell(f) : -1;
    rf->f = NULL;
    if (fclose(f) != 0 || rc != 0 || size < 0) {
        errbuf_setf(err, errlen, "cannot write %s: %s", rf->part_path, strerror(errno));
        unlink(rf->part_path);
        return -1;
    }
    if (rename(rf->part_path, rf->final_path) != 0 || sync_dir(rf->final_path) != 0) {
        errbuf_setf(err, errlen, "cannot place %s: %s", rf->final_path, strerror(errno));
        unlink(rf->part_path);
        return -1;
    }
    *size_out = size;
    return 0;
}

void report_file_abort(report_file *rf) {
    if (rf->f != NULL) {
        fclose(rf->f);
        rf->f = NULL;
    }
    unlink(rf->part_path);
}
