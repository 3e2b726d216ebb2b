#!/usr/bin/env bash
# Give the Function's managed identity its PostgreSQL role: log in with Entra, read the index.
# Run once per environment by the PostgreSQL Entra administrator (the operator), from a machine the
# server's firewall admits, after the deployment; safe to run again.
# Needs psql, az (signed in as the operator) and the deployment outputs POSTGRES_HOST,
# POSTGRES_DATABASE and APP_IDENTITY_NAME. PGUSER defaults to the signed-in user's name.
set -euo pipefail
: "${POSTGRES_HOST:?set POSTGRES_HOST (a deployment output)}"
: "${POSTGRES_DATABASE:?set POSTGRES_DATABASE (a deployment output)}"
: "${APP_IDENTITY_NAME:?set APP_IDENTITY_NAME (a deployment output)}"
export PGHOST=$POSTGRES_HOST PGSSLMODE=require
export PGUSER=${PGUSER:-$(az account show --query user.name -o tsv)}
PGPASSWORD=$(az account get-access-token --resource-type oss-rdbms --query accessToken -o tsv)
export PGPASSWORD

# Entra principals are created from the postgres database; roles are server-wide.
psql -v ON_ERROR_STOP=1 -d postgres -v role="$APP_IDENTITY_NAME" <<'SQL'
SELECT pgaadauth_create_principal(:'role', false, false)
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role');
SQL

# Read-only on the index, including tables the operator (who runs indexing) creates later.
psql -v ON_ERROR_STOP=1 -d "$POSTGRES_DATABASE" -v role="$APP_IDENTITY_NAME" -v db="$POSTGRES_DATABASE" <<'SQL'
GRANT CONNECT ON DATABASE :"db" TO :"role";
GRANT USAGE ON SCHEMA public TO :"role";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"role";
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO :"role";
SQL
echo "PostgreSQL role $APP_IDENTITY_NAME can read $POSTGRES_DATABASE"
