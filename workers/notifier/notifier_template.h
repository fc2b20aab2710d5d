/*
 * notifier_template.h: e-mail templates (workers/notifier/templates/<kind>.txt and .html).
 *
 * Owns: loading a template file and rendering {{name}} placeholders from a JSON object.
 * Rules: a template's first line is "Subject: ..." (the rest is the body); in HTML mode
 * every substituted value is HTML-escaped (& < > " '), the template text itself is not;
 * the subject never carries CR or LF (header injection); a placeholder without a value
 * is an error (a broken message goes to the dead letters rather than out half-filled).
 */
#ifndef TASKBUS_WORKERS_NOTIFIER_NOTIFIER_TEMPLATE_H
#define TASKBUS_WORKERS_NOTIFIER_NOTIFIER_TEMPLATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct rendered_mail {
    char *subject; /* from the .txt template */
    char *text;
    char *html;
} rendered_mail;

/* The whole file dir/<kind>.<ext> as a NUL-terminated string (caller frees), or NULL with
 * err. kind must be [a-z_]+ so it can never leave dir. */
char *notifier_template_load(const char *dir, const char *kind, const char *ext, char *err,
                             size_t errlen);

/* Replaces every {{ name }} in src by vars[name] (a string, or a number/boolean written
 * as JSON), HTML-escaped when html. New string (caller frees), or NULL with err. */
char *notifier_render(const char *src, const json_t *vars, bool html, char *err, size_t errlen);

/* Splits a rendered template into its "Subject: " first line (CR/LF-free copy into
 * *subject, may be NULL) and the body (copy into *body). 0, or -1 with err. */
int notifier_split_subject(const char *rendered, char **subject, char **body, char *err,
                           size_t errlen);

/* Loads and renders <kind>.txt and <kind>.html with vars. 0, or -1 with err (out is then
 * empty). */
int notifier_render_mail(const char *dir, const char *kind, const json_t *vars, rendered_mail *out,
                         char *err, size_t errlen);
void rendered_mail_free(rendered_mail *mail);

#endif
