"""The two network modes (issue 16 item 6). Public (default, as the Flex samples): PostgreSQL admits
Entra logins from Azure and listed addresses. Private (vnetEnabled): the Function integrates with a
VNet and reaches PostgreSQL, the model share, its host storage and Key Vault through private
endpoints, and those refuse the internet."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.bicep import (
    API,
    DATABASE,
    KEYVAULT,
    MAIN,
    PRIVATE_ENDPOINT,
    STORAGE,
    VNET,
    body,
    defaults,
    evaluate,
    main_module,
    module_calls,
    module_config,
    only,
    parse,
    resources,
    variable,
)

# The private DNS zone of each sub-resource (Azure's private endpoint DNS table).
PRIVATE_ZONES = {
    "postgresqlServer": "privatelink.postgres.database.azure.com",
    "file": "privatelink.file.${environment().suffixes.storage}",
    "blob": "privatelink.blob.${environment().suffixes.storage}",
    "vault": "privatelink.vaultcore.azure.net",
}


def main_env(vnet: bool, **extra: Any) -> dict[str, Any]:
    return {**defaults(MAIN), "vnetEnabled": vnet, **extra}


def storage_calls() -> dict[str, dict[str, Any]]:
    return {params["name"]: params for _, path, params in module_calls(MAIN) if path == STORAGE}


def storage_network(params: dict[str, Any], env: dict[str, Any]) -> dict[str, Any]:
    """The account's network properties for one module call under one set of main parameters."""
    inner = {**defaults(STORAGE), **{k: evaluate(v, env) for k, v in params.items() if k != "name"}}
    props = only(STORAGE, "Microsoft.Storage/storageAccounts")["properties"]
    acls = props["networkAcls"]
    return {
        "publicNetworkAccess": evaluate(props["publicNetworkAccess"], inner),
        "defaultAction": evaluate(acls["defaultAction"], inner),
        "ipRules": evaluate(acls["ipRules"]["loop_type"]["detail"]["array_name"], inner),
    }


def postgres(env: dict[str, Any]) -> dict[str, Any]:
    """The server's public access and the firewall rules created, under one set of main parameters."""
    inner = {**defaults(DATABASE), **{k: evaluate(v, env) for k, v in main_module(DATABASE).items()}}
    server = only(DATABASE, "Microsoft.DBforPostgreSQL/flexibleServers")
    rules = resources(DATABASE, "Microsoft.DBforPostgreSQL/flexibleServers/firewallRules")
    declared = {name: r["config"] for name, r in parse(DATABASE)["resources"].items()}
    allow_azure = evaluate(declared["allowAzure"]["condition"], inner)
    client_rules = evaluate(declared["clientRules"]["loop_type"]["detail"]["array_name"], inner)
    assert set(rules) == {"allowAzure", "clientRules"}
    return {
        "public": evaluate(server["properties"]["network"]["publicNetworkAccess"], inner),
        "allow_azure": allow_azure,
        "client_rules": client_rules,
    }


CLIENT = [{"name": "gpu", "startIpAddress": "203.0.113.7", "endIpAddress": "203.0.113.7"}]


def test_the_public_mode_is_the_default() -> None:
    assert defaults(MAIN)["vnetEnabled"] is False


def test_public_mode_keeps_the_azure_rule_only_because_the_app_needs_it() -> None:
    pg = postgres(main_env(False, postgresFirewallRules=CLIENT))
    assert pg == {"public": "Enabled", "allow_azure": True, "client_rules": CLIENT}
    # An operator who needs no app access from Azure (e.g. indexing only) can drop it.
    assert postgres(main_env(False, postgresAllowAzureServices=False))["allow_azure"] is False
    for params in storage_calls().values():
        assert storage_network(params, main_env(False))["defaultAction"] == "Allow"
    assert main_module(API)["virtualNetworkSubnetId"]["operator"]["operands"]["false_value"] == ""
    assert evaluate(main_module(API)["virtualNetworkSubnetId"], main_env(False)) == ""


def test_private_mode_closes_postgres_and_storage() -> None:
    env = main_env(True, postgresFirewallRules=CLIENT, operatorIpAddresses=["203.0.113.7"])
    assert postgres(env) == {"public": "Disabled", "allow_azure": False, "client_rules": []}
    accounts = storage_calls()
    assert set(accounts) == {"stfn${token}", "stimg${token}", "stmdl${token}"}
    host = storage_network(accounts["stfn${token}"], env)
    assert host == {"publicNetworkAccess": "Disabled", "defaultAction": "Deny", "ipRules": []}
    share = storage_network(accounts["stmdl${token}"], env)
    assert share == {"publicNetworkAccess": "Enabled", "defaultAction": "Deny", "ipRules": ["203.0.113.7"]}
    # Without operator addresses the share's public endpoint is off altogether.
    assert storage_network(accounts["stmdl${token}"], main_env(True))["publicNetworkAccess"] == "Disabled"
    # Browsers load result images and the page from the images account: it stays public.
    assert storage_network(accounts["stimg${token}"], env)["defaultAction"] == "Allow"
    vault = only(KEYVAULT, "Microsoft.KeyVault/vaults")["properties"]
    kv_env = {**defaults(KEYVAULT), "denyPublicNetwork": True, "allowedIpAddresses": []}
    assert evaluate(vault["networkAcls"]["defaultAction"], kv_env) == "Deny"
    assert evaluate(vault["publicNetworkAccess"], kv_env) == "Disabled"
    assert main_module(KEYVAULT)["denyPublicNetwork"] == "vnetEnabled"


def test_private_mode_integrates_the_function_with_a_delegated_subnet() -> None:
    assert module_config(MAIN, "vnet")["condition"] == "vnetEnabled"
    names = {n: variable(VNET, n) for n in ("appSubnetName", "privateEndpointSubnetName")}
    network = only(VNET, "Microsoft.Network/virtualNetworks")["properties"]
    subnets = {evaluate(s["name"], names): s["properties"] for s in network["subnets"]}
    assert set(subnets) == {"app", "private-endpoints"}
    delegations = [d["properties"]["serviceName"] for d in subnets["app"]["delegations"]]
    assert delegations == ["Microsoft.App/environments"]  # what Flex Consumption requires
    site = only(API, "Microsoft.Web/sites")["properties"]
    assert "virtualNetworkSubnetId" in str(site["virtualNetworkSubnetId"])
    subnet = main_module(API)["virtualNetworkSubnetId"]["operator"]["operands"]
    assert subnet["condition"] == "vnetEnabled" and "appSubnetId" in str(subnet["true_value"])


@pytest.mark.parametrize("vnet", [False, True])
def test_private_endpoints_exist_only_in_private_mode(vnet: bool) -> None:
    loop = module_config(MAIN, "endpoints")["loop_type"]["detail"]["array_name"]
    env = {**main_env(vnet), "privateEndpoints": variable(MAIN, "privateEndpoints")}
    endpoints = evaluate(loop, env)
    if not vnet:
        assert endpoints == []
        return
    by_group = {pe["groupId"]: pe for pe in endpoints}
    assert {g: pe["dnsZoneName"] for g, pe in by_group.items()} == PRIVATE_ZONES
    targets = {g: str(pe["targetId"]) for g, pe in by_group.items()}
    assert "database" in targets["postgresqlServer"]
    assert "modelStorage" in targets["file"]
    assert "functionStorage" in targets["blob"]
    assert "keyVault" in targets["vault"]
    call = body(module_config(MAIN, "endpoints"))["params"]
    assert "privateEndpointSubnetId" in str(call["subnetId"])


def test_each_private_endpoint_gets_its_dns_zone_linked_to_the_network() -> None:
    endpoint = only(PRIVATE_ENDPOINT, "Microsoft.Network/privateEndpoints")["properties"]
    assert endpoint["privateLinkServiceConnections"][0]["properties"]["groupIds"] == ["groupId"]
    link = only(PRIVATE_ENDPOINT, "Microsoft.Network/privateDnsZones/virtualNetworkLinks")["properties"]
    assert link["virtualNetwork"]["id"] == "vnetId"
    group = only(PRIVATE_ENDPOINT, "Microsoft.Network/privateEndpoints/privateDnsZoneGroups")
    assert "zone" in str(group["properties"]["privateDnsZoneConfigs"][0]["properties"]["privateDnsZoneId"])
