#!/usr/bin/env bash
# Publish web/ as the static website of the images storage account, with config.js pointing at the
# search Function. Run by the azd postdeploy hook and by the deploy workflow, with the deployment's
# outputs in the environment. Signs in with Entra ID (az login): the caller needs Storage Blob Data
# Contributor on the account (the operator has it, see app/rbac.bicep) to upload, and Contributor on
# the account (any deployer has it) to switch the static website on.
set -euo pipefail
: "${WEB_STORAGE_ACCOUNT:?set WEB_STORAGE_ACCOUNT (a deployment output)}"
: "${SEARCH_API_URL:?set SEARCH_API_URL (a deployment output)}"
root=$(cd "$(dirname "$0")/../.." && pwd)
api_base=${SEARCH_API_URL%/}

dist=$(mktemp -d)
trap 'rm -rf "$dist"' EXIT
cp -R "$root/web/." "$dist/"
# Replace only the apiBase value so the file's other settings and comments survive.
sed -E -i "s#(apiBase:[[:space:]]*)\"[^\"]*\"#\\1\"${api_base}\"#" "$dist/config.js"
if ! grep -q "apiBase: \"${api_base}\"" "$dist/config.js"; then
  echo "publish-web: could not set apiBase in web/config.js (expected 'apiBase: \"...\"')" >&2
  exit 1
fi

az storage blob service-properties update --auth-mode login --account-name "$WEB_STORAGE_ACCOUNT" \
  --static-website --index-document index.html --404-document index.html --output none
az storage blob upload-batch --auth-mode login --account-name "$WEB_STORAGE_ACCOUNT" \
  --destination '$web' --source "$dist" --overwrite --output none
# config.js changes with every deployment; browsers must not keep an old API address.
az storage blob upload --auth-mode login --account-name "$WEB_STORAGE_ACCOUNT" \
  --container-name '$web' --name config.js --file "$dist/config.js" --overwrite \
  --content-type 'text/javascript; charset=utf-8' --content-cache-control 'no-cache' --no-progress --output none
echo "web page published to $WEB_STORAGE_ACCOUNT/\$web: ${WEB_URL:-see the WEB_URL output} (API $api_base)"
