"""mapperdb.cachedir: a cache is used only when no other local user can write it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mapperdb import cachedir


@pytest.fixture
def base(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("MAPPERDB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_made_private_and_used(base: Path) -> None:
    assert cachedir.cache_dir("lint") == base / "lint"
    assert base.stat().st_mode & 0o777 == 0o700


def test_a_symlink_to_a_folder_of_ours_is_used(tmp_path: Path, base: Path) -> None:
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    base.symlink_to(tmp_path / "elsewhere")
    assert cachedir.cache_dir("lint") == base / "lint"


def test_writable_by_others_a_file_or_owned_by_another_user_is_not_used(
    tmp_path: Path, base: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    base.mkdir(mode=0o700)
    (base / "lint").write_text("not a folder")
    assert cachedir.cache_dir("lint") is None
    (base / "lint").unlink()
    (base / "lint").mkdir(mode=0o700)
    base.chmod(0o777)
    assert cachedir.cache_dir("lint") is None
    base.chmod(0o700)
    if os.geteuid() == 0:  # root can hand the folder to another user, as an attacker would own it
        os.chown(base / "lint", 65534, 65534)
        assert cachedir.cache_dir("lint") is None
    assert cachedir.cache_dir("synth") == base / "synth"  # absent: fine, made on use
    assert "not using the cache" in capfd.readouterr().err


def test_off_switch(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAPPERDB_LINT_CACHE", "off")
    assert cachedir.cache_dir("lint") is None
    assert cachedir.cache_dir("synth") == base / "synth"
