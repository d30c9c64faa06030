"""Tags on every taggable resource, applied once per stack instead of in every construct."""

from __future__ import annotations

from typing import Any

import jsii
from cdktf import IAspect, TerraformResource
from constructs import IConstruct


@jsii.implements(IAspect)
class TagEverything:
    """Merges the environment's tags into each resource that has a ``tags`` argument."""

    def __init__(self, tags: dict[str, str]) -> None:
        self.tags = tags

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, TerraformResource) and hasattr(type(node), "tags"):
            # ``tags`` reads back as a token; what the construct was given is ``tags_input``.
            given: Any = getattr(node, "tags_input", None)
            setattr(node, "tags", {**(given or {}), **self.tags})  # noqa: B010 - typed as absent
