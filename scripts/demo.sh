#!/usr/bin/env bash
# First command of the README: install everything, then bill the bundled sample events through the
# Dagster build job and print the invoice summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

export USAGE_BILLING_EVENTS="${USAGE_BILLING_EVENTS:-sample/events/**/*}"
export USAGE_BILLING_DUCKDB="${USAGE_BILLING_DUCKDB:-data/warehouse.duckdb}"
echo "==> events: $USAGE_BILLING_EVENTS   warehouse: $USAGE_BILLING_DUCKDB"
.venv/bin/usage-billing build "$@"
