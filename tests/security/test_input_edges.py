"""Input edges: array contents and shape, and names with control or bidirectional characters,
refused at the database edge by a named constraint; where two checks could both apply, the
one the input broke is named."""

from __future__ import annotations

from typing import Any

import pytest
from psycopg import errors

from tests.schema.schema_helpers import TENANT_A, Speaker, add_tenant, tenant
from tests.schema.test_constraints import GOOD, counts, insert

LABELS = "storage_records_taxonomy_labels_check"
DETECTORS = "tenant_configs_allowed_detector_types_check"
NAME = "tenant_configs_name_check"
CASES: list[tuple[str, dict[str, Any], str]] = [
    ("storage_records", {"taxonomy_labels": ["A|B"]}, LABELS),
    ("storage_records", {"taxonomy_labels": ["A", "B|C"]}, LABELS),
    ("storage_records", {"taxonomy_labels": ["A", ""]}, LABELS),
    ("storage_records", {"taxonomy_labels": [""]}, LABELS),
    ("storage_records", {"taxonomy_labels": [["A", "B"], ["C", "D"]]}, LABELS),
    ("storage_records", {"taxonomy_labels": "[0:1]={A,B}"}, LABELS),
    ("tenant_configs", {"allowed_detector_types": ["pii,toxicity"]}, DETECTORS),
    ("tenant_configs", {"allowed_detector_types": [""]}, DETECTORS),
    ("tenant_configs", {"allowed_detector_types": ["pii", ""]}, DETECTORS),
    ("tenant_configs", {"allowed_detector_types": [["pii"], ["toxicity"]]}, DETECTORS),
    ("tenant_configs", {"allowed_detector_types": ["a" * 64]}, DETECTORS),
    ("tenant_configs", {"allowed_detector_types": ["pii"] * 65}, DETECTORS),
    ("tenant_configs", {"name": "alpha\x07"}, NAME),
    ("tenant_configs", {"name": "alpha\nbravo"}, NAME),
    ("tenant_configs", {"name": "\u202eahpla"}, NAME),
    ("tenant_configs", {"name": "al\u200bpha"}, NAME),
    ("tenant_configs", {"name": "alpha\u2066x\u2069"}, NAME),
    ("tenant_configs", {"name": "alpha\x85"}, NAME),
    ("tenant_configs", {"name": "\ufeffalpha"}, NAME),
    # Overlapping checks, disjoint: a time out of the window breaks only its own check.
    (
        "tenant_configs",
        {"created_at": "infinity", "updated_at": "2025-01-01"},
        "tenant_configs_created_at_check",
    ),
    (
        "tenant_configs",
        {"created_at": "2025-01-02", "updated_at": "1999-01-01"},
        "tenant_configs_updated_at_check",
    ),
    (
        "detector_executions",
        {"started_at": "2025-01-02", "finished_at": "1999-01-01"},
        "detector_executions_finished_at_check",
    ),
    (
        "detector_executions",
        {"started_at": "-infinity", "finished_at": "2025-01-01"},
        "detector_executions_started_at_check",
    ),
    (
        "detector_executions",
        {"started_at": "2025-01-02", "finished_at": "2025-01-01"},
        "detector_executions_finished_check",
    ),
]


@pytest.mark.parametrize(
    ("table", "change", "constraint"), CASES, ids=[f"{c[2]}-{i}" for i, c in enumerate(CASES)]
)
def test_bad_input_names_the_constraint_it_broke(
    speak: Speaker, table: str, change: dict[str, Any], constraint: str
) -> None:
    if table != "tenant_configs":
        with speak.app() as conn:
            add_tenant(conn, TENANT_A, "alpha")
    before = counts(speak)
    with (
        speak.app() as conn,
        pytest.raises(errors.CheckViolation) as caught,
        tenant(conn, TENANT_A) as cur,
    ):
        insert(cur, table, [{**GOOD[table], **change}])
    assert caught.value.diag.constraint_name == constraint
    assert counts(speak) == before


@pytest.mark.parametrize(
    ("table", "change"),
    [
        ("tenant_configs", {"name": "Zoë Ünïcode 日本 — ok"}),
        ("tenant_configs", {"allowed_detector_types": []}),
        ("tenant_configs", {"allowed_detector_types": ["pii", "toxicity", "a" * 63]}),
        ("storage_records", {"taxonomy_labels": ["A", "B.c-d_1"]}),
    ],
)
def test_good_edges_are_accepted(speak: Speaker, table: str, change: dict[str, Any]) -> None:
    if table != "tenant_configs":
        with speak.app() as conn:
            add_tenant(conn, TENANT_A, "alpha")
    with speak.app() as conn, tenant(conn, TENANT_A) as cur:
        insert(cur, table, [{**GOOD[table], **change}])
