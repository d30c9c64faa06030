"""Reading synthesized Terraform JSON in tests."""

from __future__ import annotations

from typing import Any


def resources(stack: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = stack.get("resource", {}).get(f"azurerm_{kind}", {})
    return found


def ref(kind: str, name: str, attribute: str = "id") -> str:
    """How the synthesized JSON refers to another resource's attribute."""
    return f"${{azurerm_{kind}.{name}.{attribute}}}"
