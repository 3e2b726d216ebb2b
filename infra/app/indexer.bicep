// Indexing that runs by itself: an upload to (or deletion from) the images container becomes an
// Event Grid event, which a system topic on the images account delivers to a Storage Queue; a
// Container Apps job, started by KEDA's azure-queue scaler when messages wait, runs
//   python -m indexing.cli drain-queue
// which brings the index up to date once per batch of messages and deletes them only after the run
// has committed and published (indexing/drain.py). A burst of uploads is one execution, not one per
// blob: messagesPerExecution messages start one, and one execution drains the whole queue.
//
// Identity: the job runs as its own user-assigned identity (not the search app's): AcrPull on the
// registry (no registry passwords; the registry's admin user is off), Blob Data Reader on the images
// container, Queue Data Message Processor on the events queue (plus Reader, for KEDA's length
// check) and Message Sender on the poison queue, and Key Vault Secrets User on the model share key,
// which the environment's Azure Files mount reads from Key Vault as the Function's mount does.
// PostgreSQL: the job signs in as POSTGRES_USER = the operator (the Entra administrator), which its
// token is accepted for once the identity is a member of the operator group (docs/deploy.md,
// "Indexing in Azure"): the indexer creates tables and indexes, as the operator's indexing always has.
// Event Grid delivers to the queue with the system topic's own identity (Queue Data Message Sender):
// the images account keeps shared keys off.

@description('Azure region of every resource here.')
param location string

@description('Tags applied to every resource here.')
param tags object = {}

@description('Name of the job\'s user-assigned managed identity.')
@minLength(3)
param identityName string

@description('Name of the container registry: 5-50 letters and digits, globally unique.')
@minLength(5)
@maxLength(50)
param registryName string

@description('Name of the Container Apps environment.')
@minLength(2)
@maxLength(60)
param environmentName string

@description('Name of the Container Apps job.')
@minLength(2)
@maxLength(32)
param jobName string

@description('Name of the Event Grid system topic on the images account.')
param systemTopicName string

@description('Name of the storage account that holds the images container (and the event queues).')
param imageStorageName string

@description('Name of the container whose blob events trigger indexing.')
param imagesContainerName string

@description('Name of the queue Event Grid writes blob events to; its poison queue is <name>-poison.')
@minLength(3)
@maxLength(57)
param queueName string = 'image-events'

@description('Name of the storage account that holds the model share.')
param modelStorageName string

@description('Name of the Azure Files share with the bundles and captioner checkpoints.')
param modelShareName string

@description('Where the job mounts the model share; MODEL_SHARE_PATH.')
@minLength(2)
param modelShareMountPath string

@description('Captioner checkpoint, relative to the model share (CAPTIONER_CHECKPOINT).')
@minLength(1)
param checkpointPath string = 'captioner/current/best.pt'

@description('Uri of the Key Vault secret that holds the model share\'s account key (versionless).')
@minLength(10)
param modelShareKeySecretUri string

@description('Name of the Key Vault that holds that secret.')
param keyVaultName string

@description('Name of the secret, in that vault, that holds the model share key.')
param modelShareKeySecretName string

@description('Name of the Log Analytics workspace the environment sends console logs to.')
param logAnalyticsName string

@description('Fully qualified host name of the PostgreSQL server.')
param postgresHost string

@description('Name of the database that holds the index.')
param postgresDatabaseName string

@description('PostgreSQL login name: the Entra administrator (operator group), of which the job\'s identity is made a member.')
@minLength(1)
param postgresUser string

@description('Repository and tag of the indexing image in the registry; the deploy pipeline pushes caption-search:<commit>.')
@minLength(1)
param imageTag string = 'caption-search:latest'

@description('Workload profile type for GPU indexing (\'\' runs on CPU in the Consumption profile). GPU profiles exist only in some regions and need GPU quota.')
@allowed([
  ''
  'Consumption-GPU-NC8as-T4'
  'Consumption-GPU-NC24-A100'
])
param gpuProfile string = ''

@description('Messages waiting that start one execution (KEDA queueLength). Each execution drains the whole queue, so this only decides how soon a trickle of uploads is indexed after a burst.')
@minValue(1)
@maxValue(10000)
param messagesPerExecution int = 1

@description('Seconds KEDA waits between looks at the queue.')
@minValue(10)
@maxValue(3600)
param pollingIntervalSeconds int = 30

@description('Seconds one execution may run before it is stopped; its messages come back after the visibility timeout.')
@minValue(300)
@maxValue(86400)
param replicaTimeoutSeconds int = 7200

@description('Retries of a failed execution (each resumes where the last stopped).')
@minValue(0)
@maxValue(10)
param replicaRetryLimit int = 1

// One execution at a time: a second would only wait for the first on the indexer's database lock.
var maxExecutions = 1
var gpu = !empty(gpuProfile)
var workloadProfileName = gpu ? 'gpu' : 'Consumption'
// Consumption caps a replica at 4 vCPU and 8 GiB; the T4 profile has 8 vCPU and 56 GiB, the A100 24 and 220.
var containerResources = {
  '': { cpu: json('4.0'), memory: '8Gi' }
  'Consumption-GPU-NC8as-T4': { cpu: json('8.0'), memory: '56Gi' }
  'Consumption-GPU-NC24-A100': { cpu: json('24.0'), memory: '220Gi' }
}
var decodeWorkers = {
  '': 2
  'Consumption-GPU-NC8as-T4': 6
  'Consumption-GPU-NC24-A100': 16
}
var consumptionProfile = [
  {
    name: 'Consumption'
    workloadProfileType: 'Consumption'
  }
]
var gpuProfiles = [
  {
    name: 'gpu'
    workloadProfileType: gpuProfile
  }
]
var poisonQueueName = '${queueName}-poison'
var storageSuffix = environment().suffixes.storage
// Received messages stay hidden for longer than an execution may run, so a live run never sees its
// own messages delivered again; a killed one's come back five minutes after its timeout.
var visibilitySeconds = replicaTimeoutSeconds + 300

// Built-in role definition ids: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles
var acrPull = '7f951dda-4ed3-4680-a7ca-43fe172d538d' // AcrPull
var storageBlobDataReader = '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1' // Storage Blob Data Reader
var storageQueueDataReader = '19e7f393-937e-4f77-808e-94535e297925' // Storage Queue Data Reader
var storageQueueDataMessageProcessor = '8a0f0c08-91a1-4084-bc3d-661d67233fed' // Storage Queue Data Message Processor
var storageQueueDataMessageSender = 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a' // Storage Queue Data Message Sender
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: identityName
  location: location
  tags: tags
}

resource imageStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: imageStorageName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: imageStorage
  name: 'default'
}

resource imagesContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: imagesContainerName
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: imageStorage
  name: 'default'
}

resource eventsQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: queueName
}

resource poisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: poisonQueueName
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: logAnalyticsName
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  name: registryName
  location: location
  tags: tags
  sku: {
    name: 'Basic'
  }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
  }
}

// --- Event Grid: blob events on the images container -> the queue ---------------------------------

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: systemTopicName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: imageStorage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

resource topicSendsToQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: eventsQueue
  name: guid(eventsQueue.id, systemTopic.id, storageQueueDataMessageSender)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataMessageSender)
    principalId: systemTopic.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource blobEvents 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: systemTopic
  name: 'images-to-index-queue'
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.Storage.BlobCreated'
        'Microsoft.Storage.BlobDeleted'
      ]
      subjectBeginsWith: '/blobServices/default/containers/${imagesContainerName}/blobs/'
      isSubjectCaseSensitive: true
    }
    deliveryWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      destination: {
        endpointType: 'StorageQueue'
        properties: {
          resourceId: imageStorage.id
          queueName: eventsQueue.name
          // -1: messages never expire; a drain that is down for a week still indexes on its return.
          queueMessageTimeToLiveInSeconds: -1
        }
      }
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
  }
  dependsOn: [
    topicSendsToQueue
  ]
}

// --- The job's roles ----------------------------------------------------------------------------

resource jobPullsImages 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: registry
  name: guid(registry.id, identity.id, acrPull)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPull)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource jobReadsImages 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: imagesContainer
  name: guid(imagesContainer.id, identity.id, storageBlobDataReader)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataReader)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource jobProcessesEvents 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: eventsQueue
  name: guid(eventsQueue.id, identity.id, storageQueueDataMessageProcessor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataMessageProcessor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource scalerReadsQueueLength 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: eventsQueue
  name: guid(eventsQueue.id, identity.id, storageQueueDataReader)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataReader)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource jobPoisons 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: poisonQueue
  name: guid(poisonQueue.id, identity.id, storageQueueDataMessageSender)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataMessageSender)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource modelShareKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = {
  parent: keyVault
  name: modelShareKeySecretName
}

resource jobReadsShareKey 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: modelShareKeySecret
  name: guid(modelShareKeySecret.id, identity.id, keyVaultSecretsUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// --- The environment and the job ------------------------------------------------------------------

resource containerEnvironment 'Microsoft.App/managedEnvironments@2026-01-01' = {
  name: environmentName
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    // Logs go through the diagnostic setting below: no workspace key in the template.
    appLogsConfiguration: {
      destination: 'azure-monitor'
    }
    workloadProfiles: gpu ? concat(consumptionProfile, gpuProfiles) : consumptionProfile
  }
}

resource environmentLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: containerEnvironment
  name: 'to-log-analytics'
  properties: {
    workspaceId: workspace.id
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
  }
}

// The share mount reads the account key from Key Vault with the job's identity: no key here.
resource modelShareMount 'Microsoft.App/managedEnvironments/storages@2026-01-01' = {
  parent: containerEnvironment
  name: 'models'
  properties: {
    azureFile: {
      accountName: modelStorageName
      shareName: modelShareName
      accessMode: 'ReadWrite'
      accountKeyVaultProperties: {
        keyVaultUrl: modelShareKeySecretUri
        identity: identity.id
      }
    }
  }
  dependsOn: [
    jobReadsShareKey
  ]
}

resource job 'Microsoft.App/jobs@2026-01-01' = {
  name: jobName
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    environmentId: containerEnvironment.id
    workloadProfileName: workloadProfileName
    configuration: {
      triggerType: 'Event'
      replicaTimeout: replicaTimeoutSeconds
      replicaRetryLimit: replicaRetryLimit
      registries: [
        {
          server: registry.properties.loginServer
          identity: identity.id
        }
      ]
      eventTriggerConfig: {
        parallelism: 1
        replicaCompletionCount: 1
        scale: {
          minExecutions: 0
          maxExecutions: maxExecutions
          pollingInterval: pollingIntervalSeconds
          rules: [
            {
              name: 'blob-events'
              type: 'azure-queue'
              metadata: {
                accountName: imageStorageName
                queueName: queueName
                queueLength: string(messagesPerExecution)
                // Count only visible messages: those a running execution holds are not new work.
                queueLengthStrategy: 'visibleonly'
                cloud: 'AzurePublicCloud'
              }
              identity: identity.id
            }
          ]
        }
      }
    }
    template: {
      containers: [
        {
          name: 'indexer'
          image: '${registry.properties.loginServer}/${imageTag}'
          args: [
            'drain-queue'
            '--no-progress'
          ]
          resources: containerResources[gpuProfile]
          env: [
            { name: 'AZURE_CLIENT_ID', value: identity.properties.clientId }
            { name: 'IMAGE_STORE', value: 'blob' }
            { name: 'IMAGES_ACCOUNT_URL', value: 'https://${imageStorageName}.blob.${storageSuffix}' }
            { name: 'IMAGES_CONTAINER', value: imagesContainerName }
            { name: 'INDEX_QUEUE_NAME', value: queueName }
            { name: 'INDEX_QUEUE_ACCOUNT_URL', value: 'https://${imageStorageName}.queue.${storageSuffix}' }
            { name: 'INDEX_QUEUE_POISON_NAME', value: poisonQueueName }
            { name: 'INDEX_QUEUE_VISIBILITY_SECONDS', value: string(visibilitySeconds) }
            { name: 'MODEL_SHARE_PATH', value: modelShareMountPath }
            { name: 'CAPTIONER_CHECKPOINT', value: '${modelShareMountPath}/${checkpointPath}' }
            { name: 'ENCODER_DIR', value: '/tmp/encoder/minilm-onnx' }
            { name: 'INDEX_LOG_DIR', value: '${modelShareMountPath}/index-logs' }
            { name: 'INDEX_DEVICE', value: gpu ? 'cuda' : 'cpu' }
            { name: 'INDEX_WORKERS', value: string(decodeWorkers[gpuProfile]) }
            { name: 'POSTGRES_HOST', value: postgresHost }
            { name: 'POSTGRES_DATABASE', value: postgresDatabaseName }
            { name: 'POSTGRES_USER', value: postgresUser }
            { name: 'POSTGRES_SSLMODE', value: 'require' }
          ]
          volumeMounts: [
            {
              volumeName: 'models'
              mountPath: modelShareMountPath
            }
          ]
        }
      ]
      volumes: [
        {
          name: 'models'
          storageType: 'AzureFile'
          storageName: modelShareMount.name
        }
      ]
    }
  }
  dependsOn: [
    jobPullsImages
    jobReadsImages
    jobProcessesEvents
    scalerReadsQueueLength
    jobPoisons
  ]
}

output identityName string = identity.name
output identityPrincipalId string = identity.properties.principalId
output identityClientId string = identity.properties.clientId
output registryName string = registry.name
output registryLoginServer string = registry.properties.loginServer
output jobName string = job.name
output queueName string = eventsQueue.name
output poisonQueueName string = poisonQueue.name
