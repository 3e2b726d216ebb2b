// Every role assignment of the deployment, least privilege, each at the narrowest scope that works.
//
// App identity (the Function's user-assigned identity):
//   function storage   Storage Blob Data Owner           host storage (AzureWebJobsStorage): the host
//                                                          creates containers and takes blob leases, which
//                                                          no lesser role allows; also reads the package
//   images storage     Storage Blob Data Reader          read images, and get a user delegation key to
//                                                          sign result URLs (generateUserDelegationKey is in
//                                                          this role and must be granted at account scope)
//   App Insights       Monitoring Metrics Publisher      send telemetry with Entra auth (local auth off)
//   model share        (none)                            the mount authenticates with the account key
//                                                          (see main.bicep); a role would be unused
//   model share key    Key Vault Secrets User            resolve the Key Vault reference that hands the
//     (one secret)                                         mount its key (app/keyvault.bicep)
// Operator (the person, group or CI principal that runs indexing and publishing):
//   images storage     Storage Blob Data Contributor     upload images; publish web/ to $web
//   model storage      Storage File Data Privileged Contributor
//                                                          upload bundles and checkpoints with Entra auth
// PostgreSQL roles are not Azure roles: see app/database.bicep and scripts/bootstrap-database.sh.

@description('Principal (object) id of the app\'s user-assigned managed identity.')
@minLength(36)
@maxLength(36)
param appPrincipalId string

@description('Object id of the operator (user, group or service principal) that uploads images, bundles and the web page.')
@minLength(36)
@maxLength(36)
param operatorPrincipalId string

@description('Kind of the operator principal, needed so a new principal can be assigned before it replicates.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param operatorPrincipalType string

@description('Name of the storage account that is the Function\'s host storage and holds its deployment package.')
param functionStorageName string

@description('Name of the storage account that holds the images container and the static website.')
param imageStorageName string

@description('Name of the storage account that holds the model share.')
param modelStorageName string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('Name of the Key Vault that holds the model share key.')
param keyVaultName string

@description('Name of the secret, in that vault, that holds the model share key.')
param modelShareKeySecretName string

// Built-in role definition ids: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
var storageBlobDataReader = '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1' // Storage Blob Data Reader
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe' // Storage Blob Data Contributor
var storageFileDataPrivilegedContributor = '69566ab7-960f-475b-8e7c-b3118f30c6bd' // Storage File Data Privileged Contributor
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User

resource functionStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: functionStorageName
}

resource imageStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: imageStorageName
}

resource modelStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: modelStorageName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource appHostStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: functionStorage
  name: guid(functionStorage.id, appPrincipalId, storageBlobDataOwner)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appReadImages 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: imageStorage
  name: guid(imageStorage.id, appPrincipalId, storageBlobDataReader)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataReader)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: applicationInsights
  name: guid(applicationInsights.id, appPrincipalId, monitoringMetricsPublisher)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: appPrincipalId
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

// Scoped to the one secret, not the vault: the reference needs that secret and nothing else.
resource appModelShareKey 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: modelShareKeySecret
  name: guid(modelShareKeySecret.id, appPrincipalId, keyVaultSecretsUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource operatorImages 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: imageStorage
  name: guid(imageStorage.id, operatorPrincipalId, storageBlobDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

resource operatorModelShare 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: modelStorage
  name: guid(modelStorage.id, operatorPrincipalId, storageFileDataPrivilegedContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageFileDataPrivilegedContributor)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}
