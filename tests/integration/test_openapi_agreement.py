"""The OpenAPI document and the server agree (issue 7, defect 8).

Owns: the places where the served document and the server disagreed, each pinned with the
request that showed it, and a table of field values the document's own schemas judge the
same way the server does (control characters, whitespace, lengths, date-times). The
contract suite (tests/contract) explores the same ground with generated requests; these
tests keep the found cases fixed.
Rules: every verdict is asserted twice, by the document's schema and by the server, and
each against the expected one written here, so neither side can drift alone.
"""

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from helpers.api import API, Client, assert_problem, error_fields, new_password, register_user, unique_email

ME = f"{API}/users/me"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def document(api_url):
    r = Client(api_url).get("/openapi.json")
    assert r.status_code == 200, r.text[:300]
    served = r.json()
    assert served == json.loads((REPO / "schemas" / "openapi.json").read_text()), \
        "the served /openapi.json is not schemas/openapi.json"
    return served


@pytest.fixture(scope="module")
def writer(api_url):
    """One user for the value tables: each case is one request of its own."""
    return register_user(api_url, tag="agreement")


def schema_valid(document, name, value) -> bool:
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return Draft202012Validator(schema, format_checker=FormatChecker()).is_valid(value)


# ---------------------------------------------------------------- the server's side


def test_patch_me_without_display_name_is_refused(make_user, client):
    """PATCH /users/me {} answered 200 having changed nothing; display_name is required."""
    u = make_user(display_name="Before")
    r = client.patch(ME, token=u.access, json={})
    problem = assert_problem(r, 422, "validation-error")
    assert error_fields(problem) == ["display_name"], problem
    r = client.patch(ME, token=u.access, json={"nickname": "x"})
    assert sorted(error_fields(assert_problem(r, 422, "validation-error"))) == ["display_name", "nickname"]
    assert client.me(u.access).json()["display_name"] == "Before"


def test_register_with_a_null_display_name_is_refused(api_url):
    """display_name: null answered 201 with the default name; null is not a string."""
    email, password = unique_email("null-name"), new_password()
    r = Client(api_url).post(f"{API}/auth/register",
                             json={"email": email, "password": password, "display_name": None})
    problem = assert_problem(r, 422, "validation-error")
    assert error_fields(problem) == ["display_name"], problem
    # Nothing was created: the same address registers afterwards.
    user = register_user(api_url, email=email, password=password)
    assert user.body["user"]["display_name"] == email.split("@")[0]


def test_logout_with_a_null_refresh_token_is_refused(make_user, client):
    """{"refresh_token": null} answered 204; the member is optional, not nullable."""
    u = make_user()
    r = client.post(f"{API}/auth/logout", token=u.access, json={"refresh_token": None})
    assert error_fields(assert_problem(r, 422, "validation-error")) == ["refresh_token"]
    assert client.me(u.access).status_code == 200, "a refused logout must not end the session"
    assert client.logout(u.access, u.refresh).status_code == 204


@pytest.mark.parametrize("padding,status", [(0, 201), (5, 422)])
def test_display_name_length_counts_what_is_sent(api_url, padding, status):
    """100 characters once trimmed but 105 as sent was accepted: maxLength is 100 as sent."""
    name = " " * padding + "n" * 100
    if status == 201:
        user = register_user(api_url, tag="long-name", display_name=name)
        assert user.body["user"]["display_name"] == "n" * 100
    else:
        r = Client(api_url).register(unique_email("long-name"), new_password(), name)
        assert "display_name" in error_fields(assert_problem(r, status, "validation-error"))


@pytest.mark.parametrize("padding,status", [(2, 201), (10, 422)])
def test_email_length_counts_what_is_sent(api_url, padding, status):
    """An address of 250 characters with spaces around it: at most 254 characters as sent."""
    address = unique_email("len")  # it-len-<16 hex>@example.com
    local, domain = address.split("@")
    address = local + "x" * (250 - len(address)) + "@" + domain
    assert len(address) == 250
    if status == 201:
        user = register_user(api_url, email=" " * padding + address)
        assert user.body["user"]["email"] == address
    else:
        r = Client(api_url).register(" " * padding + address, new_password())
        assert "email" in error_fields(assert_problem(r, status, "validation-error"))


def test_analytics_default_range_stops_at_year_one(make_user, client):
    """to=0001-01-05 without from answered 503 (the default from fell into year 0)."""
    u = make_user()
    r = client.get(f"{API}/analytics/daily", token=u.access, params={"to": "0001-01-05"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["from"] == "0001-01-01" and body["to"] == "0001-01-05", body
    assert [d["day"] for d in body["days"]] == [f"0001-01-0{i}" for i in range(1, 6)]


# ---------------------------------------------------------------- both sides, value by value

TITLES = [
    ("Buy milk", True), ("  kept as sent  ", True), ("emoji \U0001f600", True), ("x" * 200, True),
    ("", False), ("x" * 201, False), ("   ", False), ("\u3000\u00a0\u200b", False), ("tab\there", False),
    ("line\nbreak", False), ("nel\u0085", False), ("sep\u2028arator", False), ("del\u007f", False),
]
DESCRIPTIONS = [
    ("", True), ("multi\nline\ttext\r\n", True), ("x" * 10000, True), ("x" * 10001, False),
    ("bell\u0007", False), ("c1\u0090", False), ("para\u2029graph", False),
]
TAGS = [("home", True), (" spaced ", True), ("x" * 50, True), ("x" * 51, False), (" ", False), ("a\tb", False)]
DUE_AT = [
    ("2030-01-31T17:00:00Z", True), ("2030-01-31t17:00:00z", True), ("2030-01-31T17:00:00.123456789+05:30", True),
    ("0001-01-01T00:00:00Z", True), (None, True),
    ("2030-01-31T17:00:00.1234567890Z", False), ("2030-01-31T23:59:60Z", False), ("2030-01-31T17:00:00", False),
    ("0000-06-01T00:00:00Z", False), ("2030-02-30T00:00:00Z", False), ("2030-01-31 17:00:00Z", False),
]
DISPLAY_NAMES = [
    ("Ada", True), ("  Ada  ", True), ("\tAda\u2028", True), ("\u00e9" * 100, True),
    ("Ada\tLovelace", False), ("A\u2028B", False), ("\u00a0", False), ("", False), ("x" * 101, False),
]
SEARCHES = [("milk", True), ("  milk", True), ("x" * 200, True), ("   ", False), ("a\tb", False), ("x" * 201, False)]


def answered(r, label):
    assert r.status_code in (200, 202, 422), f"{label}: {r.status_code} {r.text[:300]}"
    return r.status_code != 422


@pytest.mark.parametrize("value,valid", TITLES)
def test_titles(document, writer, value, valid):
    assert schema_valid(document, "TaskTitle", value) is valid, "the document"
    r = writer.client.post(f"{API}/tasks", token=writer.access, json={"title": value})
    assert answered(r, "server") is valid


@pytest.mark.parametrize("value,valid", DESCRIPTIONS)
def test_descriptions(document, writer, value, valid):
    assert schema_valid(document, "TaskDescription", value) is valid, "the document"
    r = writer.client.post(f"{API}/tasks", token=writer.access, json={"title": "t", "description": value})
    assert answered(r, "server") is valid


@pytest.mark.parametrize("value,valid", TAGS)
def test_tags(document, writer, value, valid):
    assert schema_valid(document, "TaskTag", value) is valid, "the document"
    r = writer.client.post(f"{API}/tasks", token=writer.access, json={"title": "t", "tags": [value]})
    assert answered(r, "server") is valid


@pytest.mark.parametrize("value,valid", DUE_AT)
def test_due_dates(document, writer, value, valid):
    assert schema_valid(document, "TaskDueAt", value) is valid, "the document"
    r = writer.client.post(f"{API}/tasks", token=writer.access, json={"title": "t", "due_at": value})
    assert answered(r, "server") is valid


@pytest.mark.parametrize("value,valid", DISPLAY_NAMES)
def test_display_names(document, writer, value, valid):
    assert schema_valid(document, "DisplayName", value) is valid, "the document"
    r = writer.client.patch(ME, token=writer.access, json={"display_name": value})
    assert answered(r, "server") is valid


@pytest.mark.parametrize("value,valid", SEARCHES)
def test_searches(document, writer, value, valid):
    assert schema_valid(document, "SearchText", value) is valid, "the document"
    r = writer.client.get(f"{API}/tasks", token=writer.access, params={"q": value})
    assert answered(r, "server") is valid


def test_a_nul_anywhere_in_a_body_is_malformed(document, writer):
    """The document says so in its description, and no string schema of a body admits NUL."""
    assert "\\u0000" in document["info"]["description"]
    for name in ("TaskTitle", "TaskDescription", "TaskTag", "DisplayName", "Email", "NewPassword"):
        assert not schema_valid(document, name, "nul\u0000here"), name
    r = writer.client.post(f"{API}/tasks", token=writer.access, data='{"title": "nul\\u0000here"}',
                           headers={"Content-Type": "application/json"})
    assert_problem(r, 400, "malformed-json")
