#!/usr/bin/env bash
# First command of the README: install everything, then run the main job on the bundled sample events:
# build the warehouse, close every billing period the events cover, push the final invoices to a local
# Stripe-API server on 127.0.0.1, then print the invoice summary. `usage-billing summary --stripe`,
# `receivables` and `entitlements` show what Stripe holds, what is owed and whom the gateway should block.
# Running it again creates nothing new in Stripe (the server keeps its objects in data/local-stripe.state).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

export USAGE_BILLING_EVENTS="${USAGE_BILLING_EVENTS:-sample/events/**/*}"
export USAGE_BILLING_DUCKDB="${USAGE_BILLING_DUCKDB:-data/warehouse.duckdb}"
ub=.venv/bin/usage-billing
echo "==> events: $USAGE_BILLING_EVENTS   warehouse: $USAGE_BILLING_DUCKDB"
$ub build --quiet "$@"

# Every month in which an invoice's period starts (the sample's periods ended long ago: no --force).
months=$(.venv/bin/python - <<'PY'
import os, duckdb
con = duckdb.connect(os.environ["USAGE_BILLING_DUCKDB"], read_only=True)
print(" ".join(r[0] for r in con.execute(
    "select distinct strftime(period_start, '%Y-%m') from marts.fct_invoices order by 1").fetchall()))
PY
)
echo "==> close: $months"
$ub close $(for m in $months; do printf -- '--period %s ' "$m"; done)

port="${LOCAL_STRIPE_PORT:-12111}"
echo "==> local Stripe-API server on 127.0.0.1:$port"
$ub local-stripe --port "$port" --quiet --state-file data/local-stripe.state &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    .venv/bin/python -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
    sleep 0.2
done
export STRIPE_API_BASE="http://127.0.0.1:$port"
export STRIPE_API_KEY="${DEMO_STRIPE_API_KEY:-sk_test_usage_billing_demo}"
echo "==> push: $months"
for m in $months; do
    $ub push --period "$m"
done
echo
$ub summary
