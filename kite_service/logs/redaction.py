"""Secret redaction: known secret values and secret-named key/value pairs become ***.

Redaction works on the final text (message, arguments, traceback), so it covers third-party
loggers and pre-formatted messages alike and never changes a record's arguments.
"""

import re
import threading
from collections import deque
from urllib.parse import quote

REDACTED = "***"
MAX_SHORT_LIVED = 64
MIN_SECRET_LENGTH = 6

_SECRET_FIELD_NAMES = "|".join(
    (
        "access_token",
        "public_token",
        "refresh_token",
        "request_token",
        "enctoken",
        "api_secret",
        "twofa_key",
        "totp_secret",
        "totp",
        "twofa_value",
        "password",
        "checksum",
        "x-access-code",
        "access_code",
        "code",
    )
)
# key=value, key: value, 'key': 'value', "key": "value", key%3dvalue, Authorization: token value.
# Written for lowercased text: a case-sensitive pattern lets the regex engine skip ahead, where
# IGNORECASE would make it try every position. The value is the last group that took part.
# A value that is exactly *** (a known secret, replaced just before) is not matched: most lines
# with secrets are of that kind, and replacing *** with *** would only cost time.
_KEY_VALUE_PATTERN = rf"""(?x)
    (?<![\w-])(?:{_SECRET_FIELD_NAMES}|authorization)['"]?
    \s*(?:=|:|%3d)\s*(?:(?:token|bearer|basic)\s+)?+
    (?:
        (['"])(?!\*\*\*\1)(.*?)\1
      | (?!\*\*\*(?:['"&\s,;}}\])]|$))([^'"&\s,;}}\])]+)
    )
    """
_KEY_VALUE = re.compile(_KEY_VALUE_PATTERN)
_KEY_VALUE_ANY_CASE = re.compile(_KEY_VALUE_PATTERN, re.IGNORECASE)  # for the rare text that lower() resizes
# Every key that the pattern looks for contains one of these, at most 9 characters in
# (x-access-code), so no key starts earlier than 9 characters before the first hint.
_SECRET_KEY_HINT = re.compile("token|secret|twofa|totp|password|checksum|code|authorization")
_LONGEST_KEY_BEFORE_HINT = len("x-access-")


class SecretRegistry:
    """The literal secret values known to this process; every occurrence is redacted.

    Long-lived secrets (keys, access tokens, the code) stay for the life of the process.
    Short-lived ones (request tokens: single use, minutes) are kept for the last
    MAX_SHORT_LIVED of them, so a flood of made-up tokens cannot grow the list without end.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._lasting: set = set()
        self._short_lived: deque = deque(maxlen=MAX_SHORT_LIVED)
        self._values: tuple = ()

    def add(self, *values, short_lived: bool = False) -> None:
        with self._lock:
            for value in values:
                if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
                    if short_lived:
                        if value not in self._short_lived:
                            self._short_lived.append(value)
                    else:
                        self._lasting.add(value)
            known = self._lasting | set(self._short_lived)
            known |= {quote(value, safe="") for value in known}
            # Longest first, so a secret containing another is replaced whole.
            self._values = tuple(sorted(known, key=len, reverse=True))

    def values(self) -> tuple:
        return self._values


_registry = SecretRegistry()


def register_secret(*values, short_lived: bool = False) -> None:
    """Add secret values (tokens, keys, codes) that must never appear in a log line."""
    _registry.add(*values, short_lived=short_lived)


def redact(text: str, registry: SecretRegistry | None = None) -> str:
    """Replace known secret values and secret-shaped key/value pairs in `text`."""
    for value in (registry or _registry).values():
        if value in text:
            text = text.replace(value, REDACTED)
    lowered = text.lower()  # a cheap first look, so that most lines skip the patterns below
    if hint := _SECRET_KEY_HINT.search(lowered):
        text = _redact_key_values(text, lowered, max(0, hint.start() - _LONGEST_KEY_BEFORE_HINT))
    return text


def _redact_key_values(text: str, lowered: str, first_key_at: int = 0) -> str:
    """Replace the value of every secret-named key in `text`, found in its lowercased copy."""
    if len(lowered) == len(text):
        matches = _KEY_VALUE.finditer(lowered, first_key_at)
    else:  # lowercasing changed the length (some non-ASCII letters): offsets would not line up
        matches = _KEY_VALUE_ANY_CASE.finditer(text)
    pieces, done = [], 0
    for match in matches:
        value_start, value_end = match.span(match.lastindex)
        pieces += (text[done:value_start], REDACTED)
        done = value_end
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)
