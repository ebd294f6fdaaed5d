"""The dbt project as Dagster sees it: one DbtProject for the repository root."""

from __future__ import annotations

import os
from pathlib import Path

from dagster_dbt import DbtProject

REPO_ROOT = Path(__file__).resolve().parents[2]

DEFAULT_EVENTS_GLOB = "data/raw/events/**/*"
DEFAULT_DUCKDB_PATH = "data/warehouse.duckdb"


def events_glob() -> str:
    return os.environ.get("USAGE_BILLING_EVENTS", DEFAULT_EVENTS_GLOB)


def on_duckdb() -> bool:
    """The dbt target is DuckDB (profiles.yml: USAGE_BILLING_TARGET, default duckdb)."""
    return os.environ.get("USAGE_BILLING_TARGET", "duckdb") == "duckdb"


def target_dir() -> Path:
    """Where dbt and this project write what they generate (manifest, run folders, partial-parse states,
    the staged catalog): dbt's own DBT_TARGET_PATH, relative to the project, else target/. One folder per
    process that sets it, so that builds with different catalogs can run side by side (the test suite's
    workers do)."""
    path = Path(os.environ.get("DBT_TARGET_PATH", "target"))
    return path if path.is_absolute() else REPO_ROOT / path


def duckdb_path() -> Path:
    path = Path(os.environ.get("USAGE_BILLING_DUCKDB", DEFAULT_DUCKDB_PATH))
    return path if path.is_absolute() else REPO_ROOT / path


dbt_project = DbtProject(project_dir=REPO_ROOT, profiles_dir=REPO_ROOT, target_path=target_dir())
