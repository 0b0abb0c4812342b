#!/usr/bin/env bash
# Run tests/integration against a running LocalStack (see localstack/README.md).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
set -a
# shellcheck source=localstack.env
. "$here/localstack.env"
set +a
if ! curl -fsS "$RETAIL_LAKE_ENDPOINT_URL/_localstack/health" >/dev/null; then
  echo "LocalStack does not answer at $RETAIL_LAKE_ENDPOINT_URL; start it first (localstack/README.md)" >&2
  exit 2
fi
cd "$repo"
exec .venv/bin/python -m pytest tests/integration -m integration "$@"
