/*
 * test_web_pages.c: the pure rules of the browser's door: which Accept headers get an HTML
 * page instead of JSON (api/html_page.c), and which file names the web folders serve
 * (api/web_files.c). The pages and files themselves are checked against the running API
 * (tests/integration/test_web.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "api/html_page.h"
#include "api/web_files.h"

static void browsers_get_html(void **state) {
    (void)state;
    /* Chromium's and Firefox's navigation headers */
    assert_true(html_page_preferred("text/html,application/xhtml+xml,application/xml;q=0.9,"
                                    "image/avif,image/webp,image/apng,*/*;q=0.8"));
    assert_true(html_page_preferred("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;"
                                    "q=0.8"));
    assert_true(html_page_preferred("application/json;q=0.5, text/html"));
    assert_true(html_page_preferred("text/*"));
    assert_true(html_page_preferred("TEXT/HTML"));
}

static void everyone_else_gets_json(void **state) {
    (void)state;
    assert_false(html_page_preferred(NULL));
    assert_false(html_page_preferred(""));
    assert_false(html_page_preferred("*/*"));
    assert_false(html_page_preferred("application/json"));
    assert_false(html_page_preferred("application/json, text/html"));
    assert_false(html_page_preferred("text/html;q=0.5, application/json"));
    assert_false(html_page_preferred("text/html;q=0, */*"));
    assert_false(html_page_preferred("text/html;q=x"));
    assert_false(html_page_preferred("application/*, text/html;q=0.9"));
    assert_false(html_page_preferred("application/problem+json"));
}

static void names_that_are_served(void **state) {
    (void)state;
    const char *type = NULL;
    assert_true(web_file_name_allowed("index.html", &type));
    assert_string_equal(type, "text/html; charset=utf-8");
    assert_true(web_file_name_allowed("swagger-ui-bundle.js", &type));
    assert_string_equal(type, "text/javascript; charset=utf-8");
    assert_true(web_file_name_allowed("app.css", &type));
    assert_string_equal(type, "text/css; charset=utf-8");
    assert_true(web_file_name_allowed("favicon-32x32.png", &type));
    assert_string_equal(type, "image/png");
}

static void names_that_are_not(void **state) {
    (void)state;
    const char *type = NULL;
    const char *refused[] = {
        "",       ".",       "..",         ".env",          ".htaccess.html", "../app.js",
        "a/b.js", "a\\b.js", "app.js.map", "app",           "app.",           "index.HTML.bak",
        "run.sh", "a b.js",  "x%2F.js",    "package.json~", "app.js\n"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        if (web_file_name_allowed(refused[i], &type))
            fail_msg("\"%s\" is served", refused[i]);
    }
    char longest[130];
    memset(longest, 'a', sizeof longest);
    memcpy(longest + sizeof longest - 4, ".js", 4);
    assert_false(web_file_name_allowed(longest, &type));
    assert_false(web_file_name_allowed(NULL, &type));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(browsers_get_html),
        cmocka_unit_test(everyone_else_gets_json),
        cmocka_unit_test(names_that_are_served),
        cmocka_unit_test(names_that_are_not),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
