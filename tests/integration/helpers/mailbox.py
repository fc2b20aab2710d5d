"""The mail the stack's SMTP catcher accepted (compose/smtp_catcher.py writes each message
whole to <TASKBUS_DATA_DIR>/mail/*.eml: a .tmp name first, then renamed), read by recipient.

Owns: one index per mail folder, so a run that registers thousands of users (each one
reads its confirmation mail) parses each file once instead of rescanning the folder per
wait; the wait for a recipient's mail; the registration link's token in a mail.
Rules: the index is guarded by a lock (tests and the load suites wait from threads); a
file is parsed when first listed and never again (the catcher never rewrites one);
messages of one recipient come in file-name order, which is the catcher's order of
acceptance (<time_ns>-<n>.eml).
"""

import email
import email.policy
import hashlib
import os
import re
import threading
import time

MAIL_TIMEOUT = 60
REGISTER_SUBJECT = "Create your taskbus account"
REGISTER_LINK_RE = re.compile(r"(https?://\S+/confirm-registration\?token=([A-Za-z0-9_-]{43}))")


def fold(address: str) -> str:
    """An address as the API normalises it: trimmed, ASCII letters lower-cased (only)."""
    return "".join(c.lower() if c.isascii() else c for c in address.strip())


def mail_folder() -> str:
    data = os.environ.get("TASKBUS_DATA_DIR")
    if not data:
        raise RuntimeError('TASKBUS_DATA_DIR is not set: run through tests/run or eval "$(compose/local env)"')
    return os.path.join(data, "mail")


class Mailbox:
    """The parsed messages of one folder, by lower-cased To: address."""

    def __init__(self, folder: str):
        self.folder = folder
        self.lock = threading.Lock()
        self.seen: set = set()
        self.by_to: dict = {}  # address -> [(file name, message)]

    def _scan(self):
        names = sorted(n for n in os.listdir(self.folder) if n.endswith(".eml") and n not in self.seen)
        changed = set()
        for name in names:
            with open(os.path.join(self.folder, name), "rb") as f:
                msg = email.message_from_binary_file(f, policy=email.policy.default)
            self.seen.add(name)
            to = fold(str(msg["To"] or ""))
            self.by_to.setdefault(to, []).append((name, msg))
            changed.add(to)
        for to in changed:
            self.by_to[to].sort(key=lambda nm: nm[0])

    def to(self, address: str) -> list:
        """Every accepted message whose To: is address, parsed, oldest first."""
        with self.lock:
            self._scan()
            return [m for _, m in self.by_to.get(fold(address), [])]

    def wait(self, address: str, count=1, timeout=MAIL_TIMEOUT, subject=None) -> list:
        """At least count messages to address (whose Subject contains subject, if given);
        AssertionError when they have not come within timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.to(address) if subject is None or subject in str(m["Subject"])]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(found)} of {count} mail(s) to {address} within {timeout} s")
            time.sleep(0.05)


_boxes: dict = {}
_boxes_lock = threading.Lock()


def mailbox(folder: str | None = None) -> Mailbox:
    """The shared index of folder (default: the stack's mail folder)."""
    folder = folder or mail_folder()
    with _boxes_lock:
        box = _boxes.get(folder)
        if box is None:
            box = _boxes[folder] = Mailbox(folder)
        return box


def text_of(msg) -> str:
    """The plain-text part of a message (the catcher keeps multipart/alternative)."""
    part = msg.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


def _token_of(msg, address) -> str:
    text = text_of(msg)
    m = REGISTER_LINK_RE.search(text)
    assert m, f"no registration link in the mail to {address}:\n{text}"
    return m.group(2)


def _live_hash(address) -> str | None:
    """The token hash (hex) of the newest open registration of address that can make an
    account (a free address's: it holds a password hash), or None."""
    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=10) as conn:
        row = conn.execute("SELECT encode(token_hash, 'hex') FROM pending_registrations WHERE email = %s"
                           " AND used_at IS NULL AND expires_at > now() AND password_hash <> ''"
                           " ORDER BY created_at DESC LIMIT 1", (address,)).fetchone()
    return row[0] if row else None


def registration_token(address: str, count=None, timeout=MAIL_TIMEOUT, folder: str | None = None) -> str:
    """The token of a registration link mailed to address (waits for it): the count-th
    one to arrive, or (count None) the live one of the newest registration, the mail whose
    token's SHA-256 is that row's hash (a link mailed again replaces the hash: the first
    mail's token is dead then, and the second is waited for)."""
    box = mailbox(folder)
    if count is not None:
        mails = box.wait(address, count=count, timeout=timeout, subject=REGISTER_SUBJECT)
        return _token_of(mails[count - 1], address)
    deadline = time.monotonic() + timeout
    checked = 0
    while True:
        mails = [m for m in box.to(address) if REGISTER_SUBJECT in str(m["Subject"])]
        if len(mails) > checked:
            checked = len(mails)
            live = _live_hash(address)
            for m in reversed(mails):
                token = _token_of(m, address)
                if hashlib.sha256(token.encode()).hexdigest() == live:
                    return token
        if time.monotonic() > deadline:
            raise AssertionError(f"no live registration link among {checked} mail(s) to {address} within {timeout} s")
        time.sleep(0.05)
