#!/usr/bin/env bash
# Second command of the README (and what CI runs): lint, then the whole test suite — the dbt build with
# its data tests and hand-computed unit tests on the sample data, and the Python tests (pipeline through
# Dagster, reference parity, generator).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

echo "==> ruff"
.venv/bin/ruff check orchestration tests benchmarks
.venv/bin/ruff format --check orchestration tests benchmarks

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "==> sqlfluff (dbt templater)"
USAGE_BILLING_EVENTS="sample/events/**/*" USAGE_BILLING_DUCKDB="$tmp/lint.duckdb" .venv/bin/sqlfluff lint models

echo "==> dbt build on the sample events (data tests over the full history + unit tests)"
USAGE_BILLING_EVENTS="sample/events/**/*" USAGE_BILLING_DUCKDB="$tmp/ci.duckdb" \
    .venv/bin/dbt build --profiles-dir . --quiet --vars '{full_history_checks: true}'

echo "==> pytest (one worker per core; a module's tests stay in one worker, which sets up its fixtures once)"
.venv/bin/python -m pytest -p no:cacheprovider -n auto --dist loadscope "$@"
