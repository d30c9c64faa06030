"""What a saved plan does: counts, every replacement with the attribute forcing it, and which
changes touch a protected resource (one that holds data or keys and cannot be recreated empty).

Counting follows Terraform's own "Plan: X to add, Y to change, Z to destroy": a replacement
counts once as an add and once as a destroy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Resource type -> why destroying or replacing it needs a person to say so (--allow-replace).
# Decided by type, so a new server or vault is protected from its first plan on; docs/infra.md
# ("How a pipeline deploys") lists the same table.
PROTECTED_TYPES: Mapping[str, str] = {
    "azurerm_postgresql_flexible_server": "the server or a read replica: its data and backups",
    "azurerm_postgresql_flexible_server_database": "the application database itself",
    "azurerm_key_vault": "holds the customer-managed keys; purge protection blocks a new one",
    "azurerm_key_vault_key": "a new key cannot decrypt what the old one encrypted",
    "azurerm_user_assigned_identity": "a new identity loses the key grants: Inaccessible server",
    "azurerm_data_protection_backup_vault": "long-term backups live in it",
    "azurerm_data_protection_backup_instance_postgresql_flexible_server": "the server's LTR chain",
    "azurerm_storage_account": "the archive account: exports and immutable audit archives",
    "azurerm_storage_container": "archived exports and audit records",
}


@dataclass(frozen=True)
class Change:
    address: str
    type: str
    actions: tuple[str, ...]
    replace_paths: tuple[str, ...] = ()
    protected_reason: str | None = None

    @property
    def action(self) -> str:
        if self.actions in (("delete", "create"), ("create", "delete")):
            return "replace"
        return {"create": "create", "update": "update", "delete": "delete"}.get(
            self.actions[0], self.actions[0]
        )

    @property
    def destructive(self) -> bool:
        return self.action in ("replace", "delete")

    def as_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "type": self.type,
            "action": self.action,
            "replace_paths": list(self.replace_paths),
            "protected": self.protected_reason is not None,
            "protected_reason": self.protected_reason,
        }


@dataclass(frozen=True)
class PlanSummary:
    """The summary a reviewer reads and the pipeline stores next to the plan."""

    plan_sha256: str
    changes: tuple[Change, ...]
    output_changes: tuple[str, ...] = ()
    allowed: frozenset[str] = field(default_factory=frozenset)

    def count(self, action: str) -> int:
        return sum(c.action == action for c in self.changes)

    @property
    def adds(self) -> int:
        return self.count("create") + self.count("replace")

    @property
    def updates(self) -> int:
        return self.count("update")

    @property
    def destroys(self) -> int:
        return self.count("delete") + self.count("replace")

    @property
    def replacements(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action == "replace")

    @property
    def has_changes(self) -> bool:
        return bool(self.changes or self.output_changes)

    @property
    def blocked(self) -> tuple[Change, ...]:
        """Destroys and replacements of protected resources not named by --allow-replace."""
        return tuple(
            c
            for c in self.changes
            if c.destructive and c.protected_reason and c.address not in self.allowed
        )

    def headline(self) -> str:
        return f"{self.adds} to add, {self.updates} to change, {self.destroys} to destroy"

    def as_json(self) -> dict[str, Any]:
        return {
            "plan_sha256": self.plan_sha256,
            "add": self.adds,
            "change": self.updates,
            "destroy": self.destroys,
            "changes": [c.as_json() for c in self.changes],
            "output_changes": list(self.output_changes),
            "has_changes": self.has_changes,
            "blocked": [c.address for c in self.blocked],
            "allowed": sorted(self.allowed),
        }

    def lines(self) -> list[str]:
        """Plain text, one line per change that is not a plain create or update first."""
        out = [f"plan {self.plan_sha256[:12]}: {self.headline()}"]
        for change in sorted(self.changes, key=_review_order):
            why = f" (forced by {', '.join(change.replace_paths)})" if change.replace_paths else ""
            mark = ""
            if change.destructive and change.protected_reason:
                allowed = change.address in self.allowed
                mark = f"  [protected: {change.protected_reason}" + (
                    "; allowed by --allow-replace]" if allowed else "]"
                )
            out.append(f"  {change.action:<7} {change.address}{why}{mark}")
        return out

    def markdown(self, title: str) -> str:
        rows = [
            f"### {title}",
            "",
            f"`{self.headline()}` (plan sha256 `{self.plan_sha256[:12]}`)",
            "",
        ]
        if self.blocked:
            rows += [
                f"**Blocked:** {len(self.blocked)} protected resource(s) destroyed or replaced; "
                "rerun with `--allow-replace ADDRESS` only if that is intended.",
                "",
            ]
        if self.changes:
            rows += ["| action | address | forced by | protected |", "|---|---|---|---|"]
            for c in sorted(self.changes, key=_review_order):
                forced = ", ".join(f"`{p}`" for p in c.replace_paths)
                protected = c.protected_reason if c.destructive and c.protected_reason else ""
                rows.append(f"| {c.action} | `{c.address}` | {forced} | {protected} |")
        return "\n".join(rows) + "\n"


def _review_order(change: Change) -> tuple[int, str]:
    rank = {"delete": 0, "replace": 1, "update": 2, "create": 3}
    return (rank.get(change.action, 4), change.address)


def _path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def summarize(
    plan_json: Mapping[str, Any],
    plan_sha256: str,
    *,
    allowed: Iterable[str] = (),
    protected: Mapping[str, str] = PROTECTED_TYPES,
) -> PlanSummary:
    """Read ``terraform show -json PLAN``: every resource change that is not a no-op or read."""
    changes = []
    for rc in plan_json.get("resource_changes", []):
        actions = tuple(rc["change"]["actions"])
        if actions in (("no-op",), ("read",)):
            continue
        changes.append(
            Change(
                address=rc["address"],
                type=rc["type"],
                actions=actions,
                replace_paths=tuple(_path(p) for p in rc["change"].get("replace_paths") or []),
                protected_reason=protected.get(rc["type"]),
            )
        )
    outputs = tuple(
        name
        for name, oc in (plan_json.get("output_changes") or {}).items()
        if tuple(oc["actions"]) != ("no-op",)
    )
    return PlanSummary(plan_sha256, tuple(changes), outputs, frozenset(allowed))


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
