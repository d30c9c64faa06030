"""``mapperdb tune --sku SKU [--workload oltp|mixed|analytics] [--format text|json]``."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from mapperdb.platform.parameters import Parameter, Workload
from mapperdb.platform.parameters import tune as tune_parameters
from mapperdb.platform.skus import Sku, find_sku


def as_json(sku: Sku, workload: Workload, params: list[Parameter]) -> dict[str, object]:
    """The stable JSON shape of ``mapperdb tune --format json``."""
    return {
        "sku": sku.sku_name,
        "tier": sku.tier.value,
        "vcores": sku.vcores,
        "memory_gib": sku.memory_gib,
        "workload": workload.value,
        "parameters": [
            {
                "name": p.name,
                "value": p.value,
                "reason": p.reason,
                "allowed": p.allowed.describe(),
            }
            for p in params
        ],
    }


@click.command("tune")
@click.option("--sku", "sku_name", required=True, help="e.g. D4ds_v5 or GP_Standard_D4ds_v5.")
@click.option(
    "--workload",
    type=click.Choice([w.value for w in Workload]),
    default=Workload.OLTP.value,
    show_default=True,
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def tune(sku_name: str, workload: str, fmt: str) -> None:
    """Server parameters for a Flexible Server SKU and workload, each with its reason."""
    sku = find_sku(sku_name)
    params = tune_parameters(sku, Workload(workload))
    if fmt == "json":
        click.echo(json.dumps(as_json(sku, Workload(workload), params), indent=2))
        return
    table = Table(
        title=f"{sku.sku_name}: {sku.vcores} vCores, {sku.memory_gib} GiB, {workload}",
        show_lines=False,
    )
    for column in ("parameter", "value", "reason"):
        table.add_column(column, overflow="fold")
    for p in params:
        table.add_row(p.name, p.value, p.reason)
    Console(width=160).print(table)
