// What tells the operator that search is down, slow or about to be: an availability test on
// /api/health, log alerts on the 5xx rate and the p95 latency of requests (percentiles and result-code
// ratios are not metric-alert aggregations, so these two are log queries over Application Insights),
// metric alerts on PostgreSQL (connections against the budget, CPU credits on Burstable, storage),
// and one on the Log Analytics daily cap being reached (telemetry stops until the next day).
// Every alert notifies one action group, which mails alertEmail when it is set.

@description('Azure region of the availability test and the log alerts (metric alerts and the action group are global).')
param location string

@description('Tags applied to every resource.')
param tags object = {}

@description('Short prefix of the resource names, e.g. search-<token>.')
@minLength(1)
@maxLength(40)
param namePrefix string

@description('Name of the Application Insights component that receives the Function\'s telemetry.')
param applicationInsightsName string

@description('Name of the Log Analytics workspace behind it.')
param logAnalyticsName string

@description('Name of the PostgreSQL flexible server.')
param postgresServerName string

@description('Whether the server is Burstable (then CPU credits are watched).')
param postgresBurstable bool

@description('Connections the server admits for users (max_connections less the 15 Azure keeps); the connections alert fires at 80 % of it.')
@minValue(1)
param postgresUserConnections int

@description('Base URL of the search API, https://<app>.azurewebsites.net.')
@minLength(9)
param apiUrl string

@description('Address that receives alert mails; empty creates the action group without a receiver (add one later in the portal).')
param alertEmail string = ''

@description('p95 request duration, in ms over 15 minutes, above which the latency alert fires.')
@minValue(100)
param latencyP95Ms int = 2000

@description('Share of requests, in percent over 15 minutes, answered with 5xx above which the error alert fires.')
@minValue(1)
@maxValue(100)
param serverErrorPercent int = 5

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: logAnalyticsName
}

resource postgres 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' existing = {
  name: postgresServerName
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-${namePrefix}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'search'
    enabled: true
    emailReceivers: empty(alertEmail) ? [] : [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// Three locations every 15 minutes: about 300 calls a day, inside the Flex free grant; a failure in
// two of them at once is an outage rather than one region's network.
var availabilityLocations = [
  'us-va-ash-azr' // East US
  'emea-nl-ams-azr' // West Europe
  'apac-sg-sin-azr' // Southeast Asia
]

resource healthTest 'Microsoft.Insights/webtests@2022-06-15' = {
  name: 'avail-${namePrefix}-health'
  location: location
  // The portal lists a test under the component named in this tag.
  tags: union(tags, { 'hidden-link:${applicationInsights.id}': 'Resource' })
  kind: 'standard'
  properties: {
    SyntheticMonitorId: 'avail-${namePrefix}-health'
    Name: 'search /api/health'
    Kind: 'standard'
    Enabled: true
    Frequency: 900
    Timeout: 60
    RetryEnabled: true
    Locations: [for id in availabilityLocations: { Id: id }]
    Request: {
      RequestUrl: '${apiUrl}/api/health'
      HttpVerb: 'GET'
      ParseDependentRequests: false
    }
    ValidationRules: {
      ExpectedHttpStatusCode: 200
      SSLCheck: true
      SSLCertRemainingLifetimeCheck: 7
    }
  }
}

resource healthAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-${namePrefix}-health'
  location: 'global'
  tags: tags
  properties: {
    description: '/api/health failed from two or more locations (bundle or database not ready, or the app is down).'
    severity: 1
    enabled: true
    scopes: [
      healthTest.id
      applicationInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.WebtestLocationAvailabilityCriteria'
      webTestId: healthTest.id
      componentId: applicationInsights.id
      failedLocationCount: 2
    }
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

resource serverErrorAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${namePrefix}-5xx'
  location: location
  tags: tags
  properties: {
    description: 'More than ${serverErrorPercent} % of requests answered 5xx in 15 minutes (503: database or bundle unavailable).'
    severity: 2
    enabled: true
    scopes: [
      applicationInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: 'requests | summarize total = count(), errors = countif(toint(resultCode) >= 500) | where total >= 20 | extend errorPercent = 100.0 * errors / total'
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'errorPercent'
          operator: 'GreaterThan'
          threshold: serverErrorPercent
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource latencyAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${namePrefix}-p95'
  location: location
  tags: tags
  properties: {
    description: 'p95 request duration above ${latencyP95Ms} ms over 15 minutes.'
    severity: 3
    enabled: true
    scopes: [
      applicationInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: 'requests | where name !has "health" | summarize p95 = percentile(duration, 95), total = count() | where total >= 20'
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'p95'
          operator: 'GreaterThan'
          threshold: latencyP95Ms
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

// The workspace logs an Operation record when ingestion stops at the daily cap.
resource dailyCapAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${namePrefix}-daily-cap'
  location: location
  tags: tags
  properties: {
    description: 'Log Analytics reached its daily cap: telemetry is dropped until the cap resets.'
    severity: 2
    enabled: true
    scopes: [
      logAnalytics.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: '_LogOperation | where Operation =~ "Data collection stopped" | where Detail contains "OverQuota"'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

// PostgreSQL metrics: https://learn.microsoft.com/azure/postgresql/flexible-server/concepts-monitoring
var postgresCommonRules = [
  {
    name: 'connections'
    description: 'Active connections above 80 % of the server\'s user connections (the pool budget in main.bicep is being used up).'
    metric: 'active_connections'
    operator: 'GreaterThan'
    threshold: (postgresUserConnections * 8) / 10
    aggregation: 'Maximum'
  }
  {
    name: 'storage'
    description: 'Storage above 85 % (auto-grow is on, but it grows in steps and never shrinks).'
    metric: 'storage_percent'
    operator: 'GreaterThan'
    threshold: 85
    aggregation: 'Average'
  }
]
var postgresBurstableRules = [
  {
    name: 'cpu-credits'
    description: 'Burstable CPU credits nearly spent: the server will be throttled to its baseline.'
    metric: 'cpu_credits_remaining'
    operator: 'LessThan'
    threshold: 30
    aggregation: 'Average'
  }
]
var postgresRules = concat(postgresCommonRules, postgresBurstable ? postgresBurstableRules : [])

resource postgresAlerts 'Microsoft.Insights/metricAlerts@2018-03-01' = [
  for rule in postgresRules: {
    name: 'alert-${namePrefix}-pg-${rule.name}'
    location: 'global'
    tags: tags
    properties: {
      description: rule.description
      severity: 2
      enabled: true
      scopes: [
        postgres.id
      ]
      evaluationFrequency: 'PT5M'
      windowSize: 'PT15M'
      criteria: {
        'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
        allOf: [
          {
            name: rule.metric
            criterionType: 'StaticThresholdCriterion'
            metricNamespace: 'Microsoft.DBforPostgreSQL/flexibleServers'
            metricName: rule.metric
            operator: rule.operator
            threshold: rule.threshold
            timeAggregation: rule.aggregation
          }
        ]
      }
      actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
    }
  }
]

output actionGroupId string = actionGroup.id
