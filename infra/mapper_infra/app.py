"""Build every environment's stack in one App: one import of the azurerm bindings in all."""

from __future__ import annotations

from pathlib import Path

from cdktf import App

from mapper_infra.config import Environment
from mapper_infra.stack import DatabaseStack


def build_app(environments: list[Environment], outdir: Path | None = None) -> App:
    """``outdir`` None lets the cdktf CLI choose (it passes CDKTF_OUTDIR)."""
    app = App(outdir=str(outdir) if outdir else None)
    for env in environments:
        DatabaseStack(app, env)
    return app
