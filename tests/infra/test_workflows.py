"""The GitHub Actions workflows: pull requests run what .ci/run runs, and deployments sign in with
OpenID Connect, never with a stored secret."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.infra.bicep import MAIN, parse

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
TEST_COMMAND = "./dev test"


def load(name: str) -> dict[Any, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads a bare `on:` key as the boolean True.
    on = workflow.get("on", workflow.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    assert isinstance(on, dict), f"unexpected triggers: {on!r}"
    return on


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job.get("steps", [])


def uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in steps(job) if s.get("uses", "").lower().startswith(action.lower() + "@")]


def test_ci_run_and_the_pull_request_job_run_the_same_command() -> None:
    assert f"exec {TEST_COMMAND}" in (ROOT / ".ci" / "run").read_text()
    ci = load("ci.yml")
    assert "pull_request" in triggers(ci)
    runners = [job for job in ci["jobs"].values() if any(s.get("run") == TEST_COMMAND for s in steps(job))]
    assert len(runners) == 1
    job = runners[0]
    assert job["runs-on"] == "ubuntu-latest"
    assert str(uses(job, "actions/setup-python")[0]["with"]["python-version"]) == "3.11"
    assert str(uses(job, "actions/setup-node")[0]["with"]["node-version"]) == "20"


def test_deploy_runs_on_main_after_the_tests() -> None:
    deploy = load("deploy.yml")
    on = triggers(deploy)
    assert on["push"]["branches"] == ["main"]
    assert "model_release" in on["workflow_dispatch"]["inputs"]
    jobs = deploy["jobs"]
    assert jobs["test"]["uses"] == "./.github/workflows/ci.yml"
    assert "workflow_call" in triggers(load("ci.yml"))
    assert jobs["deploy"]["needs"] == "test"


def test_deploy_signs_in_with_oidc_and_no_stored_secret() -> None:
    text = (WORKFLOWS / "deploy.yml").read_text()
    assert "secrets." not in text
    logins = 0
    for name, job in load("deploy.yml")["jobs"].items():
        for login in uses(job, "azure/login"):
            logins += 1
            assert job["permissions"]["id-token"] == "write", name
            given = login["with"]
            assert {"client-id", "tenant-id", "subscription-id"} <= set(given)
            assert not {"creds", "client-secret", "auth-type"} & set(given)
    assert logins == 1


def test_deploy_provisions_publishes_and_smoke_tests() -> None:
    job = load("deploy.yml")["jobs"]["deploy"]
    runs = "\n".join(s.get("run", "") for s in steps(job))
    assert "az bicep build" in runs
    assert "az deployment group what-if" in runs
    assert "az deployment group create" in runs
    function = uses(job, "Azure/functions-action")[0]["with"]
    assert function["sku"] == "flexconsumption" and function["respect-funcignore"] is True
    for script in ("publish-web.sh", "upload-model-share.sh", "smoke-test.sh"):
        assert f"infra/scripts/{script}" in runs
        assert (ROOT / "infra" / "scripts" / script).is_file()
    upload = next(s for s in steps(job) if "upload-model-share.sh" in s.get("run", ""))
    assert "inputs.model_release" in upload["if"]


def step_index(job: dict[str, Any], found: Any) -> int:
    matches = [i for i, step in enumerate(steps(job)) if found(step)]
    assert len(matches) == 1, matches
    return matches[0]


def test_deploy_bootstraps_the_database_after_provisioning_and_before_the_code() -> None:
    job = load("deploy.yml")["jobs"]["deploy"]
    provision = step_index(job, lambda s: "az deployment group create" in s.get("run", ""))
    bootstrap = step_index(job, lambda s: "infra/scripts/bootstrap-database.sh" in s.get("run", ""))
    code = step_index(job, lambda s: s.get("uses", "").startswith("Azure/functions-action@"))
    smoke = step_index(job, lambda s: "infra/scripts/smoke-test.sh" in s.get("run", ""))
    assert provision < bootstrap < code < smoke
    step = steps(job)[bootstrap]
    assert "pip install --quiet -r requirements.txt" in step["run"]  # psycopg2 and the pins the app uses
    # The login name is the Entra administrator's: main.bicep's output of principalName, exported with
    # the other outputs, not a second copy of the variable that could differ from it.
    assert "OPERATOR_PRINCIPAL_NAME" not in step.get("env", {})
    assert parse(MAIN)["outputs"]["OPERATOR_PRINCIPAL_NAME"]["value"] == "principalName"
    assert "python-version" in uses(job, "actions/setup-python")[0]["with"]
    script = (ROOT / "infra" / "scripts" / "bootstrap-database.sh").read_text()
    assert "-m function_app.bootstrap" in script
    assert (ROOT / "function_app" / "bootstrap.py").is_file()


def test_deploy_passes_every_parameter_without_a_safe_default() -> None:
    job = load("deploy.yml")["jobs"]["deploy"]
    step = steps(job)[step_index(job, lambda s: "jq -n" in s.get("run", ""))]
    passed = set(re.findall(r"(\w+): \{value: \$", step["run"]))
    declared = parse(MAIN)["parameters"]
    assert passed <= set(declared), passed - set(declared)
    required = {name for name, p in declared.items() if p["default"] is None}
    # A redeployment without them would quietly reset a setting made once: the alert receiver, the
    # network mode and who may still reach the share in it.
    chosen_per_deployment = {"alertEmail", "vnetEnabled", "operatorIpAddresses"}
    assert required | chosen_per_deployment <= passed, (required | chosen_per_deployment) - passed


def test_the_bootstrap_firewall_rule_is_removed_even_when_the_run_fails_or_is_cancelled() -> None:
    script = (ROOT / "infra" / "scripts" / "bootstrap-database.sh").read_text()
    assert 'rule="bootstrap-${GITHUB_RUN_ID:-' in script
    assert "trap remove_rule EXIT" in script and "trap 'exit 130' INT TERM" in script
    job = load("deploy.yml")["jobs"]["deploy"]
    cleanup = steps(job)[step_index(job, lambda s: "firewall-rule delete" in s.get("run", ""))]
    assert cleanup["if"].startswith("${{ always()")
    assert '--rule-name "bootstrap-$GITHUB_RUN_ID"' in cleanup["run"]


def test_ci_installs_torch_from_the_pytorch_cpu_index() -> None:
    job = next(
        j for j in load("ci.yml")["jobs"].values() if any(s.get("run") == TEST_COMMAND for s in steps(j))
    )
    assert job["env"]["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    assert "TORCH_INDEX_URL" in (ROOT / "dev").read_text()


def test_azd_runs_the_bootstrap_and_the_page_on_posix_and_windows() -> None:
    hooks = yaml.safe_load((ROOT / "azure.yaml").read_text())["hooks"]
    for event, script in (("postprovision", "bootstrap-database.sh"), ("postdeploy", "publish-web.sh")):
        assert set(hooks[event]) == {"posix", "windows"}, event
        assert hooks[event]["windows"]["shell"] == "pwsh"
        for variant in hooks[event].values():
            assert f"infra/scripts/{script}" in variant["run"]
    assert "AZURE_PRINCIPAL_NAME" in hooks["postprovision"]["posix"]["run"]
