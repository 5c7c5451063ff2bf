"""Outside text made safe for one log line: control characters escaped, length bounded."""

import re

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
