"""RFC 9651 (Structured Field Values for HTTP) List parsing, as the tests read the
RateLimit-Policy and RateLimit fields (draft-ietf-httpapi-ratelimit-headers).

Owns: parse_list(text) -> [(value, {param: value})], following the parsing algorithms of
RFC 9651 section 4.2 (Lists, Inner Lists, Items, Parameters, Keys and every bare item type:
Integer, Decimal, String, Token, Byte Sequence, Boolean, Date, Display String), and the
String class that keeps a String apart from a Token with the same characters.
Rules: anything the RFC says to fail on raises ValueError (a malformed field is an error
the test reports, never a value it guesses); no third-party package (tests/requirements.txt
pins none for this).
"""

import base64
import string as _string

_TCHAR = set("!#$%&'*+-.^_`|~" + _string.digits + _string.ascii_letters)
_KEY_FIRST = set(_string.ascii_lowercase + "*")
_KEY_CHARS = set(_string.ascii_lowercase + _string.digits + "_-.*")
_B64 = set(_string.ascii_letters + _string.digits + "+/=")


class String(str):
    """An sf-string (a Token parses to a plain Token)."""


class Token(str):
    """An sf-token."""


class DisplayString(str):
    """An sf-displaystring (RFC 9651 section 3.3.8)."""


class Date(int):
    """An sf-date: seconds since the epoch."""


class _Parser:
    def __init__(self, text):
        if any(ord(c) > 0x7E or (ord(c) < 0x20 and c != "\t") for c in text):
            raise ValueError("a structured field is visible ASCII")
        self.s = text
        self.i = 0

    def peek(self):
        return self.s[self.i] if self.i < len(self.s) else ""

    def take(self):
        c = self.peek()
        self.i += 1
        return c

    def skip_sp(self):
        while self.peek() == " ":
            self.i += 1

    def skip_ows(self):
        while self.peek() in (" ", "\t") and self.peek():
            self.i += 1

    def fail(self, why):
        raise ValueError(f"{why} at {self.i} in {self.s!r}")

    # 4.2.1
    def parse_list(self):
        members = []
        while self.peek():
            members.append(self.parse_item_or_inner_list())
            self.skip_ows()
            if not self.peek():
                return members
            if self.take() != ",":
                self.fail("expected ',' between list members")
            self.skip_ows()
            if not self.peek():
                self.fail("trailing comma")
        return members

    # 4.2.1.1
    def parse_item_or_inner_list(self):
        if self.peek() == "(":
            return self.parse_inner_list()
        return self.parse_item()

    # 4.2.1.2
    def parse_inner_list(self):
        if self.take() != "(":
            self.fail("expected '('")
        items = []
        while self.peek():
            self.skip_sp()
            if self.peek() == ")":
                self.i += 1
                return items, self.parse_parameters()
            items.append(self.parse_item())
            if self.peek() not in (" ", ")"):
                self.fail("expected SP or ')' in an inner list")
        self.fail("unterminated inner list")

    # 4.2.3
    def parse_item(self):
        value = self.parse_bare_item()
        return value, self.parse_parameters()

    # 4.2.3.1
    def parse_bare_item(self):
        c = self.peek()
        if c == "-" or c.isdigit():
            return self.parse_number()
        if c == '"':
            return self.parse_string()
        if c == "*" or c.isalpha():
            return self.parse_token()
        if c == ":":
            return self.parse_byte_sequence()
        if c == "?":
            return self.parse_boolean()
        if c == "@":
            self.i += 1
            value = self.parse_number()
            if not isinstance(value, int):
                self.fail("a date is an integer")
            return Date(value)
        if c == "%":
            return self.parse_display_string()
        self.fail("not an item")

    # 4.2.3.2
    def parse_parameters(self):
        params = {}
        while self.peek() == ";":
            self.i += 1
            self.skip_sp()
            key = self.parse_key()
            value = True
            if self.peek() == "=":
                self.i += 1
                value = self.parse_bare_item()
            params[key] = value  # a later duplicate overrides (RFC 9651 4.2.3.2)
        return params

    # 4.2.3.3
    def parse_key(self):
        if self.peek() not in _KEY_FIRST or not self.peek():
            self.fail("a key starts with lcalpha or '*'")
        start = self.i
        while self.peek() and self.peek() in _KEY_CHARS:
            self.i += 1
        return self.s[start:self.i]

    # 4.2.4
    def parse_number(self):
        sign = 1
        if self.peek() == "-":
            sign = -1
            self.i += 1
        if not self.peek() or not self.peek().isdigit():
            self.fail("a number needs a digit")
        text, decimal = "", False
        while self.peek():
            c = self.peek()
            if c.isdigit():
                text += c
            elif c == "." and not decimal:
                if len(text) > 12:
                    self.fail("a decimal has at most 12 integer digits")
                text += c
                decimal = True
            else:
                break
            self.i += 1
            if not decimal and len(text) > 15:
                self.fail("an integer has at most 15 digits")
            if decimal and len(text) > 16:
                self.fail("a decimal has at most 16 characters")
        if not decimal:
            return sign * int(text)
        if text.endswith(".") or len(text.split(".")[1]) > 3:
            self.fail("a decimal has 1 to 3 fractional digits")
        return sign * float(text)

    # 4.2.5
    def parse_string(self):
        self.i += 1
        out = []
        while self.peek():
            c = self.take()
            if c == "\\":
                n = self.take()
                if n not in ('"', "\\"):
                    self.fail("only '\"' and '\\' are escaped in a string")
                out.append(n)
            elif c == '"':
                return String("".join(out))
            elif c == "\t":
                self.fail("no tab in a string")
            else:
                out.append(c)
        self.fail("unterminated string")

    # 4.2.6
    def parse_token(self):
        start = self.i
        self.i += 1
        while self.peek() and (self.peek() in _TCHAR or self.peek() in ":/"):
            self.i += 1
        return Token(self.s[start:self.i])

    # 4.2.7
    def parse_byte_sequence(self):
        self.i += 1
        end = self.s.find(":", self.i)
        if end < 0:
            self.fail("unterminated byte sequence")
        text = self.s[self.i:end]
        if any(c not in _B64 for c in text):
            self.fail("not base64")
        self.i = end + 1
        return base64.b64decode(text + "=" * (-len(text) % 4))

    # 4.2.8
    def parse_boolean(self):
        self.i += 1
        c = self.take()
        if c not in ("0", "1"):
            self.fail("a boolean is ?0 or ?1")
        return c == "1"

    # 4.2.10
    def parse_display_string(self):
        self.i += 1
        if self.take() != '"':
            self.fail("a display string starts with %\"")
        out = bytearray()
        while self.peek():
            c = self.take()
            if c == "%":
                h = self.s[self.i:self.i + 2]
                if len(h) != 2 or any(x not in "0123456789abcdef" for x in h):
                    self.fail("a display string escapes as %xx, lowercase hex")
                out.append(int(h, 16))
                self.i += 2
            elif c == '"':
                return DisplayString(out.decode("utf-8"))
            else:
                out.append(ord(c))
        self.fail("unterminated display string")


def parse_list(text):
    """The members of an RFC 9651 List field value: each (bare value, {param: value}), an
    inner list as ([(value, params), ...], params). Raises ValueError when malformed."""
    p = _Parser(text)
    p.skip_sp()
    members = p.parse_list()
    return members
