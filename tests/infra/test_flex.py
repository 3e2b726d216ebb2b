"""The Function App as Flex Consumption accepts it and as it behaves under load (issue 16 items 1, 4,
7, 8): no site configuration Flex rejects, HTTP concurrency per instance, a connection budget that
fits the PostgreSQL server, the share key from Key Vault, and CORS in one place."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.bicep import (
    API,
    BICEP_FILES,
    KEYVAULT,
    MAIN,
    RBAC,
    decorators,
    defaults,
    evaluate,
    main_module,
    only,
    parse,
    rel,
    resources,
    variable,
)

# Site configuration the Flex Consumption samples set: none. ftpsState and other siteConfig
# properties answer BadRequest 51021 on Flex in newer regions.
FLEX_SITE_CONFIG_ALLOWED: set[str] = set()
# Microsoft.Web/sites@2024-04-01 takes these instance sizes (512 is reported rejected).
FLEX_INSTANCE_MEMORY = [2048, 4096]

# Max connections per compute size, from
# https://learn.microsoft.com/azure/postgresql/flexible-server/concepts-limits; Azure keeps 15 of
# them for replication and monitoring.
POSTGRES_MAX_CONNECTIONS = {
    "Standard_B1ms": 50,
    "Standard_B2s": 429,
    "Standard_B2ms": 859,
    "Standard_D2ds_v5": 859,
    "Standard_D4ds_v5": 1718,
}
AZURE_RESERVED_CONNECTIONS = 15


def site() -> dict[str, Any]:
    return only(API, "Microsoft.Web/sites")


def site_configs() -> dict[str, dict[str, Any]]:
    return {cfg["name"]: cfg["properties"] for cfg in resources(API, "Microsoft.Web/sites/config").values()}


def test_site_sets_no_configuration_that_flex_rejects() -> None:
    props = site()["properties"]
    assert set(props.get("siteConfig", {})) <= FLEX_SITE_CONFIG_ALLOWED, props.get("siteConfig")
    assert set(site_configs()) <= {"appsettings", "azurestorageaccounts"}, "no 'web' config resource"
    for path in (MAIN, API):
        allowed = decorators(parse(path)["parameters"]["instanceMemoryMB"])["allowed"]
        assert allowed == FLEX_INSTANCE_MEMORY, rel(path)


def test_http_concurrency_is_set_per_instance() -> None:
    scale = site()["properties"]["functionAppConfig"]["scaleAndConcurrency"]
    assert scale["triggers"]["http"]["perInstanceConcurrency"] == "perInstanceConcurrency"
    assert main_module(API)["perInstanceConcurrency"] == "perInstanceConcurrency"
    # Python's default of 1 gives every concurrent query its own instance and its own pool.
    assert defaults(MAIN)["perInstanceConcurrency"] > 1


def test_main_knows_the_connections_of_every_server_size_it_offers() -> None:
    table = dict(variable(MAIN, "postgresUserConnections"))
    offered = decorators(parse(MAIN)["parameters"]["postgresSkuName"])["allowed"]
    assert set(table) == set(offered)
    for sku, users in table.items():
        assert users == POSTGRES_MAX_CONNECTIONS[sku] - AZURE_RESERVED_CONNECTIONS, sku


def pool_per_instance(env: dict[str, Any]) -> int:
    env = {**env, "postgresUserConnections": dict(variable(MAIN, "postgresUserConnections"))}
    env["operatorConnections"] = variable(MAIN, "operatorConnections")
    return evaluate(variable(MAIN, "poolPerInstance"), env)


def test_connection_budget_fits_the_server() -> None:
    """At full scale every instance holds its pool; together they and the operator's reserve must fit
    the server's user connections, for every size offered and the instance counts of interest."""
    params = defaults(MAIN)
    reserve = variable(MAIN, "operatorConnections")
    assert reserve >= 5, "indexing, migrations and psql need connections of their own"
    low = decorators(parse(MAIN)["parameters"]["maximumInstanceCount"])["min_value"]
    for sku in decorators(parse(MAIN)["parameters"]["postgresSkuName"])["allowed"]:
        users = POSTGRES_MAX_CONNECTIONS[sku] - AZURE_RESERVED_CONNECTIONS
        for instances in sorted({low, params["maximumInstanceCount"], 100}):
            env = {**params, "postgresSkuName": sku, "maximumInstanceCount": instances}
            pool = pool_per_instance(env)
            assert pool <= params["searchPoolSize"]
            assert instances * pool + reserve <= users, (sku, instances, pool)
        # Every size offered serves the default instance count with at least one connection each.
        env = {**params, "postgresSkuName": sku}
        assert pool_per_instance(env) >= 1, sku
    # The defaults leave each instance more than one connection, and no more than it can use.
    pool = pool_per_instance(params)
    assert 2 <= pool <= params["perInstanceConcurrency"]
    # B1ms (35 user connections) cannot give 40 instances one connection each.
    assert low * 1 + reserve > POSTGRES_MAX_CONNECTIONS["Standard_B1ms"] - AZURE_RESERVED_CONNECTIONS


def test_the_pool_size_reaches_the_app() -> None:
    settings = variable(API, "appSettings")
    assert settings["SEARCH_POOL_SIZE"] == {
        "function": {"type": "string", "parameters": {"value_to_convert": "searchPoolSize"}}
    }
    assert main_module(API)["searchPoolSize"] == "poolPerInstance"


def all_site_values() -> str:
    """Every app setting and site configuration value, in every template, as one string."""
    found = []
    for path in BICEP_FILES:
        for type_ in ("Microsoft.Web/sites", "Microsoft.Web/sites/config"):
            found += [json.dumps(r) for r in resources(path, type_).values()]
    found.append(json.dumps(variable(API, "appSettings")))
    found.append(json.dumps(variable(API, "optionalSettings")))
    return "\n".join(found)


def test_the_share_key_is_a_key_vault_reference_not_inline() -> None:
    values = all_site_values()
    assert "listKeys" not in values and "list_keys" not in values
    mount = site_configs()["azurestorageaccounts"]["models"]
    assert mount["accessKey"] == "@AppSettingRef(MODEL_SHARE_MOUNT_KEY)"
    reference = variable(API, "appSettings")["MODEL_SHARE_MOUNT_KEY"]
    assert reference == "@Microsoft.KeyVault(SecretUri=${modelShareKeySecretUri})"
    # A user-assigned identity resolves references only when the site names it.
    assert site()["properties"]["keyVaultReferenceIdentity"] == "identityId"
    uri = json.dumps(main_module(API)["modelShareKeySecretUri"])
    assert "keyVault" in uri and "secretUri" in uri


def test_the_vault_is_rbac_only_and_the_app_may_read_the_secret() -> None:
    vault = only(KEYVAULT, "Microsoft.KeyVault/vaults")["properties"]
    assert vault["enableRbacAuthorization"] is True
    assert vault["enablePurgeProtection"] is True
    secret = only(KEYVAULT, "Microsoft.KeyVault/vaults/secrets")
    assert "listKeys" in json.dumps(secret["properties"]["value"])
    grants = [
        a
        for a in resources(RBAC, "Microsoft.Authorization/roleAssignments").values()
        if a["scope"] == "modelShareKeySecret"
    ]
    assert len(grants) == 1 and grants[0]["properties"]["principalId"] == "appPrincipalId"
    assert "keyVaultSecretsUser" in json.dumps(grants[0]["properties"]["roleDefinitionId"])


def test_cors_is_configured_once_in_the_app() -> None:
    """The app's middleware reads CORS_ALLOWED_ORIGINS; platform CORS would be a second list."""
    assert "cors" not in json.dumps([site(), site_configs()]).lower().replace("cors_allowed_origins", "")
    assert "CORS_ALLOWED_ORIGINS" in variable(API, "appSettings")
    assert "CORSMiddleware" in (API.parents[2] / "function_app" / "api.py").read_text()
