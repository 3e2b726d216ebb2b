// Key Vault holding the one key of the deployment: the model share's storage account key, which the
// Azure Files mount needs (SMB mounts take no managed identity). As in Microsoft's Flex Consumption +
// Azure Files samples, the key is a secret here, an app setting holds a Key Vault reference to it,
// and the mount names that setting with @AppSettingRef(...): no key in templates or site config.
// The app identity reads it with Key Vault Secrets User on this secret (app/rbac.bicep).
// Rotation: docs/deploy.md, "Rotating the model share key".

@description('Name of the vault: 3-24 letters, digits and hyphens, globally unique.')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region of the vault.')
param location string

@description('Tags applied to the vault.')
param tags object = {}

@description('Name of the storage account that holds the model share.')
param modelStorageName string

@description('Which of the account\'s two keys the secret holds. Rotation flips it (1 to 2 or back) so the mount never sees a revoked key.')
@allowed([
  1
  2
])
param modelShareKey int = 1

@description('Whether the vault refuses the public internet (main.bicep vnetEnabled): the app then reads it through its private endpoint.')
param denyPublicNetwork bool = false

@description('Public IPv4 addresses or CIDR ranges still admitted when denyPublicNetwork is true.')
param allowedIpAddresses array = []

var secretName = 'model-share-key'

resource modelStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: modelStorageName
}

// Network rules follow the mode: the public mode admits the platform, which resolves the reference
// from no fixed address; the private mode denies the internet (infra/.checkov.yaml, CKV_AZURE_109).
resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    enablePurgeProtection: true
    publicNetworkAccess: (denyPublicNetwork && empty(allowedIpAddresses)) ? 'Disabled' : 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: denyPublicNetwork ? 'Deny' : 'Allow'
      ipRules: [for address in (denyPublicNetwork ? allowedIpAddresses : []): { value: address }]
    }
  }
}

// No expiry date: an account key has none of its own, and one here would only break the mount;
// rotation flips modelShareKey (docs/deploy.md).
resource modelShareKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: secretName
  properties: {
    value: modelStorage.listKeys().keys[modelShareKey - 1].value
    contentType: 'Azure Files account key of ${modelStorageName} (key${modelShareKey})'
  }
}

output name string = vault.name
output id string = vault.id
output secretName string = modelShareKeySecret.name
// Versionless: the app follows the secret's latest version (refreshed within a day, or on restart).
output secretUri string = modelShareKeySecret.properties.secretUri
