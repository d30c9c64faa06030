"""Finding the server: the newest installed one, or one line saying what to install."""

from __future__ import annotations

import pytest

from mapperdb.errors import EnvironmentProblem
from mapperdb.pg.binaries import find_server
from mapperdb.platform import allowed_extension_names


def test_finds_an_installed_server_with_the_allowed_extensions() -> None:
    install = find_server()
    assert install.major >= 15
    assert (install.bindir / "postgres").exists()
    for name in allowed_extension_names():
        assert (install.sharedir / "extension" / f"{name}.control").exists()


def test_no_server_is_one_line_with_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGBINDIR", "/nonexistent/bin")
    with pytest.raises(EnvironmentProblem) as info:
        find_server()
    message = info.value.message
    assert "\n" not in message
    assert "apt-get install -y" in message
    for package in ("postgresql-15-cron", "postgresql-15-pgaudit", "postgresql-15-pgextwlist"):
        assert package in message
