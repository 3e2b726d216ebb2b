// Caption-based image search on Azure: storage, the search Function, PostgreSQL with pgvector,
// monitoring and the static web page. Deploy with `azd up`, or with
//   az deployment group create -g <rg> -f infra/main.bicep -p environmentName=<env> principalId=<id> ...
// (docs/deploy.md walks through both). Names are a short prefix plus a token unique to the
// subscription, resource group and environment, so two environments never collide.
//
// Storage is three accounts, each holding one kind of data:
//   stfn...   Function host storage and deployment package   shared key OFF (identity)
//   stimg...  images container, static website ($web)          shared key OFF (identity, user delegation SAS)
//   stmdl...  the model share (search bundle, checkpoints)     shared key ON (key in Key Vault)
// Azure Files mounts in App Service/Functions can only authenticate with the account key, so the
// account that holds the share must allow shared keys; the key lives in Key Vault (app/keyvault.bicep). Keeping the share on its own account means
// that key opens the model share and nothing else: images and the host storage stay Entra-only.
// One account would have needed shared keys on for everything, and the app's Blob Data Owner role
// (required by the Functions host on its storage) would then have reached the images too.

targetScope = 'resourceGroup'

@description('Name of the environment (the azd environment name, e.g. dev or prod). It seeds the unique suffix of every resource name and tags every resource.')
@minLength(1)
@maxLength(20)
param environmentName string

@description('Azure region of every resource; limited to regions that offer the Flex Consumption plan.')
@allowed([
  'australiaeast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param location string = resourceGroup().location

@description('Object id of the operator: the user, group or CI service principal that uploads images, bundles and the web page and is the PostgreSQL Microsoft Entra administrator. azd fills in the signed-in user.')
@minLength(36)
@maxLength(36)
param principalId string

@description('Name of the operator as Microsoft Entra ID knows it: the user principal name of a user, or the display name of a group or service principal. PostgreSQL needs it for the administrator.')
@minLength(1)
param principalName string

@description('Kind of the operator principal.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param principalType string = 'User'

@description('Path at which the model share is mounted inside the Function; the app reads it from MODEL_SHARE_PATH. Linux mount paths live under /mounts/.')
@minLength(9)
param modelShareMountPath string = '/mounts/models'

@description('Size limit of the model share in GiB.')
@minValue(1)
@maxValue(5120)
param modelShareQuotaGiB int = 16

@description('Memory of each Function instance in MB. The query path holds the ONNX text encoder, the tokenizer and the bundle: 2048 leaves headroom. Microsoft.Web/sites@2024-04-01 takes 2048 or 4096 (512 is rejected).')
@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Upper bound on Function instances (Flex Consumption allows 40-1000). Each instance keeps its own PostgreSQL connections, so keep it in line with the server size.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Concurrent HTTP requests one Function instance takes before another is added (Flex Consumption defaults Python to 1: every concurrent query would get its own instance, cold model load and pool).')
@minValue(1)
@maxValue(1000)
param perInstanceConcurrency int = 8

@description('Most PostgreSQL connections one Function instance may hold. The deployment lowers it so that maximumInstanceCount instances fit the server (see postgresUserConnections); queries beyond it wait up to SEARCH_POOL_WAIT_SECONDS for a free connection.')
@minValue(1)
@maxValue(100)
param searchPoolSize int = 4

@description('Always-ready Function instances for HTTP (no cold start, billed while idle); 0 scales to zero.')
@minValue(0)
@maxValue(20)
param alwaysReadyInstances int = 0

@description('Minutes a signed image URL in search results stays valid.')
@minValue(1)
@maxValue(1440)
param sasTtlMinutes int = 15

@description('Clusters probed per query (SEARCH_NPROBE); 0 keeps the app\'s default.')
@minValue(0)
@maxValue(100000)
param searchNprobe int = 0

@description('Further origins allowed to call the API from a browser besides the deployed web page, e.g. http://localhost:8000 for local development; no trailing slash.')
param extraCorsOrigins array = []

@description('PostgreSQL major version; both offer pgvector 0.8 and pg_diskann on Azure.')
@allowed([
  '16'
  '17'
])
param postgresVersion string = '17'

@description('PostgreSQL compute size. It bounds the connections, and with them each Function instance\'s pool (postgresUserConnections below); B1ms (35 user connections) cannot serve 40 instances and is not offered.')
@allowed([
  'Standard_B2s'
  'Standard_B2ms'
  'Standard_D2ds_v5'
  'Standard_D4ds_v5'
])
param postgresSkuName string = 'Standard_B2s'

@description('PostgreSQL storage in GiB.')
@allowed([
  32
  64
  128
  256
])
param postgresStorageSizeGB int = 32

@description('Name of the database that holds the index.')
@minLength(1)
@maxLength(63)
param postgresDatabaseName string = 'search'

@description('Whether PostgreSQL admits connections from any Azure service (the 0.0.0.0 rule) in the public mode. The Function has no fixed outbound address without VNet integration, so without it the app cannot reach the server; Entra-only logins keep other tenants out. Never applied with vnetEnabled.')
param postgresAllowAzureServices bool = true

@description('Client address ranges PostgreSQL admits in the public mode, each { name: string, startIpAddress: string, endIpAddress: string }: the GPU machine that runs indexing, an operator\'s workstation. With vnetEnabled the server has no public endpoint.')
param postgresFirewallRules array = []

@description('Private mode, as in the Flex Consumption samples: a VNet the Function integrates with, private endpoints and DNS zones for PostgreSQL, the model share\'s file service, the host storage\'s blobs and Key Vault; PostgreSQL without public access and those storage accounts and the vault denying the internet (except operatorIpAddresses). The images account stays public: browsers load results from it.')
param vnetEnabled bool = false

@description('Public IPv4 addresses or CIDR ranges that may still reach the model share account and Key Vault with vnetEnabled (the machine that publishes bundles); ignored otherwise.')
param operatorIpAddresses array = []

@description('Address that receives alert mails (availability, 5xx, latency, PostgreSQL, Log Analytics cap); empty leaves the action group without a receiver.')
param alertEmail string = ''

@description('Which of the model share account\'s two keys Key Vault hands the mount (1 or 2); flip it to rotate keys without an outage (docs/deploy.md).')
@allowed([
  1
  2
])
param modelShareKey int = 1

@description('Index uploads by themselves (app/indexer.bicep): Event Grid blob events on the images container go to a Storage Queue, and a Container Apps job started by KEDA drains it (python -m indexing.cli drain-queue), one incremental index run per batch. Off by default: it adds a container registry and a Container Apps environment, and the job needs the image the deploy pipeline builds (docs/deploy.md, "Indexing in Azure"). Not with vnetEnabled: the job\'s environment is not in the VNet, so the private share, vault and server would refuse it.')
param indexerEnabled bool = false

@description('GPU workload profile for the indexing job where the region offers one and the subscription has quota; empty runs it on CPU (Consumption, 4 vCPU).')
@allowed([
  ''
  'Consumption-GPU-NC8as-T4'
  'Consumption-GPU-NC24-A100'
])
param indexerGpuProfile string = ''

@description('Repository:tag of the indexing image in the deployment\'s registry; the deploy pipeline passes caption-search:<commit> and pushes it right after provisioning.')
param indexerImageTag string = 'caption-search:latest'

@description('The indexing job\'s captioner checkpoint, relative to the model share.')
param indexerCheckpointPath string = 'captioner/current/best.pt'

@description('Days of log retention in Log Analytics.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = {
  'azd-env-name': environmentName
  app: 'caption-search'
}
var imagesContainerName = 'images'
var modelShareName = 'models'
var deploymentContainerName = 'app-package'

// Connection budget. Every Function instance has its own pool, so at full scale the app holds
// maximumInstanceCount x pool connections. Max user connections per compute size (max_connections
// less the 15 that Azure reserves), from https://learn.microsoft.com/azure/postgresql/flexible-server/concepts-limits
var postgresUserConnections = {
  Standard_B2s: 414
  Standard_B2ms: 844
  Standard_D2ds_v5: 844
  Standard_D4ds_v5: 1703
}
// Kept free for the operator: indexing, migrations, psql, the pipeline's bootstrap.
var operatorConnections = 10
// Each instance's share of the rest, at most searchPoolSize. 0 means the server is too small for
// maximumInstanceCount: the app then refuses to start, naming SEARCH_POOL_SIZE, rather than failing
// with "too many clients" under load.
var poolPerInstance = min(searchPoolSize, (postgresUserConnections[postgresSkuName] - operatorConnections) / maximumInstanceCount)

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-search-${token}'
  location: location
  tags: tags
}

module monitoring 'core/monitor/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: 'log-search-${token}'
    applicationInsightsName: 'appi-search-${token}'
    location: location
    tags: tags
    retentionInDays: logRetentionDays
  }
}

module functionStorage 'core/storage/storage-account.bicep' = {
  name: 'function-storage'
  params: {
    name: 'stfn${token}'
    location: location
    tags: tags
    // Only the Function and the platform (through the VNet) use it: no operator address.
    denyPublicNetwork: vnetEnabled
    allowSharedKeyAccess: false
    containers: [
      deploymentContainerName
    ]
  }
}

module imageStorage 'core/storage/storage-account.bicep' = {
  name: 'image-storage'
  params: {
    name: 'stimg${token}'
    location: location
    tags: tags
    allowSharedKeyAccess: false
    containers: [
      imagesContainerName
    ]
  }
}

module modelStorage 'core/storage/storage-account.bicep' = {
  name: 'model-storage'
  params: {
    name: 'stmdl${token}'
    location: location
    tags: tags
    // Required by the Azure Files mount; see the storage note at the top of this file.
    allowSharedKeyAccess: true
    denyPublicNetwork: vnetEnabled
    allowedIpAddresses: operatorIpAddresses
    fileShares: [
      {
        name: modelShareName
        quotaGiB: modelShareQuotaGiB
      }
    ]
  }
}

module database 'app/database.bicep' = {
  name: 'database'
  params: {
    name: 'psql-search-${token}'
    location: location
    tags: tags
    version: postgresVersion
    skuName: postgresSkuName
    storageSizeGB: postgresStorageSizeGB
    databaseName: postgresDatabaseName
    adminPrincipalId: principalId
    adminPrincipalName: principalName
    adminPrincipalType: principalType
    publicNetworkAccess: !vnetEnabled
    allowAzureServices: postgresAllowAzureServices
    firewallRules: postgresFirewallRules
  }
}

module keyVault 'app/keyvault.bicep' = {
  name: 'key-vault'
  params: {
    name: 'kv-search-${token}'
    location: location
    tags: tags
    modelStorageName: modelStorage.outputs.name
    modelShareKey: modelShareKey
    denyPublicNetwork: vnetEnabled
    allowedIpAddresses: operatorIpAddresses
  }
}

module vnet 'core/network/vnet.bicep' = if (vnetEnabled) {
  name: 'vnet'
  params: {
    name: 'vnet-search-${token}'
    location: location
    tags: tags
  }
}

// One private endpoint per service the Function reaches privately; storage zones follow the cloud's suffix.
var privateEndpoints = [
  {
    name: 'pe-psql-search-${token}'
    targetId: database.outputs.id
    groupId: 'postgresqlServer'
    dnsZoneName: 'privatelink.postgres.database.azure.com'
  }
  {
    name: 'pe-file-search-${token}'
    targetId: modelStorage.outputs.id
    groupId: 'file'
    dnsZoneName: 'privatelink.file.${environment().suffixes.storage}'
  }
  {
    name: 'pe-blob-search-${token}'
    targetId: functionStorage.outputs.id
    groupId: 'blob'
    dnsZoneName: 'privatelink.blob.${environment().suffixes.storage}'
  }
  {
    name: 'pe-kv-search-${token}'
    targetId: keyVault.outputs.id
    groupId: 'vault'
    dnsZoneName: 'privatelink.vaultcore.azure.net'
  }
]

// One at a time: the PostgreSQL endpoint is a change to the server, which takes one change at a time.
@batchSize(1)
module endpoints 'core/network/private-endpoint.bicep' = [
  for pe in (vnetEnabled ? privateEndpoints : []): {
    name: pe.name
    params: {
      name: pe.name
      location: location
      tags: tags
      vnetId: vnet.outputs.id
      subnetId: vnet.outputs.privateEndpointSubnetId
      targetId: pe.targetId
      groupId: pe.groupId
      dnsZoneName: pe.dnsZoneName
    }
  }
]

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  params: {
    appPrincipalId: identity.properties.principalId
    operatorPrincipalId: principalId
    operatorPrincipalType: principalType
    functionStorageName: functionStorage.outputs.name
    imageStorageName: imageStorage.outputs.name
    modelStorageName: modelStorage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    keyVaultName: keyVault.outputs.name
    modelShareKeySecretName: keyVault.outputs.secretName
  }
}

// The static website endpoint ends with '/'; a CORS origin must not.
var webEndpoint = imageStorage.outputs.webEndpoint
var webOrigin = take(webEndpoint, length(webEndpoint) - 1)

module api 'app/api.bicep' = {
  name: 'api'
  params: {
    name: 'func-search-${token}'
    planName: 'plan-search-${token}'
    location: location
    tags: tags
    identityId: identity.id
    identityClientId: identity.properties.clientId
    identityName: identity.name
    functionStorageName: functionStorage.outputs.name
    deploymentContainerName: deploymentContainerName
    imageStorageName: imageStorage.outputs.name
    imagesContainerName: imagesContainerName
    modelStorageName: modelStorage.outputs.name
    modelShareName: modelShareName
    modelShareMountPath: modelShareMountPath
    postgresHost: database.outputs.host
    postgresDatabaseName: database.outputs.databaseName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    allowedOrigins: concat([webOrigin], extraCorsOrigins)
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    perInstanceConcurrency: perInstanceConcurrency
    searchPoolSize: poolPerInstance
    modelShareKeySecretUri: keyVault.outputs.secretUri
    virtualNetworkSubnetId: vnetEnabled ? vnet.outputs.appSubnetId : ''
    alwaysReadyInstances: alwaysReadyInstances
    sasTtlMinutes: sasTtlMinutes
    searchNprobe: searchNprobe
  }
  // The app must not start before it may read its host storage, its package and the share key, and
  // (private mode) before the endpoints it reaches them through exist.
  dependsOn: [
    rbac
    endpoints
  ]
}

module indexer 'app/indexer.bicep' = if (indexerEnabled) {
  name: 'indexer'
  params: {
    location: location
    tags: tags
    identityName: 'id-index-${token}'
    registryName: 'crsearch${token}'
    environmentName: 'cae-search-${token}'
    jobName: 'caj-index-${token}'
    systemTopicName: 'evgt-img-${token}'
    imageStorageName: imageStorage.outputs.name
    imagesContainerName: imagesContainerName
    modelStorageName: modelStorage.outputs.name
    modelShareName: modelShareName
    modelShareMountPath: modelShareMountPath
    checkpointPath: indexerCheckpointPath
    modelShareKeySecretUri: keyVault.outputs.secretUri
    keyVaultName: keyVault.outputs.name
    modelShareKeySecretName: keyVault.outputs.secretName
    logAnalyticsName: monitoring.outputs.logAnalyticsName
    postgresHost: database.outputs.host
    postgresDatabaseName: database.outputs.databaseName
    postgresUser: principalName
    imageTag: indexerImageTag
    gpuProfile: indexerGpuProfile
  }
}

module alerts 'core/monitor/alerts.bicep' = {
  name: 'alerts'
  params: {
    location: location
    tags: tags
    namePrefix: 'search-${token}'
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    logAnalyticsName: monitoring.outputs.logAnalyticsName
    postgresServerName: database.outputs.serverName
    postgresBurstable: startsWith(postgresSkuName, 'Standard_B')
    postgresUserConnections: postgresUserConnections[postgresSkuName]
    apiUrl: api.outputs.url
    alertEmail: alertEmail
  }
}

// Outputs: azd stores them in the environment (.azure/<env>/.env) and passes them to hooks;
// the deploy workflow exports them for infra/scripts/*.sh. docs/deploy.md lists what each is for.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = resourceGroup().name
output FUNCTION_APP_NAME string = api.outputs.name
output SEARCH_API_URL string = api.outputs.url
output WEB_URL string = webEndpoint
output WEB_STORAGE_ACCOUNT string = imageStorage.outputs.name
output IMAGES_STORAGE_ACCOUNT string = imageStorage.outputs.name
output IMAGES_ACCOUNT_URL string = imageStorage.outputs.blobEndpoint
output IMAGES_CONTAINER string = imagesContainerName
output MODEL_STORAGE_ACCOUNT string = modelStorage.outputs.name
output MODEL_SHARE_NAME string = modelShareName
output MODEL_SHARE_PATH string = modelShareMountPath
output POSTGRES_SERVER_NAME string = database.outputs.serverName
output POSTGRES_HOST string = database.outputs.host
output POSTGRES_DATABASE string = database.outputs.databaseName
output APP_IDENTITY_NAME string = identity.name
output APP_IDENTITY_CLIENT_ID string = identity.properties.clientId
@description('The PostgreSQL Entra administrator\'s name, which every holder of its token logs in with; the database bootstrap reads it.')
output OPERATOR_PRINCIPAL_NAME string = principalName
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output KEY_VAULT_NAME string = keyVault.outputs.name
// Empty without indexerEnabled; the deploy workflow builds the image only where there is a registry.
output INDEXER_REGISTRY_NAME string = indexerEnabled ? indexer.outputs.registryName : ''
output INDEXER_JOB_NAME string = indexerEnabled ? indexer.outputs.jobName : ''
output INDEXER_QUEUE_NAME string = indexerEnabled ? indexer.outputs.queueName : ''
output INDEXER_IDENTITY_PRINCIPAL_ID string = indexerEnabled ? indexer.outputs.identityPrincipalId : ''
