"""The browser's door over HTTP (issue 16): the web client at /app/, the API reference at
/docs/, the mailed links' pages, and the verify link's page.

Owns: what the API answers a browser for those paths: the files (types, tags, 304s), the
headers every page carries (CSP, no Referer, no sniffing, no framing), the redirects, the
refusal of every name outside the web folders, and the content negotiation of the verify
link (a page for a browser, JSON for everyone else). What the pages do in a browser is
tests/integration/test_browser.py's.
Rules: each file a page names is fetched from the page itself, so a page that names a file
the API does not serve fails here.
"""

import hashlib
import re
import secrets

import pytest

from helpers.api import API, Client, assert_problem, unverified_user
from helpers.tasks import pg

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
LINK_PAGES = ("/confirm-registration", "/reset-password", "/confirm-email-change", "/revert-email-change")


def assert_page_headers(r):
    csp = r.headers.get("Content-Security-Policy", "")
    for directive in ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"):
        assert directive in csp, f"{r.url}: no {directive!r} in {csp!r}"
    assert "unsafe-eval" not in csp and "script-src 'self' 'unsafe-inline'" not in csp, csp
    assert r.headers.get("Referrer-Policy") == "no-referrer", r.headers
    assert r.headers.get("X-Content-Type-Options") == "nosniff", r.headers
    assert r.headers.get("X-Frame-Options") == "DENY", r.headers


def assets_of(html):
    """The same-origin files a page loads (script src, stylesheet and icon href)."""
    return sorted(set(re.findall(r'<script[^>]*\bsrc="(/[^"]+)"', html)) |
                  set(re.findall(r'<link[^>]*\bhref="(/[^"]+)"', html)))


def test_the_root_and_the_bare_names_lead_to_the_pages(api_url):
    c = Client(api_url)
    for path, status, target in (("/", 302, "/app/"), ("/app", 301, "/app/"), ("/docs", 301, "/docs/")):
        r = c.get(path)
        assert r.status_code == status and r.headers.get("Location") == target, (path, r.status_code, r.headers)


@pytest.mark.parametrize("page", ["/app/", "/docs/"])
def test_a_page_and_every_file_it_loads_are_served(api_url, page):
    c = Client(api_url)
    r = c.get(page)
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert_page_headers(r)
    assert "<script>" not in r.text and not re.search(r"\son[a-z]+=", r.text), "a page with inline script"
    assets = assets_of(r.text)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets), assets
    types = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".png": "image/png"}
    for asset in assets:
        a = c.get(asset)
        assert a.status_code == 200, f"{page} loads {asset}: {a.status_code}"
        assert a.headers["Content-Type"] == types[asset[asset.rindex("."):]], (asset, a.headers)
        assert len(a.content) > 0 and a.headers.get("Cache-Control") == "no-cache", asset
        # A browser that has the file revalidates it for nothing.
        again = c.get(asset, headers={"If-None-Match": a.headers["ETag"]})
        assert again.status_code == 304 and again.content == b"", (asset, again.status_code)
        head = c.request("HEAD", asset)
        assert head.status_code == 200 and head.headers.get("ETag") == a.headers["ETag"], asset


def test_the_reference_page_reads_this_servers_documents(api_url):
    c = Client(api_url)
    page = c.get("/docs/").text
    assert 'href="/asyncapi.json"' in page and 'href="/openapi.json"' in page, "the documents are not linked"
    init = c.get("/docs/docs.js").text
    assert 'url: "/openapi.json"' in init and "validatorUrl: null" in init, init
    for doc in ("/openapi.json", "/asyncapi.json"):
        assert c.get(doc).status_code == 200, doc


def test_the_mailed_links_open_the_web_client(api_url):
    c = Client(api_url)
    index = c.get("/app/")
    for path in LINK_PAGES:
        r = c.get(path, params={"token": "A" * 43})
        assert r.status_code == 200 and r.text == index.text, path
        assert_page_headers(r)  # no-referrer: the token in the address never leaves


@pytest.mark.parametrize("path", [
    "/app/..%2F..%2FCMakeLists.txt", "/app/%2E%2E%2Fapi%2Fmain.c", "/app/.gitignore", "/app/%2Fetc%2Fpasswd",
    "/docs/vendor/..%2Fswagger-ui-dist%2Fpackage.json%2F..", "/docs/vendor/swagger-ui-bundle.js.map",
    "/app/README.md", "/app/nothing-here.js", "/docs/vendor/LICENSE", "/app/a%00.js", "/app/x/y.js",
    "/docs/..%5Cpackage.json", "/docs/vendor/package.json", "/docs/vendor/index.html",
    "/docs/vendor/swagger-initializer.js",
])
def test_nothing_outside_the_web_folders_is_served(api_url, path):
    r = Client(api_url).get(path)
    assert_problem(r, 404, "not-found")


def new_verification_token(user_id):
    """A live verification link of user_id, stored as the API stores one (its SHA-256)."""
    token = secrets.token_urlsafe(32)
    with pg() as conn:
        conn.execute("INSERT INTO email_verifications (token_hash, user_id, expires_at)"
                     " VALUES (decode(%s, 'hex'), %s, now() + interval '1 hour')",
                     (hashlib.sha256(token.encode()).hexdigest(), user_id))
    return token


def test_a_browser_opening_the_verify_link_reads_a_page(api_url):
    user = unverified_user(api_url, tag="web-verify")
    token = new_verification_token(user.id)
    c = Client(api_url)
    r = c.get(f"{API}/auth/verify", params={"token": token}, headers={"Accept": BROWSER_ACCEPT})
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/html; charset=utf-8", r.text[:300]
    assert "<h1>Address verified</h1>" in r.text and 'href="/app/"' in r.text, r.text
    assert r.headers.get("Cache-Control") == "no-store"
    assert_page_headers(r)
    assert c.me(user.access).json()["email_verified"] is True
    # Used: the page says the link does not work, with the status of the JSON answer.
    r = c.get(f"{API}/auth/verify", params={"token": token}, headers={"Accept": BROWSER_ACCEPT})
    assert r.status_code == 400 and "This link does not work" in r.text, r.text
    assert "unknown, used or expired" in r.text
    r = c.get(f"{API}/auth/verify", params={"token": "<script>"}, headers={"Accept": BROWSER_ACCEPT})
    assert r.status_code == 400 and "<script>" not in r.text


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/json, text/html",
                                    "text/html;q=0.5, application/json"])
def test_every_other_client_of_the_verify_link_reads_json(api_url, accept):
    user = unverified_user(api_url, tag="web-verify-json")
    token = new_verification_token(user.id)
    c = Client(api_url)
    headers = {"Accept": accept} if accept is not None else {}
    if accept is None:
        c.session.headers.pop("Accept", None)
    r = c.get(f"{API}/auth/verify", params={"token": token}, headers=headers)
    assert r.status_code == 200 and r.json() == {"email_verified": True}, (accept, r.text[:200])
    assert_problem(c.get(f"{API}/auth/verify", params={"token": token}, headers=headers), 400, "invalid-token")
