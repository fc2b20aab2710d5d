/*
 * reporter_file.h: writing one report file (docs/decisions.md "Reports").
 *
 * Owns: the file formats and their durable placement. CSV (RFC 4180): a header row of
 * the task JSON fields in order (id, title, description, status, priority, due_at, tags,
 * created_at, updated_at, completed_at, version), tags joined by ';', null as an empty
 * field, a field quoted (quotes doubled) when it holds a comma, a quote, CR or LF, lines
 * ending CRLF. A cell of user text (title, description, tags) starting with '=', '+', '-',
 * '@', TAB or CR, which a spreadsheet would run as a formula, is written quoted with a
 * single quote before the text (OWASP "CSV Injection"; docs/decisions.md "CSV cells that
 * are not formulas"); the generated columns are never changed. JSON: one array of task objects (the
 * API's task JSON), one task per line. Rules: rows are written as they come (stdio buffering only),
 * so memory does not grow with the report; the file is written to <dir>/<id>.<ext>.part, fsync'ed,
 * renamed to <dir>/<id>.<ext> and the directory fsync'ed, so a reader never sees a half file and a
 * rewrite (a replayed message) replaces the old one whole.
 */
#ifndef TASKBUS_WORKERS_REPORTER_REPORTER_FILE_H
#define TASKBUS_WORKERS_REPORTER_REPORTER_FILE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

typedef struct report_file {
    FILE *f;
    bool csv;
    long long rows;
    char part_path[4352];
    char final_path[4352];
} report_file;

/* Creates <dir>/<id>.<format>.part (format "csv" or "json") and writes the preamble.
 * 0, or -1 with err (nothing left open). */
int report_file_open(report_file *rf, const char *dir, const char *id, const char *format,
                     char *err, size_t errlen);
/* Appends one task (the task JSON, borrowed). 0, or -1 with err. */
int report_file_add(report_file *rf, const json_t *task, char *err, size_t errlen);
/* Writes the trailer, syncs, closes and renames into place; *size_out gets the file size.
 * 0, or -1 with err (the part file is removed). */
int report_file_finish(report_file *rf, long long *size_out, char *err, size_t errlen);
/* Closes and removes the part file (after a failure elsewhere). */
void report_file_abort(report_file *rf);

/* Writes value as one CSV field (quoted when needed) to f. 0, or -1. For the unit tests. */
int report_csv_field(FILE *f, const char *value);
/* Writes user text as one CSV field: like report_csv_field, but a value that
 * report_csv_is_formula becomes "'<value>" (quoted, quotes doubled). 0, or -1. */
int report_csv_text(FILE *f, const char *value);
/* True when value starts with '=', '+', '-', '@', TAB or CR. */
bool report_csv_is_formula(const char *value);

#endif
