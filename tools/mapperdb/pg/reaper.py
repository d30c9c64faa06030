"""Watchdog that removes an ephemeral cluster when its owner process dies, however it dies.

The owner starts ``python -m mapperdb.pg.reaper DIR`` in its own session and keeps the write
end of the reaper's stdin. Only the owner holds that end (pipes are not inherited by the
postgres processes), so EOF on stdin means the owner is gone: after a clean stop (nothing left
to do), Ctrl-C, SIGTERM, SIGKILL or a crash. The reaper then stops the postmaster and deletes
the directory, so no orphan process or temp directory outlives a test run.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from pathlib import Path

STOP_GRACE_S = 5.0


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    # A zombie is dead for our purpose: PID 1 in a container may never reap it.
    return state not in ("Z", "X")


def postmaster_pid(datadir: Path) -> int | None:
    try:
        return int((datadir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def stop_postmaster(pid: int, grace_s: float = STOP_GRACE_S) -> None:
    """Immediate shutdown (SIGQUIT), then SIGKILL if it lingers: the data is throwaway."""
    for sig, wait in ((signal.SIGQUIT, grace_s), (signal.SIGKILL, grace_s)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.02)


def reap(root: Path) -> None:
    pid = postmaster_pid(root / "data")
    if pid is not None and _alive(pid):
        stop_postmaster(pid)
    shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    root = Path(sys.argv[1])
    # Terminal signals go to the owner's process group, not ours (we run in our own session);
    # ignore stray ones anyway so cleanup is never cut short.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    while sys.stdin.buffer.read(4096):
        pass
    reap(root)


if __name__ == "__main__":
    main()
