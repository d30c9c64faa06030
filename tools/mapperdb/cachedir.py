"""Where mapperdb keeps what it can reuse across runs on one machine.

``$MAPPERDB_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/mapperdb``, else ``~/.cache/mapperdb``.
Each cache has a folder of its own and a switch ``MAPPERDB_<NAME>_CACHE=off``; every entry is
keyed by a hash of everything that decides its content, so a stale entry is never read, only
left behind (delete the folder to reclaim the space).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def base() -> Path:
    configured = os.environ.get("MAPPERDB_CACHE_DIR")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mapperdb"


def cache_dir(name: str) -> Path | None:
    """``<base>/<name>``, or None when ``MAPPERDB_<NAME>_CACHE=off``."""
    if os.environ.get(f"MAPPERDB_{name.upper()}_CACHE") == "off":
        return None
    return base() / name


def write_atomically(path: Path, data: bytes) -> None:
    """Readers see the whole file or none of it. A failure (read-only, full disk) is not an
    error for a cache: the entry is simply not kept."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
