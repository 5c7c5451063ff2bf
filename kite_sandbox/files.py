"""The sandbox's files (demo credentials, sessions): JSON written whole or not at all, owner-only."""

import contextlib
import os
import tempfile
from pathlib import Path

import orjson


def write_json_atomic(path: Path, data) -> None:
    """Write `data` as JSON to `path` through a temporary file and os.replace; 0600 from the first byte."""
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(orjson.dumps(data, option=orjson.OPT_INDENT_2))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
