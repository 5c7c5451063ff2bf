"""The redacting, date-stamped logger: every logger of the process into logs/kite_app_YYYY-MM-DD.log
(one file per IST day) and the console, through the formatter that removes secrets.

The engine lives in kite_service.logs (redaction, escaping, daily files, retention, throttling);
this module sets it up and names what scripts use: `register_secret` and `redact`.
"""

import logging
import sys
from pathlib import Path

from kite_service.logs.files import DailyFileHandler, purge_old_logs
from kite_service.logs.formatter import LOG_FORMAT, RedactingFormatter
from kite_service.logs.redaction import REDACTED, SecretRegistry, redact, register_secret
from kite_service.logs.text import clean_text, escape_controls
from kite_service.logs.throttle import FloodFilter

__all__ = [
    "LOG_FORMAT",
    "QUIET_LOGGERS",
    "REDACTED",
    "DailyFileHandler",
    "RedactingFormatter",
    "SecretRegistry",
    "clean_text",
    "escape_controls",
    "purge_old_logs",
    "redact",
    "register_secret",
    "setup_logging",
]

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
# Libraries whose own lines a flood of connections repeats without end ("accept() out of system
# resource", handshake failures): a few of each a minute (FloodFilter).
FLOOD_PRONE_LOGGERS = ("asyncio", "waitress", "websockets.server", "websockets.client")


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
    for name in FLOOD_PRONE_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, FloodFilter) for f in logger.filters):  # set up twice: one filter
            logger.addFilter(FloodFilter())
    return file_handler
