"""The redacting formatter: every handler's line, traceback included, with secrets removed."""

import logging
import time

from kite_service.clock import IST_OFFSET_SECONDS

from .redaction import SecretRegistry, redact
from .text import escape_controls

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


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
