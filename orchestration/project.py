"""The dbt project as Dagster sees it: one DbtProject for the repository root."""

from __future__ import annotations

import os
from pathlib import Path

from dagster_dbt import DbtProject

REPO_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_EVENTS_GLOB = "data/raw/events/**/*"
DEFAULT_DUCKDB_PATH = "data/warehouse.duckdb"


def events_glob() -> str:
    return os.environ.get("USAGE_BILLING_EVENTS", DEFAULT_EVENTS_GLOB)


def on_duckdb() -> bool:
    """The dbt target is DuckDB (profiles.yml: USAGE_BILLING_TARGET, default duckdb)."""
    return os.environ.get("USAGE_BILLING_TARGET", "duckdb") == "duckdb"


def duckdb_path() -> Path:
    path = Path(os.environ.get("USAGE_BILLING_DUCKDB", DEFAULT_DUCKDB_PATH))
    return path if path.is_absolute() else REPO_ROOT / path


dbt_project = DbtProject(project_dir=REPO_ROOT, profiles_dir=REPO_ROOT)
