// Azure Database for PostgreSQL Flexible Server holding the search index (pgvector).
// Password authentication is off: every login is a Microsoft Entra token. The operator principal
// is the Entra administrator; the app's managed identity gets its own non-admin role afterwards
// (infra/scripts/bootstrap-database.sh, function_app/bootstrap.py), so no password and no admin rights reach the app.

@description('Name of the server: 3-63 lowercase letters, digits and hyphens, globally unique.')
@minLength(3)
@maxLength(63)
param name string

@description('Azure region of the server.')
param location string

@description('Tags applied to the server.')
param tags object = {}

@description('PostgreSQL major version. 16 and 17 both offer pgvector 0.8 (iterative index scans, halfvec) and Microsoft\'s pg_diskann; 17 is the newest generally available major.')
@allowed([
  '16'
  '17'
])
param version string = '17'

@description('Compute size. B1ms is not offered: its 35 user connections cannot serve even the minimum of 40 Function instances (see the connection budget in main.bicep); use a D-series for steady load.')
@allowed([
  'Standard_B2s'
  'Standard_B2ms'
  'Standard_D2ds_v5'
  'Standard_D4ds_v5'
])
param skuName string = 'Standard_B2s'

@description('Provisioned storage in GiB (it can grow, never shrink).')
@allowed([
  32
  64
  128
  256
])
param storageSizeGB int = 32

@description('Name of the database that holds the index.')
@minLength(1)
@maxLength(63)
param databaseName string

@description('Object id of the Microsoft Entra administrator (a user, group or service principal).')
@minLength(36)
@maxLength(36)
param adminPrincipalId string

@description('Display name (user principal name for a user) of the Microsoft Entra administrator.')
@minLength(1)
param adminPrincipalName string

@description('Kind of the Microsoft Entra administrator.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param adminPrincipalType string

@description('Whether to admit connections from any Azure service (the 0.0.0.0 rule). The Flex Consumption app has no fixed outbound addresses without VNet integration, so the public mode needs it; ignored when publicNetworkAccess is false.')
param allowAzureServices bool = true

@description('Client address ranges allowed through the firewall, each { name: string, startIpAddress: string, endIpAddress: string } (e.g. the GPU machine that runs indexing); ignored when publicNetworkAccess is false.')
param firewallRules array = []

@description('Whether the server takes connections over its public endpoint at all. false when it is reached only through a private endpoint (main.bicep vnetEnabled).')
param publicNetworkAccess bool = true

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
    tier: startsWith(skuName, 'Standard_B') ? 'Burstable' : 'GeneralPurpose'
  }
  properties: {
    version: version
    authConfig: {
      activeDirectoryAuth: 'Enabled'
      passwordAuth: 'Disabled'
      tenantId: tenant().tenantId
    }
    storage: {
      storageSizeGB: storageSizeGB
      autoGrow: 'Enabled'
    }
    backup: {
      backupRetentionDays: 7
      geoRedundantBackup: 'Disabled'
    }
    highAvailability: {
      mode: 'Disabled'
    }
    network: {
      publicNetworkAccess: publicNetworkAccess ? 'Enabled' : 'Disabled'
    }
  }
}

// The server applies one change at a time: the children below are chained with dependsOn,
// otherwise parallel writes fail with ServerBusy / ConflictingServerOperation.

// The Entra administrator comes first: a database created before it exists is owned by azuresu,
// and on PostgreSQL 15+ only the owner may create tables in its public schema, so the first
// migration would fail. Microsoft's Entra page says to set the admin before any user database.
resource administrator 'Microsoft.DBforPostgreSQL/flexibleServers/administrators@2024-08-01' = {
  parent: server
  name: adminPrincipalId
  properties: {
    principalType: adminPrincipalType
    principalName: adminPrincipalName
    tenantId: tenant().tenantId
  }
}

// Extensions must be allow-listed before CREATE EXTENSION works: vector (pgvector 0.8) for the
// index, pg_diskann (it depends on vector) for Microsoft's DiskANN index.
resource extensions 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'azure.extensions'
  properties: {
    value: 'VECTOR,PG_DISKANN'
    source: 'user-override'
  }
  dependsOn: [
    administrator
  ]
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: server
  name: databaseName
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
  dependsOn: [
    extensions
  ]
}

resource allowAzure 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2024-08-01' = if (publicNetworkAccess && allowAzureServices) {
  parent: server
  name: 'AllowAllAzureServicesAndResourcesWithinAzureIps'
  properties: {
    startIpAddress: '0.0.0.0'
    endIpAddress: '0.0.0.0'
  }
  dependsOn: [
    database
  ]
}

@batchSize(1)
resource clientRules 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2024-08-01' = [
  for rule in (publicNetworkAccess ? firewallRules : []): {
    parent: server
    name: rule.name
    properties: {
      startIpAddress: rule.startIpAddress
      endIpAddress: rule.endIpAddress
    }
    dependsOn: [
      database
      allowAzure
    ]
  }
]

output id string = server.id
output serverName string = server.name
output host string = server.properties.fullyQualifiedDomainName
output databaseName string = database.name
