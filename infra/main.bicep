// Caption-based image search on Azure: storage, the search Function, PostgreSQL with pgvector,
// monitoring and the static web page. Deploy with `azd up`, or with
//   az deployment group create -g <rg> -f infra/main.bicep -p environmentName=<env> principalId=<id> ...
// (docs/deploy.md walks through both). Names are a short prefix plus a token unique to the
// subscription, resource group and environment, so two environments never collide.
//
// Storage is three accounts, each holding one kind of data:
//   stfn...   Function host storage and deployment package   shared key OFF (identity)
//   stimg...  images container, static website ($web)          shared key OFF (identity, user delegation SAS)
//   stmdl...  the model share (search bundle, checkpoints)     shared key ON
// Azure Files mounts in App Service/Functions can only authenticate with the account key, so the
// account that holds the share must allow shared keys. Keeping the share on its own account means
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

@description('Memory of each Function instance in MB. The query path holds the ONNX text encoder, the tokenizer and the bundle: 2048 leaves headroom; 512 is too small.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Upper bound on Function instances (Flex Consumption allows 40-1000). Each instance keeps its own PostgreSQL connections, so keep it in line with the server size.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

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

@description('PostgreSQL major version.')
@allowed([
  '15'
  '16'
])
param postgresVersion string = '16'

@description('PostgreSQL compute size.')
@allowed([
  'Standard_B1ms'
  'Standard_B2s'
  'Standard_B2ms'
  'Standard_D2ds_v5'
  'Standard_D4ds_v5'
])
param postgresSkuName string = 'Standard_B1ms'

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

@description('Whether PostgreSQL admits connections from any Azure service (needed by the Function without VNet integration).')
param postgresAllowAzureServices bool = true

@description('Client address ranges PostgreSQL admits, each { name: string, startIpAddress: string, endIpAddress: string }: the GPU machine that runs indexing, an operator\'s workstation.')
param postgresFirewallRules array = []

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
    allowAzureServices: postgresAllowAzureServices
    firewallRules: postgresFirewallRules
  }
}

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
    alwaysReadyInstances: alwaysReadyInstances
    sasTtlMinutes: sasTtlMinutes
    searchNprobe: searchNprobe
  }
  // The app must not start before it may read its host storage and deployment package.
  dependsOn: [
    rbac
  ]
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
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
