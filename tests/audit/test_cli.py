"""``mapperdb audit checkpoint|verify``: files, exit codes, JSON, and errors in one line."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mapperdb.audit.checkpoint import KEY_ENV, publish
from mapperdb.errors import ConfigError
from mapperdb.pg.ephemeral import free_port
from tests.audit.anchor_helpers import (
    LINKS,
    TENANT_A,
    TENANT_B,
    Chains,
    checkpoint,
    run,
    statuses,
    verify,
)

A, B = str(TENANT_A), str(TENANT_B)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    directory = tmp_path / "checkpoints"
    directory.mkdir()
    return directory


def document(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


def backdate(path: Path) -> None:
    """An edit that leaves the heads alone: only the files' own chain can show it."""
    edited = document(path)
    edited["taken_at"] = "2000-01-01T00:00:00+00:00"
    path.write_text(json.dumps(edited, indent=2) + "\n")


def test_checkpoints_are_hash_chained_files(
    chains: Chains, out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = checkpoint(capsys, chains, out)
    assert first.code == 0
    assert "2 tenants, the first of its chain" in first.out
    chains.write(TENANT_B, 2)
    assert checkpoint(capsys, chains, out).code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint-00000001.json",
        "checkpoint-00000002.json",
    ]
    one, two = (document(out / f"checkpoint-0000000{n}.json") for n in (1, 2))
    assert one["previous"] is None
    assert two["previous"] == {
        "file": "checkpoint-00000001.json",
        "sha256": hashlib.sha256((out / "checkpoint-00000001.json").read_bytes()).hexdigest(),
    }
    assert two["format"] == "mapperdb-audit-checkpoint/1"
    assert two["sequence"] == 2
    assert two["database"] == chains.db.name
    assert "signature" not in two
    heads = {h["tenant_id"]: h for h in two["heads"]}
    assert sorted(heads) == [A, B]
    assert (heads[A]["chain_seq"], heads[B]["chain_seq"]) == (LINKS, LINKS + 2)
    assert heads[B]["hash"] == chains.links(TENANT_B)[-1][2].hex()
    assert set(heads[A]) == {"tenant_id", "chain_seq", "hash", "time"}


def test_a_checkpoint_is_never_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "checkpoint-00000001.json"
    target.write_text("original")
    with pytest.raises(ConfigError, match="already exists"):
        publish(target, b"replacement")
    assert target.read_text() == "original"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_verify_json_is_stable(
    chains: Chains, out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint(capsys, chains, out)
    result = verify(capsys, chains, out)
    assert result.code == 0
    report = result.json
    assert list(report) == ["intact", "tenants", "checkpoints"]
    assert report["intact"] is True
    assert report["tenants"][0] == {
        "tenant_id": A,
        "status": "intact",
        "chain_seq": None,
        "head_seq": LINKS,
        "checkpoint": {"file": "checkpoint-00000001.json", "chain_seq": LINKS},
        "message": f"links 1 to {LINKS} verified; matches checkpoint-00000001.json (link {LINKS})",
    }
    assert report["checkpoints"] == {
        "directory": str(out),
        "files": 1,
        "latest": "checkpoint-00000001.json",
        "signatures_checked": False,
        "problems": [],
    }
    assert verify(capsys, chains, None).json["checkpoints"] is None


def test_verify_text(chains: Chains, out: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint(capsys, chains, out)
    result = run(capsys, "audit", "verify", "--dsn", chains.auditor_dsn, "--checkpoints", str(out))
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].startswith(f"{A}  intact  links 1 to {LINKS} verified")
    assert lines[-1].startswith("intact: 2 tenants, 0 not intact; 1 checkpoint files")
    assert f"{KEY_ENV} is not set" in lines[-1]
    chains.tamper("delete from mapper.audit_chain_heads where tenant_id = %(t)s", {"t": TENANT_B})
    result = run(capsys, "audit", "verify", "--dsn", chains.auditor_dsn, "--checkpoints", str(out))
    assert result.code == 1
    lines = result.out.splitlines()
    assert lines[1] == (
        f"{B}  missing_head  the chain head is missing; the trail has links up to {LINKS} "
        "(head deleted)"
    )
    assert lines[-1].startswith("NOT INTACT: 2 tenants, 1 not intact")


def test_an_edited_or_deleted_checkpoint_file_is_reported(
    chains: Chains, out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(3):
        checkpoint(capsys, chains, out)
    first = out / "checkpoint-00000001.json"
    backdate(first)
    result = verify(capsys, chains, out)
    assert result.code == 1
    assert statuses(result) == {A: ("intact", None), B: ("intact", None)}
    assert [(p["file"], p["status"]) for p in result.json["checkpoints"]["problems"]] == [
        ("checkpoint-00000001.json", "changed")
    ]
    (out / "checkpoint-00000002.json").unlink()
    result = verify(capsys, chains, out)
    assert result.code == 1
    assert [(p["file"], p["status"]) for p in result.json["checkpoints"]["problems"]] == [
        ("checkpoint-00000002.json", "missing")
    ]
    third = document(out / "checkpoint-00000003.json")
    third["heads"][0]["tenant_id"] = "a' or true --"
    (out / "checkpoint-00000003.json").write_text(json.dumps(third))
    result = verify(capsys, chains, out)
    assert ("checkpoint-00000003.json", "unreadable") in [
        (p["file"], p["status"]) for p in result.json["checkpoints"]["problems"]
    ]
    (out / "checkpoint-00000003.json").write_text("{not json")
    result = verify(capsys, chains, out)
    assert ("checkpoint-00000003.json", "unreadable") in [
        (p["file"], p["status"]) for p in result.json["checkpoints"]["problems"]
    ]
    refused = checkpoint(capsys, chains, out)
    assert refused.code == 2
    assert "cannot chain to" in refused.err
    assert len(refused.err.strip().splitlines()) == 1


def test_a_renumbered_checkpoint_chain_is_reported(
    chains: Chains, out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Drop the first file and renumber the second as the first: its own record gives it away."""
    for _ in range(2):
        checkpoint(capsys, chains, out)
    (out / "checkpoint-00000001.json").unlink()
    second = document(out / "checkpoint-00000002.json")
    second["sequence"] = 1
    (out / "checkpoint-00000001.json").write_text(json.dumps(second, indent=2) + "\n")
    (out / "checkpoint-00000002.json").unlink()
    result = verify(capsys, chains, out)
    assert result.code == 1
    assert [(p["file"], p["status"]) for p in result.json["checkpoints"]["problems"]] == [
        ("checkpoint-00000001.json", "changed")
    ]


def test_signed_checkpoints(
    chains: Chains, out: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "a key from the vault")
    assert "signed" in checkpoint(capsys, chains, out).out
    assert checkpoint(capsys, chains, out).code == 0
    result = verify(capsys, chains, out)
    assert result.code == 0
    assert result.json["checkpoints"]["signatures_checked"] is True
    # The newest file has no successor to break: only its signature shows an edit.
    latest = out / "checkpoint-00000002.json"
    backdate(latest)
    result = verify(capsys, chains, out)
    assert result.code == 1
    assert [(p["file"], p["status"]) for p in result.json["checkpoints"]["problems"]] == [
        ("checkpoint-00000002.json", "bad_signature")
    ]
    monkeypatch.setenv(KEY_ENV, "another key")
    assert {p["status"] for p in verify(capsys, chains, out).json["checkpoints"]["problems"]} == {
        "bad_signature"
    }


def test_a_directory_of_another_database_is_refused(
    chains: Chains, out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint(capsys, chains, out)
    first = out / "checkpoint-00000001.json"
    first.write_text(first.read_text().replace(chains.db.name, "elsewhere"))
    refused = checkpoint(capsys, chains, out)
    assert refused.code == 2
    assert "one directory per database" in refused.err
    result = verify(capsys, chains, out)
    assert result.code == 1
    assert [p["status"] for p in result.json["checkpoints"]["problems"]] == ["other_database"]


@pytest.mark.parametrize("command", ["checkpoint", "verify"])
def test_a_bad_directory_is_one_line_exit_2(
    chains: Chains, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    option = "--out" if command == "checkpoint" else "--checkpoints"
    for path, what in ((tmp_path / "nowhere", "does not exist"), (a_file, "not a directory")):
        result = run(capsys, "audit", command, "--dsn", chains.auditor_dsn, option, str(path))
        assert result.code == 2
        assert what in result.err
        assert len(result.err.strip().splitlines()) == 1
        assert result.out == ""


@pytest.mark.parametrize("command", ["checkpoint", "verify"])
def test_only_an_auditor_can_run_it(
    chains: Chains, out: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    option = ["--out", str(out)] if command == "checkpoint" else []
    result = run(capsys, "audit", command, "--dsn", chains.db.conninfo("anchor_app"), *option)
    assert result.code == 2
    assert "permission denied" in result.err
    assert "login member of mapper_auditor" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert list(out.iterdir()) == []


def test_an_unreachable_database_is_one_line_exit_2(out: Path) -> None:
    dsn = f"host=127.0.0.1 port={free_port()} dbname=mapper user=auditor connect_timeout=2"
    for args in (["checkpoint", "--out", str(out)], ["verify", "--format", "json"]):
        proc = subprocess.run(
            [sys.executable, "-m", "mapperdb", "audit", *args, "--dsn", dsn],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 2, proc.stderr
        assert proc.stdout == ""
        assert proc.stderr.startswith("mapperdb: error: cannot connect to auditor@127.0.0.1")
        assert len(proc.stderr.strip().splitlines()) == 1
