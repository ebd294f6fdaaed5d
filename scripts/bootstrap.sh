#!/usr/bin/env bash
# Create the project's virtualenv (.venv) and install the pinned packages into it.
# Needs only Python 3.11 and pip (plus Debian packages it installs itself: scripts/os_packages.sh).
# Safe to run again: it reinstalls only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/os_packages.sh

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv with $("$PYTHON" --version)"
    "$PYTHON" -m venv .venv
fi

stamp=.venv/.usage-billing-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "==> installing usage-billing and its pinned dependencies (a few minutes on a fresh machine)"
    .venv/bin/python -m pip install --quiet --upgrade pip
    # The spark extra too: the Spark parity test (tests/python/test_spark_parity.py) is part of the suite.
    .venv/bin/python -m pip install --quiet -e ".[dev,spark]"
    touch "$stamp"
fi

mkdir -p data

# dagster-dbt reads dbt's manifest when the Dagster definitions load.
.venv/bin/dbt parse --quiet --profiles-dir . >/dev/null
