"""Fixtures of the audit CLI tests (defined in anchor_helpers, shared with tests/security)."""

from tests.audit.anchor_helpers import anchor_logins, chains

__all__ = ["anchor_logins", "chains"]
