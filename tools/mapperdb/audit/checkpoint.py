"""Checkpoint files: every tenant's chain head, copied out of the database.

``DIR/checkpoint-NNNNNNNN.json`` (NNNNNNNN = 1, 2, ...), one JSON object each::

    {"format": "mapperdb-audit-checkpoint/1", "sequence": 3, "taken_at": "...",
     "database": "mapper", "previous": {"file": "checkpoint-00000002.json", "sha256": "..."},
     "heads": [{"tenant_id", "chain_seq", "hash", "time"}, ...],
     "signature": {"alg": "hmac-sha256", "value": "..."}}        (only with a key)

``previous.sha256`` is the sha256 of the previous file's bytes, so the files form a chain of
their own: an edited or deleted file breaks it at the next one. With
``MAPPERDB_AUDIT_CHECKPOINT_KEY`` set, each file is also signed (HMAC-SHA256 of the document
without its signature, as sorted compact JSON), so editing the newest file needs the key too.
A file is written to a temporary name, fsynced and hard-linked to its final name, which fails
if that name exists: a checkpoint is never overwritten or seen half-written.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mapperdb.audit.heads import Head
from mapperdb.errors import ConfigError

FORMAT = "mapperdb-audit-checkpoint/1"
KEY_ENV = "MAPPERDB_AUDIT_CHECKPOINT_KEY"
NAME = re.compile(r"^checkpoint-(\d{8})\.json$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def file_name(sequence: int) -> str:
    return f"checkpoint-{sequence:08d}.json"


def signing_key() -> bytes | None:
    """The HMAC key from the environment (its UTF-8 bytes), or None when unset or empty."""
    value = os.environ.get(KEY_ENV, "")
    return value.encode() if value else None


def signature(document: dict[str, Any], key: bytes) -> str:
    unsigned = {k: v for k, v in document.items() if k != "signature"}
    canonical = json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    sequence: int
    sha256: str  # of the file's bytes
    document: dict[str, Any]

    @property
    def previous(self) -> dict[str, Any] | None:
        previous = self.document.get("previous")
        return previous if isinstance(previous, dict) else None

    @property
    def heads(self) -> list[Head]:
        return [
            Head(h["tenant_id"], h.get("chain_seq"), h.get("hash"), h.get("time"))
            for h in self.document["heads"]
        ]


@dataclass(frozen=True, order=True)
class FileProblem:
    """What is wrong with the checkpoint files themselves (JSON: file, status, message)."""

    file: str
    status: str  # unreadable | missing | changed | unsigned | bad_signature | other_database
    message: str

    def as_json(self) -> dict[str, str]:
        return {"file": self.file, "status": self.status, "message": self.message}


def _is_uuid(value: object) -> bool:
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _parse(path: Path, sequence: int) -> Checkpoint:
    """A checkpoint file, or ValueError saying what is wrong with it."""
    data = path.read_bytes()
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} document")
    if document.get("sequence") != sequence:
        raise ValueError(f"its sequence is {document.get('sequence')!r}, its name says {sequence}")
    heads = document.get("heads")
    if not isinstance(heads, list) or not all(
        isinstance(h, dict)
        and _is_uuid(h.get("tenant_id"))
        and (h.get("chain_seq") is None or isinstance(h.get("chain_seq"), int))
        and (h.get("hash") is None or HEX64.match(str(h.get("hash"))))
        for h in heads
    ):
        raise ValueError("its heads are not a list of {tenant_id, chain_seq, hash, time}")
    return Checkpoint(path, sequence, hashlib.sha256(data).hexdigest(), document)


def require_directory(directory: Path) -> None:
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "does not exist"
        raise ConfigError(
            f"checkpoint directory {directory} {what}; create it (an empty directory starts a "
            "new checkpoint chain) or pass the right path"
        )


def _names(directory: Path) -> list[tuple[int, Path]]:
    require_directory(directory)
    found = []
    for path in directory.iterdir():
        match = NAME.match(path.name)
        if match is not None and path.is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


@dataclass(frozen=True)
class Directory:
    """The checkpoint files of a directory: the readable ones in sequence order, a problem for
    each unreadable one, and every sequence number present."""

    path: Path
    checkpoints: list[Checkpoint]
    unreadable: list[FileProblem]
    sequences: list[int]


def load(directory: Path) -> Directory:
    checkpoints: list[Checkpoint] = []
    problems: list[FileProblem] = []
    names = _names(directory)
    for sequence, path in names:
        try:
            checkpoints.append(_parse(path, sequence))
        except (OSError, ValueError) as exc:
            problems.append(FileProblem(path.name, "unreadable", f"{path.name}: {exc}"))
    return Directory(directory, checkpoints, problems, [sequence for sequence, _ in names])


def check_chain(loaded: Directory, database: str, key: bytes | None) -> list[FileProblem]:
    """The files' own chain: no gap in the sequence, each file as the next one recorded it,
    every file of this database, and (with a key) every file signed with it."""
    problems = list(loaded.unreadable)
    checkpoints = loaded.checkpoints
    by_sequence = {c.sequence: c for c in checkpoints}
    known = set(loaded.sequences)
    for sequence in range(1, max(known, default=0) + 1):
        if sequence not in known:
            problems.append(
                FileProblem(
                    file_name(sequence),
                    "missing",
                    f"{file_name(sequence)} is missing: the checkpoint chain has a gap "
                    "(a checkpoint was deleted)",
                )
            )
    for current in checkpoints:
        name = current.path.name
        previous = current.previous
        before = by_sequence.get(current.sequence - 1)
        if current.sequence > 1 and previous is None:
            problems.append(
                FileProblem(name, "changed", f"{name} names no previous checkpoint (edited)")
            )
        elif current.sequence == 1 and previous is not None:
            problems.append(
                FileProblem(
                    name,
                    "changed",
                    f"{name} is the first file but names a previous checkpoint: the chain's "
                    "start was removed and the files renumbered",
                )
            )
        elif (
            previous is not None
            and before is not None
            and (
                previous.get("file") != before.path.name or previous.get("sha256") != before.sha256
            )
        ):
            problems.append(
                FileProblem(
                    before.path.name,
                    "changed",
                    f"{before.path.name} is not the file {name} was chained to "
                    f"(sha256 {before.sha256[:12]}..., recorded {str(previous.get('sha256'))[:12]}"
                    "...): it was edited or replaced after it was written",
                )
            )
        if current.document.get("database") != database:
            problems.append(
                FileProblem(
                    name,
                    "other_database",
                    f"{name} is a checkpoint of database {current.document.get('database')!r}, "
                    f"not {database!r}",
                )
            )
        if key is not None:
            signed = current.document.get("signature")
            if not isinstance(signed, dict) or "value" not in signed:
                problems.append(
                    FileProblem(name, "unsigned", f"{name} has no signature ({KEY_ENV} is set)")
                )
            elif not hmac.compare_digest(str(signed["value"]), signature(current.document, key)):
                problems.append(
                    FileProblem(
                        name,
                        "bad_signature",
                        f"{name}: its signature does not match its content with the key in "
                        f"{KEY_ENV} (edited, or signed with another key)",
                    )
                )
    return sorted(problems)


def publish(path: Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` atomically; never replaces an existing file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)
    except FileExistsError:
        raise ConfigError(
            f"{path} already exists: another checkpoint run wrote it at the same time; "
            "run again (checkpoints are never overwritten)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}; check the directory") from None
    finally:
        temporary.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def write(
    directory: Path, heads: list[Head], database: str, taken_at: str, key: bytes | None
) -> Checkpoint:
    """The next checkpoint of ``directory``, chained to the newest one there."""
    names = _names(directory)
    previous: dict[str, str] | None = None
    if names:
        sequence, path = names[-1]
        try:
            latest = _parse(path, sequence)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot chain to {path}: {exc}; restore it from the archive (mapperdb audit "
                "verify --checkpoints reports the chain)"
            ) from None
        if latest.document.get("database") != database:
            raise ConfigError(
                f"{directory} holds checkpoints of database "
                f"{latest.document.get('database')!r}, not {database!r}; use one directory "
                "per database"
            )
        previous = {"file": path.name, "sha256": latest.sha256}
    sequence = names[-1][0] + 1 if names else 1
    document: dict[str, Any] = {
        "format": FORMAT,
        "sequence": sequence,
        "taken_at": taken_at,
        "database": database,
        "previous": previous,
        "heads": [h.as_json() for h in heads],
    }
    if key is not None:
        document["signature"] = {"alg": "hmac-sha256", "value": signature(document, key)}
    data = (json.dumps(document, indent=2) + "\n").encode()
    path = directory / file_name(sequence)
    publish(path, data)
    return Checkpoint(path, sequence, hashlib.sha256(data).hexdigest(), document)
