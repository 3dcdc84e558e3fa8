"""The resume cache of ``gluonts-qf reproduce``: one JSON file per finished cell.

A cell file is complete or absent: :func:`write_atomic` writes a temporary
file next to it and renames it into place, and :func:`read_cell` accepts a
file only when it parses, says ``status: ok`` and carries the expected
fingerprint (so a truncated file, or one from other settings, is recomputed).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``.

    Readers see the old file or the complete new one, never a partial write;
    an interrupted write leaves no temporary file behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fp:
            fp.write(text)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_cell(path: Path, key: str) -> dict[str, Any] | None:
    """The finished cell at ``path`` if it is complete and its fingerprint is ``key``."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    ok = isinstance(record, dict) and record.get("status") == "ok"
    if not ok or record.get("fingerprint") != key or "metrics" not in record:
        return None
    return record
