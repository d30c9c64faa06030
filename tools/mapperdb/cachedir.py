"""Where mapperdb keeps what it can reuse across runs on one machine.

``$MAPPERDB_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/mapperdb``, else ``~/.cache/mapperdb``.
Each cache has a folder of its own and a switch ``MAPPERDB_<NAME>_CACHE=off``; every entry is
keyed by a hash of everything that decides its content, so a stale entry is never read, only
left behind (delete the folder to reclaim the space). A cache folder that someone else can write
is not used (:func:`trusted`).
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from pathlib import Path


def base() -> Path:
    configured = os.environ.get("MAPPERDB_CACHE_DIR")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mapperdb"


def cache_dir(name: str) -> Path | None:
    """``<base>/<name>``, or None when ``MAPPERDB_<NAME>_CACHE=off`` or it is not trusted."""
    if os.environ.get(f"MAPPERDB_{name.upper()}_CACHE") == "off":
        return None
    root = base()
    return root / name if trusted(root) and trusted(root / name, create=False) else None


def trusted(path: Path, *, create: bool = True) -> bool:
    """Whether only we can write ``path`` (made 0700 when absent and ``create``).

    A cache is read as the truth (lint verdicts, synthesized stacks, an initialised cluster), so
    one that another local user can write (a shared ``MAPPERDB_CACHE_DIR`` in /tmp, another
    user's home under sudo) is not used; mapperdb says so once and works without it.
    """
    try:
        if create:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.stat()  # a symlink to a folder of ours is fine: the folder is what is used
    except FileNotFoundError:
        return not create
    except OSError as exc:
        return _distrust(path, f"cannot use it ({exc.strerror})")
    if not stat.S_ISDIR(info.st_mode):
        return _distrust(path, "it is not a directory")
    if info.st_uid != os.geteuid():
        return _distrust(path, "another user owns it")
    if info.st_mode & 0o022:
        return _distrust(path, "others may write it (chmod go-w)")
    return True


_warned: set[Path] = set()


def _distrust(path: Path, why: str) -> bool:
    if path not in _warned:
        _warned.add(path)
        print(f"mapperdb: not using the cache {path}: {why}", file=sys.stderr)
    return False


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
