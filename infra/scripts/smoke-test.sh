#!/usr/bin/env bash
# Check the live API: GET /api/health answers {"status": "ok"} and one search answers {"results": [...]}.
# Retries for a few minutes, because a fresh deployment starts cold and the first request loads models.
#   SEARCH_API_URL=https://<app>.azurewebsites.net infra/scripts/smoke-test.sh ["a dog"]
set -euo pipefail
: "${SEARCH_API_URL:?set SEARCH_API_URL (a deployment output)}"
base=${SEARCH_API_URL%/}
query=${1:-a dog}
attempts=${SMOKE_ATTEMPTS:-20}

get() { # URL PYTHON_CHECK: retry until the body passes the check
  local url=$1 check=$2 body
  for i in $(seq 1 "$attempts"); do
    if body=$(curl -fsS --max-time 60 "$url") && printf '%s' "$body" | python3 -c "$check"; then
      echo "ok: $url"
      return 0
    fi
    echo "attempt $i/$attempts: $url not ready yet" >&2
    sleep 15
  done
  echo "smoke test failed: $url (last body: ${body:-none})" >&2
  return 1
}

get "$base/api/health" 'import json,sys; assert json.load(sys.stdin)["status"] == "ok"'
get "$base/api/search?q=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote_plus(sys.argv[1]))' "$query")&k=5" \
  'import json,sys; assert isinstance(json.load(sys.stdin)["results"], list)'
