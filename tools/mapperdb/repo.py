"""Where the repository is: one place that every command asks."""

from __future__ import annotations

from pathlib import Path

from mapperdb.errors import ConfigError


def repo_root(start: Path | None = None) -> Path:
    """The nearest directory holding cdktf.json and infra/environments, from ``start`` upwards."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "cdktf.json").is_file() and (candidate / "infra/environments").is_dir():
            return candidate
    raise ConfigError(
        f"no cdktf.json with infra/environments/ in {here} or above; run from the repository"
    )
