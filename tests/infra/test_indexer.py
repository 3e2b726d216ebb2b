"""Indexing in Azure (infra/app/indexer.bicep, issue 15 item 4): blob events on the images container go
to a queue that an event-triggered Container Apps job drains with the managed identity, on a GPU
profile when asked; the job's settings are the ones indexing/settings.py reads; no key or password
appears, and each role is the narrowest that works, at the narrowest scope."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.infra.bicep import (
    INFRA,
    MAIN,
    ROOT,
    decorators,
    defaults,
    evaluate,
    module_calls,
    module_config,
    only,
    parse,
    resources,
    variable,
)

INDEXER = INFRA / "app" / "indexer.bicep"
ROLES = {  # role variable -> built-in role name (the ids are checked by test_bicep.py)
    "acrPull": "AcrPull",
    "storageBlobDataReader": "Storage Blob Data Reader",
    "storageQueueDataReader": "Storage Queue Data Reader",
    "storageQueueDataMessageProcessor": "Storage Queue Data Message Processor",
    "storageQueueDataMessageSender": "Storage Queue Data Message Sender",
    "keyVaultSecretsUser": "Key Vault Secrets User",
}


def accessor(expr: Any) -> str:
    """`a.b.c` from pycep's nested property accessors."""
    if isinstance(expr, str):
        return expr
    operands = expr["operator"]["operands"]
    assert expr["operator"]["type"] == "property_accessor", expr
    return f"{accessor(operands['operand_1'])}.{accessor(operands['operand_2'])}"


def job() -> dict[str, Any]:
    return only(INDEXER, "Microsoft.App/jobs")


def container() -> dict[str, Any]:
    (found,) = job()["properties"]["template"]["containers"]
    return found


def env_vars() -> dict[str, Any]:
    return {item["name"]: item["value"] for item in container()["env"]}


def test_blob_created_and_deleted_on_the_images_container_go_to_the_queue() -> None:
    topic = only(INDEXER, "Microsoft.EventGrid/systemTopics")
    assert accessor(topic["properties"]["source"]) == "imageStorage.id"
    assert topic["properties"]["topicType"] == "Microsoft.Storage.StorageAccounts"
    assert topic["identity"]["type"] == "SystemAssigned"
    subscription = only(INDEXER, "Microsoft.EventGrid/systemTopics/eventSubscriptions")["properties"]
    assert subscription["eventDeliverySchema"] == "EventGridSchema"  # what indexing/events.py parses
    assert subscription["filter"]["includedEventTypes"] == [
        "Microsoft.Storage.BlobCreated",
        "Microsoft.Storage.BlobDeleted",
    ]
    prefix = "/blobServices/default/containers/${imagesContainerName}/blobs/"
    assert subscription["filter"]["subjectBeginsWith"] == prefix
    delivery = subscription["deliveryWithResourceIdentity"]
    assert delivery["identity"] == {"type": "SystemAssigned"}  # no queue key or SAS anywhere
    destination = delivery["destination"]
    assert destination["endpointType"] == "StorageQueue"
    assert accessor(destination["properties"]["queueName"]) == "eventsQueue.name"
    assert "destination" not in subscription


def test_the_job_is_event_triggered_by_keda_with_its_managed_identity() -> None:
    config = job()["properties"]["configuration"]
    assert config["triggerType"] == "Event"
    assert "secrets" not in config
    trigger = config["eventTriggerConfig"]
    assert (trigger["parallelism"], trigger["replicaCompletionCount"]) == (1, 1)
    scale = trigger["scale"]
    assert scale["minExecutions"] == 0 and scale["maxExecutions"] == "maxExecutions"
    (rule,) = scale["rules"]
    assert rule["type"] == "azure-queue"
    assert accessor(rule["identity"]) == "identity.id"
    assert "auth" not in rule  # no connection string secret
    assert rule["metadata"]["accountName"] == "imageStorageName"
    assert rule["metadata"]["queueName"] == "queueName"
    assert rule["metadata"]["queueLengthStrategy"] == "visibleonly"  # hidden ones are being indexed
    # One execution at a time: a second would only wait on the indexer's database writer lock.
    assert variable(INDEXER, "maxExecutions") == 1
    assert config["replicaTimeout"] == "replicaTimeoutSeconds"
    assert config["replicaRetryLimit"] == "replicaRetryLimit"


def test_received_messages_stay_hidden_longer_than_a_run_may_take() -> None:
    params = defaults(INDEXER)
    visibility = evaluate(variable(INDEXER, "visibilitySeconds"), params)
    assert visibility > params["replicaTimeoutSeconds"]
    assert env_vars()["INDEX_QUEUE_VISIBILITY_SECONDS"]["function"]["parameters"] == {
        "value_to_convert": "visibilitySeconds"
    }


def test_the_job_runs_drain_queue_with_the_settings_the_indexer_reads() -> None:
    assert container()["args"] == ["drain-queue", "--no-progress"]
    names = set(env_vars())
    read = "".join(
        (ROOT / path).read_text()
        for path in ("indexing/settings.py", "indexing/queue.py", "core/settings.py")
    )
    unknown = {name for name in names if f'"{name}"' not in read}
    assert not unknown, f"settings the indexer does not read: {unknown}"
    needed = {
        "IMAGE_STORE",
        "IMAGES_ACCOUNT_URL",
        "IMAGES_CONTAINER",
        "AZURE_CLIENT_ID",
        "INDEX_QUEUE_NAME",
        "INDEX_QUEUE_ACCOUNT_URL",
        "MODEL_SHARE_PATH",
        "CAPTIONER_CHECKPOINT",
        "POSTGRES_HOST",
        "POSTGRES_DATABASE",
        "POSTGRES_USER",
    }
    assert needed <= names, needed - names
    assert env_vars()["IMAGE_STORE"] == "blob"
    assert accessor(env_vars()["AZURE_CLIENT_ID"]) == "identity.properties.clientId"
    # The job signs in to PostgreSQL as the operator group, of which its identity is a member.
    calls = {name: params for name, _, params in module_calls(MAIN)}
    assert calls["indexer"]["postgresUser"] == "principalName"


def test_no_key_password_or_secret_value_in_the_template() -> None:
    text = INDEXER.read_text()
    for marker in ("listKeys", "accountKey:", "passwordSecretRef", "AccountKey=", "sharedKey", "@secure"):
        assert marker not in text, marker
    (registry,) = job()["properties"]["configuration"]["registries"]
    assert set(registry) == {"server", "identity"} and accessor(registry["identity"]) == "identity.id"
    acr = only(INDEXER, "Microsoft.ContainerRegistry/registries")["properties"]
    assert acr["adminUserEnabled"] is False and acr["anonymousPullEnabled"] is False


def test_the_model_share_is_mounted_with_its_key_from_key_vault() -> None:
    mount = only(INDEXER, "Microsoft.App/managedEnvironments/storages")
    azure_file = mount["properties"]["azureFile"]
    assert "accountKey" not in azure_file
    assert azure_file["accountKeyVaultProperties"]["keyVaultUrl"] == "modelShareKeySecretUri"
    assert accessor(azure_file["accountKeyVaultProperties"]["identity"]) == "identity.id"
    (volume,) = job()["properties"]["template"]["volumes"]
    assert volume["storageType"] == "AzureFile" and accessor(volume["storageName"]) == "modelShareMount.name"
    (mounted,) = container()["volumeMounts"]
    assert mounted == {"volumeName": "models", "mountPath": "modelShareMountPath"}
    assert env_vars()["MODEL_SHARE_PATH"] == "modelShareMountPath"


def role_assignments() -> dict[str, tuple[str, str, str]]:
    """name -> (scope, role name, principal) of every assignment in indexer.bicep."""
    found = {}
    for name, assignment in resources(INDEXER, "Microsoft.Authorization/roleAssignments").items():
        role = assignment["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
        principal = accessor(assignment["properties"]["principalId"])
        found[name] = (assignment["scope"], ROLES[role], principal)
    return found


def test_each_identity_holds_the_narrowest_role_at_the_narrowest_scope() -> None:
    job_identity, topic_identity = "identity.properties.principalId", "systemTopic.identity.principalId"
    assert sorted(role_assignments().values()) == sorted(
        [
            ("registry", "AcrPull", job_identity),
            ("imagesContainer", "Storage Blob Data Reader", job_identity),
            ("eventsQueue", "Storage Queue Data Message Processor", job_identity),
            ("eventsQueue", "Storage Queue Data Reader", job_identity),  # KEDA's length check
            ("poisonQueue", "Storage Queue Data Message Sender", job_identity),
            ("modelShareKeySecret", "Key Vault Secrets User", job_identity),
            ("eventsQueue", "Storage Queue Data Message Sender", topic_identity),
        ]
    )
    declared = parse(INDEXER)["resources"]
    for queue in ("eventsQueue", "poisonQueue"):
        assert declared[queue]["type"] == "Microsoft.Storage/storageAccounts/queueServices/queues"


def test_a_gpu_profile_runs_the_job_on_cuda_and_cpu_is_the_default() -> None:
    params = defaults(INDEXER)
    assert params["gpuProfile"] == "" and defaults(MAIN)["indexerGpuProfile"] == ""
    offered = decorators(parse(INDEXER)["parameters"]["gpuProfile"])["allowed"]
    assert set(offered) == {"", "Consumption-GPU-NC8as-T4", "Consumption-GPU-NC24-A100"}
    assert decorators(parse(MAIN)["parameters"]["indexerGpuProfile"])["allowed"] == offered
    by_profile = {key.strip("'"): value for key, value in variable(INDEXER, "containerResources").items()}
    workers = {key.strip("'") for key in variable(INDEXER, "decodeWorkers")}
    assert set(by_profile) == workers == set(offered)
    profiles = only(INDEXER, "Microsoft.App/managedEnvironments")["properties"]["workloadProfiles"]
    chosen = profiles["operator"]["operands"]
    assert chosen["condition"] == "gpu" and chosen["false_value"] == "consumptionProfile"
    assert chosen["true_value"]["function"]["type"] == "concat"
    assert variable(INDEXER, "gpuProfiles") == [{"name": "gpu", "workloadProfileType": "gpuProfile"}]
    assert variable(INDEXER, "consumptionProfile") == [
        {"name": "Consumption", "workloadProfileType": "Consumption"}
    ]
    for profile in offered:
        env = {**params, "gpuProfile": profile}
        env["gpu"] = evaluate(variable(INDEXER, "gpu"), env)
        # By hand: the evaluator would read the literal 'gpu' as the variable gpu.
        picked = variable(INDEXER, "workloadProfileName")["operator"]["operands"]
        assert (
            picked["condition"] == "gpu"
            and job()["properties"]["workloadProfileName"] == "workloadProfileName"
        )
        chosen_profile = picked["true_value"] if env["gpu"] else picked["false_value"]
        device = evaluate(env_vars()["INDEX_DEVICE"], env)
        assert (chosen_profile, device) == (("gpu", "cuda") if profile else ("Consumption", "cpu"))


def test_main_deploys_the_indexer_only_when_asked_and_outputs_what_the_pipeline_needs() -> None:
    assert module_config(MAIN, "indexer")["condition"] == "indexerEnabled"
    assert defaults(MAIN)["indexerEnabled"] is False
    outputs = parse(MAIN)["outputs"]
    for name in (
        "INDEXER_REGISTRY_NAME",
        "INDEXER_JOB_NAME",
        "INDEXER_QUEUE_NAME",
        "INDEXER_IDENTITY_PRINCIPAL_ID",
    ):
        value = json.dumps(outputs[name]["value"])
        assert "indexerEnabled" in value, name  # empty when the module is off
    calls = {name: params for name, _, params in module_calls(MAIN)}
    assert calls["indexer"]["imagesContainerName"] == "imagesContainerName"
    assert calls["indexer"]["modelShareMountPath"] == "modelShareMountPath"
    assert re.fullmatch(r"\w+\$\{token\}", calls["indexer"]["registryName"])  # letters and digits only
