"""Logging for Kite App: one file per IST day in logs/, plus the console, with secrets redacted.

Redaction sits in the formatter of every handler and works on the final text (message,
arguments, traceback), so it covers third-party loggers and pre-formatted messages alike
and never changes a record's arguments.
"""

import logging
import os
import re
import sys
import threading
import time
from collections import deque
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

LOG_PREFIX = "kite_app_"
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
REDACTED = "***"
IST_OFFSET_SECONDS = 5 * 3600 + 30 * 60
_EPOCH = date(1970, 1, 1)
MAX_SHORT_LIVED = 64
MIN_SECRET_LENGTH = 6
_LOG_NAME = re.compile(rf"^{LOG_PREFIX}(\d{{4}}-\d{{2}}-\d{{2}})\.log$")

# Third-party loggers that are chatty or print URLs and headers at lower levels.
QUIET_LOGGERS = {
    "urllib3": logging.WARNING,
    "kiteconnect": logging.WARNING,
    "werkzeug": logging.WARNING,
    "apscheduler": logging.WARNING,
    "flask_cors": logging.WARNING,
    "filelock": logging.WARNING,
    "websockets": logging.WARNING,  # its debug lines would carry the stream's URL, token and all
    # One warning per request that waits for a free worker thread: under a burst, a line every
    # few milliseconds that says nothing the caller did not already notice.
    "waitress.queue": logging.ERROR,
}

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
# Control characters (C0, DEL, C1) and the bidirectional overrides: from outside text they can
# forge log lines (CR/LF), drive a terminal (ESC sequences) or disguise what a line says.
_CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def escape_controls(text: str) -> str:
    """`text` with every control character shown as an escape (\\x1b, \\n): one line, inert."""
    if text.isprintable() or not _CONTROL_CHARACTERS.search(text):  # the first, a C loop, settles most lines
        return text
    return _CONTROL_CHARACTERS.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


def clean_text(value, limit: int = 500) -> str:
    """Outside text (Kite's status messages, symbols, tags) made safe for a log, console or message."""
    text = escape_controls(str(value))
    return text if len(text) <= limit else text[:limit] + "..."


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


class RedactingFormatter(logging.Formatter):
    """A Formatter whose output, tracebacks included, has every secret removed."""

    # IST is a fixed UTC+05:30 (no daylight saving): shifting the epoch is exact and much cheaper.
    converter = staticmethod(lambda seconds: time.gmtime(seconds + IST_OFFSET_SECONDS))

    def __init__(self, fmt=LOG_FORMAT, registry: SecretRegistry | None = None):
        super().__init__(fmt)
        self._registry = registry
        self._uses_time = self.usesTime()
        self._second_text = (None, "")  # one tuple, so that threads never see a half-updated pair

    def formatTime(self, record, datefmt=None) -> str:  # noqa: N802 (stdlib name)
        if datefmt:
            return super().formatTime(record, datefmt)
        # Most records share their second with the one before: its text is built once.
        second = int(record.created)
        cached_second, text = self._second_text
        if second != cached_second:
            text = time.strftime(self.default_time_format, self.converter(second))
            self._second_text = (second, text)
        return f"{text},{int(record.msecs):03d}"

    def formatException(self, ei) -> str:  # noqa: N802 (stdlib name)
        # The result is cached on the record as exc_text, so it must already be clean.
        return redact(super().formatException(ei), self._registry)

    def formatStack(self, stack_info) -> str:  # noqa: N802 (stdlib name)
        return redact(super().formatStack(stack_info), self._registry)

    def format(self, record: logging.LogRecord) -> str:
        # logging.Formatter.format, with the message and the traceback redacted before they are
        # placed in the line: the time, level and logger name around them hold no secrets.
        record.message = escape_controls(redact(record.getMessage(), self._registry))
        if self._uses_time:
            record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:  # may have been cached unredacted by another handler's formatter
            line = f"{line}\n{redact(record.exc_text, self._registry)}"
        if record.stack_info:
            line = f"{line}\n{self.formatStack(record.stack_info)}"
        return line


class DailyFileHandler(logging.FileHandler):
    """Writes to `<dir>/kite_app_YYYY-MM-DD.log`, switching files when the IST date changes.

    No renaming happens at midnight, so another process reading the log never blocks it.
    """

    def __init__(self, log_dir: Path):
        self.log_dir = Path(log_dir)
        self._day = None
        super().__init__(self.log_dir / "unused", encoding="utf-8", delay=True)

    def path_for(self, day: date) -> Path:
        return self.log_dir / f"{LOG_PREFIX}{day.isoformat()}.log"

    def emit(self, record: logging.LogRecord) -> None:
        # FileHandler.emit and StreamHandler.emit in one method, after choosing the day's file:
        # this runs for every record, and the two extra layers cost a tenth of a plain record.
        try:
            day_number = int((record.created + IST_OFFSET_SECONDS) // 86400)  # days since 1970-01-01, IST
            if day_number != self._day:
                if self.stream is not None:
                    self.stream.close()
                    self.stream = None
                self._day = day_number
                self.baseFilename = os.fspath(self.path_for(_EPOCH + timedelta(days=day_number)))
            if self.stream is None:
                self.stream = self._open()
            self.stream.write(self.format(record) + self.terminator)
            self.stream.flush()
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 (logging reports it through handleError, like the stdlib)
            self.handleError(record)

    def _open(self):
        make_private_dir(self.log_dir)
        # O_NOFOLLOW: a link planted where today's file will be is refused, never written through.
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(self.baseFilename, flags, 0o600)
        return open(fd, "a", encoding="utf-8")


def make_private_dir(path: Path) -> None:
    """Create `path` (and missing parents) readable by this user only; an existing folder is kept as it is."""
    Path(path).mkdir(mode=0o700, parents=True, exist_ok=True)


def setup_logging(log_dir: Path, level: int = logging.INFO, console: bool = True) -> DailyFileHandler:
    """Send every logger through the redacting formatter to the daily file (and the console)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_kite_app", False)]:
        root.removeHandler(handler)
        handler.close()
    file_handler = DailyFileHandler(log_dir)
    handlers = [file_handler] + ([logging.StreamHandler(sys.stderr)] if console else [])
    for handler in handlers:
        handler.setFormatter(RedactingFormatter())
        handler._kite_app = True
        root.addHandler(handler)
    root.setLevel(level)
    for name, quiet_level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(quiet_level)
    return file_handler


def purge_old_logs(log_dir: Path, retention_days: int, today: date, max_bytes: int | None = None) -> list:
    """Delete daily log files dated more than `retention_days` before `today` (by the name's date),
    then, while all of them together exceed `max_bytes`, the oldest ones (never today's)."""
    oldest_kept = today - timedelta(days=retention_days)
    removed = []
    if not Path(log_dir).is_dir():
        return removed
    kept = []
    for path in Path(log_dir).iterdir():
        match = _LOG_NAME.match(path.name)
        if not match:
            continue
        try:
            day = date.fromisoformat(match.group(1))
        except ValueError:
            continue
        if day < oldest_kept:
            path.unlink(missing_ok=True)
            removed.append(path.name)
        else:
            kept.append((day, path))
    if max_bytes is not None:
        sizes = {path: path.lstat().st_size for _, path in kept}
        total = sum(sizes.values())
        for day, path in sorted(kept):
            if total <= max_bytes or day >= today:
                break
            path.unlink(missing_ok=True)
            removed.append(path.name)
            total -= sizes[path]
    return sorted(removed)


class LogThrottle:
    """At most `per_minute` lines a minute for one kind of event; the rest are counted and said in
    one line when the next minute's first line is logged (a flood of refusals is a few lines)."""

    def __init__(self, logger: logging.Logger, per_minute: int = 10, clock=time.monotonic):
        self._logger = logger
        self._per_minute = per_minute
        self._clock = clock
        self._lock = threading.Lock()
        self._window = {}  # kind -> [window start, lines logged, lines suppressed]

    def warning(self, kind: str, message: str, *args) -> None:
        with self._lock:
            now = self._clock()
            window = self._window.get(kind)
            if window is None or now - window[0] >= 60:
                suppressed = window[2] if window else 0
                window = self._window[kind] = [now, 0, 0]
                if suppressed:
                    self._logger.warning("%d more %s in the last minute were not logged", suppressed, kind)
            if window[1] >= self._per_minute:
                window[2] += 1
                return
            window[1] += 1
        self._logger.warning(message, *args)
