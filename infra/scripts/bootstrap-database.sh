#!/usr/bin/env bash
# Prepare the database as the operator, idempotently (function_app/bootstrap.py): the database if it
# is missing, the app identity's PostgreSQL role, the schema (core/schema.sql) and the app's read
# access. Run by the deploy workflow after provisioning and by azd's postprovision hook; safe to rerun.
# Needs az signed in as the operator (the pipeline's service principal, a member of the operator
# group, or a VM's managed identity after `az login --identity`), Python with requirements.txt, and:
#   POSTGRES_HOST POSTGRES_DATABASE POSTGRES_SERVER_NAME APP_IDENTITY_NAME AZURE_RESOURCE_GROUP
#   OPERATOR_PRINCIPAL_NAME   deployment outputs; the last is the login name: the PostgreSQL Entra
#                             administrator's own name, whoever holds the token (docs/deploy.md,
#                             "Who logs in to PostgreSQL")
# The caller's public address is admitted in the server's firewall while this runs and removed after;
# BOOTSTRAP_ADMIT_CALLER=0 skips that where the address is admitted already.
set -euo pipefail
: "${POSTGRES_HOST:?set POSTGRES_HOST (a deployment output)}"
: "${POSTGRES_DATABASE:?set POSTGRES_DATABASE (a deployment output)}"
: "${APP_IDENTITY_NAME:?set APP_IDENTITY_NAME (a deployment output)}"
: "${OPERATOR_PRINCIPAL_NAME:?set OPERATOR_PRINCIPAL_NAME (a deployment output: the PostgreSQL Entra administrator name)}"
root=$(cd "$(dirname "$0")/../.." && pwd)
python=${PYTHON:-python3}
[ -z "${PYTHON:-}" ] && [ -x "$root/.venv/bin/python" ] && python=$root/.venv/bin/python # ./dev setup's

rule=""
remove_rule() {
  [ -n "$rule" ] || return 0
  az postgres flexible-server firewall-rule delete --resource-group "$AZURE_RESOURCE_GROUP" \
    --name "$POSTGRES_SERVER_NAME" --rule-name "$rule" --yes --output none \
    || echo "bootstrap: could not remove firewall rule $rule; delete it by hand" >&2
}
trap remove_rule EXIT
trap 'exit 130' INT TERM # so that the EXIT trap runs when the job is cancelled

if [ "${BOOTSTRAP_ADMIT_CALLER:-1}" != 0 ]; then
  : "${AZURE_RESOURCE_GROUP:?set AZURE_RESOURCE_GROUP (a deployment output)}"
  : "${POSTGRES_SERVER_NAME:?set POSTGRES_SERVER_NAME (a deployment output)}"
  ip=$(curl -fsS --max-time 20 https://api.ipify.org)
  if ! [[ $ip =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]]; then
    echo "bootstrap: could not learn this machine's public IPv4 address (got '$ip')" >&2
    exit 1
  fi
  rule="bootstrap-${GITHUB_RUN_ID:-$(date +%s)}"
  echo "bootstrap: admitting $ip in the firewall of $POSTGRES_SERVER_NAME as rule $rule"
  az postgres flexible-server firewall-rule create --resource-group "$AZURE_RESOURCE_GROUP" \
    --name "$POSTGRES_SERVER_NAME" --rule-name "$rule" --start-ip-address "$ip" --end-ip-address "$ip" \
    --output none
fi

# An Entra access token for Azure Database for PostgreSQL is the password, whoever az is signed in as.
PGPASSWORD=$(az account get-access-token --resource-type oss-rdbms --query accessToken -o tsv)
export PGPASSWORD
cd "$root"
"$python" -m function_app.bootstrap
