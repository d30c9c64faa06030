"""Small Terraform stacks of built-in ``terraform_data`` resources with a local backend: the real
binary plans and applies them offline, as it does the synthesized stacks in a pipeline."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from mapperdb.deploy.deployment import Deployment, Target
from mapperdb.deploy.steps import Steps
from mapperdb.deploy.terraform import Terraform

REPO = Path(__file__).resolve().parents[2]
MIGRATIONS = REPO / "sql" / "migrations"
# In these stacks "server" stands for a protected resource: protection is decided by type.
PROTECT_TEST_TYPE = {"terraform_data": "stands for the server in these tests"}


def write_stack(
    workdir: Path,
    server_generation: str = "1",
    app_setting: str = "a",
    *,
    prevent_destroy: bool = False,
    outputs: dict[str, str] | None = None,
) -> None:
    """A stack in JSON like the synthesized ones: changing ``server_generation`` replaces
    ``terraform_data.server`` (triggers_replace), changing ``app_setting`` updates ``app``;
    ``prevent_destroy`` is the lifecycle flag the infra stacks set on protected resources."""
    workdir.mkdir(parents=True, exist_ok=True)
    server: dict[str, object] = {"input": "server", "triggers_replace": [server_generation]}
    if prevent_destroy:
        server["lifecycle"] = {"prevent_destroy": True}
    stack = {
        "terraform": {"backend": {"local": {"path": "terraform.tfstate"}}},
        "resource": {
            "terraform_data": {
                "server": server,
                "app": {"input": app_setting},
            }
        },
        "output": {
            "server_id": {"value": "${terraform_data.server.id}"},
            **{name: {"value": value} for name, value in (outputs or {}).items()},
        },
    }
    (workdir / "cdk.tf.json").write_text(json.dumps(stack, indent=2))


@pytest.fixture(scope="session")
def terraform_binary() -> Path:
    found = shutil.which("terraform")
    if found is None:
        pytest.fail(
            "terraform not on PATH; install Terraform 1.11+ "
            "(https://developer.hashicorp.com/terraform/install)",
            pytrace=False,
        )
    return Path(found)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "stacks" / "test"
    write_stack(path)
    return path


MakeDeployment = Callable[..., Deployment]


@pytest.fixture
def make_deployment(workdir: Path, terraform_binary: Path) -> MakeDeployment:
    def make(
        conninfo: str | None = None,
        migrations: Path = MIGRATIONS,
        protected: dict[str, str] | None = None,
        lines: list[str] | None = None,
    ) -> Deployment:
        target = Target(
            env="test",
            workdir=workdir,
            migrations=migrations,
            conninfo=conninfo,
            protected=PROTECT_TEST_TYPE if protected is None else protected,
        )
        echo = lines.append if lines is not None else (lambda _line: None)
        return Deployment(target, Terraform(workdir, terraform_binary), Steps(echo=echo))

    return make
