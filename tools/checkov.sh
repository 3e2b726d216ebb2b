#!/usr/bin/env bash
# Static security checks on the Bicep templates: checkov --framework bicep over infra/.
# checkov pins many libraries that conflict with the app's stack, so it lives in its own
# virtualenv under .data/ (git-ignored), built once and reused while the pin is unchanged.
#   tools/checkov.sh            run the checks (installs checkov on first use)
#   tools/checkov.sh [ARGS...]  extra arguments go to checkov (e.g. --check CKV_AZURE_44)
# Skipped checks and the reason for each are in infra/.checkov.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."

CHECKOV_VERSION=3.3.30
VENV=.data/checkov-venv
STAMP=$VENV/.checkov-$CHECKOV_VERSION

# A cached venv (CI restores one) is reused only if it still runs: a new base Python breaks it.
if [ ! -f "$STAMP" ] || ! "$VENV/bin/python" -c "" >/dev/null 2>&1; then
  echo "==> installing checkov $CHECKOV_VERSION into $VENV (first run only)" >&2
  rm -rf "$VENV"
  # The same interpreter as the project's .venv when there is one, so both run one Python.
  base=python3
  [ -x .venv/bin/python ] && base=$(readlink -f .venv/bin/python)
  "$base" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "checkov==$CHECKOV_VERSION"
  touch "$STAMP"
fi

# No network calls: no Prisma Cloud platform, no download of external modules.
export BC_SKIP_MAPPING=TRUE CHECKOV_RUN_SCA_PACKAGE_SCAN_V2=false
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
"$VENV/bin/checkov" \
  --config-file infra/.checkov.yaml \
  --framework bicep \
  -d infra \
  --quiet --compact \
  --skip-download \
  "$@" | tee "$out" || status=$?
# checkov skips a file it cannot parse and still exits 0; an unscanned template must fail the run.
if grep -q "Parsing errors: [1-9]" "$out"; then
  echo "checkov could not parse a template (its Bicep parser is older than the compiler's grammar);" \
    "find it with: $VENV/bin/checkov -d infra --framework bicep -o json | grep -A3 parsing_errors" >&2
  exit 1
fi
exit "$status"
