/*
 * problem.c: RFC 9457 problem details.
 *
 * Owns: the slug -> title table (docs/decisions.md, HTTP) and the problem object shape.
 * Rules: type is the relative reference "/problems/<slug>"; a slug missing from the table
 * still gets a type and a generic title, so an error is never answered without one.
 */
#include "shared/problem.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *slug;
    const char *title;
} TITLES[] = {
    {"malformed-json", "Malformed JSON"},
    {"validation-error", "Validation failed"},
    {"not-found", "Not found"},
    {"method-not-allowed", "Method not allowed"},
    {"payload-too-large", "Payload too large"},
    {"unsupported-media-type", "Unsupported media type"},
    {"unauthorized", "Unauthorized"},
    {"forbidden", "Forbidden"},
    {"email-taken", "E-mail address already registered"},
    {"invalid-credentials", "Invalid credentials"},
    {"rate-limited", "Too many requests"},
    {"service-unavailable", "Service unavailable"},
    {"internal-error", "Internal server error"},
    {"precondition-failed", "Precondition failed"},
    {"conflict", "Conflict"},
    {"idempotency-key-reused", "Idempotency-Key reused with a different request"},
    {"idempotency-key-in-flight", "A request with this Idempotency-Key is in progress"},
    {"invalid-token", "Invalid or expired token"},
    {"report-not-ready", "Report not ready"},
    {"report-expired", "Report expired"},
    {"webhook-disabled", "Webhook disabled"},
    {"inbox-personal", "The Inbox is personal"},
    {"project-not-empty", "The project still holds tasks"},
    {"last-owner", "A project keeps at least one owner"},
    {"sole-owner", "The account is the only owner of team projects"},
    {"insufficient-scope", "The API token lacks the scope this route needs"},
    {"token-limit", "Too many API tokens"},
    {"account-locked", "The account is locked"},
    {"own-account", "An administrator cannot do this to their own account"},
    {"already-member", "Already a member"},
    {"project-limit", "Too many projects"},
    {"member-limit", "Too many members"},
    {"email-unverified", "E-mail address not verified"},
    {"already-verified", "E-mail address already verified"},
};

#define GENERIC_TITLE "Request failed"

const char *problem_title(const char *slug) {
    if (slug == NULL)
        return GENERIC_TITLE;
    for (size_t i = 0; i < sizeof TITLES / sizeof TITLES[0]; i++) {
        if (strcmp(TITLES[i].slug, slug) == 0)
            return TITLES[i].title;
    }
    return GENERIC_TITLE;
}

json_t *problem_new(int status, const char *slug, const char *detail, const char *request_id) {
    const char *s = (slug != NULL && slug[0] != '\0') ? slug : "internal-error";
    char type[160];
    snprintf(type, sizeof type, "/problems/%s", s);
    json_t *p = json_object();
    if (p == NULL)
        return NULL;
    int rc = json_object_set_new(p, "type", json_string(type));
    rc |= json_object_set_new(p, "title", json_string(problem_title(s)));
    rc |= json_object_set_new(p, "status", json_integer(status));
    if (detail != NULL)
        rc |= json_object_set_new(p, "detail", json_string(detail));
    if (request_id != NULL)
        rc |= json_object_set_new(p, "request_id", json_string(request_id));
    if (rc != 0) {
        /* A detail that is not UTF-8 lands here; keep the problem, drop the bad text. */
        json_object_del(p, "detail");
        if (json_object_get(p, "type") == NULL || json_object_get(p, "status") == NULL) {
            json_decref(p);
            return NULL;
        }
    }
    return p;
}

void problem_add_field_error(json_t *problem, const char *field, const char *message) {
    if (!json_is_object(problem))
        return;
    json_t *errors = json_object_get(problem, "errors");
    if (!json_is_array(errors)) {
        errors = json_array();
        if (errors == NULL || json_object_set_new(problem, "errors", errors) != 0)
            return;
    }
    json_t *e = json_object();
    if (e == NULL)
        return;
    json_object_set_new(e, "field", json_string(field != NULL ? field : ""));
    json_object_set_new(e, "message", json_string(message != NULL ? message : "invalid"));
    json_array_append_new(errors, e);
}
