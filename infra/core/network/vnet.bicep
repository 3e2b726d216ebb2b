// The virtual network of the private mode (main.bicep vnetEnabled), shaped like the Flex Consumption
// samples' vnet.bicep: one subnet the Function integrates with (delegated to Microsoft.App/environments,
// as Flex Consumption requires) and one for the private endpoints of PostgreSQL, storage and Key Vault.

@description('Name of the virtual network.')
@minLength(2)
@maxLength(64)
param name string

@description('Azure region of the network; it must be the Function App\'s region.')
param location string

@description('Tags applied to the network.')
param tags object = {}

@description('Address space of the network.')
param addressPrefix string = '10.0.0.0/16'

@description('Range of the subnet the Function App integrates with; Flex Consumption needs at least a /27, and a /24 leaves room to scale out.')
param appSubnetPrefix string = '10.0.2.0/24'

@description('Range of the subnet that holds the private endpoints.')
param privateEndpointSubnetPrefix string = '10.0.1.0/24'

var appSubnetName = 'app'
var privateEndpointSubnetName = 'private-endpoints'

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: privateEndpointSubnetName
        properties: {
          addressPrefix: privateEndpointSubnetPrefix
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
      {
        name: appSubnetName
        properties: {
          addressPrefix: appSubnetPrefix
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
    ]
  }
}

output id string = vnet.id
output appSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, appSubnetName)
output privateEndpointSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, privateEndpointSubnetName)
