"""infra/scripts/bootstrap-database.sh with fake `az` and `curl` (Azure cannot be reached from here):
the caller's address is admitted before the bootstrap runs and removed after it, whether it succeeded
or failed, and a missing login name stops it before anything changes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "infra" / "scripts" / "bootstrap-database.sh"
OUTPUTS = {
    "POSTGRES_HOST": "psql-search.postgres.database.azure.com",
    "POSTGRES_DATABASE": "search",
    "POSTGRES_SERVER_NAME": "psql-search",
    "APP_IDENTITY_NAME": "id-search-abc",
    "AZURE_RESOURCE_GROUP": "rg-search",
    "GITHUB_RUN_ID": "42",
}


def fake(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def run(
    tmp_path: Path, env: dict[str, str], python_exit: int = 0
) -> tuple[subprocess.CompletedProcess[str], str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    fake(bin_dir, "az", f'echo "az $*" >> {calls}; [ "$2" = get-access-token ] && echo token; exit 0')
    fake(bin_dir, "curl", "echo 203.0.113.7")
    fake(bin_dir, "python", f'echo "python $* PGPASSWORD=$PGPASSWORD" >> {calls}; exit {python_exit}')
    environment = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PYTHON": str(bin_dir / "python"),
        **env,
    }
    bash = shutil.which("bash") or "/bin/bash"
    done = subprocess.run([bash, str(SCRIPT)], env=environment, capture_output=True, text=True, timeout=60)
    return done, calls.read_text() if calls.exists() else ""


def test_the_rule_is_added_before_and_removed_after_the_bootstrap(tmp_path: Path) -> None:
    done, calls = run(tmp_path, {**OUTPUTS, "OPERATOR_PRINCIPAL_NAME": "caption-search-operators"})
    assert done.returncode == 0, done.stderr
    lines = calls.splitlines()
    assert lines[0].startswith("az postgres flexible-server firewall-rule create --resource-group rg-search")
    assert "--rule-name bootstrap-42 --start-ip-address 203.0.113.7 --end-ip-address 203.0.113.7" in lines[0]
    assert lines[1].startswith("az account get-access-token --resource-type oss-rdbms")
    assert lines[2] == "python -m function_app.bootstrap PGPASSWORD=token"
    assert lines[3].startswith("az postgres flexible-server firewall-rule delete --resource-group rg-search")
    assert "--rule-name bootstrap-42 --yes" in lines[3]


def test_the_rule_is_removed_when_the_bootstrap_fails(tmp_path: Path) -> None:
    done, calls = run(tmp_path, {**OUTPUTS, "OPERATOR_PRINCIPAL_NAME": "ops"}, python_exit=3)
    assert done.returncode == 3
    assert calls.splitlines()[-1].startswith("az postgres flexible-server firewall-rule delete")


def test_a_missing_login_name_changes_nothing(tmp_path: Path) -> None:
    done, calls = run(tmp_path, OUTPUTS)
    assert done.returncode == 1
    assert "OPERATOR_PRINCIPAL_NAME: set OPERATOR_PRINCIPAL_NAME (a deployment output" in done.stderr
    assert calls == ""
