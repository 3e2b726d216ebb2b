"""The GitHub Actions workflows: pull requests run what .ci/run runs, and deployments sign in with
OpenID Connect, never with a stored secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

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
