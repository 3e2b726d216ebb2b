"""The one container image for indexing and training (Dockerfile) and how the pipeline ships it: the
CUDA build of the torch pyproject.toml pins, the project's own extras, a non-root user, the indexing
command line as the entrypoint, no secret in the image or its build, and an `az acr build` with the
OIDC sign-in after provisioning, tagged with the commit the job is deployed with. There is no Docker
here: the Dockerfile's instructions are read as text."""

from __future__ import annotations

import json
import re
import tomllib

from tests.infra.test_indexer import INDEXER, container
from tests.infra.test_workflows import ROOT, load, step_index, steps

DOCKERFILE = ROOT / "Dockerfile"
SECRET_NAME = re.compile(r"KEY|SECRET|PASSWORD|TOKEN|CONNECTION_STRING|CREDENTIAL", re.IGNORECASE)


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def arg_defaults() -> dict[str, str]:
    return dict(rest.split("=", 1) for keyword, rest in instructions() if keyword == "ARG" and "=" in rest)


def pinned_torch() -> set[str]:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    return {req for name in ("indexing", "training") for req in extras[name] if req.startswith("torch==")}


def test_the_image_installs_the_cuda_build_of_the_pinned_torch_and_the_project_extras() -> None:
    (pin,) = pinned_torch()  # indexing and training pin the same torch
    args = arg_defaults()
    assert f"torch=={args['TORCH_VERSION']}" == pin
    assert re.fullmatch(r"https://download\.pytorch\.org/whl/cu\d+", args["TORCH_INDEX_URL"])
    runs = [rest for keyword, rest in instructions() if keyword == "RUN"]
    assert any('"torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX_URL}"' in run for run in runs)
    assert any('pip install ".[indexing,training]"' in run for run in runs)
    (base,) = [rest for keyword, rest in instructions() if keyword == "FROM"]
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base) and requires == ">=3.11,<3.12"


def test_it_runs_as_a_non_root_user_with_the_indexing_command_line_as_entrypoint() -> None:
    keywords = [keyword for keyword, _ in instructions()]
    users = [rest for keyword, rest in instructions() if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    last_run = max(i for i, keyword in enumerate(keywords) if keyword == "RUN")
    assert keywords.index("USER") > last_run  # installs as root, runs as the user
    entrypoint = json.loads(next(rest for keyword, rest in instructions() if keyword == "ENTRYPOINT"))
    assert entrypoint == ["python", "-m", "indexing.cli"]
    # The Container Apps job passes the subcommand, as the image's default command does.
    cmd = json.loads(next(rest for keyword, rest in instructions() if keyword == "CMD"))
    assert container()["args"] == cmd == ["drain-queue", "--no-progress"]
    assert INDEXER.is_file()


def test_no_secret_goes_into_the_image_or_its_build_context() -> None:
    for keyword, rest in instructions():
        if keyword in ("ENV", "ARG"):
            names = re.findall(r"(\w+)=", rest) or [rest.split()[0]]
            assert not [n for n in names if SECRET_NAME.search(n)], rest
        if keyword in ("COPY", "ADD"):
            assert not rest.startswith(". "), "copy named folders, not the whole context"
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".azure", ".venv", ".data", ".env", "tests"} <= ignored


def test_the_pipeline_builds_the_image_in_the_registry_after_provisioning() -> None:
    job = load("deploy.yml")["jobs"]["deploy"]
    provision = step_index(job, lambda s: "az deployment group create" in s.get("run", ""))
    build = step_index(job, lambda s: "az acr build" in s.get("run", ""))
    assert provision < build
    step = steps(job)[build]
    assert step["if"] == "${{ env.INDEXER_REGISTRY_NAME != '' }}"  # only where indexerEnabled made one
    assert '--registry "$INDEXER_REGISTRY_NAME"' in step["run"] and "--file Dockerfile" in step["run"]
    assert '--image "caption-search:${{ github.sha }}"' in step["run"]
    for word in ("--password", "--username", "docker login", "admin"):
        assert word not in step["run"]
    # The job is deployed with the tag this run builds.
    params = steps(job)[step_index(job, lambda s: "jq -n" in s.get("run", ""))]
    assert params["env"]["INDEXER_IMAGE"] == "caption-search:${{ github.sha }}"
    assert "indexerImageTag: {value: $image}" in params["run"]
