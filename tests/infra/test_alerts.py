"""Monitoring (issue 16 item 9): an availability test on /api/health, alerts on the 5xx rate and the
p95 latency, on PostgreSQL's connections, CPU credits (Burstable) and storage, and on the Log
Analytics daily cap, all notifying one action group that mails the operator."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.bicep import (
    ALERTS,
    MAIN,
    MONITORING,
    defaults,
    evaluate,
    main_module,
    only,
    parse,
    resources,
    variable,
)


def declared(name: str) -> dict[str, Any]:
    return parse(ALERTS)["resources"][name]["config"]


def query_rules() -> dict[str, dict[str, Any]]:
    return resources(ALERTS, "Microsoft.Insights/scheduledQueryRules")


def notifies_the_action_group(props: dict[str, Any]) -> bool:
    return "actionGroup" in json.dumps(props["actions"])


def test_main_deploys_the_alerts_against_its_own_resources() -> None:
    call = main_module(ALERTS)
    assert "applicationInsightsName" in json.dumps(call["applicationInsightsName"])
    assert "logAnalyticsName" in json.dumps(call["logAnalyticsName"])
    assert "serverName" in json.dumps(call["postgresServerName"])
    assert "url" in json.dumps(call["apiUrl"]) and "api" in json.dumps(call["apiUrl"])
    assert call["alertEmail"] == "alertEmail" and defaults(MAIN)["alertEmail"] == ""
    assert call["postgresUserConnections"] == {
        "operator": {
            "type": "index_accessor",
            "operands": {"operand_1": "postgresUserConnections", "operand_2": "postgresSkuName"},
        }
    }


def test_the_action_group_mails_the_operator_when_an_address_is_given() -> None:
    group = only(ALERTS, "Microsoft.Insights/actionGroups")["properties"]
    assert len(group["groupShortName"]) <= 12
    assert evaluate(group["emailReceivers"], {"alertEmail": ""}) == []
    receivers = evaluate(group["emailReceivers"], {"alertEmail": "ops@example.com"})
    assert [r["emailAddress"] for r in receivers] == ["ops@example.com"]


def test_availability_test_calls_health_and_alerts_on_failures() -> None:
    test = only(ALERTS, "Microsoft.Insights/webtests")
    assert test["kind"] == test["properties"]["Kind"] == "standard"
    assert test["properties"]["Request"]["RequestUrl"] == "${apiUrl}/api/health"
    assert test["properties"]["ValidationRules"]["ExpectedHttpStatusCode"] == 200
    assert "hidden-link" in json.dumps(test["tags"]) and "applicationInsights" in json.dumps(test["tags"])
    alerts = [
        a
        for a in resources(ALERTS, "Microsoft.Insights/metricAlerts").values()
        if "WebtestLocationAvailabilityCriteria" in json.dumps(a)
    ]
    assert len(alerts) == 1
    criteria = alerts[0]["properties"]["criteria"]
    assert criteria["webTestId"] == {
        "operator": {"type": "property_accessor", "operands": {"operand_1": "healthTest", "operand_2": "id"}}
    }
    assert notifies_the_action_group(alerts[0]["properties"])


def test_5xx_rate_and_p95_latency_are_watched_in_application_insights() -> None:
    rules = {r["name"]: r["properties"] for r in query_rules().values()}
    by_column = {}
    for props in rules.values():
        for criterion in props["criteria"]["allOf"]:
            by_column[criterion.get("metricMeasureColumn")] = (props, criterion)
    errors, criterion = by_column["errorPercent"]
    assert "resultCode" in criterion["query"] and ">= 500" in criterion["query"]
    assert criterion["threshold"] == "serverErrorPercent"
    assert "applicationInsights" in json.dumps(errors["scopes"])
    latency, criterion = by_column["p95"]
    assert "percentile(duration, 95)" in criterion["query"]
    assert criterion["threshold"] == "latencyP95Ms"
    assert "applicationInsights" in json.dumps(latency["scopes"])
    assert notifies_the_action_group(errors) and notifies_the_action_group(latency)


def test_the_log_analytics_daily_cap_is_watched() -> None:
    caps = [p["properties"] for p in query_rules().values() if "OverQuota" in json.dumps(p)]
    assert len(caps) == 1
    assert "_LogOperation" in caps[0]["criteria"]["allOf"][0]["query"]
    assert json.dumps(caps[0]["scopes"]) == json.dumps(
        [
            {
                "operator": {
                    "type": "property_accessor",
                    "operands": {"operand_1": "logAnalytics", "operand_2": "id"},
                }
            }
        ]
    )
    assert notifies_the_action_group(caps[0])
    # The cap it watches is set: a workspace without one never reaches it.
    assert defaults(MONITORING)["dailyQuotaGb"] > 0


def postgres_rules(burstable: bool) -> dict[str, dict[str, Any]]:
    env = {
        "postgresCommonRules": variable(ALERTS, "postgresCommonRules"),
        "postgresBurstableRules": variable(ALERTS, "postgresBurstableRules"),
        "postgresBurstable": burstable,
    }
    rules = variable(ALERTS, "postgresRules")["function"]
    assert rules["type"] == "concat"
    return {r["metric"]: r for part in rules["parameters"].values() for r in evaluate(part, env)}


def test_postgres_connections_credits_and_storage_are_watched() -> None:
    assert set(postgres_rules(burstable=True)) == {
        "active_connections",
        "cpu_credits_remaining",
        "storage_percent",
    }
    assert set(postgres_rules(burstable=False)) == {"active_connections", "storage_percent"}
    connections = postgres_rules(burstable=True)["active_connections"]
    assert evaluate(connections["threshold"], {"postgresUserConnections": 414}) == 331  # 80 % of B2s
    assert postgres_rules(burstable=True)["cpu_credits_remaining"]["operator"] == "LessThan"
    alerts = declared("postgresAlerts")
    assert alerts["loop_type"]["detail"]["array_name"] == "postgresRules"
    props = alerts["config"]["properties"]
    assert props["scopes"] == [
        {"operator": {"type": "property_accessor", "operands": {"operand_1": "postgres", "operand_2": "id"}}}
    ]
    assert props["criteria"]["allOf"][0]["metricNamespace"] == "Microsoft.DBforPostgreSQL/flexibleServers"
    assert notifies_the_action_group(props)
    assert "startsWith" in json.dumps(
        main_module(ALERTS)["postgresBurstable"]
    ) or "starts_with" in json.dumps(main_module(ALERTS)["postgresBurstable"])
