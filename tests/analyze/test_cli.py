"""``mapperdb analyze`` as a pipeline runs it: formats, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import psycopg

from tests.analyze.conftest import ANALYZER, run_as_app
from tests.analyze.test_findings import SLOW
from tests.conftest import Database

REPO = Path(__file__).resolve().parents[2]
SARIF_SCHEMA = json.loads((REPO / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())


def mapperdb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mapperdb", "analyze", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=120,
    )


def test_json_markdown_sarif_and_the_exit_code(busy: Database) -> None:
    dsn = busy.conninfo(ANALYZER)
    clean = mapperdb("--dsn", dsn, "--format", "json")
    assert clean.returncode == 0, clean.stderr
    document: dict[str, Any] = json.loads(clean.stdout)
    assert set(document) == {
        "database", "server_version", "user", "ok", "checks", "failed_checks", "findings"
    }  # fmt: skip
    assert document["ok"] is True and document["user"] == ANALYZER
    assert document["checks"] == [f"AN{n:03d}" for n in range(1, 19)]
    for finding in document["findings"]:
        assert {"rule", "name", "severity", "object", "message", "evidence", "fix"} <= set(finding)
    # A missing partition of the current month is an error: exit 1, in every format.
    with psycopg.connect(busy.superuser_conninfo, autocommit=True) as conn:
        [current] = conn.execute(
            "select c.oid::regclass::text from pg_inherits i join pg_class c on c.oid = i.inhrelid"
            " where i.inhparent = 'mapper.detector_executions'::regclass"
            " and c.relname = 'detector_executions_p'"
            " || to_char(now() at time zone 'UTC', 'YYYYMM')"
        ).fetchone() or (None,)
        conn.execute(f"drop table {current}")
    for fmt in ("text", "json", "markdown", "sarif"):
        done = mapperdb("--dsn", dsn, "--format", fmt)
        assert done.returncode == 1, (fmt, done.stderr)
        assert "mapper.detector_executions" in done.stdout
    markdown = mapperdb("--dsn", dsn, "--format", "markdown").stdout
    assert "| error | AN012 partitions-missing | `mapper.detector_executions` |" in markdown
    sarif = json.loads(mapperdb("--dsn", dsn, "--format", "sarif").stdout)
    jsonschema.validate(sarif, SARIF_SCHEMA)
    text = mapperdb("--dsn", dsn).stdout.splitlines()
    assert text[1].startswith("error   AN012 mapper.detector_executions")  # errors first


def test_unreachable_database_and_bad_options_are_one_line_exit_2(tmp_path: Path) -> None:
    down = mapperdb("--dsn", f"host={tmp_path} port=1 dbname=x user=x")
    assert down.returncode == 2
    assert down.stderr.count("\n") == 1 and "cannot connect" in down.stderr
    assert "Traceback" not in down.stderr
    bad = mapperdb("--dsn", "host=/nonexistent", "--since", "a week")
    assert bad.returncode == 2 and "30s, 15min, 12h or 7d" in bad.stderr
    typo = mapperdb("--dsn", "host=/nonexistent", "--write-migrations", str(tmp_path / "nope"))
    assert typo.returncode == 2 and "'--write-migrations'" in typo.stderr
    assert "does not exist" in typo.stderr and not (tmp_path / "nope").exists()


def test_write_migrations_puts_each_advice_after_the_newest_version(
    busy: Database, tmp_path: Path
) -> None:
    run_as_app(busy, [SLOW])
    target = tmp_path / "migrations"
    target.mkdir()
    (target / "0041_x.up.sql").write_text("select 1;\n")
    # --slow-ms 0: every statement counts as slow, so the advice does not depend on timing.
    done = mapperdb(
        "--dsn", busy.conninfo(ANALYZER), "--slow-ms", "0", "--write-migrations", str(target)
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in target.glob("0042_*"))
    assert written == [
        "0042_storage_records_tenant_id_source_data_hash_idx.down.sql",
        "0042_storage_records_tenant_id_source_data_hash_idx.up.sql",
    ]
    assert (target / written[1]).read_text().startswith("-- mapperdb:no-transaction\n")


def test_the_check_catalog_in_docs_is_current() -> None:
    from mapperdb.analyze.docs import replace_block

    page = REPO / "docs" / "operations.md"
    text = page.read_text()
    assert replace_block(text) == text, (
        "docs/operations.md is stale; regenerate: .venv/bin/python -c 'from pathlib import Path;"
        ' from mapperdb.analyze.docs import replace_block as r; p = Path("docs/operations.md");'
        " p.write_text(r(p.read_text()))'"
    )
