"""The web client in a real browser (web/app/, served by the API at /app/ and at the mailed-link
paths), end to end against the running stack: headless Chromium through Selenium
(helpers/browser.py).

A new user signs up through the form, opens the mailed link, sets the password there and
lands signed in on the task list (the token gone from the address bar); two browsers of
one user see each other's task created, renamed and deleted live, without a reload; a
save over a change made meanwhile elsewhere shows the 412 conflict with the other change,
and reloading takes the current task into the form; a forgotten password is reset on the
mailed link's page and the new one signs in through the form; a page of a listed CORS
origin reads the API's answer while the browser refuses it to an unlisted origin.

Rules: elements are found only by what the web client's DOM contract names (its stable
ids and classes); every wait is a bounded condition (helpers/browser.py) that fails saying
what it awaited, never a sleep; each browser sends its own X-Forwarded-For (its own
rate-limit buckets), except on the CORS probe page, whose fetch must stay a simple
cross-origin request; every test registers its own users; each step's screenshots, a
failed test's last ones and every browser's console log go to
<TASKBUS_DATA_DIR>/logs/browser/<test>/, and every browser is quit when its test ends.
"""

import http.server
import json
import os
import re
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By

from helpers.api import API, Client, new_password, register_user, unique_email
from helpers.browser import Browsers
from helpers.mailbox import mailbox, registration_token, text_of
from helpers.tasks import TaskApi, pg

# The pages and every call they make go to one API instance (api-1, as every test's client
# does), whichever stack runs; the scaled run's topology changes nothing a browser sees, and
# the normal run has these (a minute and a half of the scaled run's budget).
pytestmark = pytest.mark.single_stack_only(
    reason="a browser's run of the web client is the same against either stack; the normal run has it")

RESET_SUBJECT = "Reset your taskbus password"
RESET_LINK_RE = re.compile(r"https?://\S+/reset-password\?token=([A-Za-z0-9_-]{43})")


@pytest.fixture
def browsers(request):
    """The test's browsers; a failed test gets a last screenshot of each and its console
    printed (the session's failure count grew during the test), every test the console
    files; all are quit."""
    failed_before = request.session.testsfailed
    pool = Browsers(request.node.name)
    yield pool
    pool.close(failed=request.session.testsfailed > failed_before)


def title(words):
    return f"{words} {uuid.uuid4().hex[:10]}"


def item(task_id):
    return f'li.task[data-task-id="{task_id}"]'


def sign_in(b, api_url, email, password):
    """Signs in through the login form and waits for the signed-in app."""
    b.open(f"{api_url}/app/#/login")
    b.type("#login-email", email)
    b.type("#login-password", password)
    b.click("#login-submit")
    b.visible("#nav")
    b.wait_text("#me", lambda t: email in t, f"to hold the signed-in address {email}")


def live(b):
    b.present('#live[data-state="open"]')


def task_titled(b, text):
    """The data-task-id of the li.task whose .task-title is text, once there is one."""
    find = ("for (const li of document.querySelectorAll('#task-list li.task')) {"
            "  const t = li.querySelector('.task-title');"
            "  if (t && t.textContent === arguments[0]) return li.getAttribute('data-task-id'); }"
            "return null;")
    return b.wait(lambda d: d.execute_script(find, text), f"li.task with .task-title {text!r} in #task-list")


def wait_title(b, task_id, text):
    b.wait_text(f"{item(task_id)} .task-title", lambda t: t == text, f"to read {text!r}")


def edit_title(b, task_id, text):
    """Opens the task's edit dialog, types the title, saves, and waits for it to close."""
    b.click(f"{item(task_id)} button.task-edit")
    b.visible("#edit-dialog")
    b.type("#edit-title", text)
    b.click("#edit-save")
    b.hidden("#edit-dialog")


def delete_task(b, task_id):
    """Clicks the task's delete button (accepting a confirm() should the page ask one) and
    waits until its li is gone."""
    b.click(f"{item(task_id)} button.task-delete")

    def deleted(d):
        try:
            d.switch_to.alert.accept()
            return False
        except NoAlertPresentException:
            return not d.find_elements(By.CSS_SELECTOR, item(task_id))
    b.wait(deleted, f"{item(task_id)} to leave the deleting browser's list")


def task_title_by_api(user, task_id):
    r = TaskApi(user).get(task_id)
    assert r.status_code == 200, f"GET task {task_id}: {r.status_code} {r.text[:300]}"
    return r.json()["title"]


def test_sign_up_confirm_from_the_mail_and_land_signed_in(api_url, browsers):
    email, password = unique_email("browser-signup"), new_password()
    b = browsers.open("new-user")
    b.open(f"{api_url}/app/")
    b.visible("#login-form")
    b.click('a[href$="#/signup"]')
    b.visible("#signup-form")
    b.type("#signup-email", email)
    b.type("#signup-password", password)
    b.type("#signup-name", "Browser Signup")
    browsers.shoot("signup-filled")
    b.click("#signup-submit")
    b.visible("#signup-done")
    browsers.shoot("signup-done")

    token = registration_token(email)
    b.open(f"{api_url}/confirm-registration?token={token}")
    b.visible("#confirm-registration-form")
    # The page dropped the token from the address bar at once, and opening the link made
    # nothing (a mail scanner opens links): the account exists only after the submit.
    b.wait_url(lambda u: "token=" not in u, "the token to leave the address bar")
    assert urlsplit(b.url()).path == "/confirm-registration", b.url()
    with pg() as conn:
        rows = conn.execute("SELECT used_at IS NULL FROM pending_registrations WHERE email = %s", (email,)).fetchall()
        accounts = conn.execute("SELECT count(*) FROM users WHERE email = %s", (email,)).fetchone()[0]
    assert rows == [(True,)] and accounts == 0, f"opening the link did something: {rows}, {accounts} account(s)"
    b.type("#confirm-password", password)
    b.click("#confirm-submit")
    b.wait_url(lambda u: urlsplit(u).path == "/app/" and urlsplit(u).fragment == "/tasks", "to be /app/#/tasks")
    b.visible("#nav")
    b.wait_text("#me", lambda t: email in t, f"to hold the new address {email}")
    browsers.shoot("signed-in")
    assert token not in b.url(), b.url()

    r = Client(api_url).login(email, password)
    assert r.status_code == 200, f"the account the browser made does not sign in: {r.status_code} {r.text[:300]}"
    assert r.json()["user"]["email"] == email, r.json()


def test_two_browsers_of_one_user_see_each_others_changes_live(api_url, browsers):
    user = register_user(api_url, tag="browser-live")
    a, b = browsers.open("A"), browsers.open("B")
    for x in (a, b):
        sign_in(x, api_url, user.email, user.password)
        live(x)
    browsers.shoot("both-signed-in")

    first = title("Water the plants")
    a.type("#new-task-title", first)
    a.click("#new-task-submit")
    task_id = task_titled(a, first)
    assert task_titled(b, first) == task_id, "B's list shows the new task under another id"
    assert b.present(item(task_id)).is_displayed(), f"{item(task_id)} is in B's list but not shown"
    browsers.shoot("created")
    assert task_title_by_api(user, task_id) == first

    second = title("Water the garden")
    edit_title(a, task_id, second)
    wait_title(a, task_id, second)
    wait_title(b, task_id, second)
    browsers.shoot("renamed")
    assert task_title_by_api(user, task_id) == second

    delete_task(a, task_id)
    b.absent(item(task_id))
    browsers.shoot("deleted")
    r = TaskApi(user).get(task_id)
    assert r.status_code == 404, f"the task deleted in the browser still answers {r.status_code} {r.text[:300]}"


def test_a_save_over_a_change_made_elsewhere_shows_the_conflict(api_url, browsers):
    user = register_user(api_url, tag="browser-412")
    original = title("Call the plumber")
    task_id = TaskApi(user).create_applied({"title": original})["id"]
    a, b = browsers.open("A"), browsers.open("B")
    for x in (a, b):
        sign_in(x, api_url, user.email, user.password)
        live(x)
        wait_title(x, task_id, original)

    b.click(f"{item(task_id)} button.task-edit")
    b.visible("#edit-dialog")
    b.wait(lambda d: b.value("#edit-title") == original, f"#edit-title to hold {original!r}")
    browsers.shoot("b-opened-the-dialog")

    theirs = title("Call the plumber at nine")
    edit_title(a, task_id, theirs)
    wait_title(a, task_id, theirs)
    wait_title(b, task_id, theirs)  # A's write is applied and has reached B's list
    assert task_title_by_api(user, task_id) == theirs

    mine = title("Call the electrician")
    b.type("#edit-title", mine)
    b.click("#edit-save")
    b.visible("#conflict")
    b.wait_text("#conflict-theirs", lambda t: theirs in t, f"to show the other change {theirs!r}")
    browsers.shoot("conflict")
    assert b.present("#edit-dialog").is_displayed(), "the dialog closed on a 412"
    assert task_title_by_api(user, task_id) == theirs, "the refused save changed the task all the same"

    b.click("#conflict-reload")
    b.wait(lambda d: b.value("#edit-title") == theirs, f"#edit-title to hold the current title {theirs!r}")
    b.hidden("#conflict")
    browsers.shoot("reloaded")


# --- CORS, as the browser enforces it --------------------------------------------------------

PROBE_PAGE = """<!doctype html>
<meta charset="utf-8"><title>taskbus CORS probe</title>
<p>GET <span id="target"></span>: <output id="outcome">pending</output></p>
<script>
const target = {target};
document.getElementById("target").textContent = target;
fetch(target)
  .then(r => {{ document.getElementById("outcome").textContent = "status " + r.status; }})
  .catch(e => {{ document.getElementById("outcome").textContent = "blocked: " + e.name; }});
</script>
"""


@contextmanager
def probe_server(port, api_url):
    """An HTTP server on 127.0.0.1:port whose every page fetches <api>/api/v1/users/me and
    writes the outcome into #outcome ("status 401", or "blocked: TypeError")."""
    body = PROBE_PAGE.format(target=json.dumps(f"{api_url}{API}/users/me")).encode()

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Page)
    except OSError as e:
        pytest.fail(f"cannot serve the CORS probe page on 127.0.0.1:{port} (the port of the listed origin): {e}",
                    pytrace=False)
    thread = threading.Thread(target=server.serve_forever, name="cors-probe", daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def probe(browsers, label, page_url, mapped_hosts):
    """Loads the probe page at page_url in a new browser; (its outcome, the browser)."""
    b = browsers.open(label, own_address=False, mapped_hosts=mapped_hosts)
    b.open(page_url)
    outcome = b.wait_text("#outcome", lambda t: t != "pending", "to leave 'pending' (the fetch to end)")
    browsers.shoot(f"probe-{label}")
    return outcome, b


def cors_blocked(b):
    return [e["message"] for e in b.read_console() if "blocked by CORS policy" in e.get("message", "")]


def is_ip(host):
    return re.fullmatch(r"[0-9.]+", host or "") is not None


def check_cors_in_the_browser(browsers, api_url, listed, unlisted):
    """A page of origin `listed` reads the API's 401; the browser refuses the same answer
    to a page of origin `unlisted`. Both are http://<host>:<one port>, served from
    127.0.0.1:<port>; their host names resolve to 127.0.0.1 in the browser."""
    port = urlsplit(listed).port
    assert port and urlsplit(unlisted).port == port, (listed, unlisted)
    names = tuple(sorted({urlsplit(o).hostname for o in (listed, unlisted) if not is_ip(urlsplit(o).hostname)}))
    with probe_server(port, api_url):
        outcome, b = probe(browsers, "listed", f"{listed}/", names)
        assert outcome == "status 401", f"the page of the listed origin {listed} read {outcome!r}"
        assert not cors_blocked(b), b.console_text()
        outcome, b = probe(browsers, "unlisted", f"{unlisted}/", names)
        assert outcome == "blocked: TypeError", f"the page of the unlisted origin {unlisted} read {outcome!r}"
        blocked = cors_blocked(b)
        assert blocked and f"from origin '{unlisted}'" in blocked[0], \
            f"no CORS refusal of {unlisted} in the console:\n{b.console_text()}"


def test_the_browser_reads_the_api_from_a_listed_origin_only(api_url, browsers):
    listed = [o.strip() for o in os.environ.get("TASKBUS_CORS_ORIGINS", "").split(",") if o.strip()]
    served = [o for o in listed if urlsplit(o).scheme == "http" and urlsplit(o).port
              and not is_ip(urlsplit(o).hostname)]
    assert served, f"TASKBUS_CORS_ORIGINS ({listed}) has no http://<name>:<port> origin to serve a page at"
    origin = served[0]
    unlisted = f"http://127.0.0.1:{urlsplit(origin).port}"
    assert unlisted not in listed, f"{unlisted} is listed too"
    check_cors_in_the_browser(browsers, api_url, origin, unlisted)


# --- a forgotten password ---------------------------------------------------------------------


def test_a_forgotten_password_is_reset_on_the_mailed_page(api_url, browsers):
    user = register_user(api_url, tag="browser-reset")
    r = Client(api_url).post(f"{API}/auth/password-reset", json={"email": user.email})
    assert r.status_code == 202, f"password-reset: {r.status_code} {r.text[:300]}"
    [mail] = mailbox().wait(user.email, subject=RESET_SUBJECT)
    m = RESET_LINK_RE.search(text_of(mail))
    assert m, f"no reset link in the mail:\n{text_of(mail)}"
    token, password = m.group(1), new_password()

    b = browsers.open("forgetful")
    b.open(f"{api_url}/reset-password?token={token}")
    b.visible("#reset-form")
    b.type("#reset-password", password)
    b.click("#reset-submit")
    b.visible("#reset-done")
    browsers.shoot("reset-done")
    b.click('#reset-done a[href$="#/login"]')
    b.visible("#login-form")
    b.type("#login-email", user.email)
    b.type("#login-password", password)
    b.click("#login-submit")
    b.visible("#nav")
    b.wait_text("#me", lambda t: user.email in t, f"to hold {user.email}")
    browsers.shoot("signed-in-with-the-new-password")

    assert Client(api_url).login(user.email, user.password).status_code == 401, "the old password still signs in"
    assert Client(api_url).login(user.email, password).status_code == 200


AXE = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "axe-core" / "axe.min.js"
# axe-core's rules of WCAG 2.0 and 2.1, levels A and AA (labels, names, contrast, ...).
AXE_RUN = """
const done = arguments[arguments.length - 1];
axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
  .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                          nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))),
        e => done([{id: 'axe-error', impact: 'error', help: String(e), nodes: []}]));
"""
# The element each view shows once it is drawn.
SIGNED_IN_VIEWS = (("#nav-tasks", "#new-task-form"), ("#nav-import", "#import-file"),
                   ("#nav-reports", "#report-form"), ("#nav-stats", "#stats-chart"),
                   ("#nav-activity", "#activity-list"), ("#nav-webhooks", "#webhook-form"))


def audit(b, where, found):
    """Runs axe-core on the page as it is now; records its violations and whether the page
    is wider than the window (a phone would scroll sideways) under found[where]."""
    assert AXE.is_file(), f"{AXE} is missing (compose/lib/node.sh installs web's packages)"
    b.driver.set_script_timeout(60)
    b.driver.execute_script(AXE.read_text(encoding="utf-8"))
    violations = b.driver.execute_async_script(AXE_RUN)
    overflow = b.driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
    problems = [f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes']}" for v in violations]
    if overflow > 0:
        problems.append(f"the page is {overflow} px wider than the window")
    b.screenshot(where)
    if problems:
        found[where] = problems


@pytest.mark.parametrize("width", [1280, 375])
def test_every_view_passes_the_accessibility_audit(api_url, browsers, width):
    """Every view, signed out and in, with a task listed and the edit dialog open, passes
    axe-core's WCAG 2.1 A and AA rules, and fits the window at a desktop's and at a phone's
    width."""
    user = register_user(api_url, tag="browser-a11y")
    b = browsers.open(f"w{width}")
    b.driver.set_window_size(width, 900)
    found: dict = {}
    for view, shown in (("#/login", "#login-form"), ("#/signup", "#signup-form")):
        b.open(f"{api_url}/app/{view}")
        b.visible(shown)
        audit(b, view, found)
    for page, shown in (("/confirm-registration", "#confirm-registration-form"), ("/reset-password", "#reset-form")):
        b.open(f"{api_url}{page}?token={'A' * 43}")
        b.visible(shown)
        audit(b, page, found)

    sign_in(b, api_url, user.email, user.password)
    live(b)
    text = title("audited")
    b.type("#new-task-title", text)
    b.click("#new-task-submit")
    task_id = task_titled(b, text)
    for link, shown in SIGNED_IN_VIEWS:
        b.click(link)
        b.present(shown)
        audit(b, link, found)
    b.click("#nav-tasks")
    b.present(item(task_id))
    audit(b, "#nav-tasks with a task", found)
    b.click(f"{item(task_id)} button.task-edit")
    b.visible("#edit-dialog")
    audit(b, "edit-dialog", found)
    assert not found, "accessibility audit:\n" + "\n".join(f"{w}: {p}" for w, ps in found.items() for p in ps)


def test_the_api_reference_page_lists_every_operation(api_url, browsers):
    """/docs/ runs the vendored Swagger UI under the page's CSP: it draws one block per
    operation of /openapi.json, and the browser reports no error (a CSP refusal, a file
    that does not load) on its console."""
    document = Client(api_url).get("/openapi.json").json()
    operations = sum(1 for ops in document["paths"].values() for m in ops
                     if m in ("get", "put", "post", "patch", "delete"))
    b = browsers.open("docs")
    b.open(f"{api_url}/docs/")
    b.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) == operations,
           f"{operations} operation blocks (.opblock)")
    browsers.shoot("reference")
    errors = [e for e in b.read_console() if e.get("level") == "SEVERE"]
    assert not errors, f"the reference page logged errors: {errors}"
    assert b.driver.find_element(By.ID, "asyncapi-link").get_attribute("href").endswith("/asyncapi.json")
