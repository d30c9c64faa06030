"""Plan, saved-plan apply, stale plans and protected replacements, with the real Terraform."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mapperdb.deploy.deployment import summary_paths
from mapperdb.deploy.plan import PROTECTED_TYPES, summarize
from mapperdb.deploy.terraform import StalePlan, TerraformFailed
from mapperdb.errors import EnvironmentProblem, FindingsError
from tests.deploy.conftest import REPO, MakeDeployment, write_stack


def test_first_plan_adds_everything_and_writes_its_summary(
    make_deployment: MakeDeployment, workdir: Path, tmp_path: Path
) -> None:
    plan = tmp_path / "tfplan"
    report = make_deployment(protected={}).plan(plan)
    assert plan.is_file()
    summary = report.summary
    assert (summary.adds, summary.updates, summary.destroys) == (2, 0, 0)
    assert summary.headline() == "2 to add, 0 to change, 0 to destroy"
    assert report.migrations is None  # no server yet: no DSN from outputs, none given
    json_path, md_path = summary_paths(plan)
    data = json.loads(json_path.read_text())
    assert data["environment"] == "test"
    assert data["add"] == 2 and data["blocked"] == []
    assert data["has_changes"] is True and data["detailed_exitcode"] == 2
    assert {c["address"] for c in data["changes"]} == {
        "terraform_data.server",
        "terraform_data.app",
    }
    assert "`2 to add, 0 to change, 0 to destroy`" in md_path.read_text()


def test_saved_plan_is_applied_exactly(
    make_deployment: MakeDeployment, workdir: Path, tmp_path: Path
) -> None:
    deployment = make_deployment(protected={})
    deployment.plan(tmp_path / "tfplan")
    # A change made after the review is not in the saved plan, so it is not applied.
    write_stack(workdir, app_setting="changed after review")
    deployment.terraform.apply(tmp_path / "tfplan")
    state = json.loads((workdir / "terraform.tfstate").read_text())
    inputs = {
        r["name"]: r["instances"][0]["attributes"]["input"]["value"] for r in state["resources"]
    }
    assert inputs == {"server": "server", "app": "a"}
    assert "server_id" in deployment.terraform.outputs()


def test_replacement_lists_address_and_forcing_attribute(
    make_deployment: MakeDeployment, workdir: Path, tmp_path: Path
) -> None:
    deployment = make_deployment()
    deployment.plan(tmp_path / "first")
    deployment.terraform.apply(tmp_path / "first")
    write_stack(workdir, server_generation="2", app_setting="b")
    summary = deployment.plan(tmp_path / "second").summary
    assert (summary.adds, summary.updates, summary.destroys) == (1, 1, 1)
    (replaced,) = summary.replacements
    assert replaced.address == "terraform_data.server"
    assert replaced.replace_paths == ("triggers_replace",)
    assert [c.address for c in summary.blocked] == ["terraform_data.server"]
    text = "\n".join(summary.lines())
    assert "replace terraform_data.server (forced by triggers_replace)  [protected:" in text
    # Destroys and replacements are listed before plain updates.
    assert text.index("replace") < text.index("update")


def test_protected_replacement_refused_unless_allowed(
    make_deployment: MakeDeployment, workdir: Path, tmp_path: Path
) -> None:
    deployment = make_deployment()
    deployment.plan(tmp_path / "first")
    deployment.terraform.apply(tmp_path / "first")
    write_stack(workdir, server_generation="2")
    plan = tmp_path / "second"
    assert deployment.plan(plan).summary.blocked
    before = (workdir / "terraform.tfstate").read_text()
    with pytest.raises(FindingsError, match=r"protected resource\(s\): terraform_data\.server "):
        deployment.apply(plan)
    assert (workdir / "terraform.tfstate").read_text() == before  # nothing was applied

    allowed = ("terraform_data.server",)
    assert not deployment.plan(plan, allowed).summary.blocked
    data = json.loads(summary_paths(plan)[0].read_text())
    assert data["allowed"] == ["terraform_data.server"] and data["blocked"] == []


def test_stale_plan_is_refused_in_one_line(
    make_deployment: MakeDeployment, workdir: Path, tmp_path: Path
) -> None:
    deployment = make_deployment(protected={})
    deployment.plan(tmp_path / "reviewed")
    deployment.plan(tmp_path / "other")
    deployment.terraform.apply(tmp_path / "other")
    write_stack(workdir, app_setting="b")  # and the configuration moved on too
    with pytest.raises(StalePlan) as caught:
        deployment.apply(tmp_path / "reviewed")
    message = caught.value.message
    assert "\n" not in message
    assert "Saved plan is stale" in message
    assert "make a new one with mapperdb deploy --env test --dry-run" in message
    assert caught.value.exit_code == 1


def test_terraform_error_is_its_first_error_line(
    make_deployment: MakeDeployment, workdir: Path, tmp_path: Path
) -> None:
    stack = {"output": {"broken": {"value": "${terraform_data.nowhere.id}"}}}
    (workdir / "cdk.tf.json").write_text(json.dumps(stack))
    deployment = make_deployment()
    deployment.terraform.init()
    with pytest.raises(TerraformFailed) as caught:
        deployment.terraform.plan(tmp_path / "p")
    assert caught.value.message == (
        f"terraform plan in {workdir}: Reference to undeclared resource: "
        'A managed resource "terraform_data" "nowhere" has not been declared in the root module.'
    )
    assert caught.value.exit_code == 1


def test_failed_init_is_an_environment_problem(
    make_deployment: MakeDeployment, workdir: Path
) -> None:
    stack = {"terraform": {"backend": {"local": {"no_such_setting": "x"}}}}
    (workdir / "cdk.tf.json").write_text(json.dumps(stack))
    with pytest.raises(EnvironmentProblem) as caught:
        make_deployment().terraform.init()
    assert caught.value.exit_code == 2
    assert "\n" not in caught.value.message
    assert caught.value.message.startswith(f"terraform init in {workdir}: ")
    assert "no_such_setting" in caught.value.message
    assert caught.value.message.endswith("the state backend ([backend] of the environment file)")


def test_summary_of_azure_types_protects_by_type() -> None:
    plan = {
        "resource_changes": [
            {
                "address": "azurerm_postgresql_flexible_server.server_50DD9757",
                "type": "azurerm_postgresql_flexible_server",
                "change": {"actions": ["delete", "create"], "replace_paths": [["zone"]]},
            },
            {
                "address": "azurerm_key_vault_key.keys-primary_app-key_1CBE9C94",
                "type": "azurerm_key_vault_key",
                "change": {"actions": ["delete"]},
            },
            {
                "address": "azurerm_monitor_metric_alert.cpu",
                "type": "azurerm_monitor_metric_alert",
                "change": {"actions": ["delete", "create"], "replace_paths": [["scopes", 0]]},
            },
            {"address": "x.y", "type": "x", "change": {"actions": ["no-op"]}},
        ]
    }
    summary = summarize(plan, "0" * 64)
    assert [c.address for c in summary.blocked] == [
        "azurerm_postgresql_flexible_server.server_50DD9757",
        "azurerm_key_vault_key.keys-primary_app-key_1CBE9C94",
    ]
    assert summary.replacements[1].replace_paths == ("scopes[0]",)
    assert summary.headline() == "2 to add, 0 to change, 3 to destroy"


def test_plan_after_apply_has_no_changes_detailed_exitcode_0(
    make_deployment: MakeDeployment, tmp_path: Path
) -> None:
    """What drift.yml reads: 0 means the infrastructure matches the configuration."""
    deployment = make_deployment(protected={})
    deployment.plan(tmp_path / "first")
    deployment.terraform.apply(tmp_path / "first")
    summary = deployment.plan(tmp_path / "again").summary
    assert not summary.has_changes
    assert summary.headline() == "0 to add, 0 to change, 0 to destroy"
    data = json.loads(summary_paths(tmp_path / "again")[0].read_text())
    assert data["detailed_exitcode"] == 0 and data["has_changes"] is False


def test_docs_list_exactly_the_protected_types() -> None:
    doc = (REPO / "docs/infra.md").read_text()
    section = doc[doc.index("## How a pipeline deploys") : doc.index("## checkov findings")]
    rows = dict(re.findall(r"^\| `(azurerm_[a-z_]+)` \| (.+?) \|$", section, re.MULTILINE))
    assert rows == dict(PROTECTED_TYPES)


def test_plan_swapped_after_review_is_refused(
    make_deployment: MakeDeployment, workdir: Path, tmp_path: Path
) -> None:
    deployment = make_deployment(protected={})
    reviewed = tmp_path / "tfplan"
    deployment.plan(reviewed)
    # Another plan, of another configuration: two plans of the same one can be byte-identical
    # (a plan is a zip, whose timestamps have a 2 s resolution).
    write_stack(workdir, app_setting="swapped in")
    deployment.plan(tmp_path / "other")
    assert (tmp_path / "other").read_bytes() != reviewed.read_bytes()
    reviewed.write_bytes((tmp_path / "other").read_bytes())  # same name, different plan
    with pytest.raises(FindingsError, match=r"is not the plan its summary tfplan\.summary\.json"):
        deployment.apply(reviewed)
    assert (
        not (workdir / "terraform.tfstate").exists()
        or "terraform_data" not in (workdir / "terraform.tfstate").read_text()
    )


def test_prevent_destroy_in_the_stack_refuses_before_any_summary(
    make_deployment: MakeDeployment, workdir: Path, tmp_path: Path
) -> None:
    """Two layers: the stack's lifecycle.prevent_destroy makes Terraform refuse the plan itself;
    --allow-replace cannot override that, only a reviewed change of the stack can."""
    write_stack(workdir, prevent_destroy=True)
    deployment = make_deployment()
    deployment.plan(tmp_path / "first")
    deployment.terraform.apply(tmp_path / "first")
    write_stack(workdir, server_generation="2", prevent_destroy=True)
    with pytest.raises(TerraformFailed) as caught:
        deployment.plan(tmp_path / "second", ("terraform_data.server",))
    assert "\n" not in caught.value.message
    assert caught.value.message.startswith(
        f"terraform plan in {workdir}: Instance cannot be destroyed: Resource "
        "terraform_data.server has lifecycle.prevent_destroy set"
    )


def test_dry_run_output_lists_changes_migrations_and_unused_allowances(
    make_deployment: MakeDeployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mapperdb.deploy.cli import _print_plan

    report = make_deployment(protected={}).plan(tmp_path / "tfplan", ("terraform_data.gone",))
    _print_plan(report, ("terraform_data.gone",))
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("plan ") and out[0].endswith(": 2 to add, 0 to change, 0 to destroy")
    assert "  create  terraform_data.app" in out and "  create  terraform_data.server" in out
    assert (
        "note: --allow-replace terraform_data.gone: this plan neither replaces nor destroys it"
        in out
    )
    assert "migrations: no server yet; every migration runs after the apply" in out
    assert out[-1] == (
        f"summary: {tmp_path / 'tfplan.summary.json'} and {tmp_path / 'tfplan.summary.md'}"
    )
