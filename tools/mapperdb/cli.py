"""The ``mapperdb`` command line.

Each sub-command lives in the module that owns its concern and is imported only when it runs,
so ``mapperdb lint`` never pays for the azurerm bindings and ``mapperdb --help`` stays instant.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import NoReturn

import click

from mapperdb import __version__
from mapperdb.errors import EXIT_USAGE, MapperdbError

# command name -> (module, attribute, one-line help shown by ``mapperdb --help``)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "migrate": ("mapperdb.migrate.cli", "migrate", "Apply, revert, inspect and verify migrations."),
    "lint": (
        "mapperdb.lint.cli",
        "lint",
        "The SQL review gate: style, lock safety, tenant security.",
    ),
    "sandbox": (
        "mapperdb.pg.cli",
        "sandbox",
        "Start an ephemeral Azure-like PostgreSQL with all migrations.",
    ),
    "seed": ("mapperdb.seed", "seed", "Load realistic demo or load data through the app role."),
    "erd": ("mapperdb.erd", "erd", "Mermaid ER diagram of the live catalog (docs/schema.md)."),
    "synth": (
        "mapperdb.infra.cli",
        "synth",
        "Synthesize the Terraform of one or all environments.",
    ),
    "policy": (
        "mapperdb.infra.cli",
        "policy",
        "checkov, waivers and SQL-vs-infra checks over synthesized stacks, offline.",
    ),
    "check": (
        "mapperdb.gate",
        "check",
        "The whole PR gate: SQL lint, migrations, synth and policy.",
    ),
    "tune": ("mapperdb.tune", "tune", "Server parameters for a Flexible Server SKU and workload."),
    "analyze": (
        "mapperdb.analyze.cli",
        "analyze",
        "Analyze a live database: statements, verified index advice, vacuum, partitions.",
    ),
    "deploy": (
        "mapperdb.deploy.cli",
        "deploy",
        "Validate, plan, or apply a reviewed plan and migrate one environment.",
    ),
    "keys": ("mapperdb.keys.cli", "keys", "Rotate a tenant's data keys (re-wrap, re-encrypt)."),
    "audit": (
        "mapperdb.audit.cli",
        "audit",
        "Anchor the audit chain outside the database; verify.",
    ),
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._available(name))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr, _ = entry
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                return None
            raise
        command = getattr(module, attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    @staticmethod
    def _available(name: str) -> bool:
        try:
            return importlib.util.find_spec(COMMANDS[name][0]) is not None
        except ModuleNotFoundError:
            return False


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mapperdb")
def cli() -> None:
    """Llama Mapper database platform.

    Exit codes: 0 ok; 1 findings, drift or a failed check; 2 usage or environment error.
    """


def main(argv: list[str] | None = None) -> NoReturn:
    try:
        result = cli.main(args=argv, prog_name="mapperdb", standalone_mode=False)
    except MapperdbError as exc:
        click.echo(f"mapperdb: error: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("mapperdb: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE if exc.exit_code == 2 else exc.exit_code)
    except KeyboardInterrupt:
        click.echo("mapperdb: interrupted", err=True)
        sys.exit(130)
    sys.exit(result if isinstance(result, int) else 0)
