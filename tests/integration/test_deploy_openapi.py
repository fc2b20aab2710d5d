"""schemas/openapi.json: a valid OpenAPI 3.1 document, and the one the API serves.

Owns: the task endpoints and those of issues 4 and 14 (projects, members, invitations) with
their headers and status codes, body media types and schemas, problem+json errors,
rate-limit headers, and every path in it answered by the running API with a documented
status: 401 without a token, and with a real user's token for the task paths, 404 for a
random id.
Rules: the live checks need TASKBUS_API_URL and FAIL without it; each uses its own client
address (X-Forwarded-For), so its requests have their own rate-limit buckets.
"""

import json
import os
import re
import uuid

import pytest
import requests

from helpers.api import fresh_ip, register_user
from helpers.deploy_files import EVENTS_PATH, IMPORT_PATH, OPENAPI

pytestmark = pytest.mark.stack_independent

# The endpoints docs/decisions.md and DESIGN.md name so far.
EXPECTED_PATHS = {
    "/health": {"get"},
    "/ready": {"get"},
    "/metrics": {"get"},
    "/openapi.json": {"get"},
    "/asyncapi.json": {"get"},
    "/api/v1/auth/register": {"post"},
    "/api/v1/auth/register/confirm": {"post"},
    "/api/v1/auth/login": {"post"},
    "/api/v1/auth/refresh": {"post"},
    "/api/v1/auth/logout": {"post"},
    "/api/v1/auth/logout-all": {"post"},
    "/api/v1/auth/password": {"put"},
    "/api/v1/users/me": {"get", "patch", "delete"},
    "/api/v1/tokens": {"get", "post"},
    "/api/v1/tokens/{id}": {"delete"},
    "/api/v1/tasks": {"get", "post"},
    "/api/v1/tasks/{id}": {"get", "patch", "delete"},
    "/api/v1/tasks/stats": {"get"},
    "/api/v1/commands/{id}": {"get"},
    "/api/v1/tasks/import": {"post"},
    "/api/v1/tasks/import/{id}": {"get"},
    "/api/v1/events": {"get"},
    "/api/v1/events/tickets": {"post"},
    "/api/v1/auth/verify": {"get"},
    "/api/v1/auth/verify/resend": {"post"},
    "/api/v1/auth/password-reset": {"post"},
    "/api/v1/auth/password-reset/confirm": {"post"},
    "/api/v1/auth/email-change/confirm": {"post"},
    "/api/v1/webhooks": {"get", "post"},
    "/api/v1/webhooks/{id}": {"patch", "delete"},
    "/api/v1/webhooks/{id}/rotate-secret": {"post"},
    "/api/v1/webhooks/{id}/test": {"post"},
    "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver": {"post"},
    "/api/v1/webhooks/{id}/deliveries": {"get"},
    "/api/v1/reports": {"get", "post"},
    "/api/v1/reports/{id}": {"get"},
    "/api/v1/reports/{id}/download": {"get"},
    "/api/v1/analytics/daily": {"get"},
    "/api/v1/activity": {"get"},
    "/api/v1/projects": {"get", "post"},
    "/api/v1/projects/{id}": {"get", "patch", "delete"},
    "/api/v1/projects/{id}/members": {"get", "post"},
    "/api/v1/projects/{id}/members/{user_id}": {"patch", "delete"},
    "/api/v1/projects/{id}/invitations": {"get"},
    "/api/v1/projects/{id}/invitations/{invitation_id}": {"delete"},
    "/api/v1/projects/{id}/invitations/{invitation_id}/accept": {"post"},
    "/api/v1/invitations": {"get"},
}
# Every status the task handlers can answer (docs/decisions.md "Tasks (issue 3)", read off
# api/routes_tasks_*.c, routes_import.c, routes_events.c and the router's checks).
TASK_STATUS_CODES = {
    ("post", "/api/v1/tasks"): {"201", "202", "400", "401", "403", "404", "409", "413", "415", "422", "429",
                                "503"},
    ("get", "/api/v1/tasks"): {"200", "401", "403", "404", "422", "429", "503"},
    ("get", "/api/v1/tasks/{id}"): {"200", "304", "401", "403", "404", "429", "503"},
    ("patch", "/api/v1/tasks/{id}"): {"200", "202", "400", "401", "403", "404", "409", "412", "413", "415", "422",
                                      "429", "503"},
    ("delete", "/api/v1/tasks/{id}"): {"202", "204", "401", "403", "404", "409", "412", "429", "503"},
    ("get", "/api/v1/tasks/stats"): {"200", "401", "403", "404", "422", "429", "503"},
    ("get", "/api/v1/commands/{id}"): {"200", "401", "403", "404", "429", "503"},
    ("post", "/api/v1/tasks/import"): {"202", "400", "401", "403", "409", "413", "415", "422", "429", "503"},
    ("get", "/api/v1/tasks/import/{id}"): {"200", "401", "403", "404", "429", "503"},
    ("get", "/api/v1/events"): {"200", "401", "403", "422", "429", "503"},
}
# Every status the issue-4 handlers can answer (docs/decisions.md "The stream's other side",
# read off api/routes_verify.c, routes_webhooks.c, routes_reports.c, report_filters.c,
# routes_analytics.c, routes_activity.c and the router's checks: 413/415/400 for JSON bodies, 401 and 429 for
# token routes, 429 for the per-address limit of every route).
STREAM_STATUS_CODES = {
    ("get", "/api/v1/auth/verify"): {"200", "400", "429", "503"},
    ("post", "/api/v1/auth/verify/resend"): {"202", "401", "403", "409", "429", "503"},
    ("post", "/api/v1/auth/password-reset"): {"202", "400", "413", "415", "422", "429", "503"},
    ("post", "/api/v1/auth/password-reset/confirm"): {"204", "400", "413", "415", "422", "429", "503"},
    ("post", "/api/v1/auth/email-change/confirm"): {"200", "400", "409", "413", "415", "422", "429", "503"},
    ("patch", "/api/v1/users/me"): {"200", "202", "400", "401", "403", "413", "415", "422", "429", "503"},
    ("delete", "/api/v1/users/me"): {"204", "400", "401", "403", "409", "413", "415", "422", "429", "503"},
    ("post", "/api/v1/webhooks"): {"201", "400", "401", "403", "404", "413", "415", "422", "429", "503"},
    ("get", "/api/v1/webhooks"): {"200", "401", "403", "429", "503"},
    ("patch", "/api/v1/webhooks/{id}"): {"200", "400", "401", "403", "404", "413", "415", "422", "429", "503"},
    ("delete", "/api/v1/webhooks/{id}"): {"204", "401", "403", "404", "429", "503"},
    ("post", "/api/v1/webhooks/{id}/rotate-secret"): {"200", "401", "403", "404", "429", "503"},
    ("post", "/api/v1/webhooks/{id}/test"): {"202", "401", "403", "404", "409", "429", "503"},
    ("post", "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver"): {"202", "401", "403", "404", "409", "429", "503"},
    ("get", "/api/v1/webhooks/{id}/deliveries"): {"200", "401", "403", "404", "422", "429", "503"},
    ("post", "/api/v1/reports"): {"202", "400", "401", "403", "404", "413", "415", "422", "429", "503"},
    ("get", "/api/v1/reports"): {"200", "401", "403", "422", "429", "503"},
    ("get", "/api/v1/reports/{id}"): {"200", "401", "403", "404", "429", "503"},
    ("get", "/api/v1/reports/{id}/download"): {"200", "401", "403", "404", "409", "410", "429", "500", "503"},
    ("get", "/api/v1/analytics/daily"): {"200", "401", "403", "404", "422", "429", "503"},
    ("get", "/api/v1/activity"): {"200", "401", "403", "404", "422", "429", "503"},
}
# Every status the project handlers can answer (docs/decisions.md "Issue 14: teams", slice 1:
# api/routes_projects.c and the router's checks: 413/415/400 for JSON bodies and PATCH
# bodies, 401 and 429 for token routes; 404 to a non-member, 403 to a role too low, 409 for
# the rules of migration 0018, 503 when Postgres cannot be reached).
PROJECT_STATUS_CODES = {
    ("post", "/api/v1/projects"): {"201", "400", "401", "403", "409", "413", "415", "422", "429", "503"},
    ("get", "/api/v1/projects"): {"200", "401", "403", "422", "429", "503"},
    ("get", "/api/v1/projects/{id}"): {"200", "304", "401", "403", "404", "429", "503"},
    ("patch", "/api/v1/projects/{id}"): {"200", "400", "401", "403", "404", "409", "412", "413", "415", "422",
                                         "429", "503"},
    ("delete", "/api/v1/projects/{id}"): {"204", "401", "403", "404", "409", "412", "429", "503"},
    ("get", "/api/v1/projects/{id}/members"): {"200", "401", "403", "404", "429", "503"},
    ("post", "/api/v1/projects/{id}/members"): {"201", "400", "401", "403", "404", "409", "413", "415", "422",
                                                "429", "503"},
    ("patch", "/api/v1/projects/{id}/members/{user_id}"): {"200", "400", "401", "403", "404", "409", "413", "415",
                                                           "422", "429", "503"},
    ("delete", "/api/v1/projects/{id}/members/{user_id}"): {"204", "401", "403", "404", "409", "429", "503"},
    ("get", "/api/v1/projects/{id}/invitations"): {"200", "401", "403", "404", "429", "503"},
    ("delete", "/api/v1/projects/{id}/invitations/{invitation_id}"): {"204", "401", "403", "404", "429", "503"},
    ("post", "/api/v1/projects/{id}/invitations/{invitation_id}/accept"): {"200", "401", "403", "404", "409",
                                                                           "429", "503"},
    ("get", "/api/v1/invitations"): {"200", "401", "403", "429", "503"},
}
# Media types a request body may have besides application/json, by operation.
EXTRA_BODY_TYPES = {
    ("patch", "/api/v1/tasks/{id}"): {"application/merge-patch+json"},
    ("patch", "/api/v1/projects/{id}"): {"application/merge-patch+json"},
    ("patch", "/api/v1/projects/{id}/members/{user_id}"): {"application/merge-patch+json"},
    ("patch", "/api/v1/webhooks/{id}"): {"application/merge-patch+json"},
    ("post", "/api/v1/tasks/import"): {"application/x-ndjson"},
}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}



def resolver(openapi):
    """A function that follows a component's $ref chain ("#/components/<kind>/<name>")."""
    comps = openapi["components"]

    def resolve(obj):
        while "$ref" in obj:
            kind, name = obj["$ref"].split("/")[-2:]
            obj = comps[kind][name]
        return obj

    return resolve


@pytest.fixture(scope="module")
def openapi():
    return json.loads(OPENAPI.read_text())


def test_openapi_is_a_valid_3_1_document(openapi):
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

    assert openapi["openapi"].startswith("3.1."), openapi["openapi"]
    validate(openapi)
    # The validator must be able to say no: a broken copy is refused.
    broken = json.loads(json.dumps(openapi))
    broken["paths"]["/health"]["get"]["responses"]["200"] = {"content": {}}  # no description
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_openapi_documents_the_endpoints(openapi):
    paths = openapi["paths"]
    for path, methods in EXPECTED_PATHS.items():
        assert path in paths, f"openapi.json lacks {path}"
        assert methods <= set(paths[path]), f"{path}: documents {set(paths[path]) & HTTP_METHODS}, expected {methods}"
    comps = openapi["components"]
    assert comps["securitySchemes"]["bearerAuth"] == {**comps["securitySchemes"]["bearerAuth"],
                                                      "type": "http", "scheme": "bearer"}
    for h in ("RateLimit-Policy", "RateLimit", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset",
              "Retry-After", "X-Request-ID"):
        assert h in comps["headers"], f"no {h} header component"
    assert {"type", "title", "status"} <= set(comps["schemas"]["Problem"]["required"])
    resolve = resolver(openapi)

    for path, item in paths.items():
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            public = op.get("security", openapi.get("security")) == []
            codes = set(op["responses"])
            if not public:
                assert "401" in codes, f"{method.upper()} {path} needs a token but documents no 401"
            if "requestBody" in op:
                content = resolve(op["requestBody"])["content"]
                allowed = {"application/json"} | EXTRA_BODY_TYPES.get((method, path), set())
                assert set(content) == allowed, f"{method.upper()} {path}: {list(content)}, expected {allowed}"
                for media, spec in content.items():
                    schema = resolve(spec["schema"])
                    # An array body (import) or a line-per-item body (NDJSON) names its item;
                    # an array whose invalid items are reported rather than refused (the
                    # import) names it in x-item-schema, its items accepting any JSON value.
                    if schema.get("type") == "array":
                        assert 1 <= schema.get("maxItems", 0) <= 10000, (path, media)
                        schema = resolve(schema.get("x-item-schema", schema["items"]))
                    elif media == "application/x-ndjson":
                        assert schema.get("type") == "string", (path, media)
                        schema = resolve(schema["x-item-schema"])
                    assert schema.get("type") == "object" and schema.get("additionalProperties") is False, (path, media)
                assert {"400", "413", "415", "422"} <= codes, f"{method.upper()} {path} misses body errors"
            for code, resp in op["responses"].items():
                resp = resolve(resp)
                assert "X-Request-ID" in resp.get("headers", {}), f"{method.upper()} {path} {code} lacks X-Request-ID"
                if code.startswith(("4", "5")) and path.startswith("/api/"):
                    assert "application/problem+json" in resp.get("content", {}), f"{method.upper()} {path} {code}"
            if path.startswith("/api/"):
                assert "429" in codes, f"{method.upper()} {path} documents no 429"
                ok = resolve(op["responses"][min(c for c in codes if c.startswith("2"))])
                assert {"RateLimit-Policy", "RateLimit", "RateLimit-Remaining"} <= set(ok["headers"]), \
                    f"{method.upper()} {path} success lacks RateLimit headers"


def op_headers(openapi, method, path, code):
    """The header names a documented response carries, and the operation's parameters."""
    resolve = resolver(openapi)
    item = openapi["paths"][path]
    resp = resolve(item[method]["responses"][code])
    params = [resolve(p) for p in item.get("parameters", []) + item[method].get("parameters", [])]
    return set(resp.get("headers", {})), {(p["in"], p["name"]) for p in params}, resp


def test_openapi_documents_the_task_endpoints(openapi):
    comps = openapi["components"]
    for h in ("ETag", "Location", "Content-Location", "Preference-Applied", "Idempotent-Replayed"):
        assert h in comps["headers"], f"no {h} header component"
    for s in ("Task", "TaskList", "TaskStats", "CommandStatus", "ImportReport", "Problem",
              "TaskCreateRequest", "TaskPatchRequest"):
        assert s in comps["schemas"], f"no {s} schema"
    task = comps["schemas"]["Task"]
    assert set(task["required"]) == {"id", "title", "description", "status", "priority", "due_at", "tags",
                                     "created_at", "updated_at", "completed_at", "version"}
    create = comps["schemas"]["TaskCreateRequest"]
    # recurrence: optional on a task (absent when it does not recur), settable on a create;
    # project_id: the task's project (absent from a 202 prediction of an Inbox create: the writer
    # places it), which a create may name; assignee_id: absent when nobody is assigned
    optional = {"recurrence", "project_id", "assignee_id"}
    assert set(task["properties"]) == set(task["required"]) | optional
    assert create["required"] == ["title"] and set(create["properties"]) == set(task["required"]) - {
        "id", "created_at", "updated_at", "completed_at", "version"} | optional
    # A create names its project; a patch's project_id moves the task.
    assert set(comps["schemas"]["TaskPatchRequest"]["properties"]) == set(create["properties"])
    # Every status each handler can answer, and nothing it cannot.
    for (method, path), expected in TASK_STATUS_CODES.items():
        got = set(openapi["paths"][path][method]["responses"])
        assert got == expected, f"{method.upper()} {path}: documents {sorted(got)}, answers {sorted(expected)}"

    def schema_of(method, path, code, media="application/json"):
        return op_headers(openapi, method, path, code)[2]["content"][media]["schema"]

    for method, path, code, name in (("get", "/api/v1/tasks", "200", "TaskList"),
                                     ("get", "/api/v1/tasks/{id}", "200", "Task"),
                                     ("post", "/api/v1/tasks", "201", "Task"),
                                     ("patch", "/api/v1/tasks/{id}", "200", "Task"),
                                     ("get", "/api/v1/tasks/stats", "200", "TaskStats"),
                                     ("get", "/api/v1/commands/{id}", "200", "CommandStatus"),
                                     ("post", "/api/v1/tasks/import", "202", "ImportReport")):
        assert schema_of(method, path, code) == {"$ref": f"#/components/schemas/{name}"}, (method, path, code)
    assert "text/event-stream" in op_headers(openapi, "get", EVENTS_PATH, "200")[2]["content"]

    def has(method, path, code, headers=(), params=()):
        hs, ps, _ = op_headers(openapi, method, path, code)
        assert set(headers) <= hs, f"{method.upper()} {path} {code} lacks headers {set(headers) - hs}"
        assert {("header", p) for p in params} <= ps, f"{method.upper()} {path} lacks parameters {params}"

    has("post", "/api/v1/tasks", "202", ("Location", "Content-Location", "ETag", "Idempotent-Replayed"),
        ("Prefer", "Idempotency-Key"))
    has("post", "/api/v1/tasks", "201", ("Location", "ETag", "Preference-Applied"))
    has("patch", "/api/v1/tasks/{id}", "202", ("Location", "Content-Location", "ETag"), ("If-Match", "Prefer"))
    has("patch", "/api/v1/tasks/{id}", "200", ("ETag", "Preference-Applied"))
    has("patch", "/api/v1/tasks/{id}", "412", ("ETag",))
    has("delete", "/api/v1/tasks/{id}", "202", ("Content-Location",), ("If-Match", "Prefer"))
    has("delete", "/api/v1/tasks/{id}", "204", ("Preference-Applied", "RateLimit-Remaining"))
    has("get", "/api/v1/tasks/{id}", "200", ("ETag",), ("If-None-Match",))
    has("get", "/api/v1/tasks/{id}", "304", ("ETag",))
    has("post", IMPORT_PATH, "202", ("Location", "Idempotent-Replayed"), ("Idempotency-Key",))
    has("post", "/api/v1/projects", "201", ("Location", "ETag", "Idempotent-Replayed"), ("Idempotency-Key",))
    has("post", IMPORT_PATH, "409", ("Retry-After",))
    has("get", EVENTS_PATH, "200", (), ("Last-Event-ID",))
    for method, path in TASK_STATUS_CODES:
        has(method, path, "429", ("Retry-After", "RateLimit-Policy", "RateLimit", "RateLimit-Limit",
                                  "RateLimit-Remaining", "RateLimit-Reset"))
    # The list's query parameters, each one the parser knows.
    _, params, _ = op_headers(openapi, "get", "/api/v1/tasks", "200")
    assert {n for i, n in params if i == "query"} == {"status", "priority", "tag", "due_before", "due_after",
                                                      "q", "sort", "limit", "cursor", "project",
                                                      "assignee"}, params


def test_openapi_documents_the_stream_endpoints(openapi):
    comps = openapi["components"]
    # Every status each handler can answer, and nothing it cannot.
    for (method, path), expected in STREAM_STATUS_CODES.items():
        got = set(openapi["paths"][path][method]["responses"])
        assert got == expected, f"{method.upper()} {path}: documents {sorted(got)}, answers {sorted(expected)}"
        hs, _, _ = op_headers(openapi, method, path, "429")
        assert {"Retry-After", "RateLimit-Policy", "RateLimit", "RateLimit-Limit", "RateLimit-Remaining",
                "RateLimit-Reset"} <= hs, (method, path)
    assert openapi["paths"]["/api/v1/auth/verify"]["get"]["security"] == [], "the e-mail link carries no token"
    for method, path, code, name in (("get", "/api/v1/auth/verify", "200", "EmailVerified"),
                                     ("post", "/api/v1/webhooks", "201", "WebhookCreated"),
                                     ("get", "/api/v1/webhooks", "200", "WebhookList"),
                                     ("get", "/api/v1/webhooks/{id}/deliveries", "200", "WebhookDeliveryPage"),
                                     ("post", "/api/v1/reports", "202", "Report"),
                                     ("get", "/api/v1/reports", "200", "ReportList"),
                                     ("get", "/api/v1/reports/{id}", "200", "Report"),
                                     ("get", "/api/v1/analytics/daily", "200", "AnalyticsDaily"),
                                     ("get", "/api/v1/activity", "200", "ActivityPage")):
        schema = op_headers(openapi, method, path, code)[2]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{name}"}, (method, path, code)
    # The secret is in the 201 only; a listed webhook has none.
    assert "secret" not in comps["schemas"]["Webhook"]["properties"]
    created = schema_validator(openapi, {"$ref": "#/components/schemas/WebhookCreated"})
    hook = {"id": str(uuid.uuid4()), "project_id": None, "url": "https://example.com/h",
            "event_types": ["taskbus.task.*"],
            "enabled": True, "created_at": "2026-01-02T03:04:05.000Z", "failing_since": None,
            "disabled_at": None, "disabled_reason": None, "previous_secret_expires_at": None}
    assert not list(created.iter_errors({**hook, "secret": "A" * 43}))
    assert list(created.iter_errors(hook)), "a 201 without its secret must not match"
    assert "Location" in op_headers(openapi, "post", "/api/v1/reports", "202")[0]
    hs, _, dl = op_headers(openapi, "get", "/api/v1/reports/{id}/download", "200")
    assert "Content-Disposition" in hs and {"text/csv", "application/json"} <= set(dl["content"])
    for path, names in (("/api/v1/analytics/daily", {"from", "to", "project"}),
                        ("/api/v1/activity", {"limit", "cursor", "project"}),
                        ("/api/v1/reports", {"limit", "cursor"}), ("/api/v1/webhooks/{id}/deliveries", {"limit", "cursor"}),
                        ("/api/v1/auth/verify", {"token"})):
        _, params, _ = op_headers(openapi, "get", path, "200")
        assert {n for i, n in params if i == "query"} == names, (path, params)
    for name in ("WebhookCreateRequest", "ReportCreateRequest"):
        body = comps["schemas"][name]
        assert body["additionalProperties"] is False, name
    # A registration's types follow its scope: v1 without project_id, .v2 with it.
    register = schema_validator(openapi, {"$ref": "#/components/schemas/WebhookCreateRequest"})
    pid = str(uuid.uuid4())
    assert not list(register.iter_errors({"url": "https://example.com/h", "event_types": ["taskbus.task.*"]}))
    assert not list(register.iter_errors({"url": "https://example.com/h", "project_id": pid,
                                          "event_types": ["taskbus.task.created.v2"]}))
    assert list(register.iter_errors({"url": "https://example.com/h", "event_types": ["taskbus.task.*.v2"]}))
    assert list(register.iter_errors({"url": "https://example.com/h", "project_id": pid,
                                      "event_types": ["taskbus.task.*"]}))
    assert set(comps["schemas"]["ReportCreateRequest"]["properties"]) == {"format", "filters"}
    assert set(comps["schemas"]["ReportFilters"]["properties"]) == {"status", "priority", "tag", "due_before",
                                                                   "due_after", "q", "project"}


def test_openapi_documents_the_project_endpoints(openapi):
    comps = openapi["components"]
    # Every status each handler can answer, and nothing it cannot.
    for (method, path), expected in PROJECT_STATUS_CODES.items():
        got = set(openapi["paths"][path][method]["responses"])
        assert got == expected, f"{method.upper()} {path}: documents {sorted(got)}, answers {sorted(expected)}"
        hs, _, _ = op_headers(openapi, method, path, "429")
        assert {"Retry-After", "RateLimit-Policy", "RateLimit", "RateLimit-Limit", "RateLimit-Remaining",
                "RateLimit-Reset"} <= hs, (method, path)
    for method, path, code, name in (("post", "/api/v1/projects", "201", "Project"),
                                     ("get", "/api/v1/projects", "200", "ProjectList"),
                                     ("get", "/api/v1/projects/{id}", "200", "Project"),
                                     ("patch", "/api/v1/projects/{id}", "200", "Project"),
                                     ("get", "/api/v1/projects/{id}/members", "200", "MemberList"),
                                     ("post", "/api/v1/projects/{id}/members", "201", "Invitation"),
                                     ("patch", "/api/v1/projects/{id}/members/{user_id}", "200", "Member"),
                                     ("get", "/api/v1/projects/{id}/invitations", "200", "InvitationList"),
                                     ("get", "/api/v1/invitations", "200", "ReceivedInvitationList"),
                                     ("post", "/api/v1/projects/{id}/invitations/{invitation_id}/accept", "200",
                                      "Project")):
        schema = op_headers(openapi, method, path, code)[2]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{name}"}, (method, path, code)
    # ETag is the project's version on every answer that is a project; Location names what a
    # 201 made; PATCH and DELETE take If-Match.
    for method, path, code, names in (
            ("post", "/api/v1/projects", "201", {"ETag", "Location"}),
            ("get", "/api/v1/projects/{id}", "200", {"ETag"}),
            ("patch", "/api/v1/projects/{id}", "200", {"ETag"}),
            ("patch", "/api/v1/projects/{id}", "412", {"ETag"}),
            ("post", "/api/v1/projects/{id}/members", "201", {"Location"}),
            ("post", "/api/v1/projects/{id}/invitations/{invitation_id}/accept", "200", {"ETag"})):
        hs, _, _ = op_headers(openapi, method, path, code)
        assert names <= hs, f"{method.upper()} {path} {code} lacks headers {names - hs}"
    for method in ("patch", "delete"):
        _, params, _ = op_headers(openapi, method, "/api/v1/projects/{id}", "401")
        assert ("header", "If-Match") in params, method
    _, params, _ = op_headers(openapi, "get", "/api/v1/projects", "200")
    assert {n for i, n in params if i == "query"} == {"limit", "cursor", "archived"}, params
    project = comps["schemas"]["Project"]
    assert set(project["required"]) == {"id", "name", "description", "archived", "inbox", "role", "created_at",
                                        "updated_at", "version"}
    assert comps["schemas"]["ProjectRole"]["enum"] == ["owner", "editor", "viewer"]
    for name, props, required in (("ProjectCreateRequest", {"name", "description"}, ["name"]),
                                  ("ProjectPatchRequest", {"name", "description", "archived"}, None),
                                  ("InvitationCreateRequest", {"email", "role"}, ["email", "role"]),
                                  ("MemberPatchRequest", {"role"}, ["role"])):
        body = comps["schemas"][name]
        assert body["additionalProperties"] is False and set(body["properties"]) == props, name
        assert body.get("required") == required, name
    invitation = schema_validator(openapi, {"$ref": "#/components/schemas/Invitation"})
    sent = {"id": str(uuid.uuid4()), "project_id": str(uuid.uuid4()), "email": "ada@example.com", "role": "editor",
            "status": "pending", "invited_by": str(uuid.uuid4()), "created_at": "2026-01-02T03:04:05.000Z",
            "expires_at": "2026-01-09T03:04:05.000Z"}
    assert not list(invitation.iter_errors(sent))
    received = schema_validator(openapi, {"$ref": "#/components/schemas/ReceivedInvitation"})
    assert list(received.iter_errors(sent)), "a received invitation names its project"
    assert not list(received.iter_errors({**sent, "project_name": "Garden"}))
    # `me` (leaving) is a user id of DELETE only.
    from jsonschema import Draft202012Validator, FormatChecker

    item = openapi["paths"]["/api/v1/projects/{id}/members/{user_id}"]
    for method, me_ok in (("patch", False), ("delete", True)):
        [param] = [resolver(openapi)(p) for p in item[method]["parameters"]]
        assert (param["in"], param["name"]) == ("path", "user_id"), method
        check = Draft202012Validator(param["schema"], format_checker=FormatChecker())
        assert check.is_valid(str(uuid.uuid4())) and not check.is_valid("you"), method
        assert check.is_valid("me") is me_ok, method


def schema_validator(openapi, schema):
    """A JSON Schema 2020-12 validator of schema, whose refs resolve in openapi's components."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator({**schema, "components": openapi["components"]})


def check_answer(openapi, method, path, r):
    """r is documented for this operation, and its JSON body matches the documented schema."""
    item = openapi["paths"][path]
    documented = set(item[method]["responses"])
    label = f"{method.upper()} {path}"
    assert r.status_code not in (405, 500), f"{label} answered {r.status_code}: {r.text[:300]}"
    assert r.headers.get("X-Request-ID"), f"{label}: no X-Request-ID"
    assert str(r.status_code) in documented or "default" in documented, (
        f"{label} answered {r.status_code}, documented {sorted(documented)}: {r.text[:300]}")
    if str(r.status_code) not in documented:
        return
    _, _, resp = op_headers(openapi, method, path, str(r.status_code))
    media = r.headers.get("Content-Type", "").split(";")[0].strip()
    content = resp.get("content", {})
    if not content:
        return
    assert media in content, f"{label} {r.status_code} answered {media}, documented {list(content)}"
    if media.endswith("json"):
        errors = sorted(schema_validator(openapi, content[media]["schema"]).iter_errors(r.json()), key=str)
        assert not errors, f"{label} {r.status_code}: the body does not match its schema: {errors[0].message}"


def test_every_documented_path_is_served(openapi):
    base = os.environ.get("TASKBUS_API_URL")
    if not base:
        pytest.fail("TASKBUS_API_URL is not set: run through tests/run (or eval \"$(compose/local env)\")",
                    pytrace=False)
    base = base.rstrip("/")
    s = requests.Session()
    # An address of our own (only a header) so this test's requests use their own buckets.
    s.headers["X-Forwarded-For"] = fresh_ip()
    r = s.get(base + "/api/v1/no-such-route-" + uuid.uuid4().hex, timeout=30)
    assert r.status_code == 404, "an unknown path must answer 404, or this check proves nothing"
    # Without a token: public paths answer, every other one is 401 (before its id matters).
    for path, item in openapi["paths"].items():
        for method in set(item) & HTTP_METHODS:
            kw = {"json": {}} if "requestBody" in item[method] else {}
            with s.request(method.upper(), base + path, timeout=30, stream=True, **kw) as r:
                assert r.status_code not in (404, 405), f"{method.upper()} {path} answered {r.status_code}: {r.text[:300]}"
                check_answer(openapi, method, path, r)
                if item[method].get("security", openapi.get("security")) != []:
                    assert r.status_code == 401, f"{method.upper()} {path} without a token: {r.status_code}"

    # With a real user's token, outside the session endpoints (logout would end it): every
    # path is served, and a random id is the documented 404. Bodies are empty objects, so
    # nothing is created (a task needs a title; an import, an array).
    user = register_user(base, "deploy-openapi")
    auth = {"Authorization": f"Bearer {user.access}"}
    served = 0
    for path, item in openapi["paths"].items():
        if path.startswith("/api/v1/auth/"):
            continue
        for method in set(item) & HTTP_METHODS:
            if item[method].get("security", openapi.get("security")) == []:
                continue
            url = base + path.replace("{id}", str(uuid.uuid4()))
            kw = {"json": {}} if "requestBody" in item[method] else {}
            with s.request(method.upper(), url, headers=auth, timeout=30, stream=True, **kw) as r:
                check_answer(openapi, method, path, r)
                if path.startswith("/api/v1/admin/"):
                    # A missing path to anyone but an admin (test_admin_api.py serves them to one).
                    assert r.status_code == 404 and r.json()["detail"] == "no resource at this path", (
                        f"{method.upper()} {path} as a non-admin: {r.status_code} {r.text[:300]}")
                elif "{id}" in path:
                    assert r.status_code == 404, f"{method.upper()} {path} with a random id: {r.status_code} {r.text[:300]}"
                else:
                    assert r.status_code not in (401, 404), (
                        f"{method.upper()} {path} with a token answered {r.status_code}: {r.text[:300]}")
                served += 1
    assert served >= len(TASK_STATUS_CODES), served


def test_the_api_serves_this_document(openapi):
    base = os.environ.get("TASKBUS_API_URL")
    if not base:
        pytest.fail("TASKBUS_API_URL is not set", pytrace=False)
    r = requests.get(base.rstrip("/") + "/openapi.json", timeout=30,
                     headers={"X-Forwarded-For": fresh_ip()})
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    assert r.json() == openapi, "GET /openapi.json differs from schemas/openapi.json"


@pytest.mark.parametrize("path", ["/openapi.json", "/asyncapi.json"])
def test_schema_documents_carry_an_etag_and_answer_304(openapi, path):
    """Both documents are served from memory with a strong ETag of their text: the same tag
    on the next request, 304 with no body for If-None-Match holding it (strong or weak), 200
    for another or a malformed tag. The headers are the documented ones."""
    base = os.environ.get("TASKBUS_API_URL")
    if not base:
        pytest.fail("TASKBUS_API_URL is not set", pytrace=False)
    s = requests.Session()
    s.headers["X-Forwarded-For"] = fresh_ip()
    url = base.rstrip("/") + path
    first = s.get(url, timeout=30)
    assert first.status_code == 200, first.text[:300]
    etag = first.headers.get("ETag", "")
    assert re.fullmatch(r'"[0-9a-f]{16}"', etag), first.headers
    assert first.headers.get("Cache-Control") == "no-cache", first.headers
    _, _, resp = op_headers(openapi, "get", path, "200")
    assert {"ETag", "Cache-Control"} <= set(resp["headers"]), resp["headers"]
    assert "304" in openapi["paths"][path]["get"]["responses"]

    again = s.get(url, timeout=30)
    assert again.status_code == 200 and again.headers.get("ETag") == etag
    assert again.content == first.content

    for held in (etag, "W/" + etag, f'"0000000000000000", {etag}', "*"):
        r = s.get(url, headers={"If-None-Match": held}, timeout=30)
        assert r.status_code == 304, (held, r.status_code, r.text[:200])
        assert r.content == b"", held
        assert r.headers.get("ETag") == etag, held
    for other in ('"0000000000000000"', "not a tag", etag[1:]):
        r = s.get(url, headers={"If-None-Match": other}, timeout=30)
        assert r.status_code == 200, (other, r.status_code)
        assert r.headers.get("ETag") == etag and r.content == first.content, other
