"""Finding the server: the newest installed one, or one line saying what to install."""

from __future__ import annotations

import pytest

from mapperdb.errors import EnvironmentProblem
from mapperdb.pg.binaries import NPM_BUILDS, find_server
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


def test_an_unsupported_major_is_one_line_naming_the_supported_ones() -> None:
    with pytest.raises(EnvironmentProblem) as info:
        find_server(16)
    assert "\n" not in info.value.message
    assert "15, 17, 18" in info.value.message


@pytest.mark.parametrize("major", sorted(NPM_BUILDS))
def test_an_npm_build_is_prepared_for_azure_and_says_what_it_lacks(major: int) -> None:
    install = find_server(major)
    assert install.major == major
    assert install.source == "npm"
    extdir = install.sharedir / "extension"
    for name in allowed_extension_names():
        if name in install.missing:
            assert not (extdir / f"{name}.control").exists()
            continue
        # The non-superuser admin may create what azure.extensions lists: trusted.
        control = (extdir / f"{name}.control").read_text()
        assert control.rstrip().endswith("trusted = true"), name
    assert set(install.emulated) == {"pg_cron", "pgaudit"}
    note = install.limitations()
    assert note is not None
    assert "pg_cron" in note and "pgaudit" in note and "\n" not in note
    # Readable by the unprivileged server user, whose home is not ours.
    assert install.bindir.stat().st_mode & 0o005 == 0o005


def test_debian_15_has_the_real_extensions_and_no_limitations() -> None:
    install = find_server(15)
    assert install.source == "debian"
    assert install.emulated == () and install.missing == ()
    assert install.limitations() is None
