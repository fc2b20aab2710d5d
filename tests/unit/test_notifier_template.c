/*
 * test_notifier_template.c: the notifier's templates and MIME message.
 *
 * Owns: checks of {{placeholder}} rendering (escaping in HTML only, missing values are
 * errors, stray braces stay), the Subject line (no CR/LF survives), every shipped
 * template rendering with its kind's data, and the message's headers and parts. Links
 * taskbus_notifier_core (the test's name says which daemon it covers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shared/notification.h"

#include "workers/notifier/notifier_mail.h"
#include "workers/notifier/notifier_template.h"

#define TEMPLATES TASKBUS_SOURCE_DIR "/workers/notifier/templates"

static void renders_and_escapes_only_html(void **state) {
    (void)state;
    json_t *vars = json_pack("{s:s, s:i}", "title", "<b>Tom & \"Jerry\"</b>'", "n", 3);
    char err[128];
    char *text = notifier_render("A {{title}} {{ n }}!", vars, false, err, sizeof err);
    char *html = notifier_render("A {{title}} {{ n }}!", vars, true, err, sizeof err);
    assert_non_null(text);
    assert_non_null(html);
    assert_string_equal(text, "A <b>Tom & \"Jerry\"</b>' 3!");
    assert_string_equal(html, "A &lt;b&gt;Tom &amp; &quot;Jerry&quot;&lt;/b&gt;&#39; 3!");
    free(text);
    free(html);
    json_decref(vars);
}

static void missing_value_is_an_error_and_stray_braces_stay(void **state) {
    (void)state;
    json_t *vars = json_pack("{s:s, s:o}", "a", "x", "obj", json_object());
    char err[128] = "";
    assert_null(notifier_render("{{b}}", vars, false, err, sizeof err));
    assert_non_null(strstr(err, "{{b}}"));
    assert_null(notifier_render("{{obj}}", vars, false, err, sizeof err));
    char *out = notifier_render("{{ {{a}} }} {{-}} {{a", vars, false, err, sizeof err);
    assert_non_null(out);
    assert_string_equal(out, "{{ x }} {{-}} {{a");
    free(out);
    out = notifier_render("", vars, false, err, sizeof err);
    assert_non_null(out);
    assert_string_equal(out, "");
    free(out);
    json_decref(vars);
}

static void subject_line_cannot_inject_headers(void **state) {
    (void)state;
    char *subject = NULL;
    char *body = NULL;
    char err[128];
    json_t *vars = json_pack("{s:s}", "title", "x\r\nBcc: evil@example.com");
    char *out = notifier_render("Subject: Due: {{title}}\nbody", vars, false, err, sizeof err);
    assert_non_null(out);
    /* The rendered value holds a newline, so the first line ends inside it: the rest of
     * the value falls into the body, never into a header. */
    assert_int_equal(notifier_split_subject(out, &subject, &body, err, sizeof err), 0);
    assert_null(strpbrk(subject, "\r\n"));
    free(subject);
    free(body);
    free(out);
    assert_int_equal(notifier_split_subject("no subject\nbody", &subject, &body, err, sizeof err),
                     -1);
    json_decref(vars);
}

static void every_shipped_template_renders(void **state) {
    (void)state;
    json_t *vars = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
                             "to", "a@b.test", "kind", "k", "user_id", "u", "notification_id", "n",
                             "verify_url", "http://h/api/v1/auth/verify?token=abc&x=<1>", "task_id",
                             "t", "title", "T", "due_at", "2030-01-01T00:00:00.000Z", "report_id",
                             "r", "download_path", "/api/v1/reports/r/download", "webhook_id", "w",
                             "url", "https://x.test/hook", "reason", "500s");
    json_t *invitation =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "project_id", "p",
                  "project_name", "<b>Team</b>", "invitation_id", "i", "role", "editor",
                  "inviter_name", "Ann", "invitations_url", "http://h/api/v1/invitations",
                  "actor_name", "Bob", "reset_url", "http://h/reset-password?token=abc",
                  "confirm_url", "http://h/confirm-email-change?token=abc");
    assert_int_equal(json_object_set_new(vars, "revert_url",
                                         json_string("http://h/revert-email-change?token=abc")),
                     0);
    assert_int_equal(json_object_update(vars, invitation), 0);
    json_decref(invitation);

    for (size_t i = 0; i < NOTIFICATION_KINDS_COUNT; i++) {
        rendered_mail mail;
        char err[256] = "";
        int rc =
            notifier_render_mail(TEMPLATES, NOTIFICATION_KINDS[i], vars, &mail, err, sizeof err);
        if (rc != 0)
            fail_msg("%s: %s", NOTIFICATION_KINDS[i], err);
        assert_true(strlen(mail.subject) > 0);
        assert_null(strstr(mail.text, "{{"));
        assert_null(strstr(mail.html, "{{"));
        assert_null(strstr(mail.html, "Subject:"));
        rendered_mail_free(&mail);
    }
    rendered_mail mail;
    char err[256];
    assert_int_equal(notifier_render_mail(TEMPLATES, "welcome", vars, &mail, err, sizeof err), 0);
    assert_non_null(strstr(mail.text, "token=abc&x=<1>"));
    assert_non_null(
        strstr(mail.html, "href=\"http://h/api/v1/auth/verify?token=abc&amp;x=&lt;1&gt;\""));
    rendered_mail_free(&mail);
    assert_int_equal(notifier_render_mail(TEMPLATES, "../etc", vars, &mail, err, sizeof err), -1);
    json_decref(vars);
}

static void message_has_the_headers_and_both_parts(void **state) {
    (void)state;
    rendered_mail mail = {
        .subject = strdup("Héllo"), .text = strdup("plain"), .html = strdup("<p>html</p>")};
    size_t len = 0;
    const char *id = "0190a6f2-0000-7000-8000-000000000001";
    char *msg = notifier_mail_build(id, "taskbus <no-reply@taskbus.local>", "a@b.test", &mail,
                                    1700000000, &len);
    assert_non_null(msg);
    assert_int_equal(strlen(msg), len);
    assert_non_null(strstr(msg, "Message-ID: <0190a6f2-0000-7000-8000-000000000001@taskbus>\r\n"));
    assert_non_null(strstr(msg, "To: a@b.test\r\n"));
    assert_non_null(strstr(msg, "Subject: =?UTF-8?B?SMOpbGxv?=\r\n"));
    assert_non_null(strstr(msg, "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"));
    assert_non_null(strstr(msg, "Content-Type: multipart/alternative;"));
    char *plain = strstr(msg, "Content-Type: text/plain; charset=utf-8");
    char *html = strstr(msg, "Content-Type: text/html; charset=utf-8");
    assert_non_null(plain);
    assert_non_null(html);
    assert_true(plain < html);                    /* the preferred part comes last */
    assert_non_null(strstr(msg, "cGxhaW4=\r\n")); /* base64 of "plain" */
    free(msg);
    rendered_mail_free(&mail);

    rendered_mail bad = {.subject = strdup("s"), .text = strdup("t"), .html = strdup("h")};
    assert_null(notifier_mail_build(id, "f@x.test", "a@b.test\r\nBcc: e@x.test", &bad, 0, &len));
    rendered_mail_free(&bad);

    char addr[64];
    assert_int_equal(notifier_mail_address("taskbus <no-reply@taskbus.local>", addr, sizeof addr),
                     0);
    assert_string_equal(addr, "no-reply@taskbus.local");
    assert_int_equal(notifier_mail_address("a@b.test", addr, sizeof addr), 0);
    assert_string_equal(addr, "a@b.test");
    assert_int_equal(notifier_mail_address("nobody <>", addr, sizeof addr), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(renders_and_escapes_only_html),
        cmocka_unit_test(missing_value_is_an_error_and_stray_braces_stay),
        cmocka_unit_test(subject_line_cannot_inject_headers),
        cmocka_unit_test(every_shipped_template_renders),
        cmocka_unit_test(message_has_the_headers_and_both_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
