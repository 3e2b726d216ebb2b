// The search API: a Linux Python Function App on the Flex Consumption plan.
// Everything it reaches it reaches as its user-assigned identity, except the model share, which
// Azure Files mounts with the account key: a Key Vault secret (app/keyvault.bicep) that an app setting
// references and the mount names with @AppSettingRef(...), as Microsoft's Flex + Azure Files samples do.
// No siteConfig: Flex Consumption rejects several of its properties (ftpsState and others answer
// BadRequest 51021 in newer regions) and the Flex samples set none. New sites default to TLS 1.2,
// FTP and basic-auth publishing are closed below, and CORS is the app's own middleware
// (CORS_ALLOWED_ORIGINS): one layer, so the two lists cannot drift apart.

@description('Name of the Function App; also the host name <name>.azurewebsites.net.')
@minLength(2)
@maxLength(60)
param name string

@description('Name of the Flex Consumption plan.')
@minLength(1)
@maxLength(60)
param planName string

@description('Azure region of the app and its plan.')
param location string

@description('Tags applied to the app and its plan; the app also gets azd-service-name=api.')
param tags object = {}

@description('Resource id of the user-assigned managed identity the app runs as.')
param identityId string

@description('Client id of that identity (AZURE_CLIENT_ID, AzureWebJobsStorage__clientId).')
param identityClientId string

@description('Name of that identity, which is also its PostgreSQL role name (POSTGRES_USER).')
param identityName string

@description('Name of the storage account used as host storage and for the deployment package.')
param functionStorageName string

@description('Blob container, in the function storage account, that holds the deployment package.')
param deploymentContainerName string

@description('Name of the storage account that holds the images container.')
param imageStorageName string

@description('Name of the private container that holds the images.')
param imagesContainerName string

@description('Name of the storage account that holds the model share.')
param modelStorageName string

@description('Name of the Azure Files share with the search bundle and captioner checkpoints.')
param modelShareName string

@description('Where the model share is mounted inside the app; the app reads the same value from MODEL_SHARE_PATH.')
@minLength(2)
param modelShareMountPath string

@description('Fully qualified host name of the PostgreSQL server.')
param postgresHost string

@description('Name of the database that holds the index.')
param postgresDatabaseName string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('Origins allowed to call the API from a browser (the web page\'s origin), without trailing slashes.')
@minLength(1)
param allowedOrigins array

@description('Memory of each instance in MB: the query path loads the ONNX text encoder and the bundle. Microsoft.Web/sites@2024-04-01 takes 2048 or 4096.')
@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Upper bound on instances (Flex Consumption allows 40-1000); it also bounds PostgreSQL connections.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Concurrent HTTP requests one instance takes before Flex Consumption adds another. Python apps default to 1, which gives every concurrent query its own instance, cold model load and connection pool.')
@minValue(1)
@maxValue(1000)
param perInstanceConcurrency int = 8

@description('Database connections each instance may hold (SEARCH_POOL_SIZE); main.bicep derives it from the server\'s connection limit and maximumInstanceCount.')
@minValue(1)
@maxValue(1000)
param searchPoolSize int

@description('Uri of the Key Vault secret that holds the model share\'s account key (versionless).')
@minLength(10)
param modelShareKeySecretUri string

@description('Resource id of the subnet the app integrates with (delegated to Microsoft.App/environments); empty for no VNet integration.')
param virtualNetworkSubnetId string = ''

@description('Instances kept warm for HTTP requests (0 = scale to zero, billed only per execution).')
@minValue(0)
@maxValue(20)
param alwaysReadyInstances int = 0

@description('Minutes a signed result URL stays valid (SAS_TTL_MINUTES).')
@minValue(1)
@maxValue(1440)
param sasTtlMinutes int = 15

@description('Clusters probed per query (SEARCH_NPROBE); 0 leaves the app\'s default.')
@minValue(0)
@maxValue(100000)
param searchNprobe int = 0

// The Functions host imports this file from the app root; it is part of the app's contract.
var entryScript = 'search_function.py'

var appSettings = {
  // Host storage through the identity: no connection string, no key.
  AzureWebJobsStorage__accountName: functionStorageName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  // The connection string only locates the component; with local auth off, ingestion needs the token
  // that the authentication string asks for.
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  PYTHON_SCRIPT_FILE_NAME: entryScript
  MODEL_SHARE_PATH: modelShareMountPath
  IMAGE_STORE: 'blob'
  IMAGES_ACCOUNT_URL: 'https://${imageStorageName}.blob.${environment().suffixes.storage}'
  IMAGES_CONTAINER: imagesContainerName
  AZURE_CLIENT_ID: identityClientId
  SAS_TTL_MINUTES: string(sasTtlMinutes)
  POSTGRES_HOST: postgresHost
  POSTGRES_DATABASE: postgresDatabaseName
  POSTGRES_USER: identityName
  POSTGRES_SSLMODE: 'require'
  CORS_ALLOWED_ORIGINS: join(allowedOrigins, ',')
  SEARCH_POOL_SIZE: string(searchPoolSize)
  // Resolved by the platform with the app identity (keyVaultReferenceIdentity below); the mount
  // reads it through @AppSettingRef.
  MODEL_SHARE_MOUNT_KEY: '@Microsoft.KeyVault(SecretUri=${modelShareKeySecretUri})'
}
var optionalSettings = searchNprobe > 0 ? { SEARCH_NPROBE: string(searchNprobe) } : {}

resource functionStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: functionStorageName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    keyVaultReferenceIdentity: identityId
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${functionStorage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        triggers: {
          http: {
            perInstanceConcurrency: perInstanceConcurrency
          }
        }
        alwaysReady: alwaysReadyInstances > 0 ? [{ name: 'http', instanceCount: alwaysReadyInstances }] : []
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(appSettings, optionalSettings)
}

// Azure Files mounts (supported on Flex Consumption and Premium, not on Linux Consumption) take the
// account key; the mount names the app setting that references it in Key Vault.
resource mounts 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'azurestorageaccounts'
  properties: {
    models: {
      type: 'AzureFiles'
      protocol: 'Smb'
      accountName: modelStorageName
      shareName: modelShareName
      mountPath: modelShareMountPath
      accessKey: '@AppSettingRef(MODEL_SHARE_MOUNT_KEY)'
    }
  }
  dependsOn: [
    settings
  ]
}

// Deployments sign in with Microsoft Entra ID; the basic-auth publishing endpoints stay closed.
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

output name string = site.name
output url string = 'https://${site.properties.defaultHostName}'
