// A private endpoint for one sub-resource of one service, with the private DNS zone that makes the
// service's usual host name resolve to it inside the network. Called once per service by main.bicep
// (PostgreSQL, the model share's file service, the host storage's blob service, Key Vault).

@description('Name of the private endpoint.')
@minLength(2)
@maxLength(64)
param name string

@description('Azure region of the endpoint; the network\'s region.')
param location string

@description('Tags applied to the endpoint and the zone.')
param tags object = {}

@description('Resource id of the virtual network whose name resolution the DNS zone serves.')
param vnetId string

@description('Resource id of the subnet that holds the endpoint.')
param subnetId string

@description('Resource id of the service the endpoint reaches.')
param targetId string

@description('Sub-resource of the service: postgresqlServer, blob, file, vault.')
@allowed([
  'postgresqlServer'
  'blob'
  'file'
  'vault'
])
param groupId string

@description('The service\'s privatelink DNS zone, e.g. privatelink.postgres.database.azure.com.')
@minLength(12)
param dnsZoneName string

resource zone 'Microsoft.Network/privateDnsZones@2020-06-01' = {
  name: dnsZoneName
  location: 'global'
  tags: tags
}

resource zoneLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = {
  parent: zone
  name: '${name}-link'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnetId
    }
  }
}

resource endpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    subnet: {
      id: subnetId
    }
    privateLinkServiceConnections: [
      {
        name: name
        properties: {
          privateLinkServiceId: targetId
          groupIds: [
            groupId
          ]
        }
      }
    ]
  }
}

resource zoneGroup 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = {
  parent: endpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: replace(dnsZoneName, '.', '-')
        properties: {
          privateDnsZoneId: zone.id
        }
      }
    ]
  }
}

output id string = endpoint.id
