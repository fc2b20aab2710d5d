"""Real browsers for the end-to-end tests of the web client (tests/integration/test_browser.py).

Owns: launching Debian's Chromium headless through its chromedriver with Selenium (never
Selenium Manager: the driver's path is given and SE_OFFLINE is set, so nothing is ever
downloaded), each browser with a fresh profile and its own X-Forwarded-For address (so its
per-IP rate-limit buckets are its own, as every pytest client's are; helpers/api.py); the
bounded waits on what a page shows; the browser console log; the screenshots and console
logs of every test, kept in <TASKBUS_DATA_DIR>/logs/browser/<test>/ (the logs folder
tests/run uses and CI keeps as artifacts).
Rules: elements are found only by what the web client's DOM contract names (the stable ids
and classes web/app/ promises its tests); every wait is a condition with a timeout that fails
with what was awaited, the page's URL, the console's last lines and a screenshot; every
browser is quit and its profile removed when the test ends, also when it failed.
"""

import os
import re
import shutil
import tempfile

from selenium import webdriver
from selenium.common.exceptions import (ElementClickInterceptedException, ElementNotInteractableException,
                                        NoSuchElementException, StaleElementReferenceException,
                                        TimeoutException, WebDriverException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from helpers.api import fresh_ip

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT = 20
# Host names the browser resolves to 127.0.0.1 (the listed CORS origin of tests/run).
MAPPED_HOSTS = ("app.taskbus.test",)
# What a re-render of the page (a live update replacing a list item) may throw mid-wait.
TRANSIENT = (NoSuchElementException, StaleElementReferenceException, ElementClickInterceptedException,
             ElementNotInteractableException)


def artifacts_folder() -> str:
    """<TASKBUS_DATA_DIR>/logs/browser: beside the stack's logs, kept by CI."""
    data = os.environ.get("TASKBUS_DATA_DIR")
    if not data:
        raise RuntimeError('TASKBUS_DATA_DIR is not set: run through tests/run or eval "$(compose/local env)"')
    return os.path.join(data, "logs", "browser")


def chromium_options(profile_dir, mapped_hosts=MAPPED_HOSTS) -> webdriver.ChromeOptions:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--disable-quic", "--window-size=1280,900",
                f"--user-data-dir={profile_dir}"):
        options.add_argument(arg)
    if mapped_hosts:
        rules = ", ".join(f"MAP {host} 127.0.0.1" for host in mapped_hosts)
        options.add_argument(f"--host-resolver-rules={rules}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return options


class Browser:
    """One headless Chromium (one person's browser), labelled for its files and messages."""

    def __init__(self, label, folder, forwarded_for=None, mapped_hosts=MAPPED_HOSTS):
        for path in (CHROMIUM, CHROMEDRIVER):
            assert os.access(path, os.X_OK), f"{path} is missing (Debian packages chromium, chromium-driver)"
        self.label = label
        self.folder = folder
        self.console: list = []  # every browser log entry read so far, oldest first
        self.shots = 0
        # Selenium Manager is skipped when the driver's path is given; SE_OFFLINE keeps it
        # from downloading anything should a later Selenium consult it all the same.
        os.environ["SE_OFFLINE"] = "true"
        self.profile = tempfile.mkdtemp(prefix=f"taskbus-chromium-{label}-")
        try:
            self.driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER),
                                           options=chromium_options(self.profile, mapped_hosts))
        except WebDriverException as e:
            shutil.rmtree(self.profile, ignore_errors=True)
            raise AssertionError(f"browser {label}: Chromium did not start through {CHROMEDRIVER}: {e}") from e
        self.driver.set_page_load_timeout(WAIT)
        self.forwarded_for = forwarded_for
        if forwarded_for:
            # Every request of this browser (pages, fetches, the event stream) carries its
            # own client address, as helpers/api.py's clients do. Only for same-origin
            # pages: a header a page did not set would make a cross-origin fetch preflight.
            self.driver.execute_cdp_cmd("Network.enable", {})
            self.driver.execute_cdp_cmd("Network.setExtraHTTPHeaders",
                                        {"headers": {"X-Forwarded-For": forwarded_for}})

    # --- diagnostics ---

    def read_console(self) -> list:
        """Every console entry so far ({level, message, timestamp}); reading drains the
        driver's buffer, so they are kept here."""
        try:
            self.console.extend(self.driver.get_log("browser"))
        except WebDriverException:
            pass  # a dead browser has nothing more to say; what was read stays
        return self.console

    def console_text(self, last=None) -> str:
        entries = self.read_console()
        if last is not None:
            entries = entries[-last:]
        return "\n".join(f"{e.get('level')} {e.get('message')}" for e in entries) or "(empty)"

    def screenshot(self, step) -> str:
        """A PNG of the viewport now: <folder>/<nn>-<step>-<label>.png."""
        self.shots += 1
        os.makedirs(self.folder, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{self.shots:02d}-{step}-{self.label}") + ".png"
        path = os.path.join(self.folder, name)
        try:
            self.driver.save_screenshot(path)
        except WebDriverException as e:
            return f"(no screenshot: {e.msg})"
        return path

    def url(self) -> str:
        try:
            return self.driver.current_url
        except WebDriverException as e:
            return f"(no URL: {e.msg})"

    # --- waits ---

    def wait(self, condition, what, timeout=WAIT):
        """condition(driver)'s first truthy value within timeout seconds; else an
        AssertionError saying what was awaited (what: a text, or a function giving it
        then), where, the console and a screenshot."""
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1,
                                 ignored_exceptions=TRANSIENT).until(condition)
        except TimeoutException:
            what = what() if callable(what) else what
            shot = self.screenshot("timeout")
            raise AssertionError(f"browser {self.label}: waited {timeout} s for {what}, in vain; "
                                 f"at {self.url()}\nscreenshot: {shot}\nconsole (last 30):\n"
                                 f"{self.console_text(last=30)}") from None

    def visible(self, css, timeout=WAIT):
        """The element matching css, once it is displayed."""
        def shown(d):
            el = d.find_element(By.CSS_SELECTOR, css)
            return el if el.is_displayed() else False
        return self.wait(shown, f"{css} to be visible", timeout)

    def present(self, css, timeout=WAIT):
        """The element matching css, once it is in the document (shown or not)."""
        return self.wait(lambda d: d.find_element(By.CSS_SELECTOR, css), f"{css} in the document", timeout)

    def hidden(self, css, timeout=WAIT):
        """Waits until no element matches css or the match is not displayed."""
        def gone(d):
            els = d.find_elements(By.CSS_SELECTOR, css)
            return all(not el.is_displayed() for el in els)
        self.wait(gone, f"{css} to be hidden or gone", timeout)

    def absent(self, css, timeout=WAIT):
        """Waits until no element matches css."""
        self.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, css), f"{css} to leave the document", timeout)

    def text(self, css) -> str:
        """The textContent of the first match of css ("" when none), read in one step."""
        return self.driver.execute_script(
            "const el = document.querySelector(arguments[0]); return el ? el.textContent : '';", css)

    def value(self, css):
        return self.driver.execute_script(
            "const el = document.querySelector(arguments[0]); return el ? el.value : null;", css)

    def wait_text(self, css, pred, what, timeout=WAIT) -> str:
        """The textContent of css once pred(text) holds."""
        return self.wait(lambda d: (lambda t: t if pred(t) else False)(self.text(css)),
                         lambda: f"{css} {what} (it reads {self.text(css)!r} now)", timeout)

    def wait_url(self, pred, what, timeout=WAIT) -> str:
        return self.wait(lambda d: d.current_url if pred(d.current_url) else False, f"the URL {what}", timeout)

    # --- actions ---

    def open(self, url):
        self.driver.get(url)

    def click(self, css, timeout=WAIT):
        """Clicks the element matching css once it is displayed and enabled (a re-render
        or an overlay in between only delays the click)."""
        def clicked(d):
            el = d.find_element(By.CSS_SELECTOR, css)
            if not (el.is_displayed() and el.is_enabled()):
                return False
            el.click()
            return True
        self.wait(clicked, f"{css} to be clickable", timeout)

    def type(self, css, text, timeout=WAIT):
        """Replaces the value of the input matching css with text, as typed keys."""
        el = self.visible(css, timeout)
        el.clear()
        el.send_keys(text)
        self.wait(lambda d: self.value(css) == text, f"{css} to hold the typed {text!r}", timeout)


class Browsers:
    """The browsers of one test: opened on demand, screenshotted per step, closed at its end."""

    def __init__(self, test_name, root=None):
        root = root or artifacts_folder()
        self.folder = os.path.join(root, re.sub(r"[^A-Za-z0-9_.-]+", "-", test_name))
        shutil.rmtree(self.folder, ignore_errors=True)  # an earlier run's files of this test
        os.makedirs(self.folder, exist_ok=True)
        self.all: list = []

    def open(self, label, own_address=True, mapped_hosts=MAPPED_HOSTS) -> Browser:
        """A new browser; own_address sends a fresh X-Forwarded-For with every request
        (for same-origin pages of the API only; see Browser)."""
        b = Browser(label, self.folder, fresh_ip() if own_address else None, mapped_hosts)
        self.all.append(b)
        return b

    def shoot(self, step) -> list:
        """A screenshot of every open browser, named after the step."""
        return [b.screenshot(step) for b in self.all]

    def close(self, failed=False):
        """Screenshots (and the console on stdout) when the test failed, every console log
        to a file, then quits every browser and removes its profile."""
        errors = []
        for b in self.all:
            if failed:
                shot = b.screenshot("failed")
                print(f"browser {b.label} at {b.url()}; screenshot {shot}; console:\n{b.console_text()}")
            try:
                with open(os.path.join(self.folder, f"console-{b.label}.txt"), "w", encoding="utf-8") as f:
                    f.write(b.console_text() + "\n")
            except OSError as e:
                errors.append(f"console log of {b.label}: {e}")
            try:
                b.driver.quit()
            except WebDriverException as e:
                errors.append(f"quit {b.label}: {e.msg}")
            shutil.rmtree(b.profile, ignore_errors=True)
        self.all.clear()
        assert not errors, f"closing the browsers: {errors}"
