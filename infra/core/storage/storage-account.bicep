// A StorageV2 account with private blob containers and/or SMB file shares.
// Used three times by main.bicep so that each account holds one kind of data and each
// identity's role on it means exactly one thing (see the storage note in main.bicep).

@description('Storage account name: 3-24 lowercase letters and digits, globally unique.')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region of the account.')
param location string

@description('Tags applied to the account.')
param tags object = {}

@description('Redundancy of the account. LRS is enough: images and bundles can be re-uploaded.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
])
param skuName string = 'Standard_LRS'

@description('Whether the account keys work at all. false forces Microsoft Entra ID for every request; only the model share account needs true (Azure Files mounts in App Service authenticate with the key).')
param allowSharedKeyAccess bool = false

@description('Names of private blob containers to create.')
param containers array = []

@description('SMB file shares to create, each { name: string, quotaGiB: int }.')
param fileShares array = []

@description('Whether the account refuses the public internet: default action Deny, reached from the VNet through private endpoints and from allowedIpAddresses only (main.bicep vnetEnabled).')
param denyPublicNetwork bool = false

@description('Public IPv4 addresses or CIDR ranges still admitted when denyPublicNetwork is true (an operator\'s workstation, the GPU machine that publishes bundles).')
param allowedIpAddresses array = []

@description('Days a deleted blob, container or share can still be restored.')
@minValue(1)
@maxValue(365)
param softDeleteDays int = 7

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: allowSharedKeyAccess
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    // Deny with no admitted address turns the public endpoint off altogether.
    publicNetworkAccess: (denyPublicNetwork && empty(allowedIpAddresses)) ? 'Disabled' : 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: denyPublicNetwork ? 'Deny' : 'Allow'
      ipRules: [for address in (denyPublicNetwork ? allowedIpAddresses : []): { value: address, action: 'Allow' }]
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
  }
}

resource blobContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for container in containers: {
    parent: blobService
    name: container
    properties: {
      publicAccess: 'None'
    }
  }
]

resource fileService 'Microsoft.Storage/storageAccounts/fileServices@2023-05-01' = if (!empty(fileShares)) {
  parent: account
  name: 'default'
  properties: {
    shareDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
  }
}

resource shares 'Microsoft.Storage/storageAccounts/fileServices/shares@2023-05-01' = [
  for share in fileShares: {
    parent: fileService
    name: share.name
    properties: {
      enabledProtocols: 'SMB'
      accessTier: 'TransactionOptimized'
      shareQuota: share.quotaGiB
    }
  }
]

output name string = account.name
output id string = account.id
output blobEndpoint string = account.properties.primaryEndpoints.blob
output webEndpoint string = account.properties.primaryEndpoints.web
