#!/usr/bin/env bash
# Copy a local model-share folder (the layout core/bundle.py writes: bundles/<version>/...,
# bundles/CURRENT, plus captioner checkpoints) into the Azure Files share the Function mounts.
#   infra/scripts/upload-model-share.sh DIR
# Version folders go first and bundles/CURRENT last, so the running app (which re-reads CURRENT)
# never points at a half-uploaded bundle. Needs MODEL_STORAGE_ACCOUNT and MODEL_SHARE_NAME (deployment
# outputs) and Storage File Data Privileged Contributor on the account (the operator has it), or
# MODEL_SHARE_AUTH=key to use the account key (needs the listKeys right of Contributor).
set -euo pipefail
src=${1:?usage: upload-model-share.sh DIR (a folder with bundles/CURRENT)}
: "${MODEL_STORAGE_ACCOUNT:?set MODEL_STORAGE_ACCOUNT (a deployment output)}"
: "${MODEL_SHARE_NAME:?set MODEL_SHARE_NAME (a deployment output)}"
if [ ! -f "$src/bundles/CURRENT" ]; then
  echo "upload-model-share: $src/bundles/CURRENT is missing; build an index first" >&2
  exit 1
fi
current=$(tr -d '[:space:]' < "$src/bundles/CURRENT")
if [ ! -f "$src/bundles/$current/manifest.json" ]; then
  echo "upload-model-share: bundles/CURRENT names '$current' but $src/bundles/$current/manifest.json is missing" >&2
  exit 1
fi

auth=(--auth-mode login --enable-file-backup-request-intent)
if [ "${MODEL_SHARE_AUTH:-login}" = key ]; then
  key=$(az storage account keys list --account-name "$MODEL_STORAGE_ACCOUNT" --query '[0].value' -o tsv)
  auth=(--account-key "$key")
fi
share=(--account-name "$MODEL_STORAGE_ACCOUNT" "${auth[@]}" --output none)

# Everything except bundles/CURRENT, one top-level entry at a time.
az storage directory create --share-name "$MODEL_SHARE_NAME" --name bundles "${share[@]}"
for entry in "$src"/*; do
  name=$(basename "$entry")
  if [ "$name" = bundles ]; then
    for version in "$src"/bundles/*/; do
      version=$(basename "$version")
      echo "uploading bundles/$version"
      az storage file upload-batch --destination "$MODEL_SHARE_NAME" --destination-path "bundles/$version" \
        --source "$src/bundles/$version" "${share[@]}"
    done
  elif [ -d "$entry" ]; then
    echo "uploading $name/"
    az storage file upload-batch --destination "$MODEL_SHARE_NAME" --destination-path "$name" \
      --source "$entry" "${share[@]}"
  else
    az storage file upload --share-name "$MODEL_SHARE_NAME" --source "$entry" --path "$name" "${share[@]}"
  fi
done
echo "switching bundles/CURRENT to $current"
az storage file upload --share-name "$MODEL_SHARE_NAME" --source "$src/bundles/CURRENT" \
  --path bundles/CURRENT "${share[@]}"
