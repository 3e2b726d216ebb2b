"""Offline checks of infra/: every Bicep file parses, and the properties that the app and its
security depend on hold. The real compiler (`az bicep build`) and a what-if run in the pipeline."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.bicep import (
    API,
    BICEP_FILES,
    DATABASE,
    INFRA,
    KEYVAULT,
    MAIN,
    RBAC,
    ROOT,
    STORAGE,
    decorators,
    main_module,
    module_calls,
    only,
    parse,
    rel,
    resources,
    variable,
)

ENTRY_SCRIPT = "search_function.py"

# Built-in role definition ids, from https://learn.microsoft.com/azure/role-based-access-control/built-in-roles.
# A GUID in infra/ must be one of these, commented with its name.
ROLE_IDS = {
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Storage File Data Privileged Contributor": "69566ab7-960f-475b-8e7c-b3118f30c6bd",
    "Storage File Data Privileged Reader": "b8eda974-7b85-4f76-af95-65846b26df6d",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "Storage Queue Data Reader": "19e7f393-937e-4f77-808e-94535e297925",
    "Storage Queue Data Message Processor": "8a0f0c08-91a1-4084-bc3d-661d67233fed",
    "Storage Queue Data Message Sender": "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a",
}

# The settings the search Function reads (function_app/settings.py), and what Flex Consumption rejects.
CONTRACT_SETTINGS = {
    "PYTHON_SCRIPT_FILE_NAME",
    "MODEL_SHARE_PATH",
    "IMAGE_STORE",
    "IMAGES_ACCOUNT_URL",
    "IMAGES_CONTAINER",
    "AZURE_CLIENT_ID",
    "SAS_TTL_MINUTES",
    "POSTGRES_HOST",
    "POSTGRES_DATABASE",
    "POSTGRES_USER",
    "POSTGRES_SSLMODE",
    "CORS_ALLOWED_ORIGINS",
    "SEARCH_POOL_SIZE",
}
FLEX_REJECTS = {
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_EXTENSION_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTSHARE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "SCM_DO_BUILD_DURING_DEPLOYMENT",
}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|ACCOUNT_?KEY|SAS_TOKEN|DATABASE_URL|CONNECTION_?STRING", re.I)
# Not a credential: it only locates the component, and local (key) ingestion is disabled.
SECRET_NAME_ALLOWED = {"APPLICATIONINSIGHTS_CONNECTION_STRING"}


def app_settings() -> dict[str, Any]:
    """The appSettings variable, after checking that the appsettings resource is built from it."""
    union = site_config("appsettings")["function"]
    assert union["type"] == "union", "appsettings should be union(appSettings, optionalSettings)"
    assert list(union["parameters"].values())[:2] == ["appSettings", "optionalSettings"]
    return dict(variable(API, "appSettings"))


def site_config(name: str) -> dict[str, Any]:
    by_name = {cfg["name"]: cfg for cfg in resources(API, "Microsoft.Web/sites/config").values()}
    return by_name[name]["properties"]


@pytest.mark.parametrize("path", BICEP_FILES, ids=rel)
def test_every_parameter_has_a_description(path: Path) -> None:
    params = parse(path).get("parameters", {})
    missing = [name for name, p in params.items() if not str(decorators(p).get("description", "")).strip()]
    assert not missing, f"{rel(path)}: parameters without @description: {missing}"


def test_the_layout_is_what_azd_expects() -> None:
    assert MAIN.is_file() and (INFRA / "main.parameters.json").is_file()
    azure = yaml.safe_load((ROOT / "azure.yaml").read_text())
    assert azure["infra"] == {"provider": "bicep", "path": "infra", "module": "main"}
    assert azure["services"]["api"] == {"project": ".", "language": "python", "host": "function"}
    hook = azure["hooks"]["postdeploy"]["posix"]["run"]
    assert (ROOT / hook.split()[-1]).is_file(), hook


def test_modules_get_exactly_the_parameters_they_declare() -> None:
    for path in BICEP_FILES:
        for name, target, passed in module_calls(path):
            declared = parse(target)["parameters"]
            required = {p for p, spec in declared.items() if spec["default"] is None}
            where = f"{rel(path)} module {name}"
            assert set(passed) <= set(declared), f"{where}: unknown {set(passed) - set(declared)}"
            assert required <= set(passed), f"{where}: missing {required - set(passed)}"


def test_parameters_file_names_real_parameters_and_every_required_one() -> None:
    given = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    declared = parse(MAIN)["parameters"]
    required = {p for p, spec in declared.items() if spec["default"] is None}
    assert set(given) <= set(declared)
    assert required <= set(given)


def test_resource_names_are_a_prefix_plus_the_unique_token() -> None:
    token = json.dumps(variable(MAIN, "token"))
    assert "unique_string" in token and "environmentName" in token
    names = [params["name"] for _, _, params in module_calls(MAIN) if isinstance(params.get("name"), str)]
    names += [pe["name"] for pe in variable(MAIN, "privateEndpoints")]  # the endpoints module's loop
    names += [r["name"] for r in resources(MAIN, "Microsoft.ManagedIdentity/userAssignedIdentities").values()]
    assert names and all(isinstance(n, str) and n.endswith("${token}") for n in names), names


# Diagnostic settings have no GA API version that takes a category group (the 2016 one predates
# them); 2021-05-01-preview is the version Microsoft's own templates use.
PREVIEW_ONLY_TYPES = {"Microsoft.Insights/diagnosticSettings"}


def test_api_versions_are_stable() -> None:
    for path in BICEP_FILES:
        for name, r in parse(path)["resources"].items():
            if r["type"] in PREVIEW_ONLY_TYPES:
                continue
            assert "preview" not in r["api_version"], f"{rel(path)} {name}: {r['api_version']}"


def test_storage_is_private_and_tls_12() -> None:
    account = only(STORAGE, "Microsoft.Storage/storageAccounts")["properties"]
    assert account["allowBlobPublicAccess"] is False
    assert account["minimumTlsVersion"] == "TLS1_2"
    assert account["supportsHttpsTrafficOnly"] is True
    assert account["defaultToOAuthAuthentication"] is True
    container = only(STORAGE, "Microsoft.Storage/storageAccounts/blobServices/containers")
    assert container["properties"]["publicAccess"] == "None"


def test_shared_keys_are_off_except_on_the_model_share_account() -> None:
    assert parse(STORAGE)["parameters"]["allowSharedKeyAccess"]["default"] is False
    calls = [params for _, path, params in module_calls(MAIN) if path == STORAGE]
    assert len(calls) == 3
    for params in calls:
        holds_share = bool(params.get("fileShares"))
        assert params["allowSharedKeyAccess"] is holds_share, params["name"]
        if holds_share:
            assert not params.get("containers"), "the key-enabled account must hold only the share"
    images = [p for p in calls if p.get("containers") == ["imagesContainerName"]]
    assert len(images) == 1 and variable(MAIN, "imagesContainerName") == "images"


def test_postgres_allow_lists_vector_and_takes_only_entra_logins() -> None:
    configs = resources(DATABASE, "Microsoft.DBforPostgreSQL/flexibleServers/configurations")
    extensions = [c for c in configs.values() if c["name"] == "azure.extensions"]
    assert len(extensions) == 1
    assert "VECTOR" in [e.strip().upper() for e in extensions[0]["properties"]["value"].split(",")]
    server = only(DATABASE, "Microsoft.DBforPostgreSQL/flexibleServers")["properties"]
    assert server["authConfig"]["activeDirectoryAuth"] == "Enabled"
    assert server["authConfig"]["passwordAuth"] == "Disabled"
    assert not {"administratorLogin", "administratorLoginPassword"} & set(server)
    assert only(DATABASE, "Microsoft.DBforPostgreSQL/flexibleServers/administrators")
    assert only(DATABASE, "Microsoft.DBforPostgreSQL/flexibleServers/databases")["name"] == "databaseName"
    assert "firewallRules" in parse(DATABASE)["parameters"]


def test_function_is_linux_python_311_on_flex_consumption() -> None:
    plan = only(API, "Microsoft.Web/serverfarms")
    assert plan["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
    assert plan["properties"]["reserved"] is True
    site = only(API, "Microsoft.Web/sites")
    assert "linux" in site["kind"].split(",")
    assert site["properties"]["httpsOnly"] is True
    flex = site["properties"]["functionAppConfig"]
    assert flex["runtime"] == {"name": "python", "version": "3.11"}
    assert flex["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"
    assert "alwaysReadyInstances" in json.dumps(flex["scaleAndConcurrency"]["alwaysReady"])
    memory = decorators(parse(MAIN)["parameters"]["instanceMemoryMB"])["allowed"]
    assert set(memory) <= {512, 2048, 4096}
    assert main_module(API)["alwaysReadyInstances"] == "alwaysReadyInstances"


def test_entry_script_setting_names_the_file_at_the_app_root() -> None:
    assert app_settings()["PYTHON_SCRIPT_FILE_NAME"] == "entryScript"
    assert variable(API, "entryScript") == ENTRY_SCRIPT
    assert (ROOT / ENTRY_SCRIPT).is_file(), f"{ENTRY_SCRIPT} is missing at the repository root"


def test_model_share_is_mounted_where_the_app_reads_it() -> None:
    mount = site_config("azurestorageaccounts")["models"]
    assert mount["type"] == "AzureFiles"
    assert mount["mountPath"] == app_settings()["MODEL_SHARE_PATH"] == "modelShareMountPath"
    assert mount["shareName"] == "modelShareName"
    assert main_module(API)["modelShareMountPath"] == "modelShareMountPath"
    assert main_module(API)["modelShareName"] == "modelShareName"
    assert parse(MAIN)["parameters"]["modelShareMountPath"]["default"].startswith("/mounts/")
    assert parse(MAIN)["outputs"]["MODEL_SHARE_PATH"]["value"] == "modelShareMountPath"


def test_app_settings_follow_the_app_contract() -> None:
    settings = app_settings()
    assert set(settings) >= CONTRACT_SETTINGS
    assert not FLEX_REJECTS & set(settings)
    assert settings["IMAGE_STORE"] == "blob"
    assert settings["POSTGRES_SSLMODE"] == "require"
    assert settings["IMAGES_ACCOUNT_URL"].startswith("https://${imageStorageName}.blob.")
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AZURE_CLIENT_ID"] == settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert settings["POSTGRES_USER"] == "identityName"
    api = main_module(API)
    identity_name = {"operand_1": "identity", "operand_2": "name"}
    assert api["identityName"] == {"operator": {"type": "property_accessor", "operands": identity_name}}
    assert "clientId" in json.dumps(api["identityClientId"])
    assert "SEARCH_NPROBE" in json.dumps(variable(API, "optionalSettings"))


def test_no_credentials_in_app_settings() -> None:
    settings = app_settings()
    secret_names = {n for n in settings if SECRET_NAME.search(n)} - SECRET_NAME_ALLOWED
    assert not secret_names
    values = json.dumps(settings) + json.dumps(variable(API, "optionalSettings"))
    for marker in ("listKeys", "list_keys", "listConnectionStrings", "AccountKey=", "assword"):
        assert marker not in values


def test_the_only_key_is_the_share_key_in_key_vault() -> None:
    uses = [rel(path) for path in BICEP_FILES for line in path.read_text().splitlines() if "listKeys" in line]
    assert uses == [rel(KEYVAULT)]
    secret = only(KEYVAULT, "Microsoft.KeyVault/vaults/secrets")
    assert "listKeys" in json.dumps(secret["properties"]["value"])


def test_cors_allows_only_the_web_origin() -> None:
    joined = app_settings()["CORS_ALLOWED_ORIGINS"]["function"]
    assert joined["type"] == "join" and joined["parameters"]["input_array"] == "allowedOrigins"
    origins = main_module(API)["allowedOrigins"]["function"]
    assert origins["type"] == "concat" and origins["parameters"]["arg_1"] == ["webOrigin"]
    assert parse(MAIN)["parameters"]["extraCorsOrigins"]["default"] == []


def test_role_ids_are_well_known_and_commented_with_their_names() -> None:
    guid = re.compile(r"'([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})'")
    seen = 0
    for path in BICEP_FILES:
        for line in path.read_text().splitlines():
            match = guid.search(line)
            if match:
                seen += 1
                assert "//" in line, f"{rel(path)}: role id without a comment: {line.strip()}"
                name = line.split("//", 1)[1].strip()
                assert ROLE_IDS.get(name) == match.group(1), f"{rel(path)}: {name!r} is not {match.group(1)}"
    assert seen >= 4


def test_role_assignments_are_least_privilege() -> None:
    assignments = resources(RBAC, "Microsoft.Authorization/roleAssignments")
    granted = set()
    for name, a in assignments.items():
        definition = a["properties"]["roleDefinitionId"]["function"]
        assert definition["type"] == "subscription_resource_id", name
        role_id = variable(RBAC, definition["parameters"]["resource_name_1"])
        role = {v: k for k, v in ROLE_IDS.items()}[role_id]
        granted.add((a["properties"]["principalId"], role, a["scope"]))
    assert granted == {
        ("appPrincipalId", "Storage Blob Data Owner", "functionStorage"),
        # Account scope: the user delegation key that signs result URLs cannot be granted lower.
        ("appPrincipalId", "Storage Blob Data Reader", "imageStorage"),
        ("appPrincipalId", "Monitoring Metrics Publisher", "applicationInsights"),
        # The one secret, not the vault: the mount's Key Vault reference needs nothing else.
        ("appPrincipalId", "Key Vault Secrets User", "modelShareKeySecret"),
        ("operatorPrincipalId", "Storage Blob Data Contributor", "imageStorage"),
        ("operatorPrincipalId", "Storage File Data Privileged Contributor", "modelStorage"),
    }


def test_scripts_read_only_outputs_that_exist() -> None:
    outputs = set(parse(MAIN)["outputs"])
    for script in sorted((INFRA / "scripts").glob("*.sh")):
        needed = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):\?", script.read_text()))
        assert needed <= outputs, f"{rel(script)} needs {needed - outputs}"


def test_funcignore_keeps_the_query_path_and_drops_the_rest() -> None:
    lines = {ln.strip() for ln in (ROOT / ".funcignore").read_text().splitlines()}
    dropped = {"tests/", "web/", "training/", "indexing/", "demo/", "evaluation/", "benchmarks/"}
    assert dropped | {".venv/", "node_modules/", ".data/", "docs/", "infra/"} <= lines
    kept = {ENTRY_SCRIPT, "host.json", "requirements.txt", "function_app/", "core/"}
    assert not kept & lines
