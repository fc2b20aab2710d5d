/*
 * notifier_template.c: e-mail templates with {{placeholder}} substitution.
 *
 * Owns: the template syntax ({{ name }}, name of [A-Za-z0-9_]) and HTML escaping of
 * substituted values. Rules: output grows in one buffer with checked sizes; nothing is
 * cached (templates are small and read per message, so an edited template applies at
 * once); every allocation is freed on every error path.
 */
#include "workers/notifier/notifier_template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/errbuf.h"
#include "shared/strbuf.h"

#define TEMPLATE_MAX_BYTES (256 * 1024)
#define NAME_MAX_CHARS 64

static void sb_add_escaped(strbuf *sb, const char *s, bool html) {
    if (html)
        strbuf_puts_html(sb, s);
    else
        strbuf_puts(sb, s);
}

static bool kind_is_safe(const char *kind) {
    if (kind == NULL || kind[0] == '\0' || strlen(kind) > NAME_MAX_CHARS) {
        return false;
    }
    for (const char *p = kind; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || *p == '_')) {
            return false;
        }
    }
    return true;
}

char *notifier_template_load(const char *dir, const char *kind, const char *ext, char *err,
                             size_t errlen) {
    if (!kind_is_safe(kind)) {
        errbuf_setf(err, errlen, "template: bad kind");
        return NULL;
    }
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s.%s", dir, kind, ext);
    FILE *f = n > 0 && (size_t)n < sizeof path ? fopen(path, "rb") : NULL;
    if (f == NULL) {
        errbuf_setf(err, errlen, "template: cannot open %s.%s", kind, ext);
        return NULL;
    }
    char *buf = malloc(TEMPLATE_MAX_BYTES + 1);
    size_t got = buf != NULL ? fread(buf, 1, TEMPLATE_MAX_BYTES + 1, f) : 0;
    bool bad = buf == NULL || ferror(f) || got > TEMPLATE_MAX_BYTES;
    fclose(f);
    if (bad) {
        errbuf_setf(err, errlen, "template: cannot read %s.%s", kind, ext);
        free(buf);
        return NULL;
    }
    buf[got] = '\0';
    return buf;
}

/* The value of a placeholder as text: strings as they are, numbers and booleans as JSON. */
static char *value_text(const json_t *v) {
    if (json_is_string(v)) {
        return strdup(json_string_value(v));
    }
    if (json_is_number(v) || json_is_boolean(v)) {
        return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    }
    return NULL;
}

/* Reads "{{ name }}" at p (which starts with "{{"): name into out, returns the length of
 * the whole placeholder, or 0 when p is not a well-formed placeholder. */
static size_t parse_placeholder(const char *p, char out[NAME_MAX_CHARS + 1]) {
    const char *q = p + 2;
    while (*q == ' ') {
        q++;
    }
    size_t n = 0;
    while ((q[n] >= 'a' && q[n] <= 'z') || (q[n] >= 'A' && q[n] <= 'Z') ||
           (q[n] >= '0' && q[n] <= '9') || q[n] == '_') {
        n++;
    }
    if (n == 0 || n > NAME_MAX_CHARS) {
        return 0;
    }
    memcpy(out, q, n);
    out[n] = '\0';
    const char *r = q + n;
    while (*r == ' ') {
        r++;
    }
    return r[0] == '}' && r[1] == '}' ? (size_t)(r + 2 - p) : 0;
}

char *notifier_render(const char *src, const json_t *vars, bool html, char *err, size_t errlen) {
    strbuf sb = {0};
    const char *p = src;
    while (*p != '\0' && !sb.failed) {
        const char *open = strstr(p, "{{");
        if (open == NULL) {
            strbuf_append(&sb, p, strlen(p));
            break;
        }
        strbuf_append(&sb, p, (size_t)(open - p));
        char name[NAME_MAX_CHARS + 1];
        size_t len = parse_placeholder(open, name);
        if (len == 0) {
            strbuf_append(&sb, open, 2); /* not a placeholder: literal braces */
            p = open + 2;
            continue;
        }
        char *value = value_text(json_object_get(vars, name));
        if (value == NULL) {
            errbuf_setf(err, errlen, "template: no value for {{%s}}", name);
            free(sb.data);
            return NULL;
        }
        sb_add_escaped(&sb, value, html);
        free(value);
        p = open + len;
    }
    if (sb.failed || sb.data == NULL) {
        free(sb.data);
        sb.data = sb.failed ? NULL : strdup("");
        if (sb.data == NULL) {
            errbuf_setf(err, errlen, "template: out of memory");
        }
    }
    return sb.data;
}

int notifier_split_subject(const char *rendered, char **subject, char **body, char *err,
                           size_t errlen) {
    static const char PREFIX[] = "Subject:";
    const char *eol = strchr(rendered, '\n');
    if (strncmp(rendered, PREFIX, sizeof PREFIX - 1) != 0 || eol == NULL) {
        errbuf_setf(err, errlen, "template: first line is not \"Subject: ...\"");
        return -1;
    }
    const char *s = rendered + sizeof PREFIX - 1;
    while (*s == ' ') {
        s++;
    }
    size_t n = (size_t)(eol - s);
    char *subj = subject != NULL ? strndup(s, n) : NULL;
    char *rest = strdup(eol + 1);
    if ((subject != NULL && subj == NULL) || rest == NULL) {
        free(subj);
        free(rest);
        errbuf_setf(err, errlen, "template: out of memory");
        return -1;
    }
    for (char *c = subj; c != NULL && *c != '\0'; c++) {
        if (*c == '\r' || *c == '\n' || *c == '\t') {
            *c = ' ';
        }
    }
    if (subject != NULL) {
        *subject = subj;
    }
    *body = rest;
    return 0;
}

/* Loads dir/<kind>.<ext>, renders it and splits off the subject. 0, or -1 with err. */
static int render_one(const char *dir, const char *kind, const char *ext, const json_t *vars,
                      char **subject, char **body, char *err, size_t errlen) {
    char *src = notifier_template_load(dir, kind, ext, err, errlen);
    if (src == NULL) {
        return -1;
    }
    char *out = notifier_render(src, vars, strcmp(ext, "html") == 0, err, errlen);
    free(src);
    if (out == NULL) {
        return -1;
    }
    int rc = notifier_split_subject(out, subject, body, err, errlen);
    free(out);
    return rc;
}

int notifier_render_mail(const char *dir, const char *kind, const json_t *vars, rendered_mail *out,
                         char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (render_one(dir, kind, "txt", vars, &out->subject, &out->text, err, errlen) != 0 ||
        render_one(dir, kind, "html", vars, NULL, &out->html, err, errlen) != 0) {
        rendered_mail_free(out);
        return -1;
    }
    return 0;
}

void rendered_mail_free(rendered_mail *mail) {
    free(mail->subject);
    free(mail->text);
    free(mail->html);
    memset(mail, 0, sizeof *mail);
}
