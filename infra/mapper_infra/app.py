"""Build every environment's stack in one App: one import of the azurerm bindings in all."""

from __future__ import annotations

import json
from pathlib import Path

from cdktf import App

from mapper_infra.config import Environment
from mapper_infra.provider import REQUIRED_TERRAFORM
from mapper_infra.stack import DatabaseStack

# Terraform reads every *.tf.json of a stack's directory. ``required_version`` lives in a file of
# its own because checkov 3.3's terraform_json parser fails on a scalar in the ``terraform``
# block of cdk.tf.json (it would stop checking the whole stack); Terraform merges both blocks.
VERSIONS_FILE = "versions.tf.json"


class DatabaseApp(App):
    """The CDKTF App, writing each stack's ``versions.tf.json`` next to its ``cdk.tf.json``."""

    def __init__(self, environments: list[Environment], outdir: Path | None) -> None:
        super().__init__(outdir=str(outdir) if outdir else None)
        self.names = [env.name for env in environments]
        for env in environments:
            DatabaseStack(self, env)

    def synth(self) -> None:
        super().synth()
        versions = {"terraform": {"required_version": REQUIRED_TERRAFORM}}
        for name in self.names:
            stack_dir = Path(self.outdir) / "stacks" / name
            (stack_dir / VERSIONS_FILE).write_text(json.dumps(versions, indent=2) + "\n")


def build_app(environments: list[Environment], outdir: Path | None = None) -> App:
    """``outdir`` None lets the cdktf CLI choose (it passes CDKTF_OUTDIR)."""
    return DatabaseApp(environments, outdir)
