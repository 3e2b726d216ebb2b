"""Reading infra/ for the offline tests: Bicep files parsed with pycep, the resources and module calls
in them, and a small evaluator for the expressions that choose between deployment modes."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))
MAIN = INFRA / "main.bicep"
API = INFRA / "app" / "api.bicep"
DATABASE = INFRA / "app" / "database.bicep"
RBAC = INFRA / "app" / "rbac.bicep"
KEYVAULT = INFRA / "app" / "keyvault.bicep"
STORAGE = INFRA / "core" / "storage" / "storage-account.bicep"
ALERTS = INFRA / "core" / "monitor" / "alerts.bicep"
MONITORING = INFRA / "core" / "monitor" / "monitoring.bicep"
VNET = INFRA / "core" / "network" / "vnet.bicep"
PRIVATE_ENDPOINT = INFRA / "core" / "network" / "private-endpoint.bicep"


@functools.cache
def parse(path: Path) -> dict[str, Any]:
    return dict(BicepParser().parse(file_path=path))


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def body(config: dict[str, Any]) -> dict[str, Any]:
    """The resource or module body, unwrapped from a `for` loop or an `if` condition."""
    if "loop_type" in config or "condition" in config:
        return config["config"]
    return config


def resources(path: Path, type_: str) -> dict[str, dict[str, Any]]:
    """Resources of one type declared (not `existing`) in a file, by symbolic name."""
    return {
        name: body(r["config"])
        for name, r in parse(path)["resources"].items()
        if r["type"] == type_ and not r["existing"]
    }


def only(path: Path, type_: str) -> dict[str, Any]:
    found = resources(path, type_)
    assert len(found) == 1, f"{rel(path)}: expected one {type_}, found {sorted(found)}"
    return next(iter(found.values()))


def module_calls(path: Path) -> Iterator[tuple[str, Path, dict[str, Any]]]:
    for name, module in parse(path).get("modules", {}).items():
        yield name, path.parent / module["detail"]["path"], body(module["config"]).get("params", {})


def module_config(path: Path, name: str) -> dict[str, Any]:
    """A module call as written: its `condition` or `loop_type` (if any) beside its body."""
    return parse(path)["modules"][name]["config"]


def main_module(target: Path) -> dict[str, Any]:
    calls = [params for _, path, params in module_calls(MAIN) if path == target]
    assert len(calls) == 1, f"main.bicep should call {rel(target)} once"
    return calls[0]


def variable(path: Path, name: str) -> Any:
    return parse(path)["variables"][name]["value"]


def decorators(param: dict[str, Any]) -> dict[str, Any]:
    return {d["type"]: d["argument"] for d in param["decorators"]}


def defaults(path: Path) -> dict[str, Any]:
    """Every parameter's default (None where it has none)."""
    return {name: spec["default"] for name, spec in parse(path)["parameters"].items()}


def depends_on(path: Path, name: str) -> set[str]:
    """Resources that a resource waits for, directly or through others (explicit dependsOn)."""
    declared = parse(path)["resources"]
    seen: set[str] = set()
    todo = [name]
    while todo:
        for dep in body(declared[todo.pop()]["config"]).get("dependsOn", []):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def evaluate(expr: Any, env: Mapping[str, Any]) -> Any:
    """Evaluate the part of Bicep's expression language that picks between modes.

    pycep writes a reference and a string literal alike, as a string: a string that names something
    in ``env`` (parameters, variables) is a reference, any other string a literal. Expressions beyond
    this subset raise, so a test never passes on an expression it did not understand.
    """
    if isinstance(expr, str):
        return env.get(expr, expr)
    if isinstance(expr, bool | int | float) or expr is None:
        return expr
    if isinstance(expr, list):
        return [evaluate(e, env) for e in expr]
    if "operator" in expr:
        op = expr["operator"]
        kind, args = op["type"], op["operands"]
        if kind == "conditional":
            chosen = "true_value" if evaluate(args["condition"], env) else "false_value"
            return evaluate(args[chosen], env)
        if kind == "not":
            return not evaluate(args["bool_value"], env)
        values = [evaluate(v, env) for v in args.values()]
        binary = {
            "and": lambda a, b: a and b,
            "or": lambda a, b: a or b,
            "equals": lambda a, b: a == b,
            "not_equals": lambda a, b: a != b,
            "substract": lambda a, b: a - b,
            "add": lambda a, b: a + b,
            "multiply": lambda a, b: a * b,
            "divide": lambda a, b: a // b,
            "index_accessor": lambda a, b: a[b],
        }
        if kind in binary:
            return binary[kind](*values)
        raise NotImplementedError(f"operator {kind}")
    if "function" in expr:
        fn = expr["function"]
        kind, args = fn["type"], [evaluate(v, env) for v in fn.get("parameters", {}).values()]
        functions: dict[str, Any] = {
            "min": min,
            "max": max,
            "empty": lambda x: len(x) == 0,
            "starts_with": lambda s, prefix: s.startswith(prefix),
        }
        if kind in functions:
            return functions[kind](*args)
        raise NotImplementedError(f"function {kind}")
    return {k: evaluate(v, env) for k, v in expr.items()}
